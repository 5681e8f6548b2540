package grammar

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// acceptanceSchema is issue 2's acceptance shape: a string enum, an
// integer and an array of strings.
const acceptanceSchema = `{
  "type": "object",
  "properties": {
    "mood": {"type": "string", "enum": ["happy", "sad", "angry"]},
    "age": {"type": "integer"},
    "friends": {"type": "array", "items": {"type": "string", "maxLength": 16}, "maxItems": 4}
  },
  "required": ["mood", "age", "friends"],
  "additionalProperties": false
}`

// ownRules drops the fixed primitive rules so goldens show only what the
// schema produced.
func ownRules(g string) string {
	prim := map[string]bool{}
	for _, p := range primitives {
		prim[p.name] = true
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(g), "\n") {
		name, _, _ := strings.Cut(line, " ::= ")
		if !prim[name] {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestGrammarGolden(t *testing.T) {
	tests := []struct{ name, schema, want string }{
		{"string", `{"type":"string"}`, `root ::= string`},
		{"string lengths", `{"type":"string","minLength":1,"maxLength":20}`, `root ::= "\"" char{1,20} "\""`},
		{"empty string only", `{"type":"string","maxLength":0}`, `root ::= "\"\""`},
		{"maxLength clamped to llama.cpp limit", `{"type":"string","maxLength":99999}`, `root ::= "\"" char{0,2000} "\""`},
		{"integer", `{"type":"integer"}`, `root ::= integer`},
		{"number", `{"type":"number"}`, `root ::= number`},
		{"boolean", `{"type":"boolean"}`, `root ::= "true" | "false"`},
		{"null", `{"type":"null"}`, `root ::= "null"`},
		{"enum of any JSON", `{"enum":["a",1,null,{"k":[true]},"q\"<"]}`,
			`root ::= "\"a\"" | "1" | "null" | "{\"k\":[true]}" | "\"q\\\"<\""`},
		{"const", `{"const":"x"}`, `root ::= "\"x\""`},
		{"type list", `{"type":["integer","number","null"]}`, `root ::= number | "null"`},
		{"object all required", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a","b"],"additionalProperties":false}`,
			`root ::= "{\"a\":" string ",\"b\":" integer "}"`},
		{"object all optional", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"},"c":{"type":"boolean"}}}`,
			`root ::= "{" ("\"a\":" string (",\"b\":" integer)? (",\"c\":" ("true" | "false"))? | "\"b\":" integer (",\"c\":" ("true" | "false"))? | "\"c\":" ("true" | "false"))? "}"`},
		{"object optional around required", `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}},"required":["b"]}`,
			`root ::= "{" ("\"a\":" integer ",\"b\":" integer (",\"c\":" integer)? | "\"b\":" integer (",\"c\":" integer)?) "}"`},
		{"object without properties", `{"type":"object"}`, `root ::= "{}"`},
		{"array", `{"type":"array","items":{"type":"integer"}}`, `root ::= "[" (integer ("," integer)*)? "]"`},
		{"array minItems 1", `{"type":"array","items":{"type":"integer"},"minItems":1}`, `root ::= "[" integer ("," integer)* "]"`},
		{"array maxItems 1", `{"type":"array","items":{"type":"integer"},"maxItems":1}`, `root ::= "[" integer? "]"`},
		{"array maxItems 2", `{"type":"array","items":{"type":"integer"},"maxItems":2}`, `root ::= "[" (integer ("," integer)?)? "]"`},
		{"array exactly 2", `{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":2}`, `root ::= "[" integer "," integer "]"`},
		{"array minItems 3", `{"type":"array","items":{"type":"integer"},"minItems":3}`,
			"root ::= \"[\" integer root-next{2,} \"]\"\nroot-next ::= \",\" integer"},
		{"array empty only", `{"type":"array","maxItems":0}`, `root ::= "[]"`},
		{"anyOf", `{"anyOf":[{"type":"string","maxLength":3},{"type":"integer"}]}`,
			"root ::= root-1 | integer\nroot-1 ::= \"\\\"\" char{0,3} \"\\\"\""},
		{"oneOf", `{"oneOf":[{"type":"object","properties":{"kind":{"const":"a"}},"required":["kind"]},{"type":"object","properties":{"kind":{"const":"b"},"n":{"type":"number"}},"required":["kind","n"]}]}`,
			"root ::= root-1 | root-2\nroot-1 ::= \"{\\\"kind\\\":\\\"a\\\"}\"\nroot-2 ::= \"{\\\"kind\\\":\\\"b\\\",\\\"n\\\":\" number \"}\""},
		{"nested object", `{"type":"object","properties":{"user":{"type":"object","properties":{"name":{"type":"string","maxLength":8}},"required":["name"]}},"required":["user"]}`,
			"root ::= \"{\\\"user\\\":\" user \"}\"\nuser ::= \"{\\\"name\\\":\" name \"}\"\nname ::= \"\\\"\" char{0,8} \"\\\"\""},
		{"$ref to $defs and definitions, shared", `{"type":"object","properties":{"a":{"$ref":"#/$defs/pt"},"b":{"$ref":"#/definitions/pt"}},"required":["a"],"$defs":{"pt":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}},"definitions":{"pt":{"$ref":"#/$defs/pt"}}}`,
			"root ::= \"{\\\"a\\\":\" pt (\",\\\"b\\\":\" pt)? \"}\"\npt ::= \"{\\\"x\\\":\" integer \"}\""},
		{"any value", `{}`, `root ::= value`},
		{"integer range", `{"type":"integer","minimum":1,"maximum":10}`, `root ::= [1-9] | "10"`},
		{"integer range across signs", `{"type":"integer","exclusiveMinimum":-5.5,"maximum":123}`,
			`root ::= "-" [1-5] | [0-9] | [1-9] [0-9] | "1" ([0-1] [0-9] | "2" [0-3])`},
		{"integer range split by digit", `{"type":"integer","minimum":1234,"maximum":56789}`,
			`root ::= "1" ("2" ("3" [4-9] | [4-9] [0-9]) | [3-9] [0-9]{2}) | [2-9] [0-9]{3} | [1-4] [0-9]{4} | "5" ([0-5] [0-9]{3} | "6" ([0-6] [0-9]{2} | "7" [0-8] [0-9]))`},
		{"type list with object and bounded integer", `{"type":["object","integer","null"],"minimum":0,"maximum":9}`,
			"root ::= root-object | root-integer | \"null\"\nroot-object ::= \"{}\"\nroot-integer ::= [0-9]"},
		{"enum filtered by range", `{"type":"integer","enum":[-1,0,5,12],"minimum":0,"exclusiveMaximum":12}`, `root ::= "0" | "5"`},
		{"enum filtered by sibling type and length", `{"type":"string","enum":["ab","abcd",1,null],"maxLength":3}`, `root ::= "\"ab\""`},
		{"integral enum numbers fit integer", `{"type":"integer","enum":[1,1.0,1.5,"1"]}`, `root ::= "1" | "1.0"`},
		{"percent-encoded $ref", `{"$ref":"#/%24defs/a~1b","$defs":{"a/b":{"type":"object"}}}`, "root ::= a-b\na-b ::= \"{}\""},
		{"property key escaping", `{"type":"object","properties":{"q\"k\\é\u0001":{"type":"null"}},"required":["q\"k\\é\u0001"]}`,
			`root ::= "{\"q\\\"k\\\\é\\u0001\":null}"`},
		{"rule names sanitised and unique", `{"type":"object","properties":{"first name":{"type":"string","maxLength":4},"string":{"type":"string","minLength":2}},"required":["first name","string"]}`,
			"root ::= \"{\\\"first name\\\":\" first-name \",\\\"string\\\":\" string-2 \"}\"\nfirst-name ::= \"\\\"\" char{0,4} \"\\\"\"\nstring-2 ::= \"\\\"\" char{2,} \"\\\"\""},
		{"allOf of one, annotations ignored", `{"allOf":[{"type":"boolean"}],"title":"x","description":"y"}`, `root ::= "true" | "false"`},
		{"acceptance schema", acceptanceSchema,
			"root ::= \"{\\\"mood\\\":\" (\"\\\"happy\\\"\" | \"\\\"sad\\\"\" | \"\\\"angry\\\"\") \",\\\"age\\\":\" integer \",\\\"friends\\\":\" friends \"}\"\n" +
				"friends ::= \"[\" (friends-item friends-next{0,3})? \"]\"\nfriends-item ::= \"\\\"\" char{0,16} \"\\\"\"\nfriends-next ::= \",\" friends-item"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := FromSchema([]byte(tt.schema))
			if err != nil {
				t.Fatal(err)
			}
			if got := ownRules(g); got != tt.want {
				t.Errorf("grammar:\n%s\nwant:\n%s", got, tt.want)
			}
			if _, err := parseGBNF(g); err != nil {
				t.Errorf("grammar does not parse: %v\n%s", err, g)
			}
		})
	}
}

// TestGrammarLanguage checks what each grammar accepts and rejects. Every
// accepted document must also pass Validate: the grammar may be narrower
// than the schema, never wider.
func TestGrammarLanguage(t *testing.T) {
	for _, tt := range languageCases {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile([]byte(tt.schema))
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseGBNF(s.GBNF())
			if err != nil {
				t.Fatalf("grammar does not parse: %v\n%s", err, s.GBNF())
			}
			for _, doc := range tt.accept {
				if !r.accepts(doc) {
					t.Errorf("grammar rejects %s\n%s", doc, s.GBNF())
				}
				if err := s.Validate([]byte(doc)); err != nil {
					t.Errorf("Validate(%s): %v", doc, err)
				}
			}
			for _, doc := range tt.reject {
				if r.accepts(doc) {
					t.Errorf("grammar accepts %q\n%s", doc, s.GBNF())
				}
			}
		})
	}
}

