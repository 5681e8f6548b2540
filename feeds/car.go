package feeds

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	mh "github.com/multiformats/go-multihash"

	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/config"
)

// A manifest ties content-addressed events to their signatures: each event
// block holds only the canonical serialization (so its CID digest is the
// event id), and the signature, which is not part of that serialization,
// travels in the manifest. The manifest is itself a raw block.
type manifest struct {
	Format string          `json:"sov_feed"`
	Events []manifestEntry `json:"events"`
	// Parts are further manifests (CIDs) holding more events, so no
	// manifest block grows past the block size cap. Only the root has parts.
	Parts []string `json:"parts,omitempty"`
}

// manifestChunk is how many events one manifest block lists (~250 bytes
// each, well under the block cap).
const manifestChunk = 2000

type manifestEntry struct {
	CID  string `json:"cid"`
	Sig  string `json:"sig"`
	Body string `json:"body,omitempty"`
}

const manifestFormat = "v1"

// maxBlockSize caps one block read from a CAR or gateway.
const maxBlockSize = nostr.MaxEventSize + 64<<10

// Manifest builds the manifest blocks for evs, stores them and returns
// the root with every block it references.
func (s *Store) Manifest(ctx context.Context, evs []*nostr.Event) (cid.Cid, []blocks.Block, error) {
	var blks []blocks.Block
	var chunks [][]manifestEntry
	for i, ev := range evs {
		c, err := EventCID(ev.ID)
		if err != nil {
			return cid.Undef, nil, err
		}
		b, err := blocks.NewBlockWithCid(ev.Serialize(), c)
		if err != nil {
			return cid.Undef, nil, err
		}
		e := manifestEntry{CID: c.String(), Sig: ev.Sig}
		blks = append(blks, b)
		if ev.Kind == nostr.KindArticle && ev.Content != "" {
			bc := RawCID([]byte(ev.Content))
			bb, _ := blocks.NewBlockWithCid([]byte(ev.Content), bc)
			blks = append(blks, bb)
			e.Body = bc.String()
		}
		if i%manifestChunk == 0 {
			chunks = append(chunks, nil)
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], e)
	}
	if len(chunks) == 0 {
		chunks = [][]manifestEntry{{}}
	}
	root := manifest{Format: manifestFormat, Events: chunks[0]}
	var mblks []blocks.Block
	for _, ch := range chunks[1:] {
		data, err := json.Marshal(manifest{Format: manifestFormat, Events: ch})
		if err != nil {
			return cid.Undef, nil, err
		}
		c := RawCID(data)
		b, _ := blocks.NewBlockWithCid(data, c)
		mblks = append(mblks, b)
		root.Parts = append(root.Parts, c.String())
	}
	data, err := json.Marshal(root)
	if err != nil {
		return cid.Undef, nil, err
	}
	rc := RawCID(data)
	rb, _ := blocks.NewBlockWithCid(data, rc)
	blks = append(append([]blocks.Block{rb}, mblks...), blks...)
	if err := s.blocks.PutMany(ctx, blks); err != nil {
		return cid.Undef, nil, fmt.Errorf("store manifest: %w", err)
	}
	return rc, blks, nil
}

// ExportCAR writes evs (all stored signed events when nil) as a CARv1 whose
// single root is the manifest.
func (s *Store) ExportCAR(ctx context.Context, w io.Writer, evs []*nostr.Event) (cid.Cid, int, error) {
	if evs == nil {
		var err error
		if evs, err = s.Events(); err != nil {
			return cid.Undef, 0, err
		}
	}
	root, blks, err := s.Manifest(ctx, evs)
	if err != nil {
		return cid.Undef, 0, err
	}
	cw, err := carstorage.NewWritable(w, []cid.Cid{root}, carv2.WriteAsCarV1(true))
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("write CAR: %w", err)
	}
	for _, b := range blks {
		if err := cw.Put(ctx, b.Cid().KeyString(), b.RawData()); err != nil {
			return cid.Undef, 0, fmt.Errorf("write CAR: %w", err)
		}
	}
	if err := cw.Finalize(); err != nil {
		return cid.Undef, 0, fmt.Errorf("write CAR: %w", err)
	}
	return root, len(evs), nil
}

// checkBlock re-hashes a block against its CID. Only sha2-256 CIDs are
// accepted: an identity-hash CID would "verify" any bytes.
func checkBlock(c cid.Cid, data []byte) error {
	if c.Prefix().MhType != mh.SHA2_256 {
		return fmt.Errorf("block %s: only sha2-256 CIDs are accepted", c)
	}
	got, err := c.Prefix().Sum(data)
	if err != nil || !got.Equals(c) {
		return fmt.Errorf("block %s: bytes do not match the CID", c)
	}
	return nil
}

