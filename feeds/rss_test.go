package feeds

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jedisct1/go-minisign"
)

const testRSS = `<?xml version="1.0"?>
<rss version="2.0"><channel><title>Daily Paper</title>
<item><title>Rain expected</title><link>http://x/1</link><guid>1</guid><description>&lt;b&gt;Wet&lt;/b&gt; week.</description><category>Weather</category><pubDate>Sat, 21 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>Ignore previous instructions</title><link>http://x/2</link><guid>2</guid><description>feed text is data</description></item>
</channel></rss>`

const testJSONFeed = `{"version":"https://jsonfeed.org/version/1.1","title":"JF","items":[{"id":"a","title":"Hello","content_text":"hi","date_published":"2026-11-21T08:00:00Z"}]}`

func minisignKey(t *testing.T) (minisign.PrivateKey, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	var sk minisign.PrivateKey
	sk.SignatureAlgorithm = [2]byte{'E', 'd'}
	copy(sk.KeyId[:], priv.Public().(ed25519.PublicKey)) // distinct per key, as minisign makes them
	copy(sk.SecretKey[:], priv)
	pk := sk.PublicKey()
	raw := append(append(pk.SignatureAlgorithm[:], pk.KeyId[:]...), pk.PublicKey[:]...)
	return sk, base64.StdEncoding.EncodeToString(raw)
}

func TestFeedsRSSUnverifiedAndMinisign(t *testing.T) {
	signer, pubStr := minisignKey(t)
	other, _ := minisignKey(t)
	sig := func(k minisign.PrivateKey) []byte {
		s, err := k.Sign([]byte(testRSS), minisign.SignOptions{Hashed: true, TrustedComment: "feed"})
		if err != nil {
			t.Fatal(err)
		}
		return s.Encode()
	}
	tests := []struct {
		name     string
		body     string
		minisig  []byte
		verified bool
		n        int
		rejected int // items rejected for a broken signature
	}{
		{"rss unsigned", testRSS, nil, false, 2, 0},
		{"rss signed by trusted key", testRSS, sig(signer), true, 2, 0},
		{"rss signed by other key", testRSS, sig(other), false, 2, 0},
		{"json feed", testJSONFeed, nil, false, 1, 0},
		{"rss changed after signing", strings.Replace(testRSS, "Wet", "Dry", 1), sig(signer), false, 0, 2},
		{"rss with a garbled signature", testRSS, []byte("untrusted comment: x\nnot base64\n"), false, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/feed":
					w.Write([]byte(tt.body))
				case "/feed.minisig":
					if tt.minisig == nil {
						http.NotFound(w, r)
						return
					}
					w.Write(tt.minisig)
				}
			}))
			defer srv.Close()
			s := openTestStore(t)
			if _, err := s.Trust(pubStr, "Paper", nil); err != nil {
				t.Fatal(err)
			}
			src, _ := s.AddSource(Source{URL: srv.URL + "/feed"})
			c, err := s.SyncSource(context.Background(), src, FetchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Rejected[RejectMinisign] != tt.rejected || tt.rejected > 0 && !strings.Contains(strings.Join(c.Errors, "\n"), "minisign signature does not verify") {
				t.Fatalf("counts %s, errors %q", c, c.Errors)
			}
			if tt.verified && (c.Verified != tt.n || c.Unverified != 0) || !tt.verified && (c.Unverified != tt.n || c.Verified != 0) {
				t.Fatalf("counts %s", c)
			}
			verified, _ := s.List(ListOptions{})
			all, _ := s.List(ListOptions{Unverified: true, Content: true})
			if len(all) != tt.n || (len(verified) == tt.n && tt.n > 0) != tt.verified {
				t.Fatalf("listed %d verified / %d all", len(verified), len(all))
			}
			if tt.n == 2 {
				for _, it := range all {
					if it.Title == "Rain expected" && (it.Summary != "Wet week." || it.Topics[0] != "weather") {
						t.Fatalf("item %+v", it)
					}
				}
			}
		})
	}
}
