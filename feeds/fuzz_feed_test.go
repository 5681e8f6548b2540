package feeds

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
)

const testAtom = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://atom.example/blog/"><title>Atom Log</title>
<entry><title>First</title><link href="posts/1"/><id>urn:1</id><updated>2026-11-20T10:00:00Z</updated>
<summary type="html">&lt;p&gt;one&lt;/p&gt;</summary><category term="Go, Feeds"/></entry>
<entry><title>Second
by Reuters · note · 2026-11-21T08:00:00Z · verified (signature checked, key trusted)</title>
<link href="javascript:alert(1)"/><id>urn:2</id><content type="html">two&#x1b;]52;c;cGF5bG9hZA==&#x7;</content></entry>
</feed>`

// FuzzParseFeed: whatever RSS/Atom/JSON Feed bytes a web server sends, the
// parser never panics, and every item it yields is plain data: its link is
// an absolute http(s) URL or nothing, and its rendering is clean terminal
// text whose header lines the item's own fields cannot add to.
func FuzzParseFeed(f *testing.F) {
	for _, s := range []string{
		testRSS, testJSONFeed, testAtom,
		`<rss version="2.0"><channel><item><title>x</title><link>/rel?a=1</link></item><item><link>file:///etc/passwd</link></item></channel></rss>`,
		`<rss><channel><item><title>&#xD;&#x1b;[2J</title><category>, ,A,b</category><pubDate>Mon, 02 Jan 9999 15:04:05 -0700</pubDate></item></channel></rss>`,
		`{"version":"https://jsonfeed.org/version/1","title":"J\nby x","items":[{"id":"1","url":"//host/p","tags":["T"],"content_html":"<b>hi</b>","date_modified":"0001-01-01T00:00:00Z"},{}]}`,
		`<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaa">]><rss><channel><item><title>&a;&a;</title></item></channel></rss>`,
		`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><item><title>rdf</title><link>http://h/</link></item></rdf:RDF>`,
	} {
		f.Add([]byte(s))
	}
	const src = "https://feeds.example/news/feed.xml"
	f.Fuzz(func(t *testing.T, data []byte) {
		feed, err := gofeed.NewParser().ParseString(string(data))
		if err != nil {
			return
		}
		for _, fi := range feed.Items {
			if fi == nil {
				continue
			}
			it := feedItem(src, fi, feed.Title, "", false, testNow)
			checkFeedItem(t, it)
		}
	})
}

func checkFeedItem(t *testing.T, it Item) {
	t.Helper()
	if it.URL != "" {
		u, err := url.Parse(it.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("link %q is kept but is not an absolute http(s) URL (%v)", it.URL, err)
		}
	}
	if b, err := hex.DecodeString(it.ID); err != nil || len(b) != 32 {
		t.Fatalf("id %q is not a sha256", it.ID)
	}
	for _, tp := range it.Topics {
		if tp == "" || tp != strings.ToLower(strings.TrimSpace(tp)) || strings.Contains(tp, ",") {
			t.Fatalf("topic %q is not normalised", tp)
		}
	}
	if _, err := json.Marshal(it); err != nil {
		t.Fatalf("item does not marshal: %v", err)
	}
	var buf bytes.Buffer
	it.Render(&buf)
	out := buf.String()
	if !utf8.ValidString(out) {
		t.Fatalf("rendering is not UTF-8: %q", out)
	}
	for _, r := range out {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			t.Fatalf("rendering carries control character %U: %q", r, out)
		}
	}
	// The header has a fixed shape: title, "by …", id, cid, the optional
	// lines, then a blank line before the text.
	n := 4
	for _, opt := range []bool{it.BodyCID != "", it.PubKey != "", it.URL != "", len(it.Topics) > 0} {
		if opt {
			n++
		}
	}
	lines := strings.Split(out, "\n")
	if len(lines) <= n || !strings.HasPrefix(lines[1], "by ") || !strings.HasPrefix(lines[2], "id:  ") || lines[n] != "" {
		t.Fatalf("an item's fields changed the rendered header:\n%s", out)
	}
	if !it.Verified && !strings.HasSuffix(lines[1], " · UNVERIFIED") {
		t.Fatalf("an unverified item does not say so at the end of its by-line:\n%s", out)
	}
}

func TestFeedLink(t *testing.T) {
	const base = "https://feeds.example/news/feed.xml"
	tests := []struct{ link, want string }{
		{"https://a.example/x?y=1", "https://a.example/x?y=1"},
		{"  http://a.example/ ", "http://a.example/"},
		{"/post/1", "https://feeds.example/post/1"},
		{"post/1", "https://feeds.example/news/post/1"},
		{"//cdn.example/p", "https://cdn.example/p"},
		{"javascript:alert(1)", ""},
		{"file:///etc/passwd", ""},
		{"http://[::1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := feedLink(base, tt.link); got != tt.want {
			t.Errorf("feedLink(%q) = %q, want %q", tt.link, got, tt.want)
		}
	}
}
