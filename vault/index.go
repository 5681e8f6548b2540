package vault

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/seal"
)

// The lexical index is a small log-structured inverted index. Every ingest
// batch writes one segment: for each term a sealed posting list keyed
// segment-id || HMAC(term), so a search makes (segments × terms) point
// reads. Segments of adjacent ids are merged in the background of later
// writes so their number stays small. Deleted chunks are listed in their
// segment's (sealed) metadata and dropped at the next merge.

// termTagLen is the length of the HMAC'd term id inside posting keys.
const termTagLen = 12

// segMeta is a segment's sealed metadata.
type segMeta struct {
	ID      uint64   `json:"id"`
	Min     uint64   `json:"min"` // lowest chunk id in the segment
	Max     uint64   `json:"max"` // highest chunk id
	Live    int      `json:"live"`
	SumDL   int64    `json:"sumdl"` // total length (terms) of live chunks
	Deleted []uint64 `json:"del,omitempty"`
	// Pending marks a segment of a big file still being streamed; it is
	// invisible to search and removed on open if the ingest never finished.
	Pending bool `json:"pending,omitempty"`

	deleted map[uint64]bool
}

func (s *segMeta) isDeleted(id uint64) bool {
	if len(s.Deleted) == 0 {
		return false
	}
	if s.deleted == nil {
		s.deleted = make(map[uint64]bool, len(s.Deleted))
		for _, d := range s.Deleted {
			s.deleted[d] = true
		}
	}
	return s.deleted[id]
}

// posting is one chunk's entry in a term's list.
type posting struct {
	id uint64
	tf uint32
	dl uint32
}

func encodePostings(base uint64, ps []posting) []byte {
	out := make([]byte, 0, 4+len(ps)*4)
	out = binary.AppendUvarint(out, uint64(len(ps)))
	prev := base
	for _, p := range ps {
		out = binary.AppendUvarint(out, p.id-prev)
		out = binary.AppendUvarint(out, uint64(p.tf))
		out = binary.AppendUvarint(out, uint64(p.dl))
		prev = p.id
	}
	return out
}

var errBadPostings = errors.New("malformed posting list")

// decodePostings calls fn for each entry; ids are ascending.
func decodePostings(base uint64, b []byte, fn func(id uint64, tf, dl uint32)) error {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return errBadPostings
	}
	b = b[k:]
	id := base
	for i := uint64(0); i < n; i++ {
		d, k1 := binary.Uvarint(b)
		if k1 <= 0 {
			return errBadPostings
		}
		tf, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 {
			return errBadPostings
		}
		dl, k3 := binary.Uvarint(b[k1+k2:])
		if k3 <= 0 {
			return errBadPostings
		}
		b = b[k1+k2+k3:]
		id += d
		fn(id, uint32(tf), uint32(dl))
	}
	return nil
}

func postKey(seg uint64, termTag []byte) []byte {
	k := make([]byte, 8+len(termTag))
	binary.BigEndian.PutUint64(k, seg)
	copy(k[8:], termTag)
	return k
}

// loadSegs reads every segment's metadata, in id order.
func (c *collection) loadSegs(tx *bolt.Tx) ([]*segMeta, error) {
	b := c.bucket(tx, c.bSegs)
	if b == nil {
		return nil, nil
	}
	var segs []*segMeta
	err := b.ForEach(func(k, v []byte) error {
		pt, err := c.open(c.bSegs, k, v)
		if err != nil {
			return err
		}
		s := &segMeta{}
		if err := json.Unmarshal(pt, s); err != nil {
			return fmt.Errorf("segment %d: %w", binary.BigEndian.Uint64(k), err)
		}
		segs = append(segs, s)
		return nil
	})
	sortSegs(segs)
	return segs, err
}

// sortSegs orders segments by chunk-id range. Ranges are disjoint (one
// writer allocates ids in order), but a merged segment gets a new, higher
// segment id than younger neighbours, so id order is not range order.
func sortSegs(segs []*segMeta) {
	sort.Slice(segs, func(i, j int) bool { return segs[i].Min < segs[j].Min })
}

