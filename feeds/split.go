package feeds

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/sovos/sov/feeds/nostr"
)

// errTooBig marks a value that exceeded nostr.MaxEventSize; its bytes were
// skipped, never buffered.
var errTooBig = fmt.Errorf("event over the %d-byte size cap", nostr.MaxEventSize)

// splitEvents streams the top-level values of an events file, which is
// either one JSON array of events or JSON Lines (any whitespace-separated
// sequence of objects). fn gets each value's exact bytes, or errTooBig for
// a value past the cap (skipped in constant memory), or another error for
// a structurally broken value. Memory stays bounded by the cap whatever the
// input.
func splitEvents(r io.Reader, fn func(raw []byte, err error) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := skipSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	inArray := first == '['
	if !inArray {
		br.UnreadByte()
	}
	for {
		c, err := skipSpace(br)
		if err == io.EOF {
			if inArray {
				return fn(nil, errors.New("events array is not closed with ]"))
			}
			return nil
		}
		if err != nil {
			return err
		}
		if inArray {
			if c == ']' {
				if _, err := skipSpace(br); err != io.EOF {
					return fn(nil, errors.New("data after the closing ] of the events array"))
				}
				return nil
			}
			if c == ',' {
				continue
			}
		}
		br.UnreadByte()
		// A fresh buffer per value: fn may keep the slice.
		val, tooBig, err := readValue(br, make([]byte, 0, 1024), inArray)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		var ferr error
		switch {
		case tooBig:
			ferr = fn(nil, errTooBig)
		case errors.Is(err, io.EOF):
			ferr = fn(nil, errors.New("truncated event at end of input"))
		case len(val) == 0:
			ferr = fn(nil, errors.New("stray separator between events"))
		default:
			ferr = fn(val, nil)
		}
		if ferr != nil {
			return ferr
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

func skipSpace(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return c, nil
		}
	}
}

// readValue reads one JSON value by bracket depth outside strings. Scalars
// end at a delimiter. Past the cap it keeps scanning but stops buffering.
func readValue(br *bufio.Reader, buf []byte, inArray bool) ([]byte, bool, error) {
	depth, inStr, esc, tooBig := 0, false, false, false
	add := func(c byte) {
		if tooBig {
			return
		}
		if len(buf) >= nostr.MaxEventSize {
			tooBig, buf = true, buf[:0]
			return
		}
		buf = append(buf, c)
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			return buf, tooBig, err
		}
		if inStr {
			if c == '\n' && !inArray {
				// A raw newline cannot be inside a JSON string: in JSON
				// Lines this value is broken, and the next line starts
				// afresh (the bytes fail to parse and are counted).
				return buf, tooBig, nil
			}
			add(c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				if depth == 0 {
					return buf, tooBig, nil
				}
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
			add(c)
		case '{', '[':
			depth++
			add(c)
		case '}', ']':
			if depth == 0 {
				if inArray && c == ']' { // the enclosing array's closing bracket
					br.UnreadByte()
					return buf, tooBig, nil
				}
				add(c) // a stray bracket: returned as a broken value
				return buf, tooBig, nil
			}
			depth--
			add(c)
			if depth == 0 {
				return buf, tooBig, nil
			}
		case ',', ' ', '\n', '\r', '\t':
			if depth == 0 {
				if c == ',' && inArray {
					br.UnreadByte()
				}
				return buf, tooBig, nil
			}
			add(c)
		default:
			add(c)
		}
	}
}
