package grammar

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxRepeat is llama.cpp's MAX_REPETITION_THRESHOLD: a bound above it in
// x{m,n} is silently treated as unbounded by llama.cpp's parser, so the
// converter never emits one (see bounds).
const maxRepeat = 2000

// Keywords that carry no constraint; they are accepted and ignored.
var annotations = map[string]bool{
	"title": true, "description": true, "$comment": true, "examples": true,
	"default": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"$schema": true, "$id": true, "$defs": true, "definitions": true,
}

// Keywords the converter turns into grammar.
var supported = map[string]bool{
	"type": true, "enum": true, "const": true,
	"properties": true, "required": true, "additionalProperties": true,
	"items": true, "minItems": true, "maxItems": true,
	"minLength": true, "maxLength": true,
	"anyOf": true, "oneOf": true, "allOf": true, "$ref": true,
	"minimum": true, "exclusiveMinimum": true, "maximum": true, "exclusiveMaximum": true,
}

// fixFor suggests what to do about an unsupported keyword.
func fixFor(kw string) string {
	switch kw {
	case "pattern", "format", "multipleOf":
		return "remove it or use enum"
	case "nullable":
		return `use "type": [..., "null"] instead`
	case "prefixItems":
		return `remove it or use "items"`
	case "not", "if", "then", "else":
		return `remove it or use "anyOf"`
	}
	return "remove it"
}

// primitives are fixed rules added on demand, rendered after the schema's
// own rules in this order. Their names are reserved.
var primitives = []struct{ name, body string }{
	{"value", `value-object | value-array | string | number | "true" | "false" | "null"`},
	{"value-object", `"{" (string ":" value ("," string ":" value)*)? "}"`},
	{"value-array", `"[" (value ("," value)*)? "]"`},
	{"string", `"\"" char* "\""`},
	{"number", `integer ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?`},
	{"integer", `"-"? ("0" | [1-9] [0-9]{0,15})`},
	// One JSON string character: anything but a quote, backslash or control
	// character, or an escape. \u escapes exclude surrogates (D800-DFFF) so
	// that one char is always one code point, which keeps minLength and
	// maxLength exact.
	{"char", `[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-cA-CeEfF] [0-9a-fA-F]{3} | "u" [dD] [0-7] [0-9a-fA-F]{2})`},
}

var primitiveDeps = map[string][]string{
	"value":        {"value-object", "value-array", "string", "number"},
	"value-object": {"string", "value"},
	"value-array":  {"value"},
	"string":       {"char"},
	"number":       {"integer"},
}

// rootHint asks reserve for the name "root"; no property name can produce it.
const rootHint = "\x00root"

type converter struct {
	root      any
	order     []string        // rule names in reservation order
	bodies    map[string]expr // defined rules
	names     map[string]bool // taken names
	prims     map[string]bool // primitives used
	refs      map[string]expr // memoised $ref targets
	active    map[string]bool // $refs being expanded (recursion check)
	rootTaken bool
}

// convert turns a decoded schema (see decodeOrdered) into GBNF text.
func convert(root any) (string, error) {
	if _, ok := root.(*object); !ok {
		return "", fmt.Errorf("schema: must be a JSON object, got %s; wrap it like {\"type\": ...}", kindOf(root))
	}
	c := &converter{
		root:   root,
		bodies: map[string]expr{},
		names:  map[string]bool{"root": true},
		prims:  map[string]bool{},
		refs:   map[string]expr{},
		active: map[string]bool{"": true}, // the root is being expanded
	}
	for _, p := range primitives {
		c.names[p.name] = true
	}
	e, err := c.gen(root, "", rootHint)
	if err != nil {
		return "", err
	}
	if err := checkDefs(root); err != nil {
		return "", err
	}
	if s, ok := e.(sym); !ok || s != "root" {
		if c.rootTaken { // only the root schema may take the name
			return "", fmt.Errorf("schema: internal error: rule \"root\" taken by a subschema; please report this schema")
		}
		c.define(c.reserve(rootHint), e)
	}
	var sb strings.Builder
	for _, name := range c.order {
		fmt.Fprintf(&sb, "%s ::= %s\n", name, c.bodies[name].gbnf(precAlt))
	}
	for _, p := range primitives {
		if c.prims[p.name] {
			fmt.Fprintf(&sb, "%s ::= %s\n", p.name, p.body)
		}
	}
	return sb.String(), nil
}