var languageCases = []struct {
	name, schema   string
	accept, reject []string
}{
	{"acceptance", acceptanceSchema,
		[]string{`{"mood":"happy","age":7,"friends":["Lily","Tom"]}`, `{"mood":"sad","age":-12,"friends":[]}`,
			`{"mood":"angry","age":0,"friends":["","a\"b","\u00e9\n","1234567890123456"]}`, `{"mood":"sad","age":1,"friends":["Ünïcødé 🐉"]}`},
		[]string{`{"mood":"ok","age":7,"friends":[]}`, `{"age":7,"mood":"sad","friends":[]}`,
			`{"mood":"sad","age":7}`, `{"mood":"sad","age":7.5,"friends":[]}`, `{"mood":"sad","age":07,"friends":[]}`,
			`{"mood": "sad","age":7,"friends":[]}`, `{"mood":"sad","age":7,"friends":[],"x":1}`,
			`{"mood":"sad","age":7,"friends":["12345678901234567"]}`, `{"mood":"sad","age":7,"friends":["a","b","c","d","e"]}`,
			`{"mood":"sad","age":7,"friends":["a",]}`, `{"mood":"sad","age":7,"friends":["a` + "\n" + `"]}`,
			`{"mood":"sad","age":12345678901234567,"friends":[]}`, ``}},
	{"string escapes", `{"type":"string"}`,
		[]string{`""`, `"a\\b"`, `"\"\/\b\f\n\r\t"`, `"\u0041\uFFFF\u00e9"`, `"ok"`},
		[]string{`"\x41"`, `"\uD800"`, `"\u12"`, `"a` + "\x01" + `"`, `"unterminated`, `'single'`, `"a"b"`}},
	{"string lengths", `{"type":"string","minLength":2,"maxLength":3}`,
		[]string{`"ab"`, `"abc"`, `"\n\t"`, `"🐉🐉"`, `"\u00e9x"`},
		[]string{`"a"`, `"abcd"`, `"\n"`, `""`}},
	{"integer", `{"type":"integer"}`,
		[]string{`0`, `-0`, `7`, `-42`, `1234567890123456`},
		[]string{`01`, `+1`, `1.0`, `1e3`, `-`, `12345678901234567`, ` 1`, `1 `}},
	{"number", `{"type":"number"}`,
		[]string{`0`, `-1.5`, `3.25e10`, `1E-7`, `2e+308`, `0.000001`},
		[]string{`.5`, `1.`, `1e`, `01.5`, `NaN`, `Infinity`, `1.5.5`}},
	{"boolean and null", `{"type":["boolean","null"]}`,
		[]string{`true`, `false`, `null`},
		[]string{`True`, `0`, `"true"`, `nul`}},
	{"enum of mixed values", `{"enum":["a",1,null,{"k":[true]}]}`,
		[]string{`"a"`, `1`, `null`, `{"k":[true]}`},
		[]string{`"b"`, `1.0`, `{"k": [true]}`, `{"k":[false]}`}},
	{"optional properties keep order", `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}},"required":["b"]}`,
		[]string{`{"b":1}`, `{"a":1,"b":2}`, `{"b":2,"c":3}`, `{"a":1,"b":2,"c":3}`},
		[]string{`{}`, `{"a":1}`, `{"c":3}`, `{"b":2,"a":1}`, `{"a":1,"c":3}`, `{"b":1,"b":1}`, `{,"b":1}`, `{"b":1,}`}},
	{"all optional", `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"}}}`,
		[]string{`{}`, `{"a":1}`, `{"b":true}`, `{"a":1,"b":false}`},
		[]string{`{"b":true,"a":1}`, `{,}`, `{"a":1,}`}},
	{"array bounds", `{"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":3}`,
		[]string{`[true]`, `[true,false]`, `[true,false,true]`},
		[]string{`[]`, `[true,false,true,false]`, `[true,]`, `[,true]`, `[true false]`}},
	{"array min 3", `{"type":"array","items":{"type":"integer"},"minItems":3}`,
		[]string{`[1,2,3]`, `[1,2,3,4,5,6,7,8,9,10]`},
		[]string{`[1,2]`, `[]`}},
	{"anyOf", `{"anyOf":[{"type":"string","maxLength":3},{"type":"integer"},{"type":"array","items":{"$ref":"#/$defs/n"},"maxItems":2}],"$defs":{"n":{"type":"null"}}}`,
		[]string{`"abc"`, `12`, `[]`, `[null,null]`},
		[]string{`"abcd"`, `1.5`, `[null,null,null]`, `[1]`}},
	{"nested", `{"type":"object","properties":{"user":{"type":"object","properties":{"name":{"type":"string"},"tags":{"type":"array","items":{"enum":["x","y"]}}},"required":["name"],"additionalProperties":false}},"required":["user"]}`,
		[]string{`{"user":{"name":"Lily"}}`, `{"user":{"name":"Lily","tags":["x","y","x"]}}`},
		[]string{`{"user":{}}`, `{"user":{"name":"Lily","tags":["z"]}}`, `{"user":{"name":"Lily"},"more":1}`}},
	{"any value", `{}`,
		[]string{`1`, `"s"`, `{"a":[1,{"b":null}],"c":true}`, `[]`, `{}`},
		[]string{`{"a" :1}`, `[1,]`, `{a:1}`}},
	{"additionalProperties schema never generated", `{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}`,
		[]string{`{}`, `{"a":1}`},
		[]string{`{"b":"x"}`}},
}

