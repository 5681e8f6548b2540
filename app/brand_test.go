package app

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/sovos/sov/brand"
)

// TestBrandInit: the network must carry USDC; the profile is written with
// its price and token; a second init needs force.
func TestBrandInit(t *testing.T) {
	a, _ := newApp(t, map[string]string{})
	prof := func(name string) *brand.Profile {
		return &brand.Profile{Name: name, Endpoint: "http://127.0.0.1:8402",
			Pay: []brand.Pay{{Decimals: 6, PayTo: "0x00000000000000000000000000000000000000B7", TokenName: "USD Coin", TokenVersion: "2"}}}
	}
	if err := a.BrandInit(prof("A"), "nope", "0.01", false); !errors.Is(err, ErrNoUSDCNetwork) {
		t.Fatalf("unknown network: %v", err)
	}
	if err := a.BrandInit(prof("A"), "base", "0.01", false); err != nil {
		t.Fatal(err)
	}
	p, err := brand.LoadProfile(a.BrandProfilePath())
	if err != nil || p.Name != "A" || p.Prices[brand.ToolAsk] != "0.01" || p.Pay[0].Network == "" || p.Pay[0].Asset == "" {
		t.Fatalf("saved %+v %v", p, err)
	}
	if err := a.BrandInit(prof("B"), "base", "0.01", false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second init: %v", err)
	}
	if err := a.BrandInit(prof("B"), "base", "0.01", true); err != nil {
		t.Fatalf("forced: %v", err)
	}
}
