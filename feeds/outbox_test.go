package feeds

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/feeds/relaytest"
)

// TestFeedsPublishQueuesFailedRelay: a publish to a relay that is down is
// queued, and the next publish delivers it once the relay is back.
func TestFeedsPublishQueuesFailedRelay(t *testing.T) {
	s := openTestStore(t)
	pub := newKey(t)
	trust(t, s, pub, "Pub")
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the relay is down
	url := "ws://" + addr
	first := article(t, pub, "one", "One", testNow.Add(-time.Hour))
	rep, err := s.Publish(ctx, first, PublishTargets{Relays: []string{url}})
	if err == nil || !strings.Contains(err.Error(), "queued") || len(rep.Queued) != 1 {
		t.Fatalf("publish to a down relay: %v, queued %v", err, rep.Queued)
	}
	if q, _ := s.Queued(); len(q) != 1 || q[0] != url+" "+first.ID {
		t.Fatalf("queue %v", q)
	}

	ln, err = net.Listen("tcp", addr) // the relay is back, same address
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	relay := relaytest.NewAt(ln)
	defer relay.Close()
	second := article(t, pub, "two", "Two", testNow.Add(-time.Minute))
	rep, err = s.Publish(ctx, second, PublishTargets{Relays: []string{relay.URL()}})
	if err != nil || len(rep.Queued) != 0 || relay.Count() != 2 {
		t.Fatalf("retry: %v, queued %v, relay holds %d, targets %v", err, rep.Queued, relay.Count(), rep.Targets)
	}
	if q, _ := s.Queued(); len(q) != 0 {
		t.Fatalf("queue after delivery %v", q)
	}
}
