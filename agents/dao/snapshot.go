package dao

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrHub: the Snapshot hub could not be reached or did not answer as a
// hub does. Nothing was voted.
var ErrHub = errors.New("snapshot hub")

// maxHubResponse bounds what is read from a hub.
const maxHubResponse = 8 << 20

// Hub is a Snapshot hub's GraphQL API and its message sequencer.
type Hub struct {
	URL       string // GraphQL endpoint
	Sequencer string // where signed messages are posted; SequencerFor(URL) when empty
	Client    *http.Client
}

// SequencerFor is the sequencer that goes with a hub: Snapshot's own for
// its public hubs, else the hub's /api/msg beside its /graphql.
func SequencerFor(hub string) string {
	switch {
	case strings.HasPrefix(hub, "https://hub.snapshot.org"):
		return "https://seq.snapshot.org/"
	case strings.HasPrefix(hub, "https://testnet.hub.snapshot.org"):
		return "https://testnet.seq.snapshot.org/"
	}
	u, err := url.Parse(hub)
	if err != nil {
		return hub
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/graphql") + "/api/msg"
	return u.String()
}

func (h *Hub) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (h *Hub) sequencer() string {
	if h.Sequencer != "" {
		return h.Sequencer
	}
	return SequencerFor(h.URL)
}

// post sends body as JSON to u and decodes a bounded JSON answer into out.
func (h *Hub) post(ctx context.Context, u string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrHub, u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := h.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w %s is unreachable: %v", ErrHub, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHubResponse+1))
	if err != nil {
		return fmt.Errorf("%w %s: reading the answer: %v", ErrHub, u, err)
	}
	if len(data) > maxHubResponse {
		return fmt.Errorf("%w %s: the answer is over %d MiB", ErrHub, u, maxHubResponse>>20)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error            string `json:"error"`
			ErrorDescription string `json:"error_description"`
		}
		_ = json.Unmarshal(data, &e)
		msg := strings.TrimSpace(e.Error + " " + e.ErrorDescription)
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return fmt.Errorf("%w %s: HTTP %d: %s", ErrHub, u, resp.StatusCode, clip(msg, 200))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w %s: not a JSON answer (%v)", ErrHub, u, err)
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// graphql runs one query; GraphQL errors are hub errors.
func (h *Hub) graphql(ctx context.Context, query string, vars map[string]any, data any) error {
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := h.post(ctx, h.URL, map[string]any{"query": query, "variables": vars}, &resp); err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("%w %s: %s", ErrHub, h.URL, clip(resp.Errors[0].Message, 200))
	}
	if len(resp.Data) == 0 || string(resp.Data) == "null" {
		return fmt.Errorf("%w %s: a GraphQL answer without data", ErrHub, h.URL)
	}
	if err := json.Unmarshal(resp.Data, data); err != nil {
		return fmt.Errorf("%w %s: unexpected data (%v)", ErrHub, h.URL, err)
	}
	return nil
}

const proposalsQuery = `query Proposals($spaces: [String], $first: Int) {
  proposals(first: $first, where: {space_in: $spaces, state: "active"}, orderBy: "end", orderDirection: asc) {
    id title body choices type start end snapshot state author privacy space { id }
  }
}`

const vpQuery = `query Vp($voter: String!, $space: String!, $proposal: String) {
  vp(voter: $voter, space: $space, proposal: $proposal) { vp }
}`

// Limits on what a hub may hand over: anything beyond is refused.
const (
	maxProposals = 200
	maxChoices   = 64
	maxTitle     = 1 << 10
	maxBody      = 64 << 10
)

type hubProposal struct {
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
	Space    struct {
		ID string `json:"id"`
	} `json:"space"`
}

// Proposals lists the active proposals of spaces.
func (h *Hub) Proposals(ctx context.Context, spaces []string) ([]Proposal, error) {
	var data struct {
		Proposals *[]hubProposal `json:"proposals"`
	}
	if err := h.graphql(ctx, proposalsQuery, map[string]any{"spaces": spaces, "first": maxProposals}, &data); err != nil {
		return nil, err
	}
	if data.Proposals == nil {
		return nil, fmt.Errorf("%w %s: no proposals in the answer", ErrHub, h.URL)
	}
	now := time.Now()
	out := make([]Proposal, 0, len(*data.Proposals))
	for i, hp := range *data.Proposals {
		bad := func(why string) error {
			return fmt.Errorf("%w %s: proposal %d: %s", ErrHub, h.URL, i, why)
		}
		switch {
		case hp.ID == "" || len(hp.ID) > 100 || !spaceRE.MatchString(hp.ID):
			return nil, bad("missing or malformed id")
		case hp.Space.ID == "" || !spaceRE.MatchString(hp.Space.ID):
			return nil, bad("missing or malformed space")
		case len(hp.Choices) > maxChoices:
			return nil, bad(fmt.Sprintf("%d choices, over %d", len(hp.Choices), maxChoices))
		case hp.Start <= 0 || hp.End <= hp.Start:
			return nil, bad("no voting window")
		}
		if len(hp.Title) > maxTitle {
			hp.Title = hp.Title[:maxTitle]
		}
		if len(hp.Body) > maxBody {
			hp.Body = hp.Body[:maxBody]
		}
		out = append(out, Proposal{Source: SourceSnapshot, Space: hp.Space.ID, ID: hp.ID, Title: hp.Title, Body: hp.Body,
			Choices: hp.Choices, Type: VotingType(hp.Type), Start: time.Unix(hp.Start, 0).UTC(), End: time.Unix(hp.End, 0).UTC(),
			Snapshot: hp.Snapshot, State: hp.State, Author: hp.Author, Privacy: hp.Privacy, VP: -1, Fetched: now.UTC()})
	}
	return out, nil
}

// VP is voter's voting power on a proposal.
func (h *Hub) VP(ctx context.Context, voter, space, proposal string) (float64, error) {
	var data struct {
		VP *struct {
			VP float64 `json:"vp"`
		} `json:"vp"`
	}
	if err := h.graphql(ctx, vpQuery, map[string]any{"voter": voter, "space": space, "proposal": proposal}, &data); err != nil {
		return 0, err
	}
	if data.VP == nil {
		return 0, fmt.Errorf("%w %s: no vp in the answer", ErrHub, h.URL)
	}
	return data.VP.VP, nil
}

// SnapshotSource is the Source for the spaces a policy follows on a hub;
// Voter, when set, has each proposal's voting power looked up.
type SnapshotSource struct {
	Hub    *Hub
	Spaces []string
	Voter  string
}

// Name says which hub.
func (s *SnapshotSource) Name() string { return "snapshot " + s.Hub.URL }

// Sync lists the followed spaces' active proposals (none followed: none).
func (s *SnapshotSource) Sync(ctx context.Context) ([]Proposal, error) {
	if len(s.Spaces) == 0 {
		return nil, nil
	}
	ps, err := s.Hub.Proposals(ctx, s.Spaces)
	if err != nil {
		return nil, err
	}
	if s.Voter != "" {
		for i := range ps {
			if ps[i].VP, err = s.Hub.VP(ctx, s.Voter, ps[i].Space, ps[i].ID); err != nil {
				return nil, err
			}
		}
	}
	return ps, nil
}
