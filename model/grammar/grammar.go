// Package grammar turns a JSON Schema into a llama.cpp GBNF grammar that
// constrains generation to matching JSON, and validates the generated text
// against the same schema.
//
// The grammar produces compact JSON: no whitespace at all between tokens.
// Free whitespace would let a small model emit spaces or newlines forever
// without finishing the document; compact output cannot loop that way.
// Object properties come in schema order; required ones always appear,
// optional ones may be left out. Integers have at most 16 digits and number
// fractions and exponents are bounded too. The grammar accepts a subset of
// what the schema allows, never more: it never produces extra properties,
// caps string and array lengths at llama.cpp's repetition limit of 2000, and
// drops enum values that the schema's own type, length or range keywords
// rule out. Only overlapping oneOf branches, or enum values that break other
// sibling keywords, can yield a document the schema rejects; Validate
// catches those. A schema whose strings and arrays all have
// maxLength and maxItems yields documents of bounded length, which is what
// keeps a small model from generating forever.
//
// Supported: type (a name or a list), object with properties, required and
// additionalProperties; string with enum, const, minLength and maxLength;
// integer, with minimum, maximum, exclusiveMinimum and exclusiveMaximum;
// number; boolean; null; array with items, minItems and maxItems; enum and
// const of any JSON value; anyOf; oneOf; allOf with one schema; local $ref
// to "#/$defs/..." or "#/definitions/..." (not recursive); annotations
// (title, description, default, examples, $comment, "x-" extensions, ...).
// Any other keyword (pattern, format, multipleOf, if/then, ...) is an error
// naming it and the fix, never a silently looser grammar.
//
// Engines compile a schema once with Compile and call GBNF and Validate per
// request.
package grammar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// Schema is a compiled JSON Schema: its grammar and its validator. It is
// immutable and safe for concurrent use.
type Schema struct {
	gbnf      string
	validator *jsonschema.Resolved
	completer *Completer
}

// Compile checks a JSON Schema, converts it to GBNF and prepares the
// validator. Errors are one line and name the fix.
func Compile(schema []byte) (*Schema, error) {
	root, err := decodeOrdered(schema)
	if err != nil {
		return nil, fmt.Errorf("schema: not valid JSON: %v; fix the schema file", err)
	}
	g, err := convert(root)
	if err != nil {
		return nil, err
	}
	v, err := compileValidator(schema)
	if err != nil {
		return nil, err
	}
	c, err := NewCompleter(g)
	if err != nil {
		return nil, fmt.Errorf("schema: %v; please report this schema", err)
	}
	return &Schema{gbnf: g, validator: v, completer: c}, nil
}

// GBNF returns the grammar in llama.cpp's dialect; its start rule is "root".
func (s *Schema) GBNF() string { return s.gbnf }

// Completer finishes partial documents of the schema's grammar.
func (s *Schema) Completer() *Completer { return s.completer }

// Validate checks that doc is one JSON value that matches the schema. The
// error is one line naming where the document is wrong.
func (s *Schema) Validate(doc []byte) error {
	var inst any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&inst); err != nil {
		return fmt.Errorf("output is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("output is not valid JSON: unexpected data after the top-level value")
	}
	if err := validate(s.validator, numbers(inst)); err != nil {
		return fmt.Errorf("output does not match the schema: %s", oneLine(err))
	}
	return nil
}

// validate runs the validator, turning an internal assertion failure (the
// library panics on those) into an error.
func validate(r *jsonschema.Resolved, inst any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("validator failed (%v); please report this schema", p)
		}
	}()
	return r.Validate(inst)
}

// numbers replaces each json.Number with an int64 when it is one, else a
// float64, the types the validator understands. A number beyond float64's
// range becomes ±Inf: still a number, never an integer.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(x), 64) // ±Inf on overflow
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// FromSchema converts a JSON Schema to GBNF. Unlike Compile it does not
// resolve references for validation.
func FromSchema(schema []byte) (string, error) {
	root, err := decodeOrdered(schema)
	if err != nil {
		return "", fmt.Errorf("schema: not valid JSON: %v; fix the schema file", err)
	}
	return convert(root)
}

// Validate checks doc against schema; prefer Compile when validating more
// than once.
func Validate(schema, doc []byte) error {
	s, err := Compile(schema)
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

// compileValidator prepares the validator. The converter has already
// checked every keyword the grammar uses, including those of definitions no
// $ref reaches, so what is left here is reference resolution; remote
// references have no loader and fail, so a schema never makes sov read files
// or the network.
func compileValidator(schema []byte) (*jsonschema.Resolved, error) {
	var s jsonschema.Schema
	if err := json.Unmarshal(schema, &s); err != nil {
		return nil, fmt.Errorf("schema: invalid: %s; fix the schema", oneLine(err))
	}
	switch s.Schema {
	case "", "http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft-07/schema#",
		"https://json-schema.org/draft/2020-12/schema":
	default:
		// The library validates draft-07 and 2020-12 only. The keywords
		// the converter accepts mean the same in drafts 4 to 2020-12, so
		// any other draft is validated as 2020-12.
		s.Schema = ""
	}
	r, err := s.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("schema: invalid: %s; fix the schema", oneLine(err))
	}
	return r, nil
}

// validating matches the library's chain of "validating <schema path>: "
// prefixes; only the innermost location is worth showing.
var validating = regexp.MustCompile(`^(?:validating [^:]*: )*validating ([^:]*): `)

// oneLine turns the library's error into one line that names the schema
// location where validation failed.
func oneLine(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if m := validating.FindStringSubmatch(msg); m != nil {
		where := m[1]
		if where == "root" {
			where = "/"
		}
		msg = "at " + where + ": " + msg[len(m[0]):]
	}
	return strings.TrimPrefix(msg, "jsonschema: ")
}
