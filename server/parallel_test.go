package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// With --parallel 3, three requests on one model decode at once (each
// streams before any ends: each one's first token waits for the others'),
// and each greedy reply is the one it gets alone.
func TestParallelDecodeTogether(t *testing.T) {
	const n = 3
	var (
		mu      sync.Mutex
		seen    = map[context.Context]bool{}
		all     = make(chan struct{})
		closeMu sync.Once
		gate    bool
	)
	cfg := Config{Parallel: n}
	cfg.onToken = func(ctx context.Context) {
		mu.Lock()
		if !gate {
			mu.Unlock()
			return
		}
		seen[ctx] = true
		if len(seen) == n {
			closeMu.Do(func() { close(all) })
		}
		mu.Unlock()
		select {
		case <-all:
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Error("requests did not stream at the same time")
		}
	}
	f := newFixture(t, cfg)
	prompts := []string{"Once upon a time", "The little dog", "Lily and Tom went to the park"}
	body := func(p string) string {
		return fmt.Sprintf(`{"model":"stories","max_tokens":32,"temperature":0,"messages":[{"role":"user","content":%q}]}`, p)
	}
	want := make([]string, n)
	for i, p := range prompts {
		code, _, b := f.post(t, "/v1/chat/completions", body(p))
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		want[i] = *decodeChat(t, b).Choices[0].Message.Content
	}
	mu.Lock()
	gate = true
	mu.Unlock()
	got := make([]string, n)
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, b := f.post(t, "/v1/chat/completions", body(p))
			if code != 200 {
				t.Errorf("%d %s", code, b)
				return
			}
			got[i] = *decodeChat(t, b).Choices[0].Message.Content
		}()
	}
	wg.Wait()
	for i := range prompts {
		if got[i] != want[i] {
			t.Errorf("request %d together: %q, alone %q", i, got[i], want[i])
		}
	}
}
