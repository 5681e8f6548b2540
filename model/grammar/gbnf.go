package grammar

import (
	"fmt"
	"strconv"
	"strings"
)

// The converter builds a small expression tree per rule and renders it in
// llama.cpp's GBNF dialect. Keeping the tree (rather than concatenating
// strings) lets the renderer merge adjacent literals and add parentheses
// only where precedence needs them.
type expr interface{ gbnf(prec int) string }

type (
	lit  string // a literal; rendered in double quotes with escapes
	sym  string // a rule name or a character class, rendered verbatim
	seq  []expr // concatenation
	alt  []expr // alternation
	rept struct {
		x        expr
		min, max int // max < 0: unbounded
	}
)

// Precedence levels: an expression rendered where a tighter level is
// required gets parentheses.
const (
	precAlt = iota
	precSeq
	precAtom
)

func (l lit) gbnf(int) string { return quoteGBNF(string(l)) }
func (s sym) gbnf(int) string { return string(s) }

func (s seq) gbnf(prec int) string {
	parts := s.merged()
	switch len(parts) {
	case 0:
		return `""`
	case 1:
		return parts[0].gbnf(prec)
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.gbnf(precSeq)
	}
	return paren(strings.Join(out, " "), prec > precSeq)
}

// merged flattens nested sequences and joins adjacent literals, so
// `"{" "\"a\":"` renders as `"{\"a\":"`.
func (s seq) merged() []expr {
	var out []expr
	var add func(e expr)
	add = func(e expr) {
		switch t := e.(type) {
		case seq:
			for _, x := range t {
				add(x)
			}
			return
		case lit:
			if t == "" {
				return
			}
			if n := len(out); n > 0 {
				if prev, ok := out[n-1].(lit); ok {
					out[n-1] = prev + t
					return
				}
			}
		}
		out = append(out, e)
	}
	for _, e := range s {
		add(e)
	}
	return out
}

func (a alt) gbnf(prec int) string {
	var parts []string
	var add func(e expr)
	add = func(e expr) {
		if inner, ok := e.(alt); ok {
			for _, x := range inner {
				add(x)
			}
			return
		}
		parts = append(parts, e.gbnf(precSeq))
	}
	for _, e := range a {
		add(e)
	}
	if len(parts) == 1 {
		return paren(parts[0], prec > precSeq)
	}
	return paren(strings.Join(parts, " | "), prec > precAlt)
}

func (r rept) gbnf(int) string {
	x := r.x.gbnf(precAtom)
	switch {
	case r.min == 0 && r.max == 1:
		return x + "?"
	case r.min == 0 && r.max < 0:
		return x + "*"
	case r.min == 1 && r.max < 0:
		return x + "+"
	case r.max < 0:
		return fmt.Sprintf("%s{%d,}", x, r.min)
	case r.min == r.max:
		return fmt.Sprintf("%s{%d}", x, r.min)
	default:
		return fmt.Sprintf("%s{%d,%d}", x, r.min, r.max)
	}
}

func paren(s string, need bool) string {
	if need {
		return "(" + s + ")"
	}
	return s
}

// quoteGBNF writes s as a GBNF literal. llama.cpp's parser understands
// \" \\ \n \r \t and \xHH; other characters (including non-ASCII UTF-8) are
// written as they are.
// Literal is a grammar whose only document is text.
func Literal(text string) string { return "root ::= " + quoteGBNF(text) + "\n" }

func quoteGBNF(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			sb.WriteString(`\"`)
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			sb.WriteString(`\x` + strconv.FormatUint(uint64(r)|0x100, 16)[1:])
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
