package grammar

// A GBNF recogniser, test-only: it decides by memoised backtracking
// whether a document is in the language of a grammar parsed by parseGBNF.
// It lets the tests check what the grammar accepts, not only how it is
// spelled.

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// accepts reports whether doc is in the language of the root rule.
func (r *recogniser) accepts(doc string) bool {
	if !utf8.ValidString(doc) {
		return false
	}
	m := &matchState{r: r, in: []rune(doc), memo: map[memoKey][]int{}}
	return slices.Contains(m.match(gRef("root"), 0), len(m.in))
}

type memoKey struct {
	rule string
	pos  int
}

type matchState struct {
	r    *recogniser
	in   []rune
	memo map[memoKey][]int
}

// match returns the sorted set of positions where n can end when it starts
// at pos.
func (m *matchState) match(n any, pos int) []int {
	switch t := n.(type) {
	case gLit:
		if pos+len(t) <= len(m.in) && slices.Equal(m.in[pos:pos+len(t)], t) {
			return []int{pos + len(t)}
		}
		return nil
	case gClass:
		if pos >= len(m.in) {
			return nil
		}
		c := m.in[pos]
		in := false
		for _, rg := range t.ranges {
			if c >= rg[0] && c <= rg[1] {
				in = true
			}
		}
		if in != t.neg {
			return []int{pos + 1}
		}
		return nil
	case gRef:
		k := memoKey{string(t), pos}
		if v, ok := m.memo[k]; ok {
			return v
		}
		m.memo[k] = nil // guards against left recursion
		v := m.match(m.r.rules[string(t)], pos)
		m.memo[k] = v
		return v
	case gSeq:
		cur := []int{pos}
		for _, x := range t {
			cur = m.step(x, cur)
			if len(cur) == 0 {
				return nil
			}
		}
		return cur
	case gAlt:
		var out []int
		for _, x := range t {
			out = append(out, m.match(x, pos)...)
		}
		return uniq(out)
	case gRep:
		var out []int
		cur := []int{pos}
		for i := 0; ; i++ {
			if i >= t.min {
				out = append(out, cur...)
			}
			if i == t.max || len(cur) == 0 {
				break
			}
			next := m.step(t.x, cur)
			// Drop empty iterations so an unbounded repeat terminates.
			next = slices.DeleteFunc(next, func(p int) bool { return slices.Contains(cur, p) && i >= t.min })
			if len(next) == 0 && i >= t.min {
				break
			}
			cur = next
		}
		return uniq(out)
	}
	panic(fmt.Sprintf("unknown node %T", n))
}

func (m *matchState) step(x any, from []int) []int {
	var out []int
	for _, p := range from {
		out = append(out, m.match(x, p)...)
	}
	return uniq(out)
}

func uniq(s []int) []int {
	slices.Sort(s)
	return slices.Compact(s)
}