// ImportCAR verifies every block of a CAR against its CID, then every
// event of its manifest(s) like any other source.
func (s *Store) ImportCAR(ctx context.Context, source string, r io.Reader) (Counts, error) {
	in, err := s.NewIngester(source)
	if err != nil {
		return Counts{}, err
	}
	return s.importCAR(ctx, in, r)
}

func (s *Store) importCAR(ctx context.Context, in *Ingester, r io.Reader) (Counts, error) {
	var c Counts
	// Hashes are checked below, per block, so a bad block is counted
	// rather than aborting the whole file.
	br, err := carv2.NewBlockReader(r, carv2.WithTrustedCAR(true), carv2.MaxAllowedSectionSize(maxBlockSize))
	if err != nil {
		return c, fmt.Errorf("not a readable CAR file: %v", err)
	}
	got := map[cid.Cid][]byte{}
	bad := map[cid.Cid]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return c, fmt.Errorf("CAR file is corrupt after %d blocks: %v", len(got), err)
		}
		if err := checkBlock(b.Cid(), b.RawData()); err != nil {
			bad[b.Cid()] = true
			continue
		}
		got[b.Cid()] = b.RawData()
	}
	if len(br.Roots) == 0 {
		return c, fmt.Errorf("CAR has no root: %w", ErrNoManifest)
	}
	var evs []Canonical
	for _, root := range br.Roots {
		if bad[root] {
			c.Seen++
			c.reject(RejectBadBlock, "manifest "+root.String())
			continue
		}
		data, ok := got[root]
		if !ok {
			return c, fmt.Errorf("CAR root %s is missing from the file", root)
		}
		es, pre, err := eventsFromManifest(data, func(k cid.Cid) ([]byte, error) {
			if bad[k] {
				return nil, errBadBlock
			}
			if d, ok := got[k]; ok {
				return d, nil
			}
			return nil, fmt.Errorf("block %s missing", k)
		})
		if err != nil {
			return c, err
		}
		c.Add(pre)
		evs = append(evs, es...)
	}
	ic, err := in.IngestCanonical(ctx, evs)
	c.Add(ic)
	return c, err
}

var errBadBlock = errors.New("block hash mismatch")

func parseManifest(data []byte) (manifest, error) {
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil || m.Format != manifestFormat {
		return m, fmt.Errorf("%w: the block is no feed manifest", ErrNoManifest)
	}
	return m, nil
}

// manifestEntries reads a root manifest and its parts.
func manifestEntries(data []byte, get func(cid.Cid) ([]byte, error)) ([]manifestEntry, Counts, error) {
	var c Counts
	m, err := parseManifest(data)
	if err != nil {
		return nil, c, err
	}
	entries := m.Events
	for _, p := range m.Parts {
		k, err := cid.Decode(p)
		if err != nil {
			return nil, c, fmt.Errorf("manifest part %q is not a CID", p)
		}
		pd, err := get(k)
		if err != nil {
			if errors.Is(err, errBadBlock) || errors.Is(err, blocks.ErrWrongHash) {
				c.Seen++
				c.reject(RejectBadBlock, "manifest part "+p)
				continue
			}
			return nil, c, fmt.Errorf("manifest part %s: %w", p, err)
		}
		pm, err := parseManifest(pd)
		if err != nil || len(pm.Parts) > 0 {
			return nil, c, fmt.Errorf("manifest part %s is not a leaf manifest", p)
		}
		entries = append(entries, pm.Events...)
	}
	return entries, c, nil
}

// eventsFromManifest rebuilds signed events from a manifest and a block
// getter. Blocks that fail are counted, not fatal.
func eventsFromManifest(data []byte, get func(cid.Cid) ([]byte, error)) ([]Canonical, Counts, error) {
	entries, c, err := manifestEntries(data, get)
	if err != nil {
		return nil, c, err
	}
	evs, ec := eventsFromEntries(entries, get)
	c.Add(ec)
	return evs, c, nil
}

func eventsFromEntries(entries []manifestEntry, get func(cid.Cid) ([]byte, error)) ([]Canonical, Counts) {
	var c Counts
	var out []Canonical
	for _, e := range entries {
		c.Seen++
		k, err := cid.Decode(e.CID)
		if err != nil || k.Prefix().Codec != cid.Raw || k.Prefix().MhType != mh.SHA2_256 {
			c.reject(RejectMalformed, "manifest entry with a bad CID")
			continue
		}
		raw, err := get(k)
		if err != nil {
			if errors.Is(err, errBadBlock) || errors.Is(err, blocks.ErrWrongHash) {
				c.reject(RejectBadBlock, k.String())
			} else {
				c.reject(RejectMalformed, err.Error())
			}
			continue
		}
		dm, _ := mh.Decode(k.Hash())
		out = append(out, Canonical{Raw: raw, ID: hex.EncodeToString(dm.Digest), Sig: e.Sig})
	}
	c.Seen -= len(out) // the ingester counts these
	return out, c
}

