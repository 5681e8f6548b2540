package vault

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/seal"
)

// rekey re-encrypts the whole vault in tx under newMaster: every
// collection gets a new id, data key, bucket names and term tags, so a key
// that an old header (and its passphrase) unwraps opens nothing written
// from now on. Posting keys are HMACs of terms that cannot be recovered,
// so the posting lists are rebuilt from the chunks' text.
func rekey(tx *bolt.Tx, oldMaster, newMaster []byte) error {
	oldIDs, newIDs := subkey(oldMaster, "ids"), subkey(newMaster, "ids")
	defer seal.Wipe(oldIDs)
	defer seal.Wipe(newIDs)
	oldReg, newReg := tag(oldIDs, 16, "bucket", "collections"), tag(newIDs, 16, "bucket", "collections")
	rb := tx.Bucket(oldReg)
	if rb == nil {
		return nil // nothing was ever added
	}
	var recs []collRecord
	if err := rb.ForEach(func(k, raw []byte) error {
		pt, err := seal.Open(oldMaster, raw, aad(oldReg, k))
		if err != nil {
			return &TamperError{Record: "collection"}
		}
		var r collRecord
		if err := json.Unmarshal(pt, &r); err != nil {
			return err
		}
		recs = append(recs, r)
		return nil
	}); err != nil {
		return err
	}
	nrb, err := tx.CreateBucket(newReg)
	if err != nil {
		return err
	}
	for _, r := range recs {
		id, err := seal.NewKey()
		if err != nil {
			return err
		}
		dk, err := seal.NewKey()
		if err != nil {
			return err
		}
		nr := collRecord{Name: r.Name, ID: id[:16], DataKey: dk}
		pt, err := json.Marshal(nr)
		if err != nil {
			return err
		}
		key := tag(newIDs, 16, "collection", r.Name)
		ct, err := seal.Seal(newMaster, pt, aad(newReg, key))
		seal.Wipe(pt)
		if err != nil {
			return err
		}
		if err := nrb.Put(key, ct); err != nil {
			return err
		}
		from, to := newCollection(r), newCollection(nr)
		err = rekeyCollection(tx, from, to)
		from.wipe()
		to.wipe()
		if err != nil {
			return fmt.Errorf("collection %q: %w", r.Name, err)
		}
	}
	return tx.DeleteBucket(oldReg)
}

func rekeyCollection(tx *bolt.Tx, from, to *collection) error {
	top, err := tx.CreateBucket(to.id)
	if err != nil {
		return err
	}
	for _, n := range [][]byte{to.bDocs, to.bChunks, to.bPost, to.bSegs, to.bVecs} {
		if _, err := top.CreateBucket(n); err != nil {
			return err
		}
	}
	// Documents are keyed by an HMAC of their path under the new key.
	if err := reseal(tx, from, to, from.bDocs, to.bDocs, func(_, pt []byte) ([]byte, error) {
		var d docRecord
		if err := json.Unmarshal(pt, &d); err != nil {
			return nil, err
		}
		return to.docKey(d.Path), nil
	}); err != nil {
		return err
	}
	if err := reseal(tx, from, to, from.bChunks, to.bChunks, func(k, _ []byte) ([]byte, error) { return k, nil }); err != nil {
		return err
	}
	segs, err := from.loadSegs(tx)
	if err != nil {
		return err
	}
	// Vector blocks lose the vectors of deleted chunks, as the rebuilt
	// posting lists do, so the segments list no deleted chunk any more.
	byID := map[uint64]*segMeta{}
	for _, s := range segs {
		byID[s.ID] = s
	}
	if err := reseal(tx, from, to, from.bVecs, to.bVecs, func(k, pt []byte) ([]byte, error) {
		if len(k) != 8 { // the embedding model record
			return k, nil
		}
		s := byID[be64key(k)]
		if s == nil || len(s.Deleted) == 0 {
			return k, nil
		}
		var live []vecEntry
		if err := decodeVectors(pt, func(id uint64, vec []float32) {
			if !s.isDeleted(id) {
				live = append(live, vecEntry{id, append([]float32(nil), vec...)})
			}
		}); err != nil {
			return nil, fmt.Errorf("%s: %w", from.recordName(from.bVecs, k), err)
		}
		return nil, to.putVectors(tx, s.ID, live) // written here, not by reseal
	}); err != nil {
		return err
	}
	cb := to.bucket(tx, to.bChunks)
	for _, s := range segs {
		if err := rebuildPostings(tx, cb, to, s); err != nil {
			return err
		}
	}
	if err := to.bucket(tx, to.bSegs).SetSequence(from.bucket(tx, from.bSegs).Sequence()); err != nil {
		return err
	}
	return tx.DeleteBucket(from.id)
}

// reseal copies every record of bucket fb of from into tb of to, sealed
// under to's key at the key newKey gives (nil: newKey wrote it itself),
// keeping the bucket's sequence.
func reseal(tx *bolt.Tx, from, to *collection, fb, tb []byte, newKey func(k, pt []byte) ([]byte, error)) error {
	src, dst := from.bucket(tx, fb), to.bucket(tx, tb)
	if err := src.ForEach(func(k, raw []byte) error {
		pt, err := from.open(fb, k, raw)
		if err != nil {
			return err
		}
		defer seal.Wipe(pt)
		nk, err := newKey(k, pt)
		if err != nil || nk == nil {
			return err
		}
		return to.put(dst, tb, nk, pt)
	}); err != nil {
		return err
	}
	return dst.SetSequence(src.Sequence())
}

// rebuildPostings writes segment s's posting lists under to's term key
// from the (already re-sealed) chunks in its id range; deleted chunks are
// gone from the chunk bucket, so the rebuilt segment lists none.
func rebuildPostings(tx *bolt.Tx, cb *bolt.Bucket, to *collection, s *segMeta) error {
	postings := map[string][]posting{}
	cur := cb.Cursor()
	hi := u64(s.Max)
	for k, raw := cur.Seek(u64(s.Min)); k != nil && bytes.Compare(k, hi) <= 0; k, raw = cur.Next() {
		pt, err := to.open(to.bChunks, k, raw)
		if err != nil {
			return err
		}
		var cr chunkRecord
		if err := decodeChunk(pt, &cr); err != nil {
			return fmt.Errorf("%s: %w", to.recordName(to.bChunks, k), err)
		}
		id := be64key(k)
		for _, t := range prepChunkOf(rawChunk{Text: cr.Text}).terms {
			postings[t.term] = append(postings[t.term], posting{id: id, tf: t.tf, dl: cr.DL})
		}
		seal.Wipe(pt)
	}
	pb := to.bucket(tx, to.bPost)
	for term, ps := range postings {
		if err := to.put(pb, to.bPost, postKey(s.ID, tag(to.termKey, termTagLen, term)), encodePostings(s.Min, ps)); err != nil {
			return err
		}
	}
	s.Deleted, s.deleted = nil, nil
	return to.putSeg(tx, s)
}

func be64key(k []byte) uint64 {
	var n uint64
	for _, b := range k[:8] {
		n = n<<8 | uint64(b)
	}
	return n
}
