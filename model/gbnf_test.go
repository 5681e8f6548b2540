package model

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model/gguf"
)

// TestCheckGrammarPosition: a grammar llama.cpp rejects is reported, before
// any model is loaded, with the line and column (or the rule) at fault.
func TestCheckGrammarPosition(t *testing.T) {
	tests := []struct {
		name, gbnf       string
		line, col        int
		rule, wantReason string
	}{
		{"unclosed group", `root ::= ( "a"`, 1, 15, "", "expecting ')'"},
		{"no ::=", "root ::= \"a\" x\nx = \"b\"\n", 2, 3, "", "expecting ::="},
		{"after unicode", "root ::= \"é\" | ( \"b\"", 1, 21, "", "expecting ')'"},
		{"bad repetition", "root ::= \"a\"{x}", 1, 14, "", "expecting an int"},
		{"undefined rule", "root ::= greeting \" \" name\nname ::= \"Bo\"\n", 1, 10, "greeting", `rule "greeting" is used but not defined`},
		{"no root", `start ::= "a"`, 0, 0, "root", `no rule "root"`},
		{"left recursion", "root ::= \"x\"\nitems ::= \"a\" | items \",\" \"a\"\n", 2, 1, "items", "left recursion"},
		{"indirect left recursion", "root ::= a\na ::= root \"x\" | \"y\"\n", 0, 0, "", "left recursion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckGrammar(tt.gbnf)
			var ge *GrammarError
			if !errors.Is(err, ErrBadGrammar) || !errors.As(err, &ge) {
				t.Fatalf("want a GrammarError, got %v", err)
			}
			if ge.Line != tt.line || ge.Column != tt.col || ge.Rule != tt.rule || !strings.Contains(ge.Reason, tt.wantReason) {
				t.Fatalf("got %+v (%v)", ge, err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "--") {
				t.Fatalf("not one line, or names a flag: %q", msg)
			}
		})
	}
	for _, ok := range []string{`root ::= "yes" | "no"`, "root ::= [a-z]+ <|im_end|>\n", ""} {
		if err := CheckGrammar(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// TestGrammarErrorAtGeneration: the engine reports the same position when
// the grammar reaches it unchecked.
func TestGrammarErrorAtGeneration(t *testing.T) {
	e := loadTest(t, 256)
	_, _, err := e.Complete(context.Background(), "x", Sampling{Grammar: "root ::= \"a\"\nbad"}, nil)
	var ge *GrammarError
	if !errors.As(err, &ge) || ge.Line != 2 || ge.Column != 4 {
		t.Fatalf("want line 2, column 4: %v", err)
	}
}

// nanModel is a copy of stories260K whose final norm weights are NaN, so
// every logit is NaN: the file passes every structural check.
func nanModel(t *testing.T) string {
	t.Helper()
	return editedModel(t, testtool.Model(t, testtool.Stories), "nan.gguf", func(name string, w float32) (float32, bool) {
		return float32(math.NaN()), name == "output_norm.weight"
	})
}

// editedModel writes a copy of the GGUF at src named name, in which edit
// maps each weight of the F32 tensors it applies to (its second result,
// the same for every weight of a tensor) and returns the copy's path.
func editedModel(t *testing.T, src, name string, edit func(tensor string, w float32) (float32, bool)) string {
	t.Helper()
	f, err := gguf.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tn := range f.Tensors {
		if _, ok := edit(tn.Name, 0); !ok || tn.Type.String() != "F32" {
			continue
		}
		n++
		off := f.DataOffset + int64(tn.Offset)
		for i := int64(0); i+4 <= int64(tn.Bytes); i += 4 {
			w, _ := edit(tn.Name, math.Float32frombits(binary.LittleEndian.Uint32(b[off+i:])))
			binary.LittleEndian.PutUint32(b[off+i:], math.Float32bits(w))
		}
	}
	if n == 0 {
		t.Fatalf("%s has no F32 tensor to edit", src)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDamagedWeights: NaN weights are an error naming the file, greedy or
// sampled, instead of empty or random output.
func TestDamagedWeights(t *testing.T) {
	p := nanModel(t)
	e, err := Load(context.Background(), Options{Path: p, ContextSize: 256, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, s := range []Sampling{{MaxTokens: 8}, {Temperature: 0.8, Seed: 1, MaxTokens: 8}} {
		out, _, err := e.Complete(context.Background(), "Once upon a time", s, nil)
		var de *DamagedError
		if !errors.Is(err, ErrDamaged) || !errors.As(err, &de) || de.Path != p || out != "" || !strings.Contains(err.Error(), p) {
			t.Fatalf("temp %v: want a DamagedError naming %s, got %q, %v", s.Temperature, p, out, err)
		}
	}
}
