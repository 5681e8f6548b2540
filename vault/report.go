package vault

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sovos/sov/internal/termtext"
)

// Summary is the report's one-line tally, e.g. "added 2, updated 0,
// unchanged 5, skipped 1 (12 chunks, 0.3 MB of text)".
func (r AddReport) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "added %d, updated %d, unchanged %d", r.Added, r.Updated, r.Unchanged)
	if r.Removed > 0 {
		fmt.Fprintf(&b, ", removed %d", r.Removed)
	}
	fmt.Fprintf(&b, ", skipped %d (%d chunks, %.1f MB of text)", len(r.Skipped), r.Chunks, float64(r.Bytes)/1e6)
	return b.String()
}

// Write prints the report: the tally and the skipped files to out, the
// files that failed to errs. Paths are data: cleaned for a terminal.
func (r AddReport) Write(out, errs io.Writer) {
	fmt.Fprintln(out, r.Summary())
	for _, s := range r.Skipped {
		fmt.Fprintf(out, "  skipped %s: %s\n", termtext.Clean(s.Path), termtext.Clean(s.Reason))
	}
	for _, s := range r.Failed {
		fmt.Fprintf(errs, "  failed %s: %s\n", termtext.Clean(s.Path), termtext.Clean(s.Reason))
	}
}

// FailedError says how many files of an Add or Sync could not be indexed;
// the report's Failed lists them. Running the same Add again retries them.
type FailedError struct{ Files int }

func (e *FailedError) Error() string {
	return fmt.Sprintf("%d file(s) could not be indexed", e.Files)
}

// Err is a *FailedError when some file could not be indexed, else nil:
// skipped files (unsupported by design) are not failures.
func (r AddReport) Err() error {
	if len(r.Failed) == 0 {
		return nil
	}
	return &FailedError{Files: len(r.Failed)}
}

// String draws the progress as a bar with counts, e.g.
// "[===       ] 3/10 files  1.2 MB".
func (p Progress) String() string {
	const width = 30
	fill := 0
	if p.Total > 0 {
		fill = min(width, max(0, p.Done*width/p.Total))
	}
	return fmt.Sprintf("[%s%s] %d/%d files  %.1f MB", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p.Done, p.Total, float64(p.Bytes)/1e6)
}

// ProgressBar redraws p on one line of a terminal, at most ten times a
// second, ending the line when everything is done: an AddOptions.Progress.
func ProgressBar(terminal io.Writer) func(Progress) {
	last := time.Time{}
	return func(p Progress) {
		if p.Done == p.Total || time.Since(last) >= 100*time.Millisecond {
			last = time.Now()
			fmt.Fprintf(terminal, "\r%s", p)
		}
		if p.Done == p.Total {
			fmt.Fprintln(terminal)
		}
	}
}

// Write prints the results as a numbered list, each with its passage
// (matches between open and close, see Passage), or "no matches". A
// lexical-only search says so first.
func (r *Response) Write(w io.Writer, open, close string) {
	if r.Mode == ModeLexical {
		fmt.Fprintln(w, LexicalNote)
	}
	if len(r.Results) == 0 {
		fmt.Fprintln(w, "no matches")
	}
	for i, res := range r.Results {
		fmt.Fprintf(w, "%d. %s:%d-%d", i+1, termtext.Clean(res.Source), res.Start, res.End)
		if res.Heading != "" {
			fmt.Fprintf(w, "  § %s", termtext.Clean(res.Heading))
		}
		fmt.Fprintf(w, "  (score %.3f)\n   %s\n", res.Score, res.Passage(320, open, close))
	}
}

// WriteJSON prints one JSON object (a Hit) per line to w, and the
// lexical-only note, if any, to note: w stays machine-readable.
func (r *Response) WriteJSON(w, note io.Writer) error {
	if r.Mode == ModeLexical {
		fmt.Fprintln(note, LexicalNote)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, res := range r.Results {
		if err := enc.Encode(res.Hit()); err != nil {
			return err
		}
	}
	return nil
}

// Write prints the answer, then the sources it cites, numbered as it
// cites them.
func (a *Answer) Write(w io.Writer) {
	fmt.Fprintln(w, termtext.Clean(a.Text))
	if a.NotFound {
		return
	}
	fmt.Fprintln(w, "\nSources:")
	for i, s := range a.Sources {
		n := i + 1
		if i < len(a.Cited) {
			n = a.Cited[i]
		}
		fmt.Fprintf(w, "[%d] %s:%d-%d\n", n, termtext.Clean(s.Source), s.Start, s.End)
	}
}

// RenderDocs prints one line per document: kind, chunks, size (as size
// formats it) and path.
func RenderDocs(w io.Writer, docs []Doc, size func(int64) string) {
	for _, d := range docs {
		fmt.Fprintf(w, "%-8s %6d chunks %10s  %s\n", d.Kind, d.Chunks, size(d.Size), termtext.Clean(d.Path))
	}
}

// Render prints the statistics, sizes as size formats them.
func (s *Stats) Render(w io.Writer, size func(int64) string) {
	mode := "lexical-only"
	if s.Vectors {
		mode = "lexical + vectors"
	}
	fmt.Fprintf(w, "vault       %s (%s)\ncollections %s\ncollection  %s: %d documents, %d chunks, %s of text, %d index segments, %s\nkdf         Argon2id t=%d m=%d MiB p=%d\n",
		termtext.Clean(s.Path), size(s.FileBytes), termtext.Clean(strings.Join(s.Collections, ", ")), termtext.Clean(s.Collection), s.Docs, s.Chunks,
		size(s.TextBytes), s.Segments, mode, s.KDFTime, s.KDFMemKiB/1024, s.KDFThreads)
}

// LexicalNote tells the user a search did not use vectors.
const LexicalNote = "lexical-only search (no embedding model configured)"

// Hit is a Result as one line of a machine-readable listing.
type Hit struct {
	Source  string  `json:"source"`
	Lines   [2]int  `json:"lines"`
	Score   float64 `json:"score"`
	Text    string  `json:"text"`
	Heading string  `json:"heading,omitempty"`
	Chunk   uint64  `json:"chunk"`
}

// Hit returns the result's listing line.
func (r Result) Hit() Hit {
	return Hit{Source: r.Source, Lines: [2]int{r.Start, r.End}, Score: r.Score, Text: r.Text, Heading: r.Heading, Chunk: r.Chunk}
}

// Passage returns up to size bytes of the chunk around its first highlight,
// on one line, with matches between open and close (e.g. "**" or terminal
// bold). Document text is data: control characters are dropped, so it is
// safe to print on a terminal.
func (r Result) Passage(size int, open, close string) string {
	text := r.Text
	start := 0
	if len(r.Highlights) > 0 && r.Highlights[0][0] > size/3 {
		start = r.Highlights[0][0] - size/3
	}
	for start > 0 && start < len(text) && text[start]&0xC0 == 0x80 {
		start--
	}
	end := min(len(text), start+size)
	for end < len(text) && text[end]&0xC0 == 0x80 {
		end++
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	pos := start
	for _, h := range r.Highlights {
		if h[0] < pos || h[1] > end {
			continue
		}
		b.WriteString(termtext.Clean(text[pos:h[0]]))
		b.WriteString(open + termtext.Clean(text[h[0]:h[1]]) + close)
		pos = h[1]
	}
	b.WriteString(termtext.Clean(text[pos:end]))
	if end < len(text) {
		b.WriteString("…")
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