func TestGrammarSchemaErrors(t *testing.T) {
	tests := []struct{ name, schema, want string }{
		{"not JSON", `{"type":`, `schema: not valid JSON`},
		{"trailing data", `{} {}`, `schema: not valid JSON`},
		{"too deep", strings.Repeat("[", 600) + strings.Repeat("]", 600), `nested deeper than 512 levels`},
		{"not an object", `[1]`, `schema: must be a JSON object, got an array`},
		{"boolean root", `true`, `schema: must be a JSON object, got a boolean`},
		{"pattern", `{"type":"object","properties":{"x":{"type":"string","pattern":"a+"}}}`,
			`schema: unsupported keyword "pattern" at /properties/x; remove it or use enum`},
		{"minimum on number", `{"type":"number","minimum":3}`, `"minimum"/"maximum" at / are supported for "type": "integer" only`},
		{"minimum untyped", `{"maximum":3}`, `"minimum"/"maximum" at / are supported for "type": "integer" only`},
		{"empty integer range", `{"type":"integer","minimum":3,"exclusiveMaximum":3}`, `the integer range at / is empty`},
		{"integer range beyond 16 digits", `{"type":"integer","minimum":1e17}`, `the integer range at / is empty or outside`},
		{"draft-4 boolean exclusiveMinimum", `{"type":"integer","minimum":1,"exclusiveMinimum":true}`, `"exclusiveMinimum" at / must be a number`},
		{"multipleOf", `{"type":"integer","multipleOf":5}`, `unsupported keyword "multipleOf" at /; remove it or use enum`},
		{"format", `{"type":"string","format":"date"}`, `unsupported keyword "format"`},
		{"if", `{"if":{"type":"string"},"then":{"maxLength":3}}`, `unsupported keyword "if" at /; remove it or use "anyOf"`},
		{"prefixItems", `{"type":"array","prefixItems":[{"type":"string"}]}`, `unsupported keyword "prefixItems"`},
		{"tuple items", `{"type":"array","items":[{"type":"string"}]}`, `"items" at / is a tuple`},
		{"nullable", `{"type":"string","nullable":true}`, `unsupported keyword "nullable" at /; use "type": [..., "null"] instead`},
		{"no enum value fits", `{"type":"string","enum":[1,2]}`, `no "enum"/"const" value at / fits`},
		{"recursion hidden by percent-encoding", `{"$defs":{"n":{"type":"array","items":{"$ref":"#/%24defs/n"}}},"$ref":"#/$defs/n"}`, `recursive $ref "#/%24defs/n"`},
		{"recursion", `{"$defs":{"node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"}}}},"$ref":"#/$defs/node"}`,
			`recursive $ref "#/$defs/node" at /$defs/node/properties/next is not supported`},
		{"root recursion", `{"type":"array","items":{"$ref":"#"}}`, `recursive $ref "#"`},
		{"remote ref", `{"$ref":"https://example.com/s.json"}`, `only local refs`},
		{"file ref", `{"$ref":"other.json#/x"}`, `only local refs`},
		{"missing ref", `{"$ref":"#/$defs/nope"}`, `"$defs" not found; point it at an existing definition`},
		{"type wrong kind", `{"type":7}`, `"type" at / must be a type name`},
		{"unknown type", `{"type":"int"}`, `unknown type "int" at /`},
		{"maxLength wrong kind", `{"type":"string","maxLength":"5"}`, `"maxLength" at / must be a non-negative integer`},
		{"negative minItems", `{"type":"array","minItems":-1}`, `"minItems" at / must be a non-negative integer`},
		{"min above max", `{"type":"string","minLength":5,"maxLength":2}`, `"minLength" 5 is above "maxLength" 2`},
		{"minLength above limit", `{"type":"string","minLength":2001}`, `above the grammar limit 2000`},
		{"required not in properties", `{"type":"object","properties":{},"required":["a"]}`, `required property "a" at / is not in "properties"`},
		{"required wrong kind", `{"type":"object","required":"a"}`, `"required" at / must be an array`},
		{"properties wrong kind", `{"type":"object","properties":[]}`, `"properties" at / must be an object`},
		{"enum empty", `{"enum":[]}`, `"enum" at / must be a non-empty array`},
		{"enum and const", `{"enum":[1],"const":1}`, `both "enum" and "const"`},
		{"anyOf with siblings", `{"type":"string","anyOf":[{"maxLength":1}]}`, `"type" next to "anyOf" at /`},
		{"allOf of two", `{"allOf":[{"type":"string"},{"maxLength":2}]}`, `"allOf" with 2 schemas`},
		{"false schema", `{"type":"object","properties":{"a":false},"required":["a"]}`, `required property "a" at / has schema false`},
		{"nested $id", `{"type":"object","properties":{"a":{"$id":"x","type":"string"}}}`, `"$id" at /properties/a is not supported`},
		{"bad value in an unreferenced definition", `{"type":"object","$defs":{"x":{"type":"nope"}}}`, `unknown type "nope" at /$defs/x`},
		{"definitions not an object", `{"type":"object","definitions":[]}`, `"definitions" at / must be an object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(tt.schema))
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestGrammarValidate(t *testing.T) {
	s, err := Compile([]byte(acceptanceSchema))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ doc, want string }{
		{`{"mood":"happy","age":3,"friends":["Tom"]}`, ""},
		{`{"mood":"happy", "age":3, "friends":[]}`, ""}, // whitespace is fine for the validator
		{`{"mood":"happy","age":3`, "output is not valid JSON"},
		{`{"mood":"happy","age":3,"friends":[]} trailing`, "output is not valid JSON"},
		{`{"mood":"bored","age":3,"friends":[]}`, `output does not match the schema: at /properties/mood: enum: bored does not equal any of: [happy sad angry]`},
		{`{"mood":"happy","age":"3","friends":[]}`, `at /properties/age: type: 3 has type "string", want "integer"`},
		{`{"mood":"happy","age":3,"friends":[1]}`, `at /properties/friends/items: type: 1 has type "integer", want "string"`},
		{`{"mood":"happy","age":2e400,"friends":[]}`, `at /properties/age: type: +Inf has type "number", want "integer"`},
		// Several failures: the validator reports one of them.
		{`{"mood":"bored","age":"3","friends":[1]}`, `output does not match the schema: at /properties/`},
		{`{"mood":"happy","age":3}`, `missing properties: ["friends"]`},
		{`{"mood":"happy","age":3,"friends":[],"x":1}`, `unexpected additional properties ["x"]`},
	}
	for _, tt := range tests {
		err := s.Validate([]byte(tt.doc))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%s): %v", tt.doc, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%s) = %v, want %q", tt.doc, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("error is not one line: %q", err)
		}
	}
	for _, draft := range []string{"http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2019-09/schema", "https://json-schema.org/draft/2020-12/schema"} {
		schema := `{"$schema":"` + draft + `","type":"object","properties":{"n":{"type":"integer"}},"required":["n"],"additionalProperties":false}`
		if err := Validate([]byte(schema), []byte(`{"n":1}`)); err != nil {
			t.Errorf("%s: %v", draft, err)
		}
		if err := Validate([]byte(schema), []byte(`{"n":"1"}`)); err == nil {
			t.Errorf("%s: a string passed for an integer", draft)
		}
	}
	if err := Validate([]byte(`{"type":"integer"}`), []byte(`5`)); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := Validate([]byte(`{"type":"integer"}`), []byte(`"5"`)); err == nil {
		t.Errorf("Validate accepted a string for an integer")
	}
}

// TestGrammarConcurrentValidate backs the claim that a Schema is safe for
// concurrent use (run with -race).
func TestGrammarConcurrentValidate(t *testing.T) {
	s, err := Compile([]byte(acceptanceSchema))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if err := s.Validate([]byte(`{"mood":"sad","age":1,"friends":["a"]}`)); err != nil {
					errs <- err
					return
				}
				if s.Validate([]byte(`{"mood":"x"}`)) == nil {
					errs <- fmt.Errorf("goroutine %d: invalid document accepted", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestGrammarIntegerRanges checks integer ranges exhaustively near their
// edges and digit-count boundaries: the grammar accepts n exactly when
// lo <= n <= hi.
func TestGrammarIntegerRanges(t *testing.T) {
	ranges := [][2]int64{{0, 0}, {0, 9}, {1, 10}, {-10, -1}, {-7, 7}, {5, 5}, {9, 10}, {10, 99}, {19, 21},
		{99, 101}, {100, 999}, {101, 998}, {1234, 56789}, {-56789, -1234}, {-1000, 1000}, {0, maxInt}, {-maxInt, 3}, {7, maxInt}}
	for _, rg := range ranges {
		lo, hi := rg[0], rg[1]
		schema := fmt.Sprintf(`{"type":"integer","minimum":%d,"maximum":%d}`, lo, hi)
		s, err := Compile([]byte(schema))
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseGBNF(s.GBNF())
		if err != nil {
			t.Fatalf("%s: %v", schema, err)
		}
		var probes []int64
		for _, c := range []int64{lo, hi, 0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 99999, 100000} {
			for d := int64(-3); d <= 3; d++ {
				probes = append(probes, c+d, -c+d)
			}
		}
		for _, n := range probes {
			want := lo <= n && n <= hi
			if got := r.accepts(strconv.FormatInt(n, 10)); got != want {
				t.Errorf("%s: accepts(%d) = %v\n%s", schema, n, got, s.GBNF())
			}
		}
		for _, bad := range []string{"-0", "00", "01", "+1", "1.0", ""} {
			if r.accepts(bad) {
				t.Errorf("%s: accepts %q", schema, bad)
			}
		}
	}
}
