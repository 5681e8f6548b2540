package model

import (
	"context"
	"runtime"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// TestSubnormalFlush checks where llama.cpp computes with subnormals flushed
// to zero: on every other thread of the compute team, never on the worker
// thread between calls (Go code runs there), and nowhere with
// Options.Subnormals. The greedy text is the same either way.
func TestSubnormalFlush(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		t.Skip("the flush mode is set on x86 only")
	}
	path := testtool.Model(t, testtool.Stories)
	var texts []string
	for _, tc := range []struct {
		name       string
		subnormals bool
		want       uint32 // bit i: thread i of the team flushes
	}{
		{"default", false, 0b10},
		{"subnormals", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Load(context.Background(), Options{Path: path, ContextSize: 512, Threads: 2, Subnormals: tc.subnormals})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			out, _, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 24}, nil)
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, out)
			if got := e.fpProbe(); got != tc.want {
				t.Fatalf("flushing threads %02b, want %02b", got, tc.want)
			}
		})
	}
	if len(texts) == 2 && texts[0] != texts[1] {
		t.Fatalf("flushing subnormals changed the greedy text:\n%q\n%q", texts[0], texts[1])
	}
}
