package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/termtext"
)

// DamagedFile is a source file some of whose records failed
// authentication; adding the file again rewrites them.
type DamagedFile struct {
	Path    string   `json:"path"`
	Records []string `json:"records"`
}

// VerifyReport is what Verify checked and found.
type VerifyReport struct {
	Collection string        `json:"collection"`
	Docs       int           `json:"docs"`    // readable document records
	Records    int           `json:"records"` // sealed records checked
	Damaged    []DamagedFile `json:"damaged,omitempty"`
	// Other are damaged records no source file could be named for (a
	// segment's metadata, a chunk whose document record is damaged too).
	Other []string `json:"other,omitempty"`
}

// DamagedError names the files with damaged records; Verify's report
// returns it, and Export returns it after an archive of everything else.
type DamagedError struct {
	Files []string
	Other int // damaged records of no known file
}

func (e *DamagedError) Error() string {
	if len(e.Files) == 0 {
		return fmt.Sprintf("%d damaged record(s) belong to no file", e.Other)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "damaged records in %d file(s)", len(e.Files))
	for i, f := range e.Files {
		if i == 5 {
			fmt.Fprintf(&b, " and %d more", len(e.Files)-i)
			break
		}
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep + f)
	}
	if e.Other > 0 {
		fmt.Fprintf(&b, "; %d damaged record(s) belong to no file", e.Other)
	}
	return b.String()
}

// ErrUnattributed is wrapped by a DamagedError with damaged records of no
// known file (a segment's metadata, a chunk of a damaged document record):
// re-adding files does not repair those; an export of the rest does.
var ErrUnattributed = errors.New("damaged records of no file")

// Unwrap is ErrUnattributed when some damaged records belong to no file.
func (e *DamagedError) Unwrap() error {
	if e.Other > 0 {
		return ErrUnattributed
	}
	return nil
}

// Err is a *DamagedError when anything is damaged, else nil.
func (r VerifyReport) Err() error {
	if len(r.Damaged) == 0 && len(r.Other) == 0 {
		return nil
	}
	e := &DamagedError{Other: len(r.Other)}
	for _, d := range r.Damaged {
		e.Files = append(e.Files, d.Path)
	}
	return e
}

// Write prints the damaged files with their records, or that all is well
// (nothing for the report of a Verify that failed). Paths are data:
// cleaned for a terminal.
func (r VerifyReport) Write(w io.Writer) {
	if r.Collection == "" {
		return
	}
	for _, d := range r.Damaged {
		fmt.Fprintf(w, "damaged %s (%s)\n", termtext.Clean(d.Path), strings.Join(d.Records, ", "))
	}
	for _, o := range r.Other {
		fmt.Fprintf(w, "damaged %s\n", o)
	}
	if r.Err() == nil {
		fmt.Fprintf(w, "%d records of %d document(s) verified: no damage\n", r.Records, r.Docs)
	}
}

// Verify authenticates every record of the collection and names the
// source file of each one that fails; with any, the error is the report's
// *DamagedError.
func (v *Vault) Verify(ctx context.Context, collection string) (VerifyReport, error) {
	if collection == "" {
		collection = DefaultCollection
	}
	rep := VerifyReport{Collection: collection}
	end, err := v.begin()
	if err != nil {
		return VerifyReport{}, err
	}
	defer end()
	c, err := v.coll(collection, false)
	if errors.Is(err, ErrEmpty) {
		return rep, nil
	}
	if err == nil {
		err = v.db.View(func(tx *bolt.Tx) error { return c.verify(ctx, tx, &rep) })
	}
	if err != nil {
		return VerifyReport{}, err
	}
	return rep, rep.Err()
}

