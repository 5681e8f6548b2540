package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/model"
)

func runFixture(t *testing.T) (*fixture, *Client, string) {
	t.Helper()
	f := newFixture(t, Config{})
	f.srv.EnableRun()
	e, err := f.srv.cfg.Catalog.Lookup("stories")
	if err != nil {
		t.Fatal(err)
	}
	return f, NewClient(f.hs.URL, ""), e.Path
}

// Greedy generations through the server are the engine's in-process ones,
// byte for byte, constrained or not, with the same reply and stop reason;
// the server records each once.
func TestRunMatchesInProcess(t *testing.T) {
	f, c, path := runFixture(t)
	greedy := model.Sampling{MaxTokens: 24}
	tools := `[{"name":"weather","description":"the weather","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":8}},"required":["city"]}}]`
	tests := []struct {
		name string
		req  generate.Request
	}{
		{"plain", generate.Request{Prompt: "Once upon a time", Sampling: greedy}},
		{"system", generate.Request{System: "Tell a story.", Prompt: "Lily", Sampling: greedy}},
		{"stop", generate.Request{Prompt: "Once upon a time", Sampling: model.Sampling{MaxTokens: 24, Stop: []string{"."}}}},
		{"grammar", generate.Request{Prompt: "yes?", Sampling: model.Sampling{MaxTokens: 8, Grammar: `root ::= ("yes" | "no") "!"`}}},
		{"schema", generate.Request{Prompt: "a name", Sampling: model.Sampling{MaxTokens: 64},
			Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"string","maxLength":6}},"required":["n"],"additionalProperties":false}`)}},
		{"tools", generate.Request{Prompt: "weather?", Sampling: model.Sampling{MaxTokens: 64}, Tools: json.RawMessage(tools), ToolChoice: "required"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prep, err := generate.Prepare(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			eng, err := model.Load(context.Background(), model.Options{Path: path, Threads: 1}) // as a fresh sov run
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			want, wantErr := prep.Run(context.Background(), eng, nil)
			if want.Text == "" {
				t.Fatal("in-process wrote nothing: nothing to compare")
			}
			var streamed strings.Builder
			got, err := c.Run(context.Background(), RunRequest{Path: path, Request: tt.req}, func(s string) error { streamed.WriteString(s); return nil })
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("server: %v; in-process: %v", err, wantErr)
			}
			if got.Text != want.Text || streamed.String() != want.Text {
				t.Errorf("server wrote %q (streamed %q), in-process %q", got.Text, streamed.String(), want.Text)
			}
			if got.Stats.StopReason != want.Stats.StopReason || got.Stats.GeneratedTokens != want.Stats.GeneratedTokens {
				t.Errorf("stats %+v, in-process %+v", got.Stats, want.Stats)
			}
			if (got.Reply == nil) != (want.Reply == nil) || got.Reply != nil && (got.Reply.Answer != want.Reply.Answer || (got.Reply.ToolCall == nil) != (want.Reply.ToolCall == nil)) {
				t.Errorf("reply %+v, in-process %+v", got.Reply, want.Reply)
			}
			if calls := f.rec.wait(t, i+1); calls[i].API != "sov.run" || calls[i].Output != want.Text {
				t.Errorf("recorded %+v", calls[i])
			}
		})
	}
}

// Errors come back with their types, so callers' hints work as in-process.
func TestRunErrors(t *testing.T) {
	f, c, path := runFixture(t)
	ctx := context.Background()
	long := generate.Request{Prompt: strings.Repeat("a tale of a cat ", 200)}
	if _, err := c.Run(ctx, RunRequest{Path: path, NumCtx: 64, Request: long}, nil); !errors.Is(err, model.ErrPromptTooLong) {
		t.Errorf("prompt too long: %v", err)
	}
	cut := generate.Request{Prompt: "x", Sampling: model.Sampling{MaxTokens: 2}, Schema: json.RawMessage(`{"type":"object","properties":{"story":{"type":"string"}},"required":["story"]}`)}
	var inc *model.IncompleteError
	if _, err := c.Run(ctx, RunRequest{Path: path, Request: cut}, nil); !errors.As(err, &inc) || inc.StopReason != model.StopMaxTokens {
		t.Errorf("cut schema output: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other.gguf")
	for _, req := range []RunRequest{{Path: other, Request: long}, {Path: "/etc/passwd", Request: long}, {Model: "nope", Request: long}} {
		if _, err := c.Run(ctx, req, nil); !errors.Is(err, ErrNotServed) {
			t.Errorf("%s%s: %v, want ErrNotServed", req.Path, req.Model, err)
		}
	}
	// Beyond the server's limits: the client is told so, to load the model
	// itself rather than get a shorter answer.
	for _, req := range []RunRequest{
		{Path: path, Request: generate.Request{Prompt: "x", Sampling: model.Sampling{MaxTokens: DefaultMaxTokens + 1}}},
		{Path: path, NumCtx: DefaultMaxCtx + 1, Request: generate.Request{Prompt: "x", Sampling: model.Sampling{MaxTokens: 1}}},
		{Path: path, NumCtx: DefaultMaxTokens * 2, Request: generate.Request{Prompt: "x"}},
	} {
		if _, err := c.Run(ctx, req, nil); !errors.Is(err, ErrBeyondLimits) {
			t.Errorf("ctx %d, max tokens %d: %v", req.NumCtx, req.Request.Sampling.MaxTokens, err)
		}
	}
	var st *StatusError
	if _, err := c.Run(ctx, RunRequest{Path: path, Request: generate.Request{Prompt: "x", Sampling: model.Sampling{Temperature: -1}}}, nil); !errors.As(err, &st) || st.Code != 400 {
		t.Errorf("a bad request: %v", err)
	}
	f.hs.Close()
	if _, err := c.Run(ctx, RunRequest{Path: path, Request: long}, nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("no server: %v", err)
	}
}

// A key the server refuses, and a server that goes away mid-answer (after
// the text that came), are typed errors.
func TestRunKeyAndServerGone(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{APIKey: "k"})
	f.srv.EnableRun()
	req := RunRequest{Model: "stories", Request: generate.Request{Prompt: "Once", Sampling: model.Sampling{MaxTokens: 50}}}
	if _, err := NewClient(f.hs.URL, "").Run(ctx, req, nil); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("no key: %v", err)
	}
	if _, err := NewClient(f.hs.URL, "nope").Run(ctx, req, nil); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a wrong key: %v", err)
	}

	var hs atomic.Pointer[httptest.Server]
	f = newFixture(t, Config{onToken: func(context.Context) { hs.Load().CloseClientConnections() }})
	f.srv.EnableRun()
	hs.Store(f.hs)
	var got string
	res, err := NewClient(f.hs.URL, "").Run(ctx, req, func(s string) error { got += s; return nil })
	if !errors.Is(err, ErrNotRunning) || res.Text != got {
		t.Errorf("server gone: %v (text %q, streamed %q)", err, res.Text, got)
	}
}

func TestServes(t *testing.T) {
	f, c, path := runFixture(t)
	ctx := context.Background()
	if err := c.Serves(ctx, path); err != nil {
		t.Errorf("served model: %v", err)
	}
	if err := c.Serves(ctx, filepath.Join(t.TempDir(), "x.gguf")); !errors.Is(err, ErrNotServed) {
		t.Errorf("other model: %v", err)
	}
	if n := len(f.rec.all()); n != 0 {
		t.Errorf("a check recorded %d calls", n)
	}
	f.hs.Close()
	if err := c.Serves(ctx, path); !errors.Is(err, ErrNotRunning) {
		t.Errorf("no server: %v", err)
	}
}
