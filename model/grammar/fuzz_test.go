package grammar

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// fuzzSchemas cover every supported construct; the random documents
// generated for them must be accepted by the grammar and the validator.
var fuzzSchemas = []string{
	acceptanceSchema,
	`{"type":"object","properties":{
	   "id":{"type":"integer"},
	   "count":{"type":"integer","minimum":-20,"exclusiveMaximum":1000},
	   "level":{"type":["integer","null"],"minimum":3,"maximum":3},
	   "we\"ird kéy/~":{"type":"string","maxLength":2},
	   "score":{"type":"number"},
	   "ok":{"type":"boolean"},
	   "note":{"type":["string","null"],"maxLength":5},
	   "kind":{"const":"event"},
	   "tags":{"type":"array","items":{"enum":["a","b",3,null,{"x":[1]}]},"minItems":1,"maxItems":3},
	   "pt":{"$ref":"#/$defs/point"},
	   "alt":{"anyOf":[{"type":"string","minLength":2,"maxLength":4},{"type":"array","items":{"$ref":"#/$defs/point"},"maxItems":2}]}
	 },
	 "required":["score","kind"],
	 "additionalProperties":false,
	 "$defs":{"point":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["y"]}}}`,
	`{"oneOf":[{"type":"object","properties":{"op":{"const":"add"},"n":{"type":"integer"}},"required":["op","n"]},
	           {"type":"object","properties":{"op":{"const":"stop"}},"required":["op"]}]}`,
	`{"type":"array","items":{}, "maxItems":3}`,
	`{"type":"array","items":{"type":"string","minLength":1},"minItems":3,"maxItems":6}`,
}

// docGen writes a random document that is valid for a schema, compact and
// with properties in schema order, the way the grammar has the model write
// it.
type docGen struct {
	rnd  *rand.Rand
	conv *converter // for resolving $ref
}

func (g *docGen) value(node any, depth int) string {
	var sb strings.Builder
	g.write(&sb, node, depth)
	return sb.String()
}

func (g *docGen) write(sb *strings.Builder, node any, depth int) {
	s, ok := node.(*object)
	if !ok { // true
		g.any(sb, depth)
		return
	}
	if v, ok := s.get("$ref"); ok {
		target, _, err := g.conv.resolve(v.(string))
		if err != nil {
			panic(err)
		}
		g.write(sb, target, depth)
		return
	}
	for _, kw := range []string{"anyOf", "oneOf", "allOf"} {
		if v, ok := s.get(kw); ok {
			list := v.([]any)
			g.write(sb, list[g.rnd.IntN(len(list))], depth)
			return
		}
	}
	if v, ok := s.get("const"); ok {
		compactJSON(sb, v)
		return
	}
	if v, ok := s.get("enum"); ok {
		list := v.([]any)
		compactJSON(sb, list[g.rnd.IntN(len(list))])
		return
	}
	types, _ := typesOf(s, "")
	if len(types) == 0 {
		g.any(sb, depth)
		return
	}
	switch types[g.rnd.IntN(len(types))] {
	case "object":
		req := map[string]bool{}
		if v, ok := s.get("required"); ok {
			for _, k := range v.([]any) {
				req[k.(string)] = true
			}
		}
		sb.WriteByte('{')
		n := 0
		if v, ok := s.get("properties"); ok {
			props := v.(*object)
			for _, k := range props.keys {
				if !req[k] && g.rnd.IntN(2) == 0 {
					continue
				}
				if n > 0 {
					sb.WriteByte(',')
				}
				n++
				sb.WriteString(jsonString(k) + ":")
				g.write(sb, props.vals[k], depth+1)
			}
		}
		sb.WriteByte('}')
	case "array":
		lo, hi, _ := bounds(s, "minItems", "maxItems", "")
		n := g.count(lo, hi)
		items, ok := s.get("items")
		if !ok {
			items = true
		}
		sb.WriteByte('[')
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			g.write(sb, items, depth+1)
		}
		sb.WriteByte(']')
	case "string":
		lo, hi, _ := bounds(s, "minLength", "maxLength", "")
		g.str(sb, g.count(lo, hi))
	case "integer":
		if lo, hi, ok, _ := intBounds(s, ""); ok {
			n := lo + g.rnd.Int64N(hi-lo+1)
			if g.rnd.IntN(3) == 0 { // edges are where range grammars break
				n = []int64{lo, hi}[g.rnd.IntN(2)]
			}
			fmt.Fprintf(sb, "%d", n)
			return
		}
		g.integer(sb)
	case "number":
		g.integer(sb)
		if g.rnd.IntN(2) == 0 {
			fmt.Fprintf(sb, ".%d", g.rnd.IntN(1000))
		}
		if g.rnd.IntN(3) == 0 {
			fmt.Fprintf(sb, "%s%s%d", []string{"e", "E"}[g.rnd.IntN(2)], []string{"", "-", "+"}[g.rnd.IntN(3)], g.rnd.IntN(300))
		}
	case "boolean":
		sb.WriteString([]string{"true", "false"}[g.rnd.IntN(2)])
	case "null":
		sb.WriteString("null")
	}
}

// count picks a length in [lo, hi], staying small when hi is unbounded.
func (g *docGen) count(lo, hi int) int {
	if hi < 0 || hi > lo+6 {
		hi = lo + 6
	}
	return lo + g.rnd.IntN(hi-lo+1)
}

