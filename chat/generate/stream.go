package generate

import (
	"encoding/json"
	"io"
	"strings"

	"github.com/sovos/sov/internal/termtext"
)

// Stream writes a generation as it streams: its text (cleaned of control
// characters for a terminal), or JSON Lines of the events above, for `sov
// run` and whatever else runs headless.
type Stream struct {
	w             io.Writer
	enc           *json.Encoder // nil: plain text
	clean         bool
	wrote, lastNL bool
}

// NewStream writes to w: events with jsonLines, else text, cleaned when w
// is a terminal.
func NewStream(w io.Writer, jsonLines, terminal bool) *Stream {
	s := &Stream{w: w, clean: terminal}
	if jsonLines {
		s.enc = json.NewEncoder(termtext.JSONWriter{W: w}) // C1 and bidi escaped too
	}
	return s
}

// Token writes a piece of the output; it is a model.TokenFunc.
func (s *Stream) Token(text string) error {
	if text == "" {
		return nil
	}
	s.wrote, s.lastNL = true, strings.HasSuffix(text, "\n")
	switch {
	case s.enc != nil:
		return s.enc.Encode(Token(text))
	case s.clean:
		text = termtext.Clean(text)
	}
	_, err := io.WriteString(s.w, text)
	return err
}

// Done ends a generation that ran: the done event, or a final newline.
func (s *Stream) Done(res Result, ledgerEntry *uint64) {
	if s.enc != nil {
		s.enc.Encode(Done(res, ledgerEntry))
	} else if s.wrote && !s.lastNL {
		io.WriteString(s.w, "\n")
	}
}

// Error ends a generation that failed: the error event; as text, the caller
// says the error, on a line of its own on a terminal.
func (s *Stream) Error(err error) {
	if s.enc != nil {
		s.enc.Encode(Error(err))
	} else if s.clean && s.wrote && !s.lastNL {
		io.WriteString(s.w, "\n")
	}
}
