package feeds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/jedisct1/go-minisign"
	"github.com/mmcdole/gofeed"
	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/feeds/nostr"
)

// Source types.
const (
	SourceRelay = "relay"
	SourceHTTP  = "http" // events file (JSON array / JSON Lines) or RSS/Atom/JSON Feed
	SourceIPFS  = "ipfs"
	SourceCAR   = "car"
)

// MaxBodySize caps one HTTP response (an events file or a feed).
const MaxBodySize = 256 << 20

func classify(src Source) (Source, error) {
	u := strings.TrimSpace(src.URL)
	src.URL = u
	switch {
	case strings.HasPrefix(u, "ws://") || strings.HasPrefix(u, "wss://"):
		if _, err := url.Parse(u); err != nil {
			return src, fmt.Errorf("relay URL %q: %v", u, err)
		}
		src.Type = SourceRelay
	case strings.HasPrefix(u, "ipfs://") || strings.HasPrefix(u, "/ipfs/"):
		c := strings.TrimPrefix(strings.TrimPrefix(u, "ipfs://"), "/ipfs/")
		parsed, err := cid.Decode(c)
		if err != nil {
			return src, fmt.Errorf("%q is %w", c, ErrBadCID)
		}
		src.URL = "ipfs://" + parsed.String()
		src.Type = SourceIPFS
		if len(src.Gateway) == 0 {
			return src, ErrNoGateway
		}
	case strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://"):
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" {
			return src, fmt.Errorf("%q is not a valid URL", u)
		}
		src.Type = SourceHTTP
	default:
		p := strings.TrimPrefix(u, "file://")
		st, err := os.Stat(p)
		if err != nil {
			return src, fmt.Errorf("%q is neither a wss://, ws://, http(s):// or ipfs:// URL nor a readable file", u)
		}
		if st.IsDir() {
			return src, fmt.Errorf("%s is a directory: give a .car or events file", p)
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs // sync may run from another directory
		}
		src.URL = p
		src.Type = SourceCAR
		if !strings.HasSuffix(strings.ToLower(p), ".car") {
			src.Type = "file"
		}
	}
	return src, nil
}

// SyncResult is what one source yielded.
type SyncResult struct {
	Source Source
	Counts Counts
	Err    error
}

// FetchOptions tune network sources.
type FetchOptions struct {
	HTTP    *http.Client  // nil = a client with sane timeouts
	Timeout time.Duration // per source; 0 = 60 s
}

func (o FetchOptions) client() *http.Client {
	if o.HTTP != nil {
		return o.HTTP
	}
	return &http.Client{Timeout: 2 * time.Minute}
}

// Sync fetches every configured source concurrently.
func (s *Store) Sync(ctx context.Context, opt FetchOptions) ([]SyncResult, error) {
	srcs, err := s.Sources()
	if err != nil {
		return nil, err
	}
	if len(srcs) == 0 {
		return nil, ErrNoSources
	}
	res := make([]SyncResult, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.SyncSource(ctx, src, opt)
			res[i] = SyncResult{Source: src, Counts: c, Err: err}
		}()
	}
	wg.Wait()
	return res, ctx.Err()
}

// SyncSource fetches one source and ingests what it yields. Events received
// before a failure (a relay dropping mid-stream) are still verified and
// kept; the error is returned alongside the counts.
func (s *Store) SyncSource(ctx context.Context, src Source, opt FetchOptions) (Counts, error) {
	timeout := opt.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	in, err := s.NewIngester(src.URL)
	if err != nil {
		return Counts{}, err
	}
	switch src.Type {
	case SourceRelay:
		var authors []string
		for k, tk := range in.trust {
			if tk.Type == "nostr" {
				authors = append(authors, k)
			}
		}
		if len(authors) == 0 {
			return Counts{}, ErrNoTrustedKeys
		}
		raws, ferr := FetchRelay(ctx, src.URL, Filter{Authors: authors, Kinds: []int{nostr.KindMetadata, nostr.KindShortNote, nostr.KindDeletion, nostr.KindArticle}})
		c, err := in.IngestRaw(ctx, raws.Events)
		c.Add(raws.Counts)
		return c, errors.Join(ferr, err)
	case SourceIPFS:
		root, _ := cid.Decode(strings.TrimPrefix(src.URL, "ipfs://"))
		return s.fetchGateway(ctx, in, root, src.Gateway, opt)
	case SourceCAR:
		f, err := os.Open(src.URL)
		if err != nil {
			return Counts{}, fmt.Errorf("open CAR: %w", err)
		}
		defer f.Close()
		return s.importCAR(ctx, in, f)
	case "file":
		f, err := os.Open(src.URL)
		if err != nil {
			return Counts{}, fmt.Errorf("open events file: %w", err)
		}
		defer f.Close()
		return s.ingestStream(ctx, in, f)
	case SourceHTTP:
		return s.fetchHTTP(ctx, in, src.URL, opt)
	}
	return Counts{}, fmt.Errorf("source %s has unknown type %q: remove and add it again", src.URL, src.Type)
}

