package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Doc describes one indexed document.
type Doc struct {
	Path   string    `json:"path"`
	Kind   string    `json:"kind"`
	Size   int64     `json:"size"`
	Chunks int       `json:"chunks"`
	Bytes  int64     `json:"text_bytes"`
	Added  time.Time `json:"added"`
	// Imported: from an export, detached from the file at Path here.
	Imported bool `json:"imported,omitempty"`
}

// List returns the collection's documents sorted by path; tampered
// records are named in warnings and skipped.
func (v *Vault) List(ctx context.Context, collection string) ([]Doc, []string, error) {
	end, err := v.begin()
	if err != nil {
		return nil, nil, err
	}
	defer end()
	recs, warn, err := v.docs(collection)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Doc, 0, len(recs))
	for _, d := range recs {
		out = append(out, Doc{Path: d.Path, Kind: d.Kind, Size: d.Size, Chunks: d.Chunks, Bytes: d.Bytes, Added: d.Added, Imported: d.Imported})
	}
	return out, warn, nil
}

func (v *Vault) docs(collection string) ([]*docRecord, []string, error) {
	c, err := v.coll(collection, false)
	if errors.Is(err, ErrEmpty) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var out []*docRecord
	var warn []string
	err = v.db.View(func(tx *bolt.Tx) error {
		b := c.bucket(tx, c.bDocs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, raw []byte) error {
			pt, err := c.open(c.bDocs, k, raw)
			if err != nil {
				warn = append(warn, err.Error())
				return nil
			}
			d := &docRecord{}
			if err := json.Unmarshal(pt, d); err != nil {
				warn = append(warn, c.recordName(c.bDocs, k)+": "+err.Error())
				return nil
			}
			out = append(out, d)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, warn, err
}

// Remove deletes documents whose path is one of paths or lies below one of
// them (folders). It returns how many were removed; none is ErrNoMatch.
// Nothing of them is left in the file: their postings are rewritten out
// of the index and the file is compacted, so their sealed bytes do not
// linger in bbolt's free pages.
func (v *Vault) Remove(ctx context.Context, collection string, paths []string) (int, error) {
	n, err := v.remove(ctx, collection, paths)
	if err != nil {
		return n, err
	}
	if _, err := v.Compact(ctx); err != nil {
		return n, fmt.Errorf("removed %d document(s), but %w: %w", n, ErrNotCompacted, err)
	}
	return n, nil
}

func (v *Vault) remove(ctx context.Context, collection string, paths []string) (int, error) {
	end, err := v.begin()
	if err != nil {
		return 0, err
	}
	defer end()
	c, err := v.coll(collection, false)
	if errors.Is(err, ErrEmpty) {
		return 0, noMatch(paths)
	}
	if err != nil {
		return 0, err
	}
	var abs []string
	for _, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return 0, err
		}
		abs = append(abs, a)
	}
	recs, _, err := v.docs(collection)
	if err != nil {
		return 0, err
	}
	var victims []*docRecord
	for _, d := range recs {
		for _, a := range abs {
			if d.Path == a || strings.HasPrefix(d.Path, a+string(filepath.Separator)) {
				victims = append(victims, d)
				break
			}
		}
	}
	if len(victims) == 0 {
		return 0, noMatch(paths)
	}
	if err := v.removeDocs(c, victims); err != nil {
		return 0, err
	}
	if err := v.purgeDeleted(c); err != nil {
		return 0, err
	}
	return len(victims), v.compact(c)
}

// purgeDeleted rewrites every segment that lists deleted chunks without
// them, so no posting (which term, how often) of a removed document stays.
// A segment with a damaged record is left for Verify to report.
func (v *Vault) purgeDeleted(c *collection) error {
	var segs []*segMeta
	if err := v.db.View(func(tx *bolt.Tx) error {
		var err error
		segs, err = c.loadSegs(tx)
		return err
	}); err != nil {
		return err
	}
	for _, s := range segs {
		if len(s.Deleted) == 0 || s.Pending {
			continue
		}
		err := v.update(func(tx *bolt.Tx) error { return c.merge(tx, []*segMeta{s}) })
		if err != nil && !isTamper(err) {
			return err
		}
	}
	return nil
}

// ErrNoMatch is returned by Remove when no document matches: a mistyped
// path must not look like a successful removal.
var ErrNoMatch = errors.New("nothing in the vault matches")

func noMatch(paths []string) error { return fmt.Errorf("%w %s", ErrNoMatch, strings.Join(paths, " ")) }

func (v *Vault) removeDocs(c *collection, docs []*docRecord) error {
	if len(docs) == 0 {
		return nil
	}
	return v.update(func(tx *bolt.Tx) error {
		var ids []uint64
		var dls []uint32
		for _, d := range docs {
			ids = append(ids, d.chunkIDs()...)
			dls = append(dls, d.DLs...)
			if err := c.bucket(tx, c.bDocs).Delete(c.docKey(d.Path)); err != nil {
				return err
			}
		}
		return c.deleteChunks(tx, ids, dls)
	})
}

// Ingest is Add of paths, or Sync when there are none; re-running either
// retries the files that failed.
func (v *Vault) Ingest(ctx context.Context, paths []string, o AddOptions) (AddReport, error) {
	if len(paths) == 0 {
		return v.Sync(ctx, o)
	}
	return v.Add(ctx, paths, o)
}

// Sync re-checks every indexed file: changed ones are re-indexed and
// removed ones pruned. Imported documents are left alone: their paths
// came from an export, so reading them could pull any local file (a key,
// a password store) into the vault, and a path missing on this machine
// is a restore, not a deletion.
func (v *Vault) Sync(ctx context.Context, o AddOptions) (AddReport, error) {
	end, err := v.begin()
	if err != nil {
		return AddReport{}, err
	}
	defer end()
	var rep AddReport
	c, err := v.coll(o.Collection, false)
	if errors.Is(err, ErrEmpty) {
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	recs, _, err := v.docs(o.Collection)
	if err != nil {
		return rep, err
	}
	var gone []*docRecord
	var present []string
	for _, d := range recs {
		if d.Imported {
			continue
		}
		if _, err := os.Stat(d.Path); errors.Is(err, os.ErrNotExist) {
			gone = append(gone, d)
		} else {
			present = append(present, d.Path)
		}
	}
	if err := v.removeDocs(c, gone); err != nil {
		return rep, err
	}
	rep.Removed = len(gone)
	err = v.ingest(ctx, c, present, o, &rep)
	return rep, err
}

// Stats summarise a vault.
type Stats struct {
	Path        string   `json:"path"`
	FileBytes   int64    `json:"file_bytes"`
	Collections []string `json:"collections"`
	Collection  string   `json:"collection"`
	Docs        int      `json:"docs"`
	Chunks      int      `json:"chunks"`
	TextBytes   int64    `json:"text_bytes"`
	Segments    int      `json:"segments"`
	Vectors     bool     `json:"vectors"`
	KDFTime     uint32   `json:"kdf_time"`
	KDFMemKiB   uint32   `json:"kdf_memory_kib"`
	KDFThreads  uint8    `json:"kdf_threads"`
	Warnings    []string `json:"warnings,omitempty"`
}

// Stats reports sizes and counts for a collection.
func (v *Vault) Stats(ctx context.Context, collection string) (*Stats, error) {
	end, err := v.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	if collection == "" {
		collection = DefaultCollection
	}
	st := &Stats{Path: v.path, Collection: collection}
	if fi, err := os.Stat(v.path); err == nil {
		st.FileBytes = fi.Size()
	}
	k, err := v.KDFParams()
	if err != nil {
		return nil, err
	}
	st.KDFTime, st.KDFMemKiB, st.KDFThreads = k.Time, k.MemoryKiB, k.Threads
	if st.Collections, err = v.collections(); err != nil {
		return nil, err
	}
	recs, warn, err := v.docs(collection)
	if err != nil {
		return nil, err
	}
	st.Warnings = warn
	st.Docs = len(recs)
	for _, d := range recs {
		st.Chunks += d.Chunks
		st.TextBytes += d.Bytes
	}
	c, err := v.coll(collection, false)
	if errors.Is(err, ErrEmpty) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	err = v.db.View(func(tx *bolt.Tx) error {
		segs, w := c.loadSegsTolerant(tx)
		st.Segments = len(segs)
		st.Warnings = append(st.Warnings, w...)
		if vb := c.bucket(tx, c.bVecs); vb != nil {
			k, _ := vb.Cursor().First()
			st.Vectors = k != nil
		}
		return nil
	})
	return st, err
}

// Get returns one chunk by id.
func (v *Vault) Get(ctx context.Context, collection string, chunk uint64) (*Result, error) {
	end, err := v.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	c, err := v.coll(collection, false)
	if err != nil {
		return nil, err
	}
	var r *Result
	err = v.db.View(func(tx *bolt.Tx) error {
		key := u64(chunk)
		raw := c.bucket(tx, c.bChunks).Get(key)
		if raw == nil {
			return errors.New("no such chunk: it may have been re-indexed; search again")
		}
		pt, err := c.open(c.bChunks, key, raw)
		if err != nil {
			return err
		}
		var cr chunkRecord
		if err := decodeChunk(pt, &cr); err != nil {
			return err
		}
		r = &Result{Chunk: chunk, Source: cr.Source, Heading: cr.Heading, Start: cr.Start, End: cr.End, Text: cr.Text}
		return nil
	})
	return r, err
}
