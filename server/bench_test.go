package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

// BenchmarkRequestOverhead is the server's cost per request on
// stories260K (a short answer, so the model's own time is small): the same
// chat through the engine directly, through the HTTP layer, and through
// the HTTP layer recording each call in a real ledger. Compare ns/op.
func BenchmarkRequestOverhead(b *testing.B) {
	path := testtool.Model(b, testtool.Stories)
	msgs := []model.Message{{Role: model.RoleUser, Content: "Once upon a time"}}
	sp := model.Sampling{MaxTokens: 8}
	b.Run("engine", func(b *testing.B) {
		eng, err := model.Load(context.Background(), model.Options{Path: path, Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer eng.Close()
		sess := eng.NewSession()
		for b.Loop() {
			if _, _, err := sess.Chat(context.Background(), msgs, sp, func(string) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	body := `{"model":"stories","max_tokens":8,"temperature":0,"messages":[{"role":"user","content":"Once upon a time"}]}`
	serve := func(b *testing.B, record func(context.Context, Call) error) {
		srv, err := New(Config{Catalog: &StoreCatalog{Extra: []Entry{{Name: "stories", Path: path}}}, Engine: model.Options{Threads: 1}, Record: record})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		hs := newLoopback(b, srv)
		for b.Loop() {
			resp, err := http.Post(hs+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatal(resp.Status)
			}
		}
	}
	b.Run("http", func(b *testing.B) { serve(b, nil) })
	b.Run("http+ledger", func(b *testing.B) {
		l := ledger.Open(b.TempDir())
		serve(b, func(ctx context.Context, c Call) error {
			_, err := generate.RecordCall(ctx, l, nil, "server", c.Path, c.Input, c.Sampling, c.Output, c.Stats, map[string]any{"api": c.API}, false)
			return err
		})
	})
}