// checkDefs converts every root definition that no $ref reached, in a
// throwaway converter, so a mistake in a definition kept for later is
// reported now rather than when a reference to it is added.
func checkDefs(root any) error {
	for _, kw := range []string{"$defs", "definitions"} {
		v, ok := root.(*object).get(kw)
		if !ok {
			continue
		}
		defs, ok := v.(*object)
		if !ok {
			return fmt.Errorf("schema: %q at / must be an object of schemas", kw)
		}
		for _, name := range defs.keys {
			c := &converter{root: root, bodies: map[string]expr{}, names: map[string]bool{"root": true},
				prims: map[string]bool{}, refs: map[string]expr{}, active: map[string]bool{}}
			if _, err := c.genRef("#/"+kw+"/"+url.PathEscape(escapePointer(name)), ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// reserve picks a unique rule name derived from hint; the root schema gets
// "root". Names are reserved before a rule's children are generated, so
// rules print top-down.
func (c *converter) reserve(hint string) string {
	if hint == rootHint && !c.rootTaken {
		c.rootTaken = true
		c.order = append([]string{"root"}, c.order...)
		return "root"
	}
	base := sanitize(hint)
	name := base
	for i := 2; c.names[name]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	c.names[name] = true
	c.order = append(c.order, name)
	return name
}

func (c *converter) define(name string, body expr) { c.bodies[name] = body }

// prim marks a primitive rule (and what it uses) as needed.
func (c *converter) prim(name string) sym {
	if !c.prims[name] {
		c.prims[name] = true
		for _, d := range primitiveDeps[name] {
			c.prim(d)
		}
	}
	return sym(name)
}

// sanitize maps a property or definition name onto GBNF's rule-name
// alphabet [a-zA-Z0-9-].
func sanitize(s string) string {
	var sb strings.Builder
	dash := false
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimSuffix(sb.String(), "-")
	if out == "" {
		return "item"
	}
	return out
}

// gen returns the grammar expression for the schema node at path. hint
// names any rule the node needs.
func (c *converter) gen(node any, path, hint string) (expr, error) {
	switch n := node.(type) {
	case bool:
		if n {
			return c.prim("value"), nil
		}
		return nil, fmt.Errorf("schema: false at %s can never match; remove it", loc(path))
	case *object:
		return c.genObjectSchema(n, path, hint)
	}
	return nil, fmt.Errorf("schema: %s at %s must be an object or a boolean", kindOf(node), loc(path))
}

func (c *converter) genObjectSchema(s *object, path, hint string) (expr, error) {
	var assertions []string
	for _, k := range s.keys {
		switch {
		case annotations[k] || strings.HasPrefix(k, "x-"):
			if k == "$id" && path != "" {
				return nil, fmt.Errorf("schema: \"$id\" at %s is not supported below the root; remove it", loc(path))
			}
		case supported[k]:
			assertions = append(assertions, k)
		default:
			return nil, fmt.Errorf("schema: unsupported keyword %q at %s; %s", k, loc(path), fixFor(k))
		}
	}

	// Combinators must stand alone: mixing them with other assertions means
	// an intersection the grammar cannot express simply.
	for _, kw := range []string{"$ref", "anyOf", "oneOf", "allOf"} {
		if _, ok := s.get(kw); !ok {
			continue
		}
		for _, other := range assertions {
			if other != kw {
				return nil, fmt.Errorf("schema: %q next to %q at %s is not supported; move it into the referenced or branch schemas", other, kw, loc(path))
			}
		}
	}
	if v, ok := s.get("$ref"); ok {
		ref, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("schema: \"$ref\" at %s must be a string", loc(path))
		}
		return c.genRef(ref, path)
	}
	if v, ok := s.get("allOf"); ok {
		branches, err := schemaList(v, "allOf", path)
		if err != nil {
			return nil, err
		}
		if len(branches) != 1 {
			return nil, fmt.Errorf("schema: \"allOf\" with %d schemas at %s is not supported; merge them into one schema", len(branches), loc(path))
		}
		return c.gen(branches[0], path+"/allOf/0", hint)
	}
	for _, kw := range []string{"anyOf", "oneOf"} {
		if v, ok := s.get(kw); ok {
			return c.genAnyOf(v, kw, path, hint)
		}
	}

	if e, ok, err := c.genEnum(s, path); ok || err != nil {
		return e, err
	}

	types, err := typesOf(s, path)
	if err != nil {
		return nil, err
	}
	if has(s, rangeKeywords...) && !slices.Contains(types, "integer") {
		return nil, fmt.Errorf("schema: \"minimum\"/\"maximum\" at %s are supported for \"type\": \"integer\" only; use integer or enum, or remove them", loc(path))
	}
	if len(types) == 0 {
		return c.prim("value"), nil
	}
	if len(types) == 1 {
		return c.genType(s, types[0], path, hint)
	}
	// Several types: the union owns the name, each branch gets its own.
	name := c.reserve(hint)
	var alts alt
	for _, t := range types {
		e, err := c.genType(s, t, path, name+"-"+t)
		if err != nil {
			return nil, err
		}
		alts = append(alts, e)
	}
	c.define(name, alts)
	return sym(name), nil
}

// typesOf reads "type", or infers it from type-specific keywords. An
// untyped schema with no such keywords allows any value (empty result).
func typesOf(s *object, path string) ([]string, error) {
	valid := map[string]bool{"object": true, "array": true, "string": true,
		"integer": true, "number": true, "boolean": true, "null": true}
	v, ok := s.get("type")
	if !ok {
		var out []string
		if has(s, "properties", "required", "additionalProperties") {
			out = append(out, "object")
		}
		if has(s, "items", "minItems", "maxItems") {
			out = append(out, "array")
		}
		if has(s, "minLength", "maxLength") {
			out = append(out, "string")
		}
		return out, nil
	}
	var list []any
	switch t := v.(type) {
	case string:
		list = []any{t}
	case []any:
		list = t
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("schema: \"type\" at %s must be a type name or a non-empty array of them", loc(path))
	}
	var out []string
	seen := map[string]bool{}
	for _, x := range list {
		name, _ := x.(string)
		if !valid[name] {
			return nil, fmt.Errorf("schema: unknown type %s at %s; use object, array, string, integer, number, boolean or null", jsonText(x), loc(path))
		}
		// "integer" is a subset of "number"; keep the wider one.
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if seen["integer"] && seen["number"] {
		for i, t := range out {
			if t == "integer" {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
	}
	return out, nil
}

func has(s *object, kws ...string) bool {
	for _, k := range kws {
		if _, ok := s.get(k); ok {
			return true
		}
	}
	return false
}

func (c *converter) genType(s *object, t, path, hint string) (expr, error) {
	switch t {
	case "object":
		return c.genObject(s, path, hint)
	case "array":
		return c.genArray(s, path, hint)
	case "string":
		return c.genString(s, path, hint)
	case "integer":
		lo, hi, ok, err := intBounds(s, path)
		if err != nil || !ok {
			return c.prim("integer"), err
		}
		name := c.reserve(hint)
		c.define(name, intRange(lo, hi))
		return sym(name), nil
	case "number":
		return c.prim("number"), nil
	case "boolean":
		return alt{lit("true"), lit("false")}, nil
	default: // null
		return lit("null"), nil
	}
}

// genEnum handles enum and const: the model must write one of the values
// exactly as compact JSON. Values that a sibling "type", "minLength" or
// "maxLength" or range keyword rules out are dropped so the grammar stays
// within the schema.
func (c *converter) genEnum(s *object, path string) (expr, bool, error) {
	var values []any
	ev, hasEnum := s.get("enum")
	cv, hasConst := s.get("const")
	switch {
	case hasEnum && hasConst:
		return nil, true, fmt.Errorf("schema: both \"enum\" and \"const\" at %s; keep one", loc(path))
	case hasConst:
		values = []any{cv}
	case hasEnum:
		list, ok := ev.([]any)
		if !ok || len(list) == 0 {
			return nil, true, fmt.Errorf("schema: \"enum\" at %s must be a non-empty array", loc(path))
		}
		values = list
	default:
		return nil, false, nil
	}
	var types []string
	if _, ok := s.get("type"); ok {
		var err error
		if types, err = typesOf(s, path); err != nil {
			return nil, true, err
		}
	}
	lo, hi, err := bounds(s, "minLength", "maxLength", path)
	if err != nil {
		return nil, true, err
	}
	var alts alt
	seen := map[string]bool{}
	for _, v := range values {
		if !enumValueFits(v, types, lo, hi) {
			continue
		}
		if n, ok := v.(json.Number); ok && !numberFits(s, n) {
			continue
		}
		var sb strings.Builder
		compactJSON(&sb, v)
		if !seen[sb.String()] {
			seen[sb.String()] = true
			alts = append(alts, lit(sb.String()))
		}
	}
	switch len(alts) {
	case 0:
		return nil, true, fmt.Errorf("schema: no \"enum\"/\"const\" value at %s fits its \"type\" or length limits; fix the values", loc(path))
	case 1:
		return alts[0], true, nil
	}
	return alts, true, nil
}

// enumValueFits reports whether an enum value satisfies the sibling type
// list (empty: any) and string length bounds (hi < 0: none).
func enumValueFits(v any, types []string, lo, hi int) bool {
	if str, ok := v.(string); ok {
		n := utf8.RuneCountInString(str)
		if n < lo || hi >= 0 && n > hi {
			return false
		}
	}
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		switch x := v.(type) {
		case *object:
			if t == "object" {
				return true
			}
		case []any:
			if t == "array" {
				return true
			}
		case string:
			if t == "string" {
				return true
			}
		case bool:
			if t == "boolean" {
				return true
			}
		case nil:
			if t == "null" {
				return true
			}
		case json.Number:
			if t == "number" {
				return true
			}
			if f, err := x.Float64(); err == nil && t == "integer" && f == math.Trunc(f) {
				return true
			}
		}
	}
	return false
}

func (c *converter) genAnyOf(v any, kw, path, hint string) (expr, error) {
	branches, err := schemaList(v, kw, path)
	if err != nil {
		return nil, err
	}
	name := c.reserve(hint)
	var alts alt
	for i, b := range branches {
		e, err := c.gen(b, fmt.Sprintf("%s/%s/%d", path, kw, i), fmt.Sprintf("%s-%d", name, i+1))
		if err != nil {
			return nil, err
		}
		alts = append(alts, e)
	}
	c.define(name, alts)
	return sym(name), nil
}

func schemaList(v any, kw, path string) ([]any, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("schema: %q at %s must be a non-empty array of schemas", kw, loc(path))
	}
	return list, nil
}

// genObject emits the properties in schema order, compact, each required
// one always and each optional one at most once in its place. Because every
// alternative starts with a distinct key, the grammar is unambiguous.
func (c *converter) genObject(s *object, path, hint string) (expr, error) {
	name := c.reserve(hint)
	props := &object{vals: map[string]any{}}
	if v, ok := s.get("properties"); ok {
		if props, ok = v.(*object); !ok {
			return nil, fmt.Errorf("schema: \"properties\" at %s must be an object", loc(path))
		}
	}
	required := map[string]bool{}
	if v, ok := s.get("required"); ok {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("schema: \"required\" at %s must be an array of property names", loc(path))
		}
		for _, x := range list {
			k, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("schema: \"required\" at %s must be an array of property names", loc(path))
			}
			if _, ok := props.get(k); !ok {
				return nil, fmt.Errorf("schema: required property %q at %s is not in \"properties\"; add it there", k, loc(path))
			}
			required[k] = true
		}
	}
	if v, ok := s.get("additionalProperties"); ok {
		// Extra properties are never generated, which every value of this
		// keyword allows; only its type is checked.
		switch v.(type) {
		case bool, *object:
		default:
			return nil, fmt.Errorf("schema: \"additionalProperties\" at %s must be a boolean or a schema", loc(path))
		}
	}

	type member struct {
		kv  expr
		req bool
	}
	var ms []member
	for _, k := range props.keys {
		ps := props.vals[k]
		if b, ok := ps.(bool); ok && !b {
			if required[k] {
				return nil, fmt.Errorf("schema: required property %q at %s has schema false; remove one of them", k, loc(path))
			}
			continue // may never appear
		}
		v, err := c.gen(ps, path+"/properties/"+escapePointer(k), k)
		if err != nil {
			return nil, err
		}
		ms = append(ms, member{seq{lit(jsonString(k) + ":"), v}, required[k]})
	}

	// tail(i): members i.. after at least one member was written, so each
	// is preceded by a comma.
	tail := func(i int) seq {
		var out seq
		for _, m := range ms[i:] {
			if m.req {
				out = append(out, lit(","), m.kv)
			} else {
				out = append(out, rept{seq{lit(","), m.kv}, 0, 1})
			}
		}
		return out
	}
	// first(i): members i.. when none was written yet; nil if all of them
	// are optional and absent is the only choice left.
	var first func(i int) expr
	first = func(i int) expr {
		if i == len(ms) {
			return nil
		}
		here := seq{ms[i].kv, tail(i + 1)}
		if ms[i].req {
			return here
		}
		if rest := first(i + 1); rest != nil {
			return alt{here, rest}
		}
		return here
	}
	body := seq{lit("{")}
	if f := first(0); f != nil {
		if len(required) > 0 {
			body = append(body, f)
		} else {
			body = append(body, rept{f, 0, 1})
		}
	}
	body = append(body, lit("}"))
	c.define(name, body)
	return sym(name), nil
}

func (c *converter) genArray(s *object, path, hint string) (expr, error) {
	name := c.reserve(hint)
	var item expr
	if v, ok := s.get("items"); !ok {
		item = c.prim("value")
	} else {
		if _, isList := v.([]any); isList {
			return nil, fmt.Errorf("schema: \"items\" at %s is a tuple (an array); not supported, use a single schema", loc(path))
		}
		var err error
		if item, err = c.gen(v, path+"/items", hint+"-item"); err != nil {
			return nil, err
		}
	}
	lo, hi, err := bounds(s, "minItems", "maxItems", path)
	if err != nil {
		return nil, err
	}
	if hi == 0 {
		c.define(name, lit("[]"))
		return sym(name), nil
	}
	// next is the repeated ", item". llama.cpp counts the rules inside a
	// repeated group against its repetition limit, so a group repeated more
	// than once gets its own rule and is repeated by reference.
	var next expr = seq{lit(","), item}
	tmin, tmax := max(lo-1, 0), hi-1
	if hi < 0 {
		tmax = -1
	}
	if tmin > 1 || tmax > 1 {
		n := c.reserve(name + "-next")
		c.define(n, next)
		next = sym(n)
	}
	elems := seq{item, rept{next, tmin, tmax}}
	switch {
	case tmin == 0 && tmax == 0:
		elems = seq{item}
	case tmin == 1 && tmax == 1:
		elems = seq{item, next}
	}
	var body seq
	if lo == 0 {
		body = seq{lit("["), rept{elems, 0, 1}, lit("]")}
	} else {
		body = seq{lit("["), elems, lit("]")}
	}
	c.define(name, body)
	return sym(name), nil
}

func (c *converter) genString(s *object, path, hint string) (expr, error) {
	lo, hi, err := bounds(s, "minLength", "maxLength", path)
	if err != nil {
		return nil, err
	}
	if lo == 0 && hi < 0 {
		return c.prim("string"), nil
	}
	if hi == 0 {
		return lit(`""`), nil
	}
	name := c.reserve(hint)
	c.define(name, seq{lit(`"`), rept{c.prim("char"), lo, hi}, lit(`"`)})
	return sym(name), nil
}

// bounds reads a min/max keyword pair. max is -1 when absent. A max above
// llama.cpp's repetition limit is lowered to it: the grammar then accepts a
// subset of what the schema allows, never more.
func bounds(s *object, minKw, maxKw, path string) (lo, hi int, err error) {
	read := func(kw string, def int) (int, error) {
		v, ok := s.get(kw)
		if !ok {
			return def, nil
		}
		// JSON Schema allows integral floats like 3.0 here.
		n, _ := v.(json.Number)
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || f < 0 || f != math.Trunc(f) {
			return 0, fmt.Errorf("schema: %q at %s must be a non-negative integer", kw, loc(path))
		}
		return int(min(f, 1<<31)), nil
	}
	if lo, err = read(minKw, 0); err != nil {
		return 0, 0, err
	}
	if hi, err = read(maxKw, -1); err != nil {
		return 0, 0, err
	}
	if hi >= 0 && lo > hi {
		return 0, 0, fmt.Errorf("schema: %q %d is above %q %d at %s; lower it", minKw, lo, maxKw, hi, loc(path))
	}
	if lo > maxRepeat {
		return 0, 0, fmt.Errorf("schema: %q %d at %s is above the grammar limit %d; lower it", minKw, lo, loc(path), maxRepeat)
	}
	hi = min(hi, maxRepeat) // no-op for -1
	return lo, hi, nil
}

// genRef expands a local $ref. Each target is converted once and shared;
// a target that refers back to itself is rejected.
func (c *converter) genRef(ref, path string) (expr, error) {
	if !strings.HasPrefix(ref, "#") {
		return nil, fmt.Errorf("schema: $ref %q at %s is not supported; only local refs like \"#/$defs/name\" are", ref, loc(path))
	}
	target, tpath, err := c.resolve(ref)
	if err != nil {
		return nil, fmt.Errorf("schema: $ref %q at %s: %v; point it at an existing definition", ref, loc(path), err)
	}
	// Keyed by the resolved location, so differently spelled refs to one
	// schema share a rule and cannot hide a cycle.
	if e, ok := c.refs[tpath]; ok {
		return e, nil
	}
	if c.active[tpath] {
		return nil, fmt.Errorf("schema: recursive $ref %q at %s is not supported; unroll it to a fixed depth", ref, loc(path))
	}
	hint := "ref"
	if i := strings.LastIndexByte(tpath, '/'); i >= 0 && i+1 < len(tpath) {
		hint = unescapePointer(tpath[i+1:])
	}
	c.active[tpath] = true
	e, err := c.gen(target, tpath, hint)
	delete(c.active, tpath)
	if err != nil {
		return nil, err
	}
	c.refs[tpath] = e
	return e, nil
}

// resolve follows a "#..." JSON pointer fragment from the schema root.
func (c *converter) resolve(ref string) (any, string, error) {
	frag, err := url.PathUnescape(ref[1:])
	if err != nil {
		return nil, "", fmt.Errorf("bad escape")
	}
	if frag == "" {
		return c.root, "", nil
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, "", fmt.Errorf("anchors are not supported")
	}
	node := c.root
	for _, tok := range strings.Split(frag[1:], "/") {
		key := unescapePointer(tok)
		switch n := node.(type) {
		case *object:
			v, ok := n.get(key)
			if !ok {
				return nil, "", fmt.Errorf("%q not found", key)
			}
			node = v
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n) {
				return nil, "", fmt.Errorf("index %q not found", key)
			}
			node = n[i]
		default:
			return nil, "", fmt.Errorf("%q not found", key)
		}
	}
	return node, frag, nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

// loc renders a schema location for error messages.
func loc(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

func kindOf(v any) string {
	switch v.(type) {
	case *object:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func jsonText(v any) string {
	var sb strings.Builder
	compactJSON(&sb, v)
	return sb.String()
}