func (c *collection) putSeg(tx *bolt.Tx, s *segMeta) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return c.put(c.bucket(tx, c.bSegs), c.bSegs, u64(s.ID), raw)
}

// segFor finds the segment whose id range holds chunk id.
func segFor(segs []*segMeta, id uint64) *segMeta {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].Max >= id })
	if i < len(segs) && segs[i].Min <= id {
		return segs[i]
	}
	return nil
}

// segBuilder accumulates one segment's postings in memory.
type segBuilder struct {
	postings map[string][]posting
	min, max uint64
	live     int
	sumDL    int64
}

func newSegBuilder() *segBuilder { return &segBuilder{postings: map[string][]posting{}} }

func (sb *segBuilder) add(id uint64, terms []termFreq, dl int) {
	if sb.live == 0 || id < sb.min {
		sb.min = id
	}
	if id > sb.max {
		sb.max = id
	}
	sb.live++
	sb.sumDL += int64(dl)
	for _, t := range terms {
		sb.postings[t.term] = append(sb.postings[t.term], posting{id: id, tf: t.tf, dl: uint32(dl)})
	}
}

// write seals the segment's posting lists and metadata in tx.
func (c *collection) writeSeg(tx *bolt.Tx, sb *segBuilder, pending bool) (*segMeta, error) {
	if sb.live == 0 {
		return nil, nil
	}
	segs := c.bucket(tx, c.bSegs)
	id, err := segs.NextSequence()
	if err != nil {
		return nil, err
	}
	terms := make([]string, 0, len(sb.postings))
	for t := range sb.postings {
		terms = append(terms, t)
	}
	keys := make([][]byte, len(terms))
	pts := make([][]byte, len(terms))
	parallel(len(terms), func(i int) {
		keys[i] = postKey(id, tag(c.termKey, termTagLen, terms[i]))
		pts[i] = encodePostings(sb.min, sb.postings[terms[i]])
	})
	cts, err := c.sealAll(c.bPost, keys, pts)
	if err != nil {
		return nil, err
	}
	// Sorted keys make bbolt append instead of splitting pages.
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return bytes.Compare(keys[order[a]], keys[order[b]]) < 0 })
	pb := c.bucket(tx, c.bPost)
	pb.FillPercent = 0.9
	for _, i := range order {
		if err := pb.Put(keys[i], cts[i]); err != nil {
			return nil, err
		}
	}
	m := &segMeta{ID: id, Min: sb.min, Max: sb.max, Live: sb.live, SumDL: sb.sumDL, Pending: pending}
	return m, c.putSeg(tx, m)
}

// deleteChunks removes chunks (with their lengths) from the store and marks
// them deleted in their segments.
func (c *collection) deleteChunks(tx *bolt.Tx, ids []uint64, dls []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	segs, err := c.loadSegs(tx)
	if err != nil {
		return err
	}
	cb := c.bucket(tx, c.bChunks)
	dirty := map[uint64]*segMeta{}
	for i, id := range ids {
		if err := cb.Delete(u64(id)); err != nil {
			return err
		}
		s := segFor(segs, id)
		if s == nil || s.isDeleted(id) {
			continue
		}
		s.Deleted = append(s.Deleted, id)
		if s.deleted == nil {
			s.deleted = map[uint64]bool{}
		}
		s.deleted[id] = true
		s.Live--
		if i < len(dls) {
			s.SumDL -= int64(dls[i])
		}
		dirty[s.ID] = s
	}
	for _, s := range dirty {
		if s.Live == 0 && !s.Pending {
			if err := c.dropSeg(tx, s); err != nil {
				return err
			}
			continue
		}
		if err := c.putSeg(tx, s); err != nil {
			return err
		}
	}
	return nil
}

