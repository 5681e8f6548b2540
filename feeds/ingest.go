package feeds

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/feeds/nostr"
)

// Reason is why an event was not stored.
type Reason string

// Rejection reasons, as printed by sync and import.
const (
	RejectBadSignature Reason = "bad signature"
	RejectIDMismatch   Reason = "id mismatch"
	RejectUntrusted    Reason = "untrusted key"
	RejectMalformed    Reason = "malformed"
	RejectFuture       Reason = "too far in the future"
	RejectBadBlock     Reason = "block hash mismatch"
	// RejectMinisign: a feed's .minisig names a trusted key but does not
	// verify over the feed's bytes.
	RejectMinisign Reason = "minisign signature does not verify"
)

// AllReasons in print order.
var AllReasons = []Reason{RejectBadSignature, RejectIDMismatch, RejectUntrusted, RejectMalformed, RejectFuture, RejectBadBlock, RejectMinisign}

// Counts summarise one ingest (one source of a sync, or an import).
type Counts struct {
	Seen int `json:"seen"`
	New  int `json:"new"` // newly stored
	// Verified counts events whose id and signature checked out against a
	// trusted key, whether or not they were already stored.
	Verified int `json:"verified"`
	// Updated counts replaceable events (same kind, key and d tag) that
	// replaced an older stored version; Stale counts those older than or
	// equal to (NIP-01: lower id wins a tie) the stored one, kept out.
	Updated    int            `json:"updated,omitempty"`
	Stale      int            `json:"stale,omitempty"`
	Duplicate  int            `json:"duplicate"`
	Unverified int            `json:"unverified"`
	Rejected   map[Reason]int `json:"rejected,omitempty"`
	// Ignored counts valid events of kinds that are not news, by kind.
	Ignored map[int]int `json:"ignored,omitempty"`
	// Deleted counts stored events removed by their author's deletion;
	// Withdrawn counts copies of events their author had already deleted,
	// kept out. Neither is a rejection: a relay that still serves a deleted
	// event is not sending anything wrong.
	Deleted   int `json:"deleted,omitempty"`
	Withdrawn int `json:"withdrawn,omitempty"`
	// Errors holds the first few rejection details for the user.
	Errors []string `json:"errors,omitempty"`
}

func (c *Counts) reject(r Reason, detail string) {
	if c.Rejected == nil {
		c.Rejected = map[Reason]int{}
	}
	c.Rejected[r]++
	if len(c.Errors) < 5 && detail != "" {
		c.Errors = append(c.Errors, string(r)+": "+detail)
	}
}

func (c *Counts) ignore(kind int) {
	if c.Ignored == nil {
		c.Ignored = map[int]int{}
	}
	c.Ignored[kind]++
}

// addCounts adds src's counts to *dst, making *dst only when there is
// something to add (an empty count stays out of the JSON).
func addCounts[K comparable](dst *map[K]int, src map[K]int) {
	for k, n := range src {
		if *dst == nil {
			*dst = map[K]int{}
		}
		(*dst)[k] += n
	}
}

// Add merges o into c.
func (c *Counts) Add(o Counts) {
	c.Seen += o.Seen
	c.Deleted += o.Deleted
	c.Withdrawn += o.Withdrawn
	addCounts(&c.Ignored, o.Ignored)
	c.New += o.New
	c.Updated += o.Updated
	c.Stale += o.Stale
	c.Verified += o.Verified
	c.Duplicate += o.Duplicate
	c.Unverified += o.Unverified
	addCounts(&c.Rejected, o.Rejected)
	for _, e := range o.Errors {
		if len(c.Errors) < 5 {
			c.Errors = append(c.Errors, e)
		}
	}
}

// RejectedTotal is the number of rejected events.
func (c Counts) RejectedTotal() int {
	n := 0
	for _, v := range c.Rejected {
		n += v
	}
	return n
}

// String is a one-line summary: "new 3, verified 3, rejected 1 (id mismatch 1), unverified 0".
func (c Counts) String() string {
	var rs []string
	for _, r := range AllReasons {
		if n := c.Rejected[r]; n > 0 {
			rs = append(rs, fmt.Sprintf("%s %d", r, n))
		}
	}
	s := fmt.Sprintf("new %d, verified %d, rejected %d", c.New, c.Verified, c.RejectedTotal())
	if len(rs) > 0 {
		s += " (" + strings.Join(rs, ", ") + ")"
	}
	s += fmt.Sprintf(", unverified %d", c.Unverified)
	if c.Updated > 0 {
		s += fmt.Sprintf(", updated %d", c.Updated)
	}
	if c.Stale > 0 {
		s += fmt.Sprintf(", stale %d (older than the stored version)", c.Stale)
	}
	if c.Duplicate > 0 {
		s += fmt.Sprintf(", already stored %d", c.Duplicate)
	}
	if c.Deleted > 0 {
		s += fmt.Sprintf(", deleted %d", c.Deleted)
	}
	if c.Withdrawn > 0 {
		s += fmt.Sprintf(", withdrawn %d (deleted by their author)", c.Withdrawn)
	}
	kinds := make([]int, 0, len(c.Ignored))
	for k := range c.Ignored {
		kinds = append(kinds, k)
	}
	sort.Ints(kinds)
	for _, k := range kinds {
		s += fmt.Sprintf(", ignored (kind %d) %d", k, c.Ignored[k])
	}
	return s
}