func (c *collection) verify(ctx context.Context, tx *bolt.Tx, rep *VerifyReport) error {
	damaged := map[string][]string{}
	owner := map[uint64]string{}     // chunk id → path
	badDocs := map[string]string{}   // document key → record name
	badSegs := map[uint64][]string{} // segment id → its damaged records
	segs := map[uint64]*segMeta{}
	n := 0
	each := func(bname []byte, fn func(k []byte, pt []byte, err error) error) error {
		b := c.bucket(tx, bname)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, raw []byte) error {
			if n++; n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			pt, err := c.open(bname, k, raw)
			return fn(k, pt, err)
		})
	}
	err := each(c.bDocs, func(k, pt []byte, err error) error {
		var d docRecord
		if err != nil || json.Unmarshal(pt, &d) != nil {
			badDocs[string(k)] = c.recordName(c.bDocs, k)
			return nil
		}
		rep.Docs++
		for _, id := range d.chunkIDs() {
			owner[id] = d.Path
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := each(c.bChunks, func(k, pt []byte, err error) error {
		id := be64key(k)
		if err != nil {
			if p, ok := owner[id]; ok {
				damaged[p] = append(damaged[p], c.recordName(c.bChunks, k))
			} else {
				rep.Other = append(rep.Other, c.recordName(c.bChunks, k))
			}
			return nil
		}
		// A damaged document record is named by its chunks' source.
		var cr chunkRecord
		if len(badDocs) > 0 && decodeChunk(pt, &cr) == nil {
			dk := string(c.docKey(cr.Source))
			if name, ok := badDocs[dk]; ok {
				damaged[cr.Source] = append(damaged[cr.Source], name)
				delete(badDocs, dk)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := each(c.bSegs, func(k, pt []byte, err error) error {
		s := &segMeta{}
		if err != nil || json.Unmarshal(pt, s) != nil {
			rep.Other = append(rep.Other, c.recordName(c.bSegs, k))
			return nil
		}
		segs[s.ID] = s
		return nil
	}); err != nil {
		return err
	}
	for _, bname := range [][]byte{c.bPost, c.bVecs} {
		if err := each(bname, func(k, _ []byte, err error) error {
			switch {
			case err != nil && (len(k) < 8 || string(bname) == string(c.bVecs) && len(k) != 8): // the embedding model record
				rep.Other = append(rep.Other, c.recordName(bname, k))
			case err != nil:
				badSegs[be64key(k)] = append(badSegs[be64key(k)], c.recordName(bname, k))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	rep.Records = n
	// An index record is damaged for every file with a live chunk in its
	// segment: re-adding them all retires the segment.
	for id, recs := range badSegs {
		s := segs[id]
		if s == nil {
			rep.Other = append(rep.Other, recs...)
			continue
		}
		files := map[string]bool{}
		for cid, p := range owner {
			if cid >= s.Min && cid <= s.Max && !s.isDeleted(cid) {
				files[p] = true
			}
		}
		for p := range files {
			damaged[p] = append(damaged[p], recs...)
		}
		if len(files) == 0 {
			rep.Other = append(rep.Other, recs...)
		}
	}
	for _, name := range badDocs {
		rep.Other = append(rep.Other, name)
	}
	for p, recs := range damaged {
		sort.Strings(recs)
		rep.Damaged = append(rep.Damaged, DamagedFile{Path: p, Records: recs})
	}
	sort.Slice(rep.Damaged, func(i, j int) bool { return rep.Damaged[i].Path < rep.Damaged[j].Path })
	sort.Strings(rep.Other)
	return nil
}

// damageCheck remembers, for one Add, which segments' index records all
// authenticate, so each is checked once however many files it holds.
type damageCheck struct {
	mu   sync.Mutex
	segs map[uint64]bool
}

// intact reports whether every record of d (its chunks, and the index
// records of the segments holding them) authenticates.
func (v *Vault) intact(c *collection, d *docRecord, chk *damageCheck) bool {
	ok := true
	_ = v.db.View(func(tx *bolt.Tx) error {
		cb := c.bucket(tx, c.bChunks)
		ids := d.chunkIDs()
		for _, id := range ids {
			key := u64(id)
			raw := cb.Get(key)
			if raw == nil {
				ok = false
				return nil
			}
			if _, err := c.open(c.bChunks, key, raw); err != nil {
				ok = false
				return nil
			}
		}
		segs, _ := c.loadSegsTolerant(tx)
		seen := map[uint64]bool{}
		for _, id := range ids {
			s := segFor(segs, id)
			if s == nil || seen[s.ID] {
				continue
			}
			seen[s.ID] = true
			if !chk.segOK(tx, c, s.ID) {
				ok = false
				return nil
			}
		}
		return nil
	})
	return ok
}

func (chk *damageCheck) segOK(tx *bolt.Tx, c *collection, seg uint64) bool {
	chk.mu.Lock()
	ok, known := chk.segs[seg]
	chk.mu.Unlock()
	if known {
		return ok
	}
	ok = true
	prefix := u64(seg)
	cur := c.bucket(tx, c.bPost).Cursor()
	for k, raw := cur.Seek(prefix); ok && k != nil && string(k[:8]) == string(prefix); k, raw = cur.Next() {
		_, err := c.open(c.bPost, k, raw)
		ok = err == nil
	}
	if vb := c.bucket(tx, c.bVecs); ok && vb != nil {
		if raw := vb.Get(prefix); raw != nil {
			_, err := c.open(c.bVecs, prefix, raw)
			ok = err == nil
		}
	}
	chk.mu.Lock()
	chk.segs[seg] = ok
	chk.mu.Unlock()
	return ok
}

// chunksOf finds the chunks whose source is path, except those in keep:
// what a document whose own record is damaged left behind.
func (c *collection) chunksOf(tx *bolt.Tx, path string, keep map[uint64]bool) ([]uint64, []uint32) {
	var ids []uint64
	var dls []uint32
	_ = c.bucket(tx, c.bChunks).ForEach(func(k, raw []byte) error {
		id := be64key(k)
		if keep[id] {
			return nil
		}
		pt, err := c.open(c.bChunks, k, raw)
		var cr chunkRecord
		if err == nil && decodeChunk(pt, &cr) == nil && cr.Source == path {
			ids = append(ids, id)
			dls = append(dls, cr.DL)
		}
		return nil
	})
	return ids, dls
}