// dropSeg deletes a segment's metadata and posting lists.
func (c *collection) dropSeg(tx *bolt.Tx, s *segMeta) error {
	pb := c.bucket(tx, c.bPost)
	prefix := u64(s.ID)
	cur := pb.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Seek(prefix) {
		if err := cur.Delete(); err != nil {
			return err
		}
	}
	if vb := c.bucket(tx, c.bVecs); vb != nil {
		if err := vb.Delete(u64(s.ID)); err != nil {
			return err
		}
	}
	return c.bucket(tx, c.bSegs).Delete(u64(s.ID))
}

// mergeFactor is how many similar-sized neighbours are merged at once, and
// maxSegments how many segments a collection keeps after compaction.
const (
	mergeFactor = 8
	maxSegments = 12
	// maxMergeChunks caps a merged segment so one merge transaction (which
	// bbolt holds in memory until commit) stays bounded on huge vaults.
	maxMergeChunks = 200_000
)

// pickMerge chooses a run of adjacent committed segments to merge, or nil.
// Like a log-structured merge policy: when mergeFactor neighbours have the
// same size class they become one; beyond maxSegments the cheapest window
// is merged.
func pickMerge(segs []*segMeta) []*segMeta {
	level := func(s *segMeta) int {
		n, l := s.Live+len(s.Deleted), 0
		for n >= 1024 {
			n /= mergeFactor
			l++
		}
		return l
	}
	size := func(run []*segMeta) int {
		n := 0
		for _, s := range run {
			n += s.Live + len(s.Deleted)
		}
		return n
	}
	// Runs of committed segments (a pending one splits runs).
	for end := len(segs); end > 0; {
		start := end
		for start > 0 && !segs[start-1].Pending {
			start--
		}
		run := segs[start:end]
		for i := len(run) - 1; i >= mergeFactor-1; i-- {
			l := level(run[i])
			ok := true
			for j := i - mergeFactor + 1; j < i; j++ {
				if level(run[j]) != l {
					ok = false
					break
				}
			}
			if ok && size(run[i-mergeFactor+1:i+1]) <= maxMergeChunks {
				return run[i-mergeFactor+1 : i+1]
			}
		}
		end = start - 1
	}
	var committed int
	for _, s := range segs {
		if !s.Pending {
			committed++
		}
	}
	if committed <= maxSegments {
		return nil
	}
	best, bestCost := []*segMeta(nil), int64(-1)
	w := mergeFactor
	if committed-maxSegments+1 < w {
		w = committed - maxSegments + 1
	}
	if w < 2 {
		w = 2
	}
	for i := 0; i+w <= len(segs); i++ {
		var cost int64
		ok := true
		for _, s := range segs[i : i+w] {
			if s.Pending {
				ok = false
				break
			}
			cost += int64(s.Live + len(s.Deleted))
		}
		if ok && cost <= maxMergeChunks && (bestCost < 0 || cost < bestCost) {
			best, bestCost = segs[i:i+w], cost
		}
	}
	return best
}