// RawCID is the CIDv1 (raw codec, sha2-256) of data.
func RawCID(data []byte) cid.Cid {
	c, _ := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum(data)
	return c
}

// EventCID is the CID of an event's canonical serialization; its digest is
// the event id itself, so no hashing is needed.
func EventCID(id string) (cid.Cid, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 32 {
		return cid.Undef, fmt.Errorf("event id %q is not 32 bytes of hex", id)
	}
	m, err := mh.Encode(raw, mh.SHA2_256)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, m), nil
}

// checked is one event after the parallel (CPU) stage.
type checked struct {
	ev     *nostr.Event
	reason Reason
	detail string
}

// Ingester verifies and stores events in batches. Parsing and signature
// checks run on all cores; storage is one bbolt transaction per batch.
type Ingester struct {
	s       *Store
	source  string
	trust   map[string]TrustedKey
	workers int
}

// NewIngester snapshots the trust store for one run from source.
func (s *Store) NewIngester(source string) (*Ingester, error) {
	trust, err := s.trusted()
	if err != nil {
		return nil, err
	}
	return &Ingester{s: s, source: source, trust: trust, workers: runtime.GOMAXPROCS(0)}, nil
}

func (in *Ingester) check(raw []byte, now time.Time) checked {
	ev, err := nostr.Parse(raw)
	if err != nil {
		return checked{reason: RejectMalformed, detail: err.Error()}
	}
	return in.checkEvent(ev, now)
}

func (in *Ingester) checkEvent(ev *nostr.Event, now time.Time) checked {
	short := ev.ID
	if len(short) > 12 {
		short = short[:12]
	}
	id := ev.ComputeID()
	var claimed [32]byte
	if _, err := hex.Decode(claimed[:], []byte(ev.ID)); err != nil || claimed != id {
		return checked{ev: ev, reason: RejectIDMismatch, detail: short}
	}
	tk, ok := in.trust[ev.PubKey]
	if !ok || tk.Type != "nostr" {
		return checked{ev: ev, reason: RejectUntrusted, detail: nostr.Npub(ev.PubKey)}
	}
	var pub [32]byte
	var sig [64]byte
	_, perr := hex.Decode(pub[:], []byte(ev.PubKey))
	_, serr := hex.Decode(sig[:], []byte(ev.Sig))
	if perr != nil || serr != nil || !nostr.VerifySchnorr(pub[:], id[:], sig[:]) {
		return checked{ev: ev, reason: RejectBadSignature, detail: short}
	}
	if time.Unix(ev.CreatedAt, 0).After(now.Add(in.s.maxFuture)) {
		return checked{ev: ev, reason: RejectFuture, detail: short + " created " + time.Unix(ev.CreatedAt, 0).UTC().Format(time.RFC3339)}
	}
	return checked{ev: ev}
}

// IngestRaw verifies and stores serialized events.
func (in *Ingester) IngestRaw(ctx context.Context, raws [][]byte) (Counts, error) {
	now := in.s.now()
	return in.pipeline(ctx, len(raws), func(i int) checked { return in.check(raws[i], now) })
}

// IngestEvents verifies and stores already parsed events.
func (in *Ingester) IngestEvents(ctx context.Context, evs []*nostr.Event) (Counts, error) {
	now := in.s.now()
	return in.pipeline(ctx, len(evs), func(i int) checked { return in.checkEvent(evs[i], now) })
}

// Canonical is an event as carried in a content-addressed block: its
// canonical serialization, the id claimed by the block's CID and the
// signature from the manifest.
type Canonical struct {
	Raw     []byte
	ID, Sig string
}

// IngestCanonical parses (in parallel), verifies and stores events
// rebuilt from blocks.
func (in *Ingester) IngestCanonical(ctx context.Context, cs []Canonical) (Counts, error) {
	now := in.s.now()
	return in.pipeline(ctx, len(cs), func(i int) checked {
		ev, err := nostr.ParseCanonical(cs[i].Raw)
		if err != nil {
			return checked{reason: RejectMalformed, detail: err.Error()}
		}
		ev.ID, ev.Sig = cs[i].ID, cs[i].Sig
		return in.checkEvent(ev, now)
	})
}