func (g *docGen) integer(sb *strings.Builder) {
	switch g.rnd.IntN(4) {
	case 0:
		sb.WriteString("0")
	case 1:
		fmt.Fprintf(sb, "%d", g.rnd.Int64N(1e16)) // up to 16 digits
	default:
		fmt.Fprintf(sb, "%d", g.rnd.IntN(2000)-1000)
	}
}

// str writes a JSON string of exactly n code points, mixing plain ASCII,
// non-ASCII, astral characters and every kind of escape.
func (g *docGen) str(sb *strings.Builder, n int) {
	pieces := []string{"a", "Z", " ", "0", "é", "ß", "中", "🐉", `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0001`, `\u00e9`, `\uFFFD`, "'", "<", "~"}
	sb.WriteByte('"')
	for range n {
		sb.WriteString(pieces[g.rnd.IntN(len(pieces))])
	}
	sb.WriteByte('"')
}

// any writes an arbitrary JSON value, depth-limited.
func (g *docGen) any(sb *strings.Builder, depth int) {
	k := g.rnd.IntN(7)
	if depth > 3 {
		k = g.rnd.IntN(5)
	}
	switch k {
	case 0:
		g.str(sb, g.rnd.IntN(4))
	case 1:
		g.integer(sb)
	case 2:
		sb.WriteString("true")
	case 3:
		sb.WriteString("null")
	case 4:
		sb.WriteString("-1.5e3")
	case 5:
		sb.WriteByte('[')
		for i := range g.rnd.IntN(3) {
			if i > 0 {
				sb.WriteByte(',')
			}
			g.any(sb, depth+1)
		}
		sb.WriteByte(']')
	case 6:
		sb.WriteByte('{')
		for i := range g.rnd.IntN(3) {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(sb, `"k%d":`, i)
			g.any(sb, depth+1)
		}
		sb.WriteByte('}')
	}
}

// mutate makes a small random edit, usually turning a valid document into
// an invalid one.
func mutate(rnd *rand.Rand, doc string) string {
	if doc == "" {
		return doc
	}
	chars := []string{" ", ",", "\"", "{", "}", "[", "]", ":", "0", "1", "-", ".", "e", "a", "\\", "\n", "null"}
	i := rnd.IntN(len(doc))
	switch rnd.IntN(3) {
	case 0:
		return doc[:i] + doc[i+1:]
	case 1:
		return doc[:i] + chars[rnd.IntN(len(chars))] + doc[i:]
	default:
		return doc[:i] + chars[rnd.IntN(len(chars))] + doc[i+1:]
	}
}

type fuzzCase struct {
	schema *Schema
	rec    *recogniser
	gen    *docGen
}

func loadFuzzCases(t testing.TB) []fuzzCase {
	var out []fuzzCase
	for i, src := range fuzzSchemas {
		s, err := Compile([]byte(src))
		if err != nil {
			t.Fatalf("schema %d: %v", i, err)
		}
		r, err := parseGBNF(s.GBNF())
		if err != nil {
			t.Fatalf("schema %d: grammar does not parse: %v\n%s", i, err, s.GBNF())
		}
		root, _ := decodeOrdered([]byte(src))
		out = append(out, fuzzCase{s, r, &docGen{conv: &converter{root: root}}})
	}
	return out
}

// checkSeed generates one valid document per schema and a few mutations of
// it. Valid documents must be accepted by grammar and validator; anything
// the grammar accepts must pass the validator (the grammar is never wider
// than the schema).
func checkSeed(t testing.TB, cases []fuzzCase, seed uint64) {
	for i, c := range cases {
		rnd := rand.New(rand.NewPCG(seed, uint64(i)))
		c.gen.rnd = rnd
		root, _ := decodeOrdered([]byte(fuzzSchemas[i]))
		doc := c.gen.value(root, 0)
		if !json.Valid([]byte(doc)) {
			t.Fatalf("schema %d seed %d: generator wrote invalid JSON %s", i, seed, doc)
		}
		if !c.rec.accepts(doc) {
			t.Fatalf("schema %d seed %d: grammar rejects valid %s\n%s", i, seed, doc, c.schema.GBNF())
		}
		if err := c.schema.Validate([]byte(doc)); err != nil {
			t.Fatalf("schema %d seed %d: %v for %s", i, seed, err, doc)
		}
		for range 4 {
			m := mutate(rnd, doc)
			if c.rec.accepts(m) {
				if err := c.schema.Validate([]byte(m)); err != nil {
					t.Fatalf("schema %d seed %d: grammar accepts %s but the validator says %v", i, seed, m, err)
				}
			}
		}
	}
}

func TestGrammarRandomDocs(t *testing.T) {
	cases := loadFuzzCases(t)
	for seed := range uint64(300) {
		checkSeed(t, cases, seed)
	}
}

// FuzzGrammar runs the same property on fuzzer-chosen seeds:
// go test ./model/grammar -run '^$' -fuzz FuzzGrammar -fuzztime 30s
func FuzzGrammar(f *testing.F) {
	cases := loadFuzzCases(f)
	for _, s := range []uint64{0, 1, 42, 1 << 40} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		checkSeed(t, cases, seed)
	})
}
