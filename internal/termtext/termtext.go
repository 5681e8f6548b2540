// Package termtext makes untrusted text (model output, documents, feeds,
// addresses, RPC replies) safe to print on a terminal.
package termtext

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Clean replaces invalid UTF-8 with U+FFFD and removes terminal control:
// whole escape sequences (CSI, OSC such as clipboard writes and window
// titles, DCS/APC/PM/SOS strings, both the 7-bit ESC and the 8-bit C1
// forms), every other control character, and the invisible bidirectional
// marks, embeddings, overrides and isolates that reorder what a reader sees
// (Trojan Source). Such text is data, never terminal commands. Newlines are
// kept; tabs become four spaces so widths stay predictable; carriage returns
// go, as they could overwrite a line already shown.
func Clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexFunc(s, unsafe) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\n':
			b.WriteRune(r)
		case r == '\t':
			b.WriteString("    ")
		case r == 0x1b:
			i = skipEscape(rs, i)
		case r == 0x9b: // C1 CSI
			i = skipCSI(rs, i+1)
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // C1 DCS, SOS, OSC, PM, APC
			i = skipString(rs, i+1)
		case unsafe(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// skipEscape returns the index of the last rune of the escape sequence that
// starts with ESC at rs[i].
func skipEscape(rs []rune, i int) int {
	if i+1 >= len(rs) {
		return i
	}
	switch rs[i+1] {
	case '[':
		return skipCSI(rs, i+2)
	case ']', 'P', 'X', '^', '_':
		return skipString(rs, i+2)
	}
	// Two-byte sequences (ESC c, ESC 7, ...) go whole. Anything else loses
	// its ESC only: what follows is printed as the harmless text it is.
	if r := rs[i+1]; r >= 0x30 && r <= 0x7e {
		return i + 1
	}
	return i
}

// skipCSI skips parameter and intermediate bytes up to and including the
// final byte; it returns the index of the last rune consumed.
func skipCSI(rs []rune, j int) int {
	for j < len(rs) && rs[j] >= 0x20 && rs[j] <= 0x3f {
		j++
	}
	if j < len(rs) && rs[j] >= 0x40 && rs[j] <= 0x7e {
		return j
	}
	return j - 1 // malformed: the rune that stopped it is printed or dropped on its own
}

// skipString skips a control string (OSC, DCS, ...) up to its terminator:
// BEL, ST (ESC \ or C1 0x9C). A newline also ends it, so one unterminated
// sequence cannot swallow the rest of a document; the newline is kept.
func skipString(rs []rune, j int) int {
	for ; j < len(rs); j++ {
		switch rs[j] {
		case 0x07, 0x9c:
			return j
		case '\n':
			return j - 1
		case 0x1b:
			if j+1 < len(rs) && rs[j+1] == '\\' {
				return j + 1
			}
			return j - 1 // another sequence begins: let the caller take it
		}
	}
	return j - 1
}

func unsafe(r rune) bool {
	return r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 || bidi(r)
}

// bidi reports the invisible direction controls: LRM/RLM, the Arabic letter
// mark, embeddings and overrides (U+202A–U+202E) and isolates
// (U+2066–U+2069). Joiners (U+200C/U+200D) stay: emoji and scripts need them.
func bidi(r rune) bool {
	return r == 0x200e || r == 0x200f || r == 0x061c ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// Writer cleans each Write with Clean before passing it to w: for a
// renderer that prints many fields with fmt.Fprintf. A sequence split
// across two writes loses its ESC, so it still cannot reach the terminal.
type Writer struct{ W io.Writer }

// Write writes Clean(p) to the underlying writer and reports len(p) on
// success, as callers expect of an io.Writer that transforms its input.
func (w Writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.W, Clean(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// JSONWriter passes JSON through, writing the C1 controls and bidi
// controls that encoding/json leaves raw as \uXXXX escapes: the decoded
// text is unchanged, and JSON shown on a terminal cannot act on it. Such
// runes only occur inside JSON strings, so rewriting them is always valid.
type JSONWriter struct{ W io.Writer }

// Write writes p with those runes escaped and reports len(p) on success.
func (w JSONWriter) Write(p []byte) (int, error) {
	s := string(p)
	if strings.IndexFunc(s, jsonUnsafe) >= 0 {
		var b strings.Builder
		for _, r := range s {
			if jsonUnsafe(r) {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	if _, err := io.WriteString(w.W, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

func jsonUnsafe(r rune) bool { return r >= 0x80 && r < 0xa0 || bidi(r) }