// ingestBatch is how many events one bbolt transaction stores.
const ingestBatch = 2000

// ingestStream verifies an events file (JSON array or JSON Lines) in
// batches without holding the whole file.
func (s *Store) ingestStream(ctx context.Context, in *Ingester, r io.Reader) (Counts, error) {
	var total, pre Counts
	var batch [][]byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		c, err := in.IngestRaw(ctx, batch)
		total.Add(c)
		batch = batch[:0]
		return err
	}
	err := splitEvents(r, func(raw []byte, err error) error {
		if err != nil {
			pre.Seen++
			pre.reject(RejectMalformed, err.Error())
			return nil
		}
		batch = append(batch, raw)
		if len(batch) >= ingestBatch {
			if err := ctx.Err(); err != nil {
				return err
			}
			return flush()
		}
		return nil
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	total.Add(pre)
	return total, err
}

func (s *Store) fetchHTTP(ctx context.Context, in *Ingester, u string, opt FetchOptions) (Counts, error) {
	body, ctype, err := httpGet(ctx, opt.client(), u, MaxBodySize, true)
	if err != nil {
		return Counts{}, err
	}
	defer body.Close()
	br := newPeekReader(body)
	head := br.peek(512)
	if isEventsFile(head, ctype) {
		return s.ingestStream(ctx, in, br)
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return Counts{}, fmt.Errorf("read %s: %w", u, err)
	}
	return s.ingestFeed(ctx, in, u, data, opt)
}

func isEventsFile(head []byte, ctype string) bool {
	t := bytes.TrimSpace(head)
	if len(t) == 0 {
		return true
	}
	if t[0] == '<' {
		return false
	}
	// JSON Feed is an object with a "version" naming jsonfeed.org.
	if t[0] == '{' && bytes.Contains(head, []byte("jsonfeed.org")) {
		return false
	}
	return strings.Contains(ctype, "json") || t[0] == '[' || t[0] == '{'
}

// limitedBody errors instead of silently truncating past the cap.
type limitedBody struct {
	r io.ReadCloser
	n int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("response is larger than %d bytes", MaxBodySize)
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func (l *limitedBody) Close() error { return l.r.Close() }

func httpGet(ctx context.Context, c *http.Client, u string, limit int64, required bool) (io.ReadCloser, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", fmt.Errorf("bad URL %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json, application/x-ndjson, application/rss+xml, application/atom+xml, application/feed+json, */*")
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, "", fmt.Errorf("fetch %s: HTTP %s", u, resp.Status)
	}
	return &limitedBody{r: resp.Body, n: limit + 1}, resp.Header.Get("Content-Type"), nil
}

type peekReader struct {
	r   io.Reader
	buf []byte
}

func newPeekReader(r io.Reader) *peekReader { return &peekReader{r: r} }

func (p *peekReader) peek(n int) []byte {
	b := make([]byte, n)
	m, _ := io.ReadFull(p.r, b)
	p.buf = b[:m]
	return p.buf
}

func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// ingestFeed stores RSS/Atom/JSON Feed items. They are unsigned, so they
// are "unverified" unless url+".minisig" is a minisign signature of the
// exact feed bytes by a trusted minisign key.
func (s *Store) ingestFeed(ctx context.Context, in *Ingester, u string, data []byte, opt FetchOptions) (Counts, error) {
	feed, err := gofeed.NewParser().ParseString(string(data))
	if err != nil {
		return Counts{}, fmt.Errorf("%s is neither an events file nor an RSS/Atom/JSON feed: %v", u, err)
	}
	publisher, verified, signer := feed.Title, false, ""
	if sigBody, _, err := httpGet(ctx, opt.client(), u+".minisig", 64<<10, false); err == nil {
		sigData, _ := io.ReadAll(sigBody)
		sigBody.Close()
		switch key, check := verifyMinisign(data, sigData, in.trust); check {
		case sigOK:
			publisher, verified, signer = in.trust[key].Name, true, key
		case sigBroken: // nothing stored: the items are not what was signed
			c := Counts{Seen: max(len(feed.Items), 1)}
			c.reject(RejectMinisign, u+".minisig")
			c.Rejected[RejectMinisign] = c.Seen
			return c, nil
		}
	}
	var c Counts
	now := s.now().UTC()
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bItems)
		for _, fi := range feed.Items {
			c.Seen++
			it := feedItem(u, fi, publisher, signer, verified, now)
			if b.Get([]byte(it.ID)) != nil {
				c.Duplicate++
				continue
			}
			data, _ := json.Marshal(it)
			if err := b.Put([]byte(it.ID), data); err != nil {
				return err
			}
			c.New++
			if verified {
				c.Verified++
			} else {
				c.Unverified++
			}
		}
		return nil
	})
	return c, err
}

// feedItem is one RSS/Atom/JSON Feed entry from the feed at u as an Item.
// Everything in fi is the publisher's say, so it is only data here: the
// link is kept only as an absolute http(s) URL (a relative one resolved
// against u), never a javascript: or file: one a reader might follow.
func feedItem(u string, fi *gofeed.Item, publisher, signer string, verified bool, now time.Time) Item {
	it := Item{
		Publisher: publisher, Title: fi.Title, Summary: stripTags(fi.Description),
		Content: stripTags(fi.Content), URL: feedLink(u, fi.Link), Source: u, Verified: verified, Kind: -1,
		Topics: normTopics(fi.Categories), PubKey: signer,
	}
	if it.Content == "" {
		it.Content = it.Summary
	}
	switch {
	case fi.PublishedParsed != nil:
		it.Created = fi.PublishedParsed.UTC()
	case fi.UpdatedParsed != nil:
		it.Created = fi.UpdatedParsed.UTC()
	default:
		it.Created = now
	}
	key := fi.GUID
	if key == "" {
		key = fi.Link + "\x00" + fi.Title
	}
	h := sha256.Sum256([]byte(u + "\x00" + key))
	it.ID = hex.EncodeToString(h[:])
	it.CID = RawCID([]byte(it.Content)).String()
	return it
}

// feedLink is link resolved against the feed's URL base, or "" when it is
// not an http(s) URL.
func feedLink(base, link string) string {
	link = strings.TrimSpace(link)
	if link == "" {
		return ""
	}
	l, err := url.Parse(link)
	if err != nil {
		return ""
	}
	if b, err := url.Parse(base); err == nil {
		l = b.ResolveReference(l)
	}
	if (l.Scheme != "http" && l.Scheme != "https") || l.Host == "" {
		return ""
	}
	return l.String()
}

func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

func parseMinisignKey(k string) (minisign.PublicKey, error) {
	pk, err := minisign.NewPublicKey(k)
	if err != nil {
		return pk, fmt.Errorf("%q is not a minisign public key: %v", k, err)
	}
	return pk, nil
}

// minisignCheck is what a feed's .minisig says about the feed's bytes.
type minisignCheck int

const (
	sigNone   minisignCheck = iota // no signature by a trusted key id: unverified
	sigOK                          // verified by a trusted key
	sigBroken                      // unreadable, or a trusted key id over other bytes
)

// verifyMinisign checks sig over data against the trusted minisign keys.
// A signature naming a trusted key id that does not verify is broken, not
// merely unverified: the feed was changed after signing, or forged.
func verifyMinisign(data, sig []byte, trust map[string]TrustedKey) (string, minisignCheck) {
	s, derr := minisign.DecodeSignature(string(sig))
	anyKey, broken := false, false
	for k, tk := range trust {
		if tk.Type != "minisign" {
			continue
		}
		pk, err := parseMinisignKey(k)
		if err != nil {
			continue
		}
		anyKey = true
		if derr != nil || pk.KeyId != s.KeyId {
			continue
		}
		if ok, err := pk.Verify(data, s); err == nil && ok {
			return k, sigOK
		}
		broken = true
	}
	if anyKey && (derr != nil || broken) {
		return "", sigBroken
	}
	return "", sigNone
}
