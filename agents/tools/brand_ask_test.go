package tools

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/wallet"
)

// brand.ask refuses before anything is asked or paid: bad arguments, a
// run without a wallet grant, a run without brands. (Paying a trusted
// brand on anvil is TestBrandAnvilAcceptance in cmd/sov.)
func TestBrandAskRefusals(t *testing.T) {
	brands := func(context.Context) (brand.Directory, error) { return brand.Directory{}, nil }
	for _, c := range []struct {
		name string
		env  *Env
		args string
		want error
	}{
		{"no max", &Env{Wallet: &wallet.Grant{}, Brands: brands}, `{"brand":"Acme","question":"q","max_price":"free"}`, ErrBadArguments},
		{"zero max", &Env{Wallet: &wallet.Grant{}, Brands: brands}, `{"brand":"Acme","question":"q","max_price":"0"}`, ErrBadArguments},
		{"blank question", &Env{Wallet: &wallet.Grant{}, Brands: brands}, `{"brand":"Acme","question":"  ","max_price":"0.1"}`, ErrBadArguments},
		{"unknown field", &Env{Wallet: &wallet.Grant{}, Brands: brands}, `{"brand":"Acme","question":"q","max_price":"0.1","payTo":"0x1"}`, ErrBadArguments},
		{"no grant", &Env{Brands: brands}, `{"brand":"Acme","question":"q","max_price":"0.1"}`, ErrUnavailable},
		{"no brands", &Env{Wallet: &wallet.Grant{}}, `{"brand":"Acme","question":"q","max_price":"0.1"}`, ErrUnavailable},
		{"untrusted", &Env{Wallet: &wallet.Grant{}, Brands: brands}, `{"brand":"Acme","question":"q","max_price":"0.1"}`, brand.ErrUnknownBrand},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := BrandAsk{}.Run(context.Background(), c.env, json.RawMessage(c.args))
			if !errors.Is(err, c.want) {
				t.Fatalf("Run: %v, want %v", err, c.want)
			}
			if _, err := (BrandAsk{}).Plan(context.Background(), c.env, json.RawMessage(c.args)); !errors.Is(err, c.want) {
				t.Fatalf("Plan: %v, want %v", err, c.want)
			}
		})
	}
}

// The plan a person approves comes from the trusted announcement (name,
// key, endpoint, price) and the pinned maximum; the model's question is
// shown cleaned of terminal controls.
func TestBrandAskPlan(t *testing.T) {
	d := brand.Directory{Trusted: []brand.Announcement{{Name: "Acme", Npub: "npub1acme", Endpoint: "http://127.0.0.1:8402", Prices: map[string]string{brand.ToolAsk: "0.01"}}}}
	env := &Env{Wallet: &wallet.Grant{}, Brands: func(context.Context) (brand.Directory, error) { return d, nil }}
	plan, err := BrandAsk{}.Plan(context.Background(), env, json.RawMessage(`{"brand":"acme","question":"weight?\u001b[2J","max_price":"0.05"}`))
	want := `pay brand Acme (npub1acme, http://127.0.0.1:8402) at most 0.05 for an answer (announced price 0.01): "weight?"`
	if err != nil || plan != want {
		t.Fatalf("plan %q, %v\nwant %q", plan, err, want)
	}
}