// pipelineBatch is how many events are verified before being handed to
// the store; storing batch k overlaps with verifying batch k+1.
const pipelineBatch = 1000

func (in *Ingester) pipeline(ctx context.Context, n int, check func(i int) checked) (Counts, error) {
	var total Counts
	var storeErr error
	ch := make(chan []checked, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for res := range ch {
			if storeErr != nil {
				continue
			}
			c, err := in.store(ctx, res)
			total.Add(c)
			storeErr = err
		}
	}()
	for start := 0; start < n; start += pipelineBatch {
		if ctx.Err() != nil {
			break
		}
		end := min(start+pipelineBatch, n)
		res := make([]checked, end-start)
		in.parallel(len(res), func(i int) { res[i] = check(start + i) })
		ch <- res
	}
	close(ch)
	<-done
	if storeErr == nil {
		storeErr = ctx.Err()
	}
	return total, storeErr
}

func (in *Ingester) parallel(n int, fn func(i int)) {
	w := in.workers
	if n < 64 || w <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := start; i < end; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// store writes the events that passed in one transaction, applying
// duplicate and replaceable rules, then their blocks in one batch.
func (in *Ingester) store(ctx context.Context, res []checked) (Counts, error) {
	var c Counts
	c.Seen = len(res)
	var blks []blocks.Block
	var gone []record // removed by deletions
	received := in.s.now().Unix()
	err := in.s.db.Update(func(tx *bolt.Tx) error {
		evB, replB, delB := tx.Bucket(bEvents), tx.Bucket(bRepl), tx.Bucket(bDeleted)
		for _, r := range res {
			if r.reason != "" {
				c.reject(r.reason, r.detail)
				continue
			}
			ev := r.ev
			if !keptKind(ev.Kind) {
				c.ignore(ev.Kind) // DMs, reactions, contacts…: not news
				continue
			}
			if deletedBy(delB, ev) {
				c.Withdrawn++
				continue
			}
			if evB.Get([]byte(ev.ID)) != nil {
				c.Duplicate++
				c.Verified++ // verified again, already stored
				continue
			}
			replaced := false
			if key := ev.ReplaceKey(); key != "" {
				if cur := replB.Get([]byte(key)); cur != nil {
					if old, err := loadEvent(evB, cur); err == nil {
						if !nostr.Newer(ev, old) {
							c.Stale++
							c.Verified++ // it checked out; the stored version is newer
							continue
						}
						if err := evB.Delete(cur); err != nil {
							return err
						}
						replaced = true
					}
				}
				if err := replB.Put([]byte(key), []byte(ev.ID)); err != nil {
					return err
				}
			}
			evCID, err := EventCID(ev.ID)
			if err != nil {
				return err
			}
			canon, err := blocks.NewBlockWithCid(ev.Serialize(), evCID)
			if err != nil {
				return err
			}
			blks = append(blks, canon)
			rec := record{Event: ev.Marshal(), Source: in.source, Received: received, CID: evCID.String()}
			if ev.Kind == nostr.KindArticle && ev.Content != "" {
				bc := RawCID([]byte(ev.Content))
				b, err := blocks.NewBlockWithCid([]byte(ev.Content), bc)
				if err != nil {
					return err
				}
				blks = append(blks, b)
				rec.BodyCID = bc.String()
			}
			data, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := evB.Put([]byte(ev.ID), data); err != nil {
				return err
			}
			if replaced {
				c.Updated++
			} else {
				c.New++
			}
			c.Verified++
			if ev.Kind == nostr.KindDeletion {
				removed, err := applyDeletion(tx, ev)
				if err != nil {
					return err
				}
				c.Deleted += len(removed)
				gone = append(gone, removed...)
			}
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("store events: %w", err)
	}
	if len(blks) > 0 {
		if err := in.s.blocks.PutMany(ctx, blks); err != nil {
			return c, fmt.Errorf("store blocks: %w", err)
		}
	}
	// A deleted event's own block goes too, so exports no longer carry
	// it; a body block may be shared by another article and stays.
	for _, r := range gone {
		if k, err := cid.Decode(r.CID); err == nil {
			if err := in.s.blocks.DeleteBlock(ctx, k); err != nil {
				return c, fmt.Errorf("delete block: %w", err)
			}
		}
	}
	return c, nil
}

func loadEvent(b *bolt.Bucket, id []byte) (*nostr.Event, error) {
	v := b.Get(id)
	if v == nil {
		return nil, errors.New("missing")
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	return nostr.Parse(r.Event)
}

// Ingest is a convenience: verify and store raw events from source.
func (s *Store) Ingest(ctx context.Context, source string, raws [][]byte) (Counts, error) {
	in, err := s.NewIngester(source)
	if err != nil {
		return Counts{}, err
	}
	return in.IngestRaw(ctx, raws)
}
