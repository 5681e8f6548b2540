package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// longSystem is a system prompt well over MinCachedPrefix tokens.
var longSystem = strings.Repeat("Once upon a time there was a little girl named Lily who loved to play in the park with her dog. ", 16)

type cacheRun struct {
	reply string
	st    Stats
	warns []string
}

func cachedChat(t *testing.T, path, dir string, sessions int) cacheRun {
	t.Helper()
	var r cacheRun
	e, err := Load(context.Background(), Options{Path: path, ContextSize: 1024, Threads: 2, PromptCache: dir, Sessions: sessions, Warn: func(m string) { r.warns = append(r.warns, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	msgs := []Message{{Role: RoleSystem, Content: longSystem}, {Role: RoleUser, Content: "One day"}}
	r.reply, r.st, err = e.Chat(context.Background(), msgs, Sampling{MaxTokens: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.kv"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestPromptCacheRestores(t *testing.T) {
	for _, m := range []testtool.TestModel{testtool.Stories, testtool.Chat} {
		t.Run(fmt.Sprint(m), func(t *testing.T) { testPromptCacheRestores(t, testtool.Model(t, m)) })
	}
}

// testPromptCacheRestores: on stories260K the prompt is plain text, on
// SmolLM2 it goes through the ChatML template.
func testPromptCacheRestores(t *testing.T, path string) {
	dir := t.TempDir()
	first := cachedChat(t, path, dir, 1)
	if first.st.RestoredTokens != 0 || len(first.warns) != 0 {
		t.Fatalf("first run: %+v %v", first.st, first.warns)
	}
	files := cacheFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	// A new process (here: a new engine) restores the prefix instead of
	// decoding it, and answers the same.
	second := cachedChat(t, path, dir, 1)
	if second.st.RestoredTokens < MinCachedPrefix || second.st.PromptTokens >= 16 || second.reply != first.reply || len(second.warns) != 0 {
		t.Fatalf("second run restored %d, decoded %d, %q vs %q, %v", second.st.RestoredTokens, second.st.PromptTokens, second.reply, first.reply, second.warns)
	}
	if first.st.PromptTokens != second.st.PromptTokens+second.st.RestoredTokens {
		t.Fatalf("prompt %d tokens first, %d+%d second", first.st.PromptTokens, second.st.PromptTokens, second.st.RestoredTokens)
	}
}

func TestPromptCacheBadFiles(t *testing.T) {
	path := testtool.Model(t, testtool.Stories)
	// Another model file whose tokenizer and plain rendering are the same:
	// stories260K with a template llama.cpp does not recognise.
	other := testtool.WithChatTemplate(t, path, "{{ unknown }}")
	tests := []struct {
		name   string
		damage func(t *testing.T, file string, dir string)
		warn   string
	}{
		{"flipped byte", func(t *testing.T, f, _ string) {
			b, _ := os.ReadFile(f)
			b[len(b)-100] ^= 0x40
			os.WriteFile(f, b, 0o600)
		}, "corrupt"},
		{"truncated", func(t *testing.T, f, _ string) { os.Truncate(f, 20) }, "truncated"},
		{"another model's file", func(t *testing.T, f, dir string) {
			// The file the other model writes for the same prompt, under
			// the name this model looks for.
			odir := t.TempDir()
			cachedChat(t, other, odir, 1)
			of := cacheFiles(t, odir)
			if len(of) != 1 {
				t.Fatalf("other model's cache: %v", of)
			}
			b, _ := os.ReadFile(of[0])
			os.WriteFile(f, b, 0o600)
		}, "another model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := cachedChat(t, path, dir, 1)
			files := cacheFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("cache files %v", files)
			}
			tt.damage(t, files[0], dir)
			r := cachedChat(t, path, dir, 1)
			if r.st.RestoredTokens != 0 || r.reply != first.reply {
				t.Fatalf("restored %d from a damaged file; %q vs %q", r.st.RestoredTokens, r.reply, first.reply)
			}
			if len(r.warns) != 1 || !strings.Contains(r.warns[0], tt.warn) || strings.Contains(r.warns[0], "\n") {
				t.Fatalf("warnings %q, want one line saying %q", r.warns, tt.warn)
			}
			// The damaged file was replaced: the next run restores again.
			if again := cachedChat(t, path, dir, 1); again.st.RestoredTokens == 0 || len(again.warns) != 0 {
				t.Fatalf("after the rewrite: restored %d, %v", again.st.RestoredTokens, again.warns)
			}
		})
	}
}

// A prompt cache restore in one session leaves the other sessions alone.
// (A saved state restores into the same session slot of an engine with as
// many sessions: here the second slot of two.)
func TestPromptCacheWithSessions(t *testing.T) {
	path := testtool.Model(t, testtool.Stories)
	dir := t.TempDir()
	var warns []string
	e, err := Load(context.Background(), Options{Path: path, ContextSize: 1024, Threads: 2, PromptCache: dir, Sessions: 2, Warn: func(m string) { warns = append(warns, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	other := e.NewSession()
	story := []Message{{Role: RoleUser, Content: "Once upon a time"}}
	r1, _, err := other.Chat(ctx, story, Sampling{MaxTokens: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	long := []Message{{Role: RoleSystem, Content: longSystem}, {Role: RoleUser, Content: "One day"}}
	x := e.NewSession()
	want, st, err := x.Chat(ctx, long, Sampling{MaxTokens: 24}, nil)
	if err != nil || st.RestoredTokens != 0 {
		t.Fatalf("first: restored %d (%v)", st.RestoredTokens, err)
	}
	x.Close()
	got, st, err := e.NewSession().Chat(ctx, long, Sampling{MaxTokens: 24}, nil)
	if err != nil || st.RestoredTokens == 0 || got != want {
		t.Fatalf("restored %d: %q vs %q (%v) %v", st.RestoredTokens, got, want, err, warns)
	}
	r2, st2, err := other.Chat(ctx, story, Sampling{MaxTokens: 16}, nil)
	if err != nil || r2 != r1 || st2.CachedTokens == 0 {
		t.Fatalf("the other session changed: %q vs %q, cached %d (%v)", r2, r1, st2.CachedTokens, err)
	}
}