// ServeInfo describes a running server.
type ServeInfo struct {
	Addr     string
	Manifest cid.Cid
	Events   int
}

// Exposed reports whether the server is reachable from other machines:
// any address that is not loopback (0.0.0.0, ::, a LAN address).
func (si ServeInfo) Exposed() bool {
	host, _, err := net.SplitHostPort(si.Addr)
	if err != nil {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip == nil || !ip.IsLoopback()
}

// Serve exposes the block store as a trustless gateway under /ipfs/, the
// signed events as JSON Lines under /events.jsonl, and the current
// manifest CID under /manifest. It returns when ctx ends.
func (s *Store) Serve(ctx context.Context, addr string, ready func(ServeInfo)) error {
	evs, err := s.Events()
	if err != nil {
		return err
	}
	root, _, err := s.Manifest(ctx, evs)
	if err != nil {
		return err
	}
	return s.serve(ctx, addr, evs, root, ready)
}

// ServeDir is Serve on the store in dir (see With). The manifest is
// stored first with the database open for writing; serving then holds it
// read-only, so ls, show and news work while it runs (sync and publish
// still wait for it to stop).
func ServeDir(ctx context.Context, dir string, f *config.File, addr string, ready func(ServeInfo)) error {
	var evs []*nostr.Event
	var root cid.Cid
	err := With(dir, f, false, func(s *Store) (err error) {
		if evs, err = s.Events(); err != nil {
			return err
		}
		root, _, err = s.Manifest(ctx, evs)
		return err
	})
	if err != nil {
		return err
	}
	return With(dir, f, true, func(s *Store) error { return s.serve(ctx, addr, evs, root, ready) })
}

func (s *Store) serve(ctx context.Context, addr string, evs []*nostr.Event, root cid.Cid, ready func(ServeInfo)) error {
	gw, err := s.GatewayHandler()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/ipfs/", gw)
	mux.HandleFunc("/events.jsonl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for _, ev := range evs {
			w.Write(ev.Marshal())
			w.Write([]byte{'\n'})
		}
	})
	mux.HandleFunc("/manifest", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, root.String())
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &ListenError{Addr: addr, Err: err}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(ServeInfo{Addr: ln.Addr().String(), Manifest: root, Events: len(evs)})
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		return err
	}
}

// limitTransport fails responses larger than maxBlockSize so a hostile
// gateway cannot exhaust memory (boxo's client reads bodies whole).
type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{r: resp.Body, n: maxBlockSize + 1}
	return resp, nil
}

// fetchGateway fetches a manifest and its event blocks as raw blocks from
// trustless gateways; every block is re-hashed against its CID.
func (s *Store) fetchGateway(ctx context.Context, in *Ingester, root cid.Cid, gws []string, opt FetchOptions) (Counts, error) {
	base := opt.client()
	hc := &http.Client{Timeout: base.Timeout, Transport: limitTransport{base: transportOf(base)}}
	var trimmed []string
	for _, g := range gws {
		trimmed = append(trimmed, strings.TrimRight(g, "/"))
	}
	fetch, err := newRemoteFetcher(trimmed, hc)
	if err != nil {
		return Counts{}, fmt.Errorf("gateway client: %w", err)
	}
	get := func(k cid.Cid) ([]byte, error) {
		data, err := fetch(ctx, k)
		if err != nil {
			return nil, err
		}
		if err := checkBlock(k, data); err != nil {
			return nil, errBadBlock
		}
		return data, nil
	}
	mdata, err := get(root)
	if err != nil {
		if errors.Is(err, errBadBlock) || errors.Is(err, blocks.ErrWrongHash) {
			return Counts{Seen: 1, Rejected: map[Reason]int{RejectBadBlock: 1}}, fmt.Errorf("gateway returned wrong bytes for the manifest %s: try another gateway", root)
		}
		return Counts{}, fmt.Errorf("fetch manifest %s: %w", root, err)
	}
	entries, c, err := manifestEntries(mdata, get)
	if err != nil {
		return c, err
	}
	// Fetch event blocks concurrently, then rebuild events in order.
	type res struct {
		data []byte
		err  error
	}
	fetched := make(map[string]res, len(entries))
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, e := range entries {
		k, err := cid.Decode(e.CID)
		if err != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, err := get(k)
			mu.Lock()
			fetched[k.String()] = res{d, err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	evs, ec := eventsFromEntries(entries, func(k cid.Cid) ([]byte, error) {
		r, ok := fetched[k.String()]
		if !ok {
			return nil, fmt.Errorf("block %s not fetched", k)
		}
		return r.data, r.err
	})
	c.Add(ec)
	ic, err := in.IngestCanonical(ctx, evs)
	c.Add(ic)
	return c, err
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}
