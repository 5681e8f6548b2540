// Package relaytest is a minimal loopback Nostr relay speaking NIP-01
// (REQ, EVENT, EOSE, CLOSE, OK, CLOSED) for tests only. No relay
// implementation is on the module proxy and no public relay is reachable
// here, so tests run sov's real relay client against this.
package relaytest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/sovos/sov/feeds/nostr"
)

// Relay is the minimal loopback NIP-01 relay.
type Relay struct {
	srv *httptest.Server

	mu     sync.Mutex
	events [][]byte // raw event JSON, in arrival order
	// DropAfter, when > 0, closes every subscription's connection abruptly
	// after sending that many events (a relay dying mid-stream).
	DropAfter int
	// Verify makes EVENT submissions be checked (id + signature) before
	// they are accepted, as a real relay would.
	Verify bool
}

// New starts the relay on 127.0.0.1.
func New() *Relay {
	r := &Relay{Verify: true}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// NewAt starts the relay on ln (a test restarting a relay at the same
// address listens there again).
func NewAt(ln net.Listener) *Relay {
	r := &Relay{Verify: true}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.Start()
	return r
}

// URL is the ws:// address.
func (r *Relay) URL() string { return "ws" + strings.TrimPrefix(r.srv.URL, "http") }

// Close stops the relay.
func (r *Relay) Close() { r.srv.CloseClientConnections(); r.srv.Close() }

// Add stores raw events as if they had been published (unchecked, so tests
// can serve tampered ones).
func (r *Relay) Add(raw ...[]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, raw...)
}

// Count is the number of stored events.
func (r *Relay) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

type filter struct {
	IDs     []string `json:"ids"`
	Authors []string `json:"authors"`
	Kinds   []int    `json:"kinds"`
	Since   int64    `json:"since"`
	Until   int64    `json:"until"`
	Limit   int      `json:"limit"`
}

// head is the part of a stored event a filter looks at; stored events may
// be tampered, so a lenient decode is used here.
type head struct {
	ID        string `json:"id"`
	PubKey    string `json:"pubkey"`
	Kind      int    `json:"kind"`
	CreatedAt int64  `json:"created_at"`
}

func (f filter) match(h head) bool {
	in := func(s string, list []string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return len(list) == 0
	}
	if !in(h.ID, f.IDs) || !in(h.PubKey, f.Authors) {
		return false
	}
	if len(f.Kinds) > 0 {
		ok := false
		for _, k := range f.Kinds {
			ok = ok || k == h.Kind
		}
		if !ok {
			return false
		}
	}
	return (f.Since == 0 || h.CreatedAt >= f.Since) && (f.Until == 0 || h.CreatedAt <= f.Until)
}

func (r *Relay) serve(w http.ResponseWriter, req *http.Request) {
	c, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(nostr.MaxEventSize + 4096)
	ctx := req.Context()
	send := func(v ...any) error {
		b, _ := json.Marshal(v)
		return c.Write(ctx, websocket.MessageText, b)
	}
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		var env []json.RawMessage
		if json.Unmarshal(msg, &env) != nil || len(env) < 2 {
			send("NOTICE", "invalid: not a JSON array")
			continue
		}
		var typ string
		json.Unmarshal(env[0], &typ)
		switch typ {
		case "EVENT":
			ev, err := nostr.Parse(env[1])
			if err != nil {
				send("OK", "", false, "invalid: "+err.Error())
				continue
			}
			if r.Verify {
				if err := ev.Verify(); err != nil {
					send("OK", ev.ID, false, "invalid: "+err.Error())
					continue
				}
			}
			r.Add(append([]byte{}, env[1]...))
			send("OK", ev.ID, true, "")
		case "REQ":
			var sub string
			json.Unmarshal(env[1], &sub)
			var fs []filter
			for _, raw := range env[2:] {
				var f filter
				if json.Unmarshal(raw, &f) == nil {
					fs = append(fs, f)
				}
			}
			if r.sendStored(ctx, c, sub, fs) != nil {
				return
			}
		case "CLOSE":
			var sub string
			json.Unmarshal(env[1], &sub)
			send("CLOSED", sub, "")
		default:
			send("NOTICE", "unknown message type")
		}
	}
}

func (r *Relay) sendStored(ctx context.Context, c *websocket.Conn, sub string, fs []filter) error {
	r.mu.Lock()
	evs := append([][]byte{}, r.events...)
	drop := r.DropAfter
	r.mu.Unlock()
	sent := 0
	for _, raw := range evs {
		var h head
		json.Unmarshal(raw, &h)
		ok := len(fs) == 0
		for _, f := range fs {
			ok = ok || f.match(h)
		}
		if !ok {
			continue
		}
		if drop > 0 && sent == drop {
			c.CloseNow() // abrupt: no close frame, no EOSE
			return context.Canceled
		}
		msg := append([]byte(`["EVENT",`), mustJSON(sub)...)
		msg = append(msg, ',')
		msg = append(msg, raw...)
		msg = append(msg, ']')
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			return err
		}
		sent++
	}
	b, _ := json.Marshal([]any{"EOSE", sub})
	return c.Write(ctx, websocket.MessageText, b)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
