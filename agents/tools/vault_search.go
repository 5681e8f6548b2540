package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/vault"
)

// VaultSearch is vault.search: passages of the user's vault matching a
// query, in one collection.
type VaultSearch struct{}

const (
	maxQuery        = 200
	maxCollection   = 64
	defaultSearchK  = 5
	maxSearchK      = 20
	maxPassageChars = 2000 // per passage in a search result; vault.get gives it whole
)

func (VaultSearch) Spec() model.Tool {
	return spec("vault.search", fmt.Sprintf(`{"type":"object","properties":{
"query":{"type":"string","minLength":1,"maxLength":%d},
"collection":{"type":"string","maxLength":%d},
"k":{"type":"integer","minimum":1,"maximum":%d}},
"required":["query"],"additionalProperties":false}`, maxQuery, maxCollection, maxSearchK))
}

func (VaultSearch) Level() Level { return Read }

// passage is a vault chunk as a result shows it.
type passage struct {
	Chunk     uint64 `json:"chunk"`
	Source    string `json:"source"`
	Heading   string `json:"heading,omitempty"`
	Text      string `json:"text"`
	Truncated bool   `json:"truncated,omitempty"`
}

func passageOf(r vault.Result, max int) passage {
	p := passage{Chunk: r.Chunk, Source: termtext.Clean(r.Source), Heading: termtext.Clean(r.Heading), Text: termtext.Clean(r.Text)}
	if max > 0 && len([]rune(p.Text)) > max {
		p.Text, p.Truncated = string([]rune(p.Text)[:max]), true
	}
	return p
}

// collectionName is the collection a call names, or the vault's default.
func collectionName(c string) (string, error) {
	c = strings.TrimSpace(c)
	if len(c) > maxCollection {
		return "", fmt.Errorf("%w: collection name longer than %d characters", ErrBadArguments, maxCollection)
	}
	if c == "" {
		return vault.DefaultCollection, nil
	}
	return c, nil
}

func (VaultSearch) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Query      string `json:"query"`
		Collection string `json:"collection"`
		K          int    `json:"k"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	var err error
	if a.Query, err = queryText("query", a.Query); err != nil {
		return Result{}, err
	}
	switch {
	case a.K < 0 || a.K > maxSearchK:
		return Result{}, fmt.Errorf("%w: k must be 1 to %d", ErrBadArguments, maxSearchK)
	case a.K == 0:
		a.K = defaultSearchK
	}
	coll, err := collectionName(a.Collection)
	if err != nil {
		return Result{}, err
	}
	if env == nil || env.Vault == nil {
		return Result{}, fmt.Errorf("vault.search: no vault is open: %w", ErrUnavailable)
	}
	resp, err := env.Vault.Search(ctx, a.Query, vault.SearchOptions{Collection: coll, K: a.K})
	if err != nil {
		return Result{}, fmt.Errorf("vault.search in %s: %w", coll, err)
	}
	out := struct {
		Collection string    `json:"collection"`
		Passages   []passage `json:"passages"`
	}{Collection: coll, Passages: []passage{}}
	for _, r := range resp.Results {
		out.Passages = append(out.Passages, passageOf(r, maxPassageChars))
	}
	return Result{Text: jsonText(out), Source: "vault:" + coll}, nil
}

// queryText is the text of a query-like argument called name, trimmed:
// not empty and at most maxQuery characters.
func queryText(name, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("%w: %s is empty", ErrBadArguments, name)
	case len([]rune(s)) > maxQuery:
		return "", fmt.Errorf("%w: %s longer than %d characters", ErrBadArguments, name, maxQuery)
	}
	return s, nil
}
