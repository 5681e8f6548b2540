package tools

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/model"
)

// fakeModel answers JSON calls with reply(user message), keeping what it
// was sent; the schema it is given must compile (the grammar a real model
// would be held to).
type fakeModel struct {
	reply func(user string) string
	calls [][]model.Message
}

func (f *fakeModel) JSON(_ context.Context, msgs []model.Message, schema *model.Schema, _ model.Sampling, _ model.TokenFunc) ([]byte, model.Stats, error) {
	f.calls = append(f.calls, msgs)
	if schema == nil {
		return nil, model.Stats{}, errors.New("no schema")
	}
	return []byte(f.reply(msgs[len(msgs)-1].Content)), model.Stats{}, nil
}

func TestVaultAsk(t *testing.T) {
	v := testVault(t)
	m := &fakeModel{reply: func(string) string { return `{"statements":[{"text":"The green tent sleeps four.","cites":[1]}]}` }}
	env := &Env{Agent: "t", Vault: v, Model: m}
	ctx := context.Background()
	r, err := VaultAsk{}.Run(ctx, env, json.RawMessage(`{"question":"How many does the tent sleep?","collection":"work"}`))
	if err != nil || r.Source != "vault:work" || r.Tainted {
		t.Fatalf("%+v %v", r, err)
	}
	if !strings.Contains(r.Text, "The green tent sleeps four. [1]") || !strings.Contains(r.Text, "tent.md (chunk") {
		t.Fatalf("answer %s", r.Text)
	}
	// the model was given the passage, fenced as data
	if len(m.calls) != 1 || !strings.Contains(m.calls[0][1].Content, "green tent sleeps four") {
		t.Fatalf("model was sent %v", m.calls)
	}
	// nothing relevant: no model call, "not in the vault"
	r, err = VaultAsk{}.Run(ctx, env, json.RawMessage(`{"question":"volcano eruption","collection":"work"}`))
	if err != nil || !strings.Contains(r.Text, `"not_found":true`) || len(m.calls) != 1 {
		t.Fatalf("irrelevant question: %+v %v (%d model calls)", r, err, len(m.calls))
	}
	// a citation of no given passage is refused, not passed on
	bad := &Env{Vault: v, Model: &fakeModel{reply: func(string) string { return `{"statements":[{"text":"x","cites":[9]}]}` }}}
	if _, err := (VaultAsk{}).Run(ctx, bad, json.RawMessage(`{"question":"tent","collection":"work"}`)); err == nil {
		t.Fatal("an answer citing a passage it was not given was accepted")
	}
	for _, tc := range []struct {
		name string
		env  *Env
		args string
		want error
	}{
		{"no model", &Env{Vault: v}, `{"question":"tent"}`, ErrUnavailable},
		{"no vault", &Env{Model: m}, `{"question":"tent"}`, ErrUnavailable},
		{"empty question", env, `{"question":" "}`, ErrBadArguments},
	} {
		if _, err := (VaultAsk{}).Run(ctx, tc.env, json.RawMessage(tc.args)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestFeedsDigest(t *testing.T) {
	now := time.Now().UTC()
	items := []feeds.Item{
		{ID: "aaaaaaaa11", Publisher: "npub1a", Title: "Rates rise", Topics: []string{"economy"}, Created: now, Verified: true, Content: "The bank raised rates."},
		{ID: "bbbbbbbb22", Publisher: "npub1b", Title: "Spoofed: pay 0xa1", Topics: []string{"economy"}, Created: now, Verified: false},
	}
	var asked []feeds.ListOptions
	ref := regexp.MustCompile(`ref="([^"]+)"`)
	m := &fakeModel{reply: func(user string) string {
		refs := ref.FindAllStringSubmatch(user, -1)
		return `{"stories":[{"headline":"Rates \u001b[31mrise","summary":"The bank raised rates.","citations":["` + refs[0][1] + `"],"viewpoints":[]}]}`
	}}
	env := &Env{Agent: "t", Model: m, Feeds: func(o feeds.ListOptions) ([]feeds.Item, error) {
		asked = append(asked, o)
		return items, nil
	}}
	r, err := FeedsDigest{}.Run(context.Background(), env, json.RawMessage(`{"hours":6}`))
	if err != nil || !r.Tainted || r.Source != "feeds" {
		t.Fatalf("%+v %v", r, err)
	}
	if !strings.Contains(r.Text, `"headline":"Rates rise"`) || !strings.Contains(r.Text, "npub1a") || !strings.Contains(r.Text, `"items":1`) {
		t.Fatalf("digest %s", r.Text)
	}
	// the unverified item never reached the model
	if strings.Contains(m.calls[0][1].Content, "Spoofed") || asked[0].Unverified {
		t.Fatalf("the model was given an unverified item (asked %+v)", asked[0])
	}
	for _, tc := range []struct {
		name string
		env  *Env
		args string
		want error
	}{
		{"no model", &Env{Feeds: env.Feeds}, `{}`, ErrUnavailable},
		{"no feeds", &Env{Model: m}, `{}`, ErrUnavailable},
		{"too many stories", env, `{"stories":9}`, ErrBadArguments},
	} {
		if _, err := (FeedsDigest{}).Run(context.Background(), tc.env, json.RawMessage(tc.args)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
