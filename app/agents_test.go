package app

import (
	"context"
	"testing"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

// Runs that overlap on one model file share one load; the last release
// unloads it, and the next run loads it afresh.
func TestEnginesShareOneLoad(t *testing.T) {
	o := model.Options{Path: testtool.Model(t, testtool.Stories), ContextSize: 256, Threads: 1}
	p := new(Engines)
	a, releaseA, err := p.get(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, err := p.get(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(p.m) != 1 {
		t.Fatalf("two loads for one model: %p %p", a, b)
	}
	releaseA()
	releaseA() // a second release of one run is a no-op
	if len(p.m) != 1 {
		t.Fatal("unloaded while a run still uses it")
	}
	sess := b.NewSession()
	if _, _, err := sess.Complete(context.Background(), "Once", model.Sampling{MaxTokens: 4}, nil); err != nil {
		t.Fatal(err)
	}
	sess.Close()
	releaseB()
	if len(p.m) != 0 {
		t.Fatal("still loaded after its last run")
	}
	c, releaseC, err := p.get(context.Background(), o)
	if err != nil || c == a {
		t.Fatalf("reload: %v (same engine %v)", err, c == a)
	}
	releaseC()
	// nil: a load per run.
	var none *Engines
	d, releaseD, err := none.get(context.Background(), o)
	if err != nil || d == nil {
		t.Fatal(err)
	}
	releaseD()
}
