package grammar

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Completer finds the shortest text that finishes a partial document of a
// grammar. The engine uses it to close a grammar-forced reply that is about
// to reach its token limit: a small model can loop inside a JSON string
// until the limit, and the grammar alone cannot make it stop. Completions
// are in the grammar's language, so a closed document is one the grammar
// could have produced (a string cut short, required properties with their
// shortest values), never looser.
//
// It tracks the grammar as llama.cpp does: a set of stacks of positions in
// rules, advanced one character at a time. Immutable; safe for concurrent
// use.
type Completer struct {
	root  *gnode
	worst int
}

type nodeKind uint8

const (
	kLit nodeKind = iota
	kClass
	kSeq
	kAlt
	kRep
	kRef
)

// gnode is a grammar node with its shortest text and worst completion
// precomputed.
type gnode struct {
	id       int
	kind     nodeKind
	lit      []rune
	class    gClass
	kids     []*gnode
	min, max int // kRep; max < 0: unbounded
	target   *gnode
	name     string // kRef

	short    string // shortest text the node matches
	shortLen int    // len(short) in bytes; infinite when it matches nothing finite
	worst    int    // most bytes needed to finish the node from inside it
	state    uint8  // 0 new, 1 computing, 2 done
}

const infinite = 1 << 40

// NewCompleter parses a GBNF grammar (the dialect the converter emits;
// start rule "root").
func NewCompleter(gbnf string) (*Completer, error) {
	r, err := parseGBNF(gbnf)
	if err != nil {
		return nil, fmt.Errorf("grammar for completion: %w", err)
	}
	b := &nodeBuilder{rules: r.rules, refs: map[string]*gnode{}}
	root := b.ref("root")
	// Building a rule can reach new rules: b.all grows while it is walked.
	for i := 0; i < len(b.all); i++ {
		if n := b.all[i]; n.kind == kRef {
			n.target = b.build(r.rules[n.name])
		}
	}
	for _, n := range b.all {
		n.measure()
	}
	if root.shortLen >= infinite {
		return nil, fmt.Errorf("grammar for completion: the root rule matches no finite text")
	}
	return &Completer{root: root, worst: root.worst}, nil
}

type nodeBuilder struct {
	rules map[string]any
	refs  map[string]*gnode
	all   []*gnode
}

func (b *nodeBuilder) add(n *gnode) *gnode {
	n.id = len(b.all)
	b.all = append(b.all, n)
	return n
}

func (b *nodeBuilder) ref(name string) *gnode {
	if n, ok := b.refs[name]; ok {
		return n
	}
	n := b.add(&gnode{kind: kRef, name: name})
	b.refs[name] = n
	return n
}

func (b *nodeBuilder) build(x any) *gnode {
	switch t := x.(type) {
	case gLit:
		return b.add(&gnode{kind: kLit, lit: t})
	case gClass:
		return b.add(&gnode{kind: kClass, class: t})
	case gRef:
		return b.ref(string(t))
	case gSeq:
		n := b.add(&gnode{kind: kSeq})
		for _, k := range t {
			n.kids = append(n.kids, b.build(k))
		}
		return n
	case gAlt:
		n := b.add(&gnode{kind: kAlt})
		for _, k := range t {
			n.kids = append(n.kids, b.build(k))
		}
		return n
	case gRep:
		return b.add(&gnode{kind: kRep, kids: []*gnode{b.build(t.x)}, min: t.min, max: t.max})
	}
	panic(fmt.Sprintf("grammar: unknown node %T", x))
}

// measure computes the node's shortest text and worst completion. A rule
// reached again while it is being measured (recursion) counts as matching
// nothing finite along that path, which the converter never emits anyway.
func (n *gnode) measure() {
	switch n.state {
	case 1:
		return
	case 2:
		return
	}
	n.state = 1
	defer func() { n.state = 2 }()
	n.shortLen, n.worst = infinite, 0
	switch n.kind {
	case kLit:
		n.short = string(n.lit)
		n.shortLen, n.worst = len(n.short), len(n.short)
	case kClass:
		if r, ok := n.class.sample(); ok {
			n.short = string(r)
			n.shortLen, n.worst = len(n.short), len(n.short)
		}
	case kRef:
		n.target.measure()
		if n.target.state == 2 {
			n.short, n.shortLen, n.worst = n.target.short, n.target.shortLen, n.target.worst
		}
	case kSeq:
		var sb strings.Builder
		total := 0
		for _, k := range n.kids {
			k.measure()
			total = min(total+k.shortLen, infinite)
			sb.WriteString(k.short)
		}
		if total < infinite {
			n.short, n.shortLen = sb.String(), total
		}
		// Inside kid i, the rest is kid i's worst and the shortest of the
		// kids after it.
		after := 0
		for i := len(n.kids) - 1; i >= 0; i-- {
			n.worst = max(n.worst, min(n.kids[i].worst+after, infinite))
			after = min(after+n.kids[i].shortLen, infinite)
		}
	case kAlt:
		for _, k := range n.kids {
			k.measure()
			if k.shortLen < n.shortLen {
				n.short, n.shortLen = k.short, k.shortLen
			}
			n.worst = max(n.worst, k.worst)
		}
	case kRep:
		k := n.kids[0]
		k.measure()
		if n.min == 0 {
			n.short, n.shortLen = "", 0
		} else if k.shortLen < infinite {
			n.short, n.shortLen = strings.Repeat(k.short, n.min), n.min*k.shortLen
		}
		// Inside the first repetition, min-1 more are still owed.
		n.worst = min(k.worst+max(n.min-1, 0)*k.shortLen, infinite)
	}
}

