package model

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// GrammarError is a GBNF grammar llama.cpp rejects, with where: Line and
// Column (1-based) of the text it could not parse, or Rule, the rule it
// names. It matches ErrBadGrammar.
type GrammarError struct {
	Line, Column int    // 0: llama.cpp gave no position
	Rule         string // an undefined rule
	Reason       string // llama.cpp's reason, without its position
	Near         string // the start of the text at the position
}

func (e *GrammarError) Error() string {
	var b strings.Builder
	b.WriteString("invalid GBNF grammar: ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d, column %d: ", e.Line, e.Column)
	}
	b.WriteString(e.Reason)
	switch {
	case e.Line > 0 && e.Near == "":
		b.WriteString(" (at the end)")
	case e.Line > 0:
		fmt.Fprintf(&b, " (at %q)", e.Near)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrBadGrammar) hold.
func (e *GrammarError) Is(target error) bool { return target == ErrBadGrammar }

// CheckGrammar parses a GBNF grammar (root rule "root") as generation
// will, without a model, so a bad grammar fails before one is loaded. A
// grammar that names tokens (<|im_end|>, <[1234]>) needs a model's
// vocabulary: it passes here and is checked when it is used.
func CheckGrammar(gbnf string) error {
	if gbnf == "" {
		return nil
	}
	cg := cString(gbnf)
	defer freeC(cg)
	buf := grammarErrBuf(gbnf)
	defer C.free(unsafe.Pointer(buf.p))
	if C.sov_grammar_check(cg, buf.p, buf.n) != 0 {
		return nil
	}
	msg := C.GoString(buf.p)
	if strings.Contains(msg, "no vocab to parse token") {
		return nil
	}
	return grammarError(gbnf, msg)
}

// cbuf is C memory for llama.cpp's messages.
type cbuf struct {
	p *C.char
	n C.int32_t
}

// grammarErrBuf is room for llama.cpp's messages about gbnf: the reason,
// the rest of the text after the error and the whole text again.
func grammarErrBuf(gbnf string) cbuf {
	n := 2*len(gbnf) + 4096
	return cbuf{(*C.char)(C.calloc(C.size_t(n), 1)), C.int32_t(n)}
}

var (
	undefinedRule = regexp.MustCompile(`Undefined rule identifier '([^']*)'`)
	parseError    = regexp.MustCompile(`error parsing grammar: `)
	noRoot        = regexp.MustCompile(`grammar does not contain a '([^']*)' symbol`)
)

// grammarError turns what llama.cpp said about rejecting src into one
// line. A parse error is "REASON at REST", REST being the text from the
// error to the end, so its length gives the position.
func grammarError(src, msg string) *GrammarError {
	if loc := parseError.FindStringIndex(msg); loc != nil {
		what := msg[loc[1]:]
		// llama.cpp prints "…: REASON\n\nSRC\n".
		if i := strings.LastIndex(what, "\n\n"+src); i >= 0 {
			what = what[:i]
		}
		if m := undefinedRule.FindStringSubmatch(what); m != nil {
			return undefined(src, m[1])
		}
		for i := 0; ; {
			j := strings.Index(what[i:], " at ")
			if j < 0 {
				break
			}
			rest := what[i+j+4:]
			if strings.HasSuffix(src, rest) {
				e := position(src, len(src)-len(rest))
				e.Reason = what[:i+j]
				return e
			}
			i += j + 4
		}
		if strings.HasPrefix(what, "unexpected end of input") {
			e := position(src, len(src))
			e.Reason = "unexpected end of input"
			return e
		}
		return &GrammarError{Reason: oneLineGBNF(what)}
	}
	if m := noRoot.FindStringSubmatch(msg); m != nil {
		return &GrammarError{Rule: m[1], Reason: fmt.Sprintf("no rule %q: the grammar starts at %s ::= …", m[1], m[1])}
	}
	if strings.Contains(msg, "left recursion") {
		// llama.cpp names the rule by an internal index; a rule that starts
		// with itself directly is found here by name.
		e := &GrammarError{Reason: "a rule starts with itself (left recursion), which llama.cpp does not support: start it with a literal or another rule"}
		if name, off := leftRecursive(src); name != "" {
			e = position(src, off)
			e.Rule, e.Near = name, name
			e.Reason = fmt.Sprintf("rule %q starts with itself (left recursion), which llama.cpp does not support: start it with a literal or another rule", name)
		}
		return e
	}
	if msg = oneLineGBNF(msg); msg == "" {
		msg = "llama.cpp rejected it"
	}
	return &GrammarError{Reason: msg}
}

// undefined reports rule name as used but never defined, at its first use
// (it has no definition, so every whole-word occurrence is a use).
func undefined(src, name string) *GrammarError {
	e := &GrammarError{}
	use := regexp.MustCompile(`(?:^|[^a-zA-Z0-9-])(` + regexp.QuoteMeta(name) + `)(?:$|[^a-zA-Z0-9-])`)
	if loc := use.FindStringSubmatchIndex(src); loc != nil {
		e = position(src, loc[2])
		e.Near = name
	}
	e.Rule = name
	e.Reason = fmt.Sprintf("rule %q is used but not defined", name)
	return e
}

var ruleHead = regexp.MustCompile(`(?m)^[ \t]*([a-zA-Z0-9-]+)[ \t]*::=`)

// leftRecursive finds a rule one of whose alternatives starts with the rule
// itself, and the offset of its definition. Alternatives are split at "|"
// outside groups, literals and character classes; recursion through a group
// or another rule is not found (the error then names no rule).
func leftRecursive(src string) (string, int) {
	heads := ruleHead.FindAllStringSubmatchIndex(src, -1)
	for i, h := range heads {
		end := len(src)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		name := src[h[2]:h[3]]
		for _, alt := range splitAlternatives(src[h[1]:end]) {
			alt = strings.TrimSpace(alt)
			if rest, ok := strings.CutPrefix(alt, name); ok && (rest == "" || !isRuleChar(rest[0])) {
				return name, h[2]
			}
		}
	}
	return "", 0
}

func splitAlternatives(body string) []string {
	var alts []string
	start, depth, quote, class := 0, 0, false, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '\\':
			i++
		case quote:
			quote = c != '"'
		case class:
			class = c != ']'
		case c == '"':
			quote = true
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			alts = append(alts, body[start:i])
			start = i + 1
		}
	}
	return append(alts, body[start:])
}

func isRuleChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// position is the line and column of byte off in src, and the text there.
func position(src string, off int) *GrammarError {
	before := src[:off]
	line := strings.Count(before, "\n") + 1
	col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	near, _, _ := strings.Cut(src[off:], "\n")
	if utf8.RuneCountInString(near) > 24 {
		near = string([]rune(near)[:24]) + "…"
	}
	return &GrammarError{Line: line, Column: col, Near: near}
}

func oneLineGBNF(s string) string { return strings.Join(strings.Fields(s), " ") }
