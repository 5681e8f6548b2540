package grammar

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCompleterShortest(t *testing.T) {
	const call = `{"oneOf":[
	  {"type":"object","properties":{"tool":{"const":"pay"},"arguments":{"type":"object","properties":{
	    "to":{"type":"string","minLength":1,"maxLength":8},"amount":{"type":"integer","minimum":-5,"maximum":900},
	    "color":{"enum":["red","green"]},"memo":{"type":"string"}},"required":["to","amount","color"],"additionalProperties":false}},
	   "required":["tool","arguments"],"additionalProperties":false},
	  {"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"],"additionalProperties":false}]}`
	s, err := Compile([]byte(call))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Completer()
	for _, tc := range []struct {
		prefix, want string
		ok           bool
	}{
		{``, `{"answer":""}`, true},
		{`{"answer":"la la la la`, `"}`, true},
		{`{"answer":"a \"quoted\`, `""}`, true}, // a backslash needs an escape after it
		{`{"answer":"\u00`, `00"}`, true},
		{`{"answer":"ok"}`, ``, true},
		{`{"t`, `ool":"pay","arguments":{"to":"x","amount":0,"color":"red"}}`, true},
		{`{"tool":"pay","arguments":{"to":"`, `x","amount":0,"color":"red"}}`, true},
		{`{"tool":"pay","arguments":{"to":"12345678`, `","amount":0,"color":"red"}}`, true},
		{`{"tool":"pay","arguments":{"to":"a","amount":-`, `1,"color":"red"}}`, true},
		{`{"tool":"pay","arguments":{"to":"a","amount":12`, `,"color":"red"}}`, true},
		{`{"tool":"pay","arguments":{"to":"a","amount":1,"color":"g`, `reen"}}`, true},
		{`{"tool":"pay","arguments":{"to":"a","amount":1,"color":"red","memo":"long`, `"}}`, true},
		// Not a prefix of any document.
		{`{"tool":"pay","arguments":{"to":"123456789`, ``, false},
		{`{"answer":"x"} `, ``, false},
		{`{"tool":"pay","arguments":{"to":"a","amount":-6`, ``, false},
	} {
		p := c.Start().Write(tc.prefix)
		got, ok := p.Completion()
		if ok != tc.ok || got != tc.want {
			t.Errorf("Completion after %s = %q, %v; want %q, %v", tc.prefix, got, ok, tc.want, tc.ok)
			continue
		}
		if ok {
			if err := s.Validate([]byte(tc.prefix + got)); err != nil {
				t.Errorf("%s%s: %v", tc.prefix, got, err)
			}
			if len(got) > c.MaxCompletion() {
				t.Errorf("completion %q is longer than MaxCompletion %d", got, c.MaxCompletion())
			}
		}
	}
}

// A string with a maxLength cannot run past it: the grammar stops taking
// its characters and the completion closes it.
func TestCompleterBoundedString(t *testing.T) {
	s, err := Compile([]byte(`{"type":"string","maxLength":5}`))
	if err != nil {
		t.Fatal(err)
	}
	p := s.Completer().Start().Write(`"abcde`)
	if got, ok := p.Completion(); !ok || got != `"` {
		t.Fatalf("after 5 characters: %q, %v; want the closing quote", got, ok)
	}
	if p.Next('f').Valid() {
		t.Fatal("a sixth character was accepted")
	}
}

// Every prefix of every random valid document completes to a document the
// grammar accepts and the schema validates, within MaxCompletion bytes.
func TestCompleterRandomPrefixes(t *testing.T) {
	cases := loadFuzzCases(t)
	for seed := range uint64(60) {
		for i, c := range cases {
			c.gen.rnd = rand.New(rand.NewPCG(seed, uint64(i)))
			root, _ := decodeOrdered([]byte(fuzzSchemas[i]))
			doc := c.gen.value(root, 0)
			comp := c.schema.Completer()
			p := comp.Start()
			for j, r := range doc {
				checkCompletion(t, c, doc[:j], p, comp.MaxCompletion())
				if p = p.Next(r); !p.Valid() {
					t.Fatalf("schema %d: %s: the completer rejects %q at %d", i, doc, r, j)
				}
			}
			checkCompletion(t, c, doc, p, comp.MaxCompletion())
			if got, _ := p.Completion(); got != "" {
				t.Fatalf("schema %d: %s is whole, but the completer adds %q", i, doc, got)
			}
		}
	}
}

func checkCompletion(t *testing.T, c fuzzCase, prefix string, p Prefix, limit int) {
	t.Helper()
	if !utf8.ValidString(prefix) {
		return
	}
	got, ok := p.Completion()
	if !ok {
		t.Fatalf("no completion after %q", prefix)
	}
	doc := prefix + got
	if !c.rec.accepts(doc) {
		t.Fatalf("grammar rejects the completed %s", doc)
	}
	if !json.Valid([]byte(doc)) || c.schema.Validate([]byte(doc)) != nil {
		t.Fatalf("the completed %s does not validate: %v", doc, c.schema.Validate([]byte(doc)))
	}
	if len(got) > limit {
		t.Fatalf("completion %q of %q is %d bytes, above MaxCompletion %d", got, prefix, len(got), limit)
	}
}

func TestCompleterMaxCompletion(t *testing.T) {
	for _, tc := range []struct {
		schema string
		want   int
	}{
		{`{"type":"boolean"}`, len("false")},
		// An upper bound: it counts from the start of each alternative, so
		// from just after the backslash of "\u0000 (a "\"" would be shorter).
		{`{"type":"string","minLength":3,"maxLength":9}`, len(`u0000xx"`)},
		{`{"type":"object","properties":{"a":{"type":"string","minLength":2}},"required":["a"]}`, len(`{"a":"xx"}`)},
	} {
		s, err := Compile([]byte(tc.schema))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Completer().MaxCompletion(); got != tc.want {
			t.Errorf("%s: MaxCompletion %d, want %d", tc.schema, got, tc.want)
		}
	}
	if _, err := NewCompleter(`root ::= "a" root`); err == nil || !strings.Contains(err.Error(), "no finite") {
		t.Errorf("a root with no finite text: %v", err)
	}
}
