// Package daotest is a loopback Snapshot hub for tests: GraphQL for
// proposals and voting power (the queries sov sends, answered in the
// hub's schema) and a sequencer endpoint that keeps every envelope posted.
package daotest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Proposal is a proposal as the hub's GraphQL API returns it.
type Proposal struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Body     string   `json:"body"`
	Choices  []string `json:"choices"`
	Type     string   `json:"type"`
	Start    int64    `json:"start"`
	End      int64    `json:"end"`
	Snapshot string   `json:"snapshot"`
	State    string   `json:"state"`
	Author   string   `json:"author"`
	Privacy  string   `json:"privacy"`
	Space    Space    `json:"space"`
}

// Space is a proposal's space.
type Space struct {
	ID string `json:"id"`
}

// Hub is a loopback Snapshot hub: GraphQL at URL ("/graphql"), the
// sequencer at URL's "/api/msg".
type Hub struct {
	URL string // the GraphQL endpoint

	mu        sync.Mutex
	proposals []Proposal
	vp        float64
	envelopes []json.RawMessage
	mode      string
}

// NewHub starts a loopback hub serving proposals, stopped when t ends.
func NewHub(t testing.TB, proposals ...Proposal) *Hub {
	h := &Hub{proposals: proposals, vp: 42}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/graphql"
	return h
}

// SetProposals replaces what the hub lists.
func (h *Hub) SetProposals(ps ...Proposal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.proposals = ps
}

// Fail makes the hub misbehave: "garbage" (200 with non-JSON), "down"
// (503), "errors" (a GraphQL error), "" (well again).
func (h *Hub) Fail(mode string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mode = mode
}

// Envelopes are the messages posted to the sequencer, in order.
func (h *Hub) Envelopes() []json.RawMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]json.RawMessage(nil), h.envelopes...)
}

// ServeHTTP answers GraphQL and sequencer requests.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.mode {
	case "down":
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	case "garbage":
		w.Write([]byte("<html>not a hub</html>"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/msg":
		var env struct {
			Address string          `json:"address"`
			Sig     string          `json:"sig"`
			Data    json.RawMessage `json:"data"`
		}
		if json.Unmarshal(body, &env) != nil || env.Address == "" || env.Sig == "" || len(env.Data) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "client_error", "error_description": "wrong envelope format"})
			return
		}
		h.envelopes = append(h.envelopes, append(json.RawMessage(nil), body...))
		sum := sha256.Sum256(body)
		json.NewEncoder(w).Encode(map[string]any{"id": "0x" + hex.EncodeToString(sum[:]), "ipfs": "bafy" + hex.EncodeToString(sum[:8])})
	case "/graphql":
		var q struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if json.Unmarshal(body, &q) != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		if h.mode == "errors" {
			json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": "Internal error"}}})
			return
		}
		switch {
		case strings.Contains(q.Query, "proposals("):
			spaces := map[string]bool{}
			if ss, ok := q.Variables["spaces"].([]any); ok {
				for _, s := range ss {
					if str, ok := s.(string); ok {
						spaces[str] = true
					}
				}
			}
			out := []Proposal{}
			for _, p := range h.proposals {
				if spaces[p.Space.ID] && p.State == "active" {
					out = append(out, p)
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"proposals": out}})
		case strings.Contains(q.Query, "vp("):
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"vp": map[string]any{"vp": h.vp}}})
		default:
			json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": "unknown query"}}})
		}
	default:
		http.NotFound(w, r)
	}
}
