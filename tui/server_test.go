package tui

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/server"
)

// fakeRemote is a sov serve that serves one model until it goes away.
type fakeRemote struct {
	served string
	gone   bool
	reqs   []server.RunRequest
}

func (f *fakeRemote) Serves(_ context.Context, path string) error {
	switch {
	case f.gone:
		return server.ErrNotRunning
	case path != f.served:
		return server.ErrNotServed
	}
	return nil
}

func (f *fakeRemote) Run(_ context.Context, req server.RunRequest, fn model.TokenFunc) (generate.Result, error) {
	f.reqs = append(f.reqs, req)
	if f.gone {
		return generate.Result{}, fmt.Errorf("%w: connection refused", server.ErrNotRunning)
	}
	for _, p := range []string{"from ", "the server"} {
		fn(p)
	}
	return generate.Result{Text: "from the server", Stats: model.Stats{GeneratedTokens: 2}}, nil
}

func TestServerLoader(t *testing.T) {
	ctx := context.Background()
	var loads []string // what the local loader loaded
	local := func(_ context.Context, path string, _ func(float32) bool) (Chatter, error) {
		loads = append(loads, path)
		return newFake("from here"), nil
	}
	var heard []string
	remote := &fakeRemote{served: "/m/a.gguf"}
	load := ServerLoader(remote, 0, local, func(p string) { heard = append(heard, p) })

	// A model the server does not offer loads here.
	if _, err := load(ctx, "/m/b.gguf", func(float32) bool { return true }); err != nil || len(loads) != 1 || loads[0] != "/m/b.gguf" {
		t.Fatalf("unserved model: %v, loads %v", err, loads)
	}
	// The served one loads nothing and streams from the server.
	c, err := load(ctx, "/m/a.gguf", func(float32) bool { return true })
	if err != nil || len(loads) != 1 || len(heard) != 1 || heard[0] != "" {
		t.Fatalf("served model: %v, loads %v, heard %q", err, loads, heard)
	}
	if c.Info().Name != "a" {
		t.Errorf("info %+v", c.Info())
	}
	msgs := []model.Message{{Role: model.RoleUser, Content: "hi"}}
	var got string
	text, _, err := c.Chat(ctx, msgs, model.Sampling{Temperature: 0.5}, func(s string) error { got += s; return nil })
	if err != nil || text != "from the server" || got != text {
		t.Fatalf("chat: %q (streamed %q), %v", text, got, err)
	}
	if r := remote.reqs[0]; r.Path != "/m/a.gguf" || len(r.Messages) != 1 || r.Request.Sampling.Temperature != 0.5 {
		t.Errorf("request %+v", r)
	}
	// The server goes away: the shell is told, and the next message is
	// answered by the model loaded here, loaded once.
	remote.gone = true
	if _, _, err := c.Chat(ctx, msgs, model.Sampling{}, func(string) error { return nil }); !errors.Is(err, ErrServerGone) {
		t.Fatalf("server gone: %v", err)
	}
	for range 2 {
		got = ""
		text, _, err = c.Chat(ctx, msgs, model.Sampling{}, func(s string) error { got += s; return nil })
		if err != nil || got == "" || got == "from the server" {
			t.Fatalf("after the server went away: %q, %v", got, err)
		}
	}
	if len(loads) != 2 || loads[1] != "/m/a.gguf" || len(remote.reqs) != 2 {
		t.Errorf("loads %v, server requests %d", loads, len(remote.reqs))
	}
	if c.Info().Name != "tiny" {
		t.Errorf("info after the fallback: %+v", c.Info())
	}
}

// A request beyond the server's limits is answered here at once, and so
// are the ones after it.
func TestServerLoaderBeyondLimits(t *testing.T) {
	ctx := context.Background()
	loads := 0
	local := func(context.Context, string, func(float32) bool) (Chatter, error) {
		loads++
		return newFake("from here"), nil
	}
	remote := &limitRemote{}
	c, err := ServerLoader(remote, 16384, local, func(string) {})(ctx, "/m/a.gguf", func(float32) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var got string
		if _, _, err := c.Chat(ctx, []model.Message{{Role: model.RoleUser, Content: "hi"}}, model.Sampling{}, func(s string) error { got += s; return nil }); err != nil || got != "from here" {
			t.Fatalf("%q, %v", got, err)
		}
	}
	if loads != 1 || remote.runs != 1 || remote.numCtx != 16384 {
		t.Errorf("loads %d, server runs %d at ctx %d", loads, remote.runs, remote.numCtx)
	}
}

type limitRemote struct{ runs, numCtx int }

func (*limitRemote) Serves(context.Context, string) error { return nil }
func (l *limitRemote) Run(_ context.Context, req server.RunRequest, _ model.TokenFunc) (generate.Result, error) {
	l.runs++
	l.numCtx = req.NumCtx
	return generate.Result{}, fmt.Errorf("%w: no token limit", server.ErrBeyondLimits)
}