// sample is a character the class matches, preferring plain ones.
func (c gClass) sample() (rune, bool) {
	for _, r := range "x0a " {
		if c.matches(r) {
			return r, true
		}
	}
	if !c.neg {
		for _, rg := range c.ranges {
			if rg[0] <= rg[1] {
				return rg[0], true
			}
		}
		return 0, false
	}
	for r := rune(0x20); r <= utf8.MaxRune; r++ {
		if c.matches(r) && utf8.ValidRune(r) {
			return r, true
		}
	}
	return 0, false
}

func (c gClass) matches(r rune) bool {
	in := false
	for _, rg := range c.ranges {
		if r >= rg[0] && r <= rg[1] {
			in = true
			break
		}
	}
	return in != c.neg
}

// MaxCompletion is the most bytes a completion can take, from any prefix of
// a document: what a generation must keep free to be sure of closing.
func (c *Completer) MaxCompletion() int { return c.worst }

// frame is a position in a rule: the next kid of a sequence, the
// repetitions done so far, or the next character of a literal.
type frame struct {
	n *gnode
	i int
}

// stack is an immutable list of frames, innermost first; nil is a whole
// document.
type stack struct {
	f    frame
	next *stack
}

func (s *stack) key(sb *strings.Builder) string {
	sb.Reset()
	for ; s != nil; s = s.next {
		sb.WriteString(strconv.Itoa(s.f.n.id))
		sb.WriteByte(':')
		sb.WriteString(strconv.Itoa(s.f.i))
		sb.WriteByte(' ')
	}
	return sb.String()
}

// Prefix is a partial document: the grammar positions it can be at.
type Prefix struct {
	stacks []*stack // each with a literal or class frame on top, or nil
}

// Start is the empty document.
func (c *Completer) Start() Prefix {
	var x expander
	x.node(c.root, nil, 0)
	return Prefix{stacks: x.out}
}

// Valid reports whether the prefix can still become a document.
func (p Prefix) Valid() bool { return len(p.stacks) > 0 }

// Next is the prefix extended by r; it is not Valid when the grammar does
// not allow r here.
func (p Prefix) Next(r rune) Prefix {
	var x expander
	for _, s := range p.stacks {
		if s == nil {
			continue
		}
		switch f := s.f; f.n.kind {
		case kLit:
			if f.n.lit[f.i] == r {
				x.stack(&stack{frame{f.n, f.i + 1}, s.next}, 0)
			}
		case kClass:
			if f.n.class.matches(r) {
				x.stack(s.next, 0)
			}
		}
	}
	return Prefix{stacks: x.out}
}

// Write is the prefix extended by text.
func (p Prefix) Write(text string) Prefix {
	for _, r := range text {
		if !p.Valid() {
			break
		}
		p = p.Next(r)
	}
	return p
}

// Completion is the shortest text that makes the prefix a whole document
// ("" when it is one); false when the prefix cannot become one.
func (p Prefix) Completion() (string, bool) {
	best, found := "", false
	for _, s := range p.stacks {
		var sb strings.Builder
		dead := false
		for ; s != nil; s = s.next {
			f := s.f
			switch f.n.kind {
			case kLit:
				sb.WriteString(string(f.n.lit[f.i:]))
			case kClass:
				sb.WriteString(f.n.short)
			case kSeq:
				for _, k := range f.n.kids[f.i:] {
					dead = dead || k.shortLen >= infinite
					sb.WriteString(k.short)
				}
			case kRep:
				for i := f.i; i < f.n.min; i++ {
					dead = dead || f.n.kids[0].shortLen >= infinite
					sb.WriteString(f.n.kids[0].short)
				}
			}
		}
		if dead {
			continue
		}
		if !found || sb.Len() < len(best) {
			best, found = sb.String(), true
		}
	}
	return best, found
}

// expander turns stacks into those whose top frame reads a character (or
// nil, a whole document), without duplicates.
type expander struct {
	out  []*stack
	seen map[string]bool
	sb   strings.Builder
}

// maxExpand bounds the work of one expansion: a repetition of something
// that can match nothing would otherwise expand forever.
const maxExpand = 64

func (x *expander) emit(s *stack) {
	if x.seen == nil {
		x.seen = map[string]bool{}
	}
	k := s.key(&x.sb)
	if !x.seen[k] {
		x.seen[k] = true
		x.out = append(x.out, s)
	}
}

// node pushes the start of n on rest.
func (x *expander) node(n *gnode, rest *stack, depth int) {
	if depth > maxExpand {
		return
	}
	switch n.kind {
	case kAlt:
		for _, k := range n.kids {
			x.node(k, rest, depth+1)
		}
	case kRef:
		x.node(n.target, rest, depth+1)
	default:
		x.stack(&stack{frame{n, 0}, rest}, depth+1)
	}
}

func (x *expander) stack(s *stack, depth int) {
	if depth > maxExpand {
		return
	}
	if s == nil {
		x.emit(nil)
		return
	}
	f := s.f
	switch f.n.kind {
	case kLit:
		if f.i < len(f.n.lit) {
			x.emit(s)
		} else {
			x.stack(s.next, depth+1)
		}
	case kClass:
		x.emit(s)
	case kSeq:
		if f.i == len(f.n.kids) {
			x.stack(s.next, depth+1)
			return
		}
		x.node(f.n.kids[f.i], &stack{frame{f.n, f.i + 1}, s.next}, depth+1)
	case kRep:
		if f.n.max < 0 || f.i < f.n.max {
			x.node(f.n.kids[0], &stack{frame{f.n, f.i + 1}, s.next}, depth+1)
		}
		if f.i >= f.n.min {
			x.stack(s.next, depth+1)
		}
	}
}
