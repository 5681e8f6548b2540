// Package termtext makes untrusted text (model output, documents, feeds,
// addresses, RPC replies) safe to print on a terminal.
package termtext

import (
	"strings"
	"unicode/utf8"
)

// Clean replaces invalid UTF-8 with U+FFFD and drops control characters
// (escape sequences above all: such text is data, never terminal commands),
// keeping newlines; tabs become four spaces so widths stay predictable.
func Clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexFunc(s, unsafe) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteRune(r)
		case r == '\t':
			b.WriteString("    ")
		case unsafe(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafe(r rune) bool {
	return r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0
}
