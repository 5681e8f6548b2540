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
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is a compiled JSON Schema: its grammar and its validator. It is
// immutable and safe for concurrent use.
type Schema struct {
	gbnf      string
	validator *jsonschema.Schema
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
	return &Schema{gbnf: g, validator: v}, nil
}

// GBNF returns the grammar in llama.cpp's dialect; its start rule is "root".
func (s *Schema) GBNF() string { return s.gbnf }

// Validate checks that doc is one JSON value that matches the schema. The
// error is one line naming where the document is wrong.
func (s *Schema) Validate(doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("output is not valid JSON: %v", err)
	}
	if err := s.validator.Validate(inst); err != nil {
		return fmt.Errorf("output does not match the schema: %s", oneLine(err))
	}
	return nil
}

// FromSchema converts a JSON Schema to GBNF. Unlike Compile it does not check
// the schema against the JSON Schema meta-schema.
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

// resourceURL names the schema inside the validator; it is never fetched.
const resourceURL = "mem:///schema.json"

// noLoader refuses every external reference: a schema must never make sov
// read files or the network.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %q is not allowed", url)
}

func compileValidator(schema []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("schema: not valid JSON: %v; fix the schema file", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(resourceURL, doc); err != nil {
		return nil, fmt.Errorf("schema: %s", oneLine(err))
	}
	v, err := c.Compile(resourceURL)
	if err != nil {
		return nil, fmt.Errorf("schema: invalid: %s; fix the schema", oneLine(err))
	}
	return v, nil
}

// oneLine flattens the library's indented error tree to its leaf causes,
// sorted and joined on one line, at most three of them.
func oneLine(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		var se *jsonschema.SchemaValidationError
		if errors.As(err, &se) {
			return "does not conform to the JSON Schema meta-schema: " + oneLine(se.Err)
		}
		return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), resourceURL, "schema")), " ")
	}
	printer := message.NewPrinter(language.English)
	var leaves []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, fmt.Sprintf("at %s: %s", pointer(e.InstanceLocation), e.ErrorKind.LocalizedString(printer)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	slices.Sort(leaves) // the library's order varies between runs
	more := ""
	if len(leaves) > 3 {
		more = fmt.Sprintf(" (and %d more)", len(leaves)-3)
		leaves = leaves[:3]
	}
	return strings.Join(strings.Fields(strings.Join(leaves, "; ")), " ") + more
}

func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return "/"
	}
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(escapePointer(t))
	}
	return sb.String()
}
