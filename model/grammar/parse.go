package grammar

// A small GBNF parser for the completer and the tests' recogniser. It
// parses the subset of llama.cpp's grammar dialect the converter emits
// (literals, character classes, rule references, grouping, alternation,
// * + ? {m} {m,} {m,n}) with llama.cpp's rules (rule names [a-zA-Z0-9-],
// "{" must be followed by a digit, bounds above 2000 are an error here
// because llama.cpp would silently make them unbounded).

import (
	"fmt"
	"strconv"
	"strings"
)

type (
	gLit   []rune
	gClass struct {
		neg    bool
		ranges [][2]rune
	}
	gRef string
	gSeq []any
	gAlt []any
	gRep struct {
		x        any
		min, max int // max < 0: unbounded
	}
)

// recogniser is a parsed grammar: its rules by name.
type recogniser struct {
	rules map[string]any
}

func parseGBNF(src string) (*recogniser, error) {
	r := &recogniser{rules: map[string]any{}}
	var refs []string
	for n, line := range strings.Split(src, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, body, ok := strings.Cut(line, " ::= ")
		if !ok {
			return nil, fmt.Errorf("line %d: no \" ::= \": %q", n+1, line)
		}
		if name == "" || strings.IndexFunc(name, func(c rune) bool { return !isWordRune(c) }) >= 0 {
			return nil, fmt.Errorf("line %d: bad rule name %q", n+1, name)
		}
		if _, dup := r.rules[name]; dup {
			return nil, fmt.Errorf("line %d: rule %q defined twice", n+1, name)
		}
		p := &gbnfParser{src: []rune(body)}
		node, err := p.alternates()
		if err == nil && p.pos != len(p.src) {
			err = fmt.Errorf("unexpected %q", string(p.src[p.pos:]))
		}
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %v", n+1, name, err)
		}
		r.rules[name] = node
		refs = append(refs, p.refs...)
	}
	if _, ok := r.rules["root"]; !ok {
		return nil, fmt.Errorf("no root rule")
	}
	for _, ref := range refs {
		if _, ok := r.rules[ref]; !ok {
			return nil, fmt.Errorf("undefined rule %q", ref)
		}
	}
	return r, nil
}

func isWordRune(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

type gbnfParser struct {
	src  []rune
	pos  int
	refs []string
}

func (p *gbnfParser) peek() rune {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *gbnfParser) space() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *gbnfParser) alternates() (any, error) {
	var alts gAlt
	for {
		s, err := p.sequence()
		if err != nil {
			return nil, err
		}
		alts = append(alts, s)
		if p.peek() != '|' {
			break
		}
		p.pos++
		p.space()
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return alts, nil
}

func (p *gbnfParser) sequence() (any, error) {
	var s gSeq
	for {
		p.space()
		var item any
		switch c := p.peek(); {
		case c == '"':
			p.pos++
			var lit gLit
			for p.peek() != '"' {
				if p.pos >= len(p.src) {
					return nil, fmt.Errorf("unterminated literal")
				}
				r, err := p.char()
				if err != nil {
					return nil, err
				}
				lit = append(lit, r)
			}
			p.pos++
			item = lit
		case c == '[':
			p.pos++
			var cl gClass
			if p.peek() == '^' {
				cl.neg = true
				p.pos++
			}
			for p.peek() != ']' {
				if p.pos >= len(p.src) {
					return nil, fmt.Errorf("unterminated class")
				}
				lo, err := p.char()
				if err != nil {
					return nil, err
				}
				hi := lo
				if p.peek() == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] != ']' {
					p.pos++
					if hi, err = p.char(); err != nil {
						return nil, err
					}
				}
				cl.ranges = append(cl.ranges, [2]rune{lo, hi})
			}
			p.pos++
			item = cl
		case c == '(':
			p.pos++
			p.space()
			inner, err := p.alternates()
			if err != nil {
				return nil, err
			}
			if p.peek() != ')' {
				return nil, fmt.Errorf("expected ) at %d", p.pos)
			}
			p.pos++
			item = inner
		case isWordRune(c):
			start := p.pos
			for isWordRune(p.peek()) {
				p.pos++
			}
			name := string(p.src[start:p.pos])
			p.refs = append(p.refs, name)
			item = gRef(name)
		default:
			if len(s) == 0 {
				return nil, fmt.Errorf("empty alternative at %d", p.pos)
			}
			if len(s) == 1 {
				return s[0], nil
			}
			return s, nil
		}
		for {
			var err error
			if item, err = p.postfix(item); err != nil {
				return nil, err
			}
			if c := p.peek(); c != '*' && c != '+' && c != '?' && c != '{' {
				break
			}
		}
		s = append(s, item)
	}
}

func (p *gbnfParser) postfix(item any) (any, error) {
	switch p.peek() {
	case '*':
		p.pos++
		return gRep{item, 0, -1}, nil
	case '+':
		p.pos++
		return gRep{item, 1, -1}, nil
	case '?':
		p.pos++
		return gRep{item, 0, 1}, nil
	case '{':
		p.pos++
		num := func() (int, bool) {
			start := p.pos
			for p.peek() >= '0' && p.peek() <= '9' {
				p.pos++
			}
			n, err := strconv.Atoi(string(p.src[start:p.pos]))
			return n, err == nil
		}
		lo, ok := num()
		if !ok {
			return nil, fmt.Errorf("llama.cpp needs a digit after {")
		}
		hi := lo
		if p.peek() == ',' {
			p.pos++
			if hi, ok = num(); !ok {
				hi = -1
			}
		}
		if p.peek() != '}' {
			return nil, fmt.Errorf("expected }")
		}
		p.pos++
		if lo > maxRepeat || hi > maxRepeat {
			return nil, fmt.Errorf("bound above %d (llama.cpp would drop it)", maxRepeat)
		}
		return gRep{item, lo, hi}, nil
	}
	return item, nil
}

// char reads one character of a literal or class with llama.cpp's escapes.
func (p *gbnfParser) char() (rune, error) {
	c := p.src[p.pos]
	if c != '\\' {
		p.pos++
		return c, nil
	}
	if p.pos+1 >= len(p.src) {
		return 0, fmt.Errorf("dangling backslash")
	}
	e := p.src[p.pos+1]
	p.pos += 2
	hex := func(n int) (rune, error) {
		if p.pos+n > len(p.src) {
			return 0, fmt.Errorf("short hex escape")
		}
		v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+n]), 16, 32)
		p.pos += n
		return rune(v), err
	}
	switch e {
	case 'x':
		return hex(2)
	case 'u':
		return hex(4)
	case 'U':
		return hex(8)
	case 't':
		return '\t', nil
	case 'r':
		return '\r', nil
	case 'n':
		return '\n', nil
	case '\\', '"', '[', ']', '-':
		return e, nil
	}
	return 0, fmt.Errorf("unknown escape \\%c", e)
}
