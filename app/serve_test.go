package app

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sovos/sov/server"
)

// TestServeAnnouncesAndStops: Serve listens, announces itself where sov
// run looks, answers, and on cancel returns nil and withdraws the
// announcement; a non-loopback address without a key is refused.
func TestServeAnnouncesAndStops(t *testing.T) {
	a, _ := newApp(t, map[string]string{})
	if err := a.Serve(context.Background(), "0.0.0.0:0", ServeOptions{Parallel: 1, MaxTokens: 8}, nil); !errors.Is(err, server.ErrKeyRequired) {
		t.Fatalf("public without key: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	up := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- a.Serve(ctx, "127.0.0.1:0", ServeOptions{Parallel: 1, MaxTokens: 8}, func(at net.Addr) { up <- at })
	}()
	select {
	case <-up:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not listening after 30s")
	}
	c, err := server.Discover(context.Background(), a.Paths.Data, "")
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	if _, err := c.PS(context.Background()); err != nil {
		t.Fatalf("ps: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("after cancel: %v", err)
	}
	if _, err := server.Discover(context.Background(), a.Paths.Data, ""); !errors.Is(err, server.ErrNoServer) {
		t.Fatalf("announcement left behind: %v", err)
	}
}
