package events

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLossyDropsWhenFull(t *testing.T) {
	b := New[int]()
	s := b.Subscribe(context.Background(), "view", Lossy, 2)
	for i := range 5 {
		if err := b.Publish(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if got := []int{<-s.C, <-s.C}; got[0] != 0 || got[1] != 1 {
		t.Fatalf("kept %v, want the first two", got)
	}
	if s.Dropped() != 3 {
		t.Fatalf("dropped %d, want 3", s.Dropped())
	}
}

func TestMustDeliverGetsEveryEventInOrder(t *testing.T) {
	b := New[int]()
	ledger := b.Subscribe(context.Background(), "ledger", MustDeliver, 1)
	view := b.Subscribe(context.Background(), "view", Lossy, 1)
	const n = 2000
	got := make(chan []int)
	go func() {
		var seen []int
		for v := range ledger.C {
			seen = append(seen, v)
			if len(seen)%100 == 0 {
				time.Sleep(time.Millisecond) // a slow subscriber
			}
		}
		got <- seen
	}()
	for i := range n {
		if err := b.Publish(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	ledger.Close()
	seen := <-got
	if len(seen) != n {
		t.Fatalf("ledger got %d events, want %d", len(seen), n)
	}
	for i, v := range seen {
		if v != i {
			t.Fatalf("event %d is %d: out of order", i, v)
		}
	}
	if view.Dropped() == 0 {
		t.Fatal("the lossy view never filled up, so this test did not exercise dropping")
	}
}

func TestMustDeliverStalledReportsWhom(t *testing.T) {
	b := New[string]()
	b.Subscribe(context.Background(), "ledger", MustDeliver, 1)
	view := b.Subscribe(context.Background(), "view", Lossy, 4)
	ctx := context.Background()
	if err := b.Publish(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err := b.Publish(short, "second")
	var ue *UndeliveredError
	if !errors.As(err, &ue) || ue.Subscriber != "ledger" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want an UndeliveredError for the ledger, got %v", err)
	}
	if a, b := <-view.C, <-view.C; a != "first" || b != "second" {
		t.Fatalf("the view got %q, %q", a, b)
	}
}

// Closing a subscription while a publisher waits for it releases the
// publisher and closes the channel, without a panic.
func TestCloseReleasesBlockedPublisher(t *testing.T) {
	b := New[int]()
	s := b.Subscribe(context.Background(), "ledger", MustDeliver, 1)
	b.Publish(context.Background(), 1) // fills the buffer
	done := make(chan error)
	go func() { done <- b.Publish(context.Background(), 2) }()
	time.Sleep(10 * time.Millisecond)
	s.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, ok := <-s.C; !ok || v != 1 {
		t.Fatalf("buffered event %d %v", v, ok)
	}
	if _, ok := <-s.C; ok {
		t.Fatal("channel still open after Close")
	}
	s.Close() // twice is harmless
}

func TestEndings(t *testing.T) {
	b := New[int]()
	ctx, cancel := context.WithCancel(context.Background())
	s := b.Subscribe(ctx, "agent", MustDeliver, 1)
	cancel()
	if _, ok := <-s.C; ok {
		t.Fatal("channel open after its context ended")
	}
	other := b.Subscribe(context.Background(), "view", Lossy, 1)
	b.Close()
	if _, ok := <-other.C; ok {
		t.Fatal("channel open after the broker closed")
	}
	late := b.Subscribe(context.Background(), "late", Lossy, 1)
	if _, ok := <-late.C; ok {
		t.Fatal("a subscription after Close should be closed")
	}
	if err := b.Publish(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
}

// Publishers, subscribers and closes all at once (run with -race).
func TestConcurrent(t *testing.T) {
	b := New[int]()
	var subs, pubs sync.WaitGroup
	for i := range 8 {
		mode := Lossy
		if i%2 == 0 {
			mode = MustDeliver
		}
		s := b.Subscribe(context.Background(), "s", mode, 4)
		subs.Add(1)
		go func() {
			defer subs.Done()
			n := 0
			for range s.C {
				if n++; n == 50 && i < 4 {
					s.Close() // half leave early, the rest stay to the end
				}
			}
		}()
	}
	for range 4 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for j := range 200 {
				if err := b.Publish(context.Background(), j); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	pubs.Wait()
	b.Close()
	subs.Wait()
}
