package brand

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/feeds/nostr"
)

func testProfile() *Profile {
	return &Profile{Name: "Acme", Description: "Acme's answers", Collection: "acme", Model: "stories260K",
		Prices: map[string]string{ToolAsk: "0.01"},
		Pay: []Pay{{Network: "eip155:31337", PayTo: "0x00000000000000000000000000000000000000F2",
			Asset: "0x5FbDB2315678afecb367f032d93F642f64180aa3", Decimals: 6, TokenName: "USD Coin", TokenVersion: "2"}}}
}

func TestProfileValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Profile)
		field string
	}{
		{"ok", func(*Profile) {}, ""},
		{"no name", func(p *Profile) { p.Name = " " }, "name"},
		{"no pay", func(p *Profile) { p.Pay = nil }, "pay"},
		{"bad network", func(p *Profile) { p.Pay[0].Network = "base" }, "pay[0].network"},
		{"bad payTo", func(p *Profile) { p.Pay[0].PayTo = "0x12" }, "pay[0].pay_to"},
		{"no domain", func(p *Profile) { p.Pay[0].TokenName = "" }, "pay[0].token_name"},
		{"no ask price", func(p *Profile) { p.Prices = map[string]string{"brand.other": "1"} }, "prices"},
		{"zero price", func(p *Profile) { p.Prices[ToolAsk] = "0" }, "prices.brand.ask"},
		{"too precise", func(p *Profile) { p.Prices[ToolAsk] = "0.0000001" }, "prices.brand.ask"},
		{"bad tool", func(p *Profile) { p.Prices["Bad Tool"] = "1" }, "prices"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testProfile()
			c.edit(p)
			err := p.Validate()
			var pe *ProfileError
			if c.field == "" && err != nil || c.field != "" && (!errors.As(err, &pe) || pe.Field != c.field) {
				t.Fatalf("got %v, want field %q", err, c.field)
			}
		})
	}
}

func TestProfileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "brand", "profile.toml")
	if _, err := LoadProfile(path); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("missing: %v", err)
	}
	if err := SaveProfile(path, testProfile(), false); err != nil {
		t.Fatal(err)
	}
	if err := SaveProfile(path, testProfile(), false); err == nil {
		t.Fatal("replaced a profile without overwrite")
	}
	p, err := LoadProfile(path)
	if err != nil || p.Name != "Acme" || p.Pay[0].Decimals != 6 {
		t.Fatalf("%v %+v", err, p)
	}
	req, err := p.Requirements(ToolAsk, 60)
	if err != nil || len(req) != 1 || req[0].Amount != "10000" || req[0].Extra["name"] != "USD Coin" {
		t.Fatalf("%v %+v", err, req)
	}
	if _, err := p.Requirements("brand.nope", 60); !errors.Is(err, ErrUnknownTool) {
		t.Fatalf("unknown tool: %v", err)
	}
}

func TestSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	req := RequestHash(ToolAsk, map[string]any{"question": "what?"})
	if req == RequestHash(ToolAsk, map[string]any{"question": "what? "}) {
		t.Fatal("request hash ignores the question")
	}
	a, err := Sign(priv, Statement{Request: req, Answer: "42", Model: strings.Repeat("a", 64), Transaction: "0x01"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*Answer)
		key  ed25519.PublicKey
		req  string
		ok   bool
	}{
		{"good", func(*Answer) {}, pub, req, true},
		{"answer changed", func(a *Answer) { a.Answer = "43" }, pub, req, false},
		{"transaction changed", func(a *Answer) { a.Transaction = "0x02" }, pub, req, false},
		{"model changed", func(a *Answer) { a.Model = strings.Repeat("b", 64) }, pub, req, false},
		{"other key", func(*Answer) {}, other, req, false},
		{"other request", func(*Answer) {}, pub, RequestHash(ToolAsk, map[string]any{"question": "who?"}), false},
		{"garbage signature", func(a *Answer) { a.Signature = "!!" }, pub, req, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := a
			c.edit(&b)
			err := b.Verify(c.key, c.req)
			if c.ok != (err == nil) || err != nil && !errors.Is(err, ErrUnverified) {
				t.Fatalf("verify: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestDiscoverTrustedOnly(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	mk := func(name string, at time.Time) (*nostr.SecretKey, *nostr.Event) {
		sk, _ := nostr.GenerateKey()
		p := testProfile()
		p.Name = name
		a, err := NewAnnouncement(p, "http://127.0.0.1:8402", pub)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := a.Event(sk, at)
		if err != nil {
			t.Fatal(err)
		}
		return sk, ev
	}
	now := time.Unix(1_700_000_000, 0)
	skA, evA := mk("Acme", now)
	_, evB := mk("Evil", now)
	// a newer announcement of A, and a forged newest one under A's key
	p := testProfile()
	p.Name, p.Prices[ToolAsk] = "Acme", "0.02"
	a2, _ := NewAnnouncement(p, "http://127.0.0.1:8403", pub)
	evA2, _ := a2.Event(skA, now.Add(time.Minute))
	forged := *evA2
	forged.CreatedAt += 60
	forged.Content = strings.Replace(forged.Content, "8403", "9999", 1)
	lines := string(evA.Marshal()) + "\n" + string(evB.Marshal()) + "\n" + string(evA2.Marshal()) + "\n" + string(forged.Marshal()) + "\nnot json\n"
	trusted := nostr.Npub(skA.PublicKey())
	d, err := Discover(strings.NewReader(lines), func(n string) bool { return n == trusted })
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Trusted) != 1 || d.Untrusted != 1 || d.Invalid != 1 {
		t.Fatalf("directory %+v", d)
	}
	got, err := d.Find("acme")
	if err != nil || got.Endpoint != "http://127.0.0.1:8403" || got.Prices[ToolAsk] != "0.02" || got.Npub != trusted {
		t.Fatalf("find: %v %+v", err, got)
	}
	if _, err := d.Find("Evil"); !errors.Is(err, ErrUnknownBrand) {
		t.Fatalf("untrusted brand found: %v", err)
	}
}