// merge rewrites adjacent segments as one, dropping deleted chunks, in a
// k-way merge over their sorted term keys.
func (c *collection) merge(tx *bolt.Tx, run []*segMeta) error {
	segsB := c.bucket(tx, c.bSegs)
	newID, err := segsB.NextSequence()
	if err != nil {
		return err
	}
	pb := c.bucket(tx, c.bPost)
	type src struct {
		seg    *segMeta
		cur    *bolt.Cursor
		prefix []byte
		k, v   []byte
	}
	srcs := make([]*src, len(run))
	for i, s := range run {
		p := u64(s.ID)
		cur := pb.Cursor()
		k, v := cur.Seek(p)
		if k != nil && !bytes.HasPrefix(k, p) {
			k, v = nil, nil
		}
		srcs[i] = &src{seg: s, cur: cur, prefix: p, k: k, v: v}
	}
	out := &segMeta{ID: newID, Min: run[0].Min, Max: run[0].Max}
	for _, s := range run {
		out.Min, out.Max = min(out.Min, s.Min), max(out.Max, s.Max)
	}
	type pending struct{ key, val []byte }
	var writes []pending
	var oldKeys [][]byte
	var ps []posting
	for {
		// The smallest term tag among the sources.
		var min []byte
		for _, s := range srcs {
			if s.k != nil && (min == nil || bytes.Compare(s.k[8:], min) < 0) {
				min = s.k[8:]
			}
		}
		if min == nil {
			break
		}
		min = append([]byte(nil), min...)
		ps = ps[:0]
		for _, s := range srcs {
			if s.k == nil || !bytes.Equal(s.k[8:], min) {
				continue
			}
			key := append([]byte(nil), s.k...)
			pt, err := c.open(c.bPost, key, s.v)
			if err != nil {
				return err
			}
			seg := s.seg
			if err := decodePostings(seg.Min, pt, func(id uint64, tf, dl uint32) {
				if !seg.isDeleted(id) {
					ps = append(ps, posting{id, tf, dl})
				}
			}); err != nil {
				return fmt.Errorf("%s: %w", c.recordName(c.bPost, key), err)
			}
			oldKeys = append(oldKeys, key)
			s.k, s.v = s.cur.Next()
			if s.k != nil && !bytes.HasPrefix(s.k, s.prefix) {
				s.k, s.v = nil, nil
			}
		}
		if len(ps) > 0 {
			writes = append(writes, pending{postKey(newID, min), encodePostings(out.Min, ps)})
		}
	}
	for _, k := range oldKeys {
		if err := pb.Delete(k); err != nil {
			return err
		}
	}
	for _, w := range writes {
		if err := c.put(pb, c.bPost, w.key, w.val); err != nil {
			return err
		}
	}
	for _, s := range run {
		out.Live += s.Live
		out.SumDL += s.SumDL
		if err := segsB.Delete(u64(s.ID)); err != nil {
			return err
		}
	}
	if err := c.mergeVectors(tx, run, out); err != nil {
		return err
	}
	if out.Live == 0 {
		return nil
	}
	return c.putSeg(tx, out)
}

// compact merges segments until the policy is satisfied, one transaction
// per merge so each step is atomic.
func (v *Vault) compact(c *collection) error {
	for {
		merged := false
		err := v.update(func(tx *bolt.Tx) error {
			segs, err := c.loadSegs(tx)
			if err != nil {
				return err
			}
			run := pickMerge(segs)
			if run == nil {
				return nil
			}
			merged = true
			return c.merge(tx, run)
		})
		if isTamper(err) {
			return nil // merging is an optimisation; Verify names the damage
		}
		if err != nil || !merged {
			return err
		}
	}
}

// Optimize merges every committed segment of the collection into one (the
// fastest layout for search); used after bulk imports and by benchmarks.
func (v *Vault) Optimize(collName string) error {
	end, err := v.begin()
	if err != nil {
		return err
	}
	defer end()
	c, err := v.coll(collName, false)
	if err != nil {
		return err
	}
	return v.update(func(tx *bolt.Tx) error {
		segs, err := c.loadSegs(tx)
		if err != nil {
			return err
		}
		var run []*segMeta
		for _, s := range segs {
			if s.Pending {
				continue
			}
			run = append(run, s)
		}
		if len(run) < 2 {
			return nil
		}
		return c.merge(tx, run)
	})
}

// parallel runs fn(0..n-1) on all cores.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// sealAll seals pts[i] for keys[i] in bucket bname, in parallel.
func (c *collection) sealAll(bname []byte, keys, pts [][]byte) ([][]byte, error) {
	cts := make([][]byte, len(pts))
	errs := make([]error, len(pts))
	full := c.fullName(bname)
	parallel(len(pts), func(i int) {
		cts[i], errs[i] = seal.Seal(c.dataKey, pts[i], aad(full, keys[i]))
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return cts, nil
}
