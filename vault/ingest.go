package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/semaphore"
)

// docRecord is a document's sealed metadata.
type docRecord struct {
	Path   string      `json:"path"`
	Kind   string      `json:"kind"`
	Size   int64       `json:"size"`
	MTime  int64       `json:"mtime"` // unix nanoseconds
	Hash   string      `json:"sha256"`
	IDs    [][2]uint64 `json:"ids"` // chunk id ranges [first, last]
	DLs    []uint32    `json:"dls"` // index length of each chunk, in id order
	Chunks int         `json:"chunks"`
	Bytes  int64       `json:"bytes"` // extracted text
	Added  time.Time   `json:"added"`
	Vec    bool        `json:"vec,omitempty"` // chunks have embeddings
	// Imported: the record came from an export, not from the file at Path
	// here, so Sync never reads or prunes that path; only an explicit Add
	// of it ties the document to the local file again.
	Imported bool `json:"imported,omitempty"`
}

func (d *docRecord) chunkIDs() []uint64 {
	var out []uint64
	for _, r := range d.IDs {
		for id := r[0]; id <= r[1]; id++ {
			out = append(out, id)
		}
	}
	return out
}

func (d *docRecord) addID(id uint64) {
	if n := len(d.IDs); n > 0 && d.IDs[n-1][1]+1 == id {
		d.IDs[n-1][1] = id
		return
	}
	d.IDs = append(d.IDs, [2]uint64{id, id})
}

// encodeChunk lays a chunk out compactly (search decodes k of them per
// query, so this is cheaper than JSON): uvarints start, end, dl, then
// length-prefixed source and heading, then the text.
func encodeChunk(c *chunkRecord) []byte {
	out := make([]byte, 0, 16+len(c.Source)+len(c.Heading)+len(c.Text))
	out = binary.AppendUvarint(out, uint64(c.Start))
	out = binary.AppendUvarint(out, uint64(c.End))
	out = binary.AppendUvarint(out, uint64(c.DL))
	out = binary.AppendUvarint(out, uint64(len(c.Source)))
	out = append(out, c.Source...)
	out = binary.AppendUvarint(out, uint64(len(c.Heading)))
	out = append(out, c.Heading...)
	return append(out, c.Text...)
}

var errBadChunk = errors.New("malformed chunk record")

func decodeChunk(b []byte, c *chunkRecord) error {
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return errBadChunk
		}
		vals[i], b = v, b[n:]
	}
	str := func() (string, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return "", errBadChunk
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s, nil
	}
	var err error
	if c.Source, err = str(); err != nil {
		return err
	}
	if c.Heading, err = str(); err != nil {
		return err
	}
	c.Start, c.End, c.DL, c.Text = int(vals[0]), int(vals[1]), uint32(vals[2]), string(b)
	return nil
}

// chunkRecord is one sealed chunk.
type chunkRecord struct {
	Source  string `json:"src"`
	Heading string `json:"h,omitempty"`
	Start   int    `json:"a"`
	End     int    `json:"b"`
	Text    string `json:"t"`
	DL      uint32 `json:"dl"`
}

// AddOptions tune one Add or Sync call.
type AddOptions struct {
	Collection string
	// Progress, when set, is called after each file.
	Progress func(Progress)
	// Workers extract files in parallel (default GOMAXPROCS).
	Workers int

	// repair: files that look unchanged are checked for damaged records
	// and re-indexed if any (set by Add: an explicit re-add repairs).
	repair bool
}

// Progress reports ingest progress.
type Progress struct {
	Done, Total int
	Bytes       int64
}

// Skipped names a file that was not indexed and why.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// AddReport summarises an Add or Sync.
type AddReport struct {
	Added, Updated, Unchanged, Removed int
	Chunks                             int
	Bytes                              int64
	Skipped                            []Skipped // unsupported or binary: by design
	Failed                             []Skipped // could not be read: should be retried
}

// prepared is a file extracted, chunked and tokenised, ready to write.
type prepared struct {
	path     string
	kind     string
	size     int64
	mtime    int64
	hash     string
	exists   bool // a record for this path exists
	damaged  bool // its records failed authentication: rewrite them
	touch    bool // content unchanged: only refresh size/mtime
	chunks   []prepChunk
	bytes    int64
	err      error
	stream   bool // too big to hold: the writer streams it
	skipped  bool
	imported bool // from an export: detached from the local file
}

type prepChunk struct {
	raw   rawChunk
	terms []termFreq
	dl    int
}

type termFreq struct {
	term string
	tf   uint32
}

// prepChunkOf tokenises a chunk. Terms are kept as a slice (a map per chunk
// would cost several times the chunk's own size while a batch is pending).
func prepChunkOf(rc rawChunk) prepChunk {
	counts := map[string]uint32{}
	dl := 0
	forEachToken(rc.Text, func(t string, _, _ int) {
		counts[t]++
		dl++
	})
	terms := make([]termFreq, 0, len(counts))
	for t, n := range counts {
		terms = append(terms, termFreq{t, n})
	}
	return prepChunk{raw: rc, terms: terms, dl: dl}
}

// Add indexes files and folders. Unchanged files are no-ops, changed ones
// are re-indexed. Every file is committed whole in one transaction (big
// files: in pending segments made visible by one final transaction), so
// an interruption leaves each file fully indexed or absent.
func (v *Vault) Add(ctx context.Context, paths []string, o AddOptions) (AddReport, error) {
	end, err := v.begin()
	if err != nil {
		return AddReport{}, err
	}
	defer end()
	var rep AddReport
	c, err := v.coll(o.Collection, true)
	if err != nil {
		return rep, err
	}
	files, skipped, err := walk(ctx, paths, filepath.Dir(v.path))
	rep.Failed = append(rep.Failed, skipped...)
	if err != nil {
		return rep, err
	}
	o.repair = true
	err = v.ingest(ctx, c, files, o, &rep)
	return rep, err
}

// walk expands paths into regular files, skipping hidden directories and
// the vault's own directory.
func walk(ctx context.Context, paths []string, vaultDir string) ([]string, []Skipped, error) {
	var files []string
	var bad []Skipped
	seen := map[string]bool{}
	vaultDir, _ = filepath.Abs(vaultDir)
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, nil, fmt.Errorf("path %q: %w", p, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w: check the path", p, errors.Unwrap(err))
		}
		if !fi.IsDir() {
			if !seen[abs] {
				seen[abs] = true
				files = append(files, abs)
			}
			continue
		}
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				bad = append(bad, Skipped{path, "cannot read: " + errText(err)})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if path != abs && (strings.HasPrefix(d.Name(), ".") || path == vaultDir) {
					return fs.SkipDir
				}
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
					return nil
				}
			} else if !d.Type().IsRegular() {
				return nil
			}
			if !seen[path] {
				seen[path] = true
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	sort.Strings(files)
	return files, bad, nil
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// ingest prepares files on worker goroutines and writes them in batches on
// this one.
func (v *Vault) ingest(ctx context.Context, c *collection, files []string, o AddOptions, rep *AddReport) error {
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan string)
	// Workers run ahead of the writer (preparing the next batch while one
	// commits) but hold at most inflight bytes of prepared text.
	// A file weighs at most one batch, and an open batch holds less than
	// one batch, so a worker can always acquire once the writer commits.
	inflight := int64(4 * v.opts.BatchBytes)
	sem := semaphore.NewWeighted(inflight)
	weight := func(p *prepared) int64 { return min(max(p.bytes, 1), int64(v.opts.BatchBytes)) }
	results := make(chan *prepared, 1024)
	var chk *damageCheck
	if o.repair {
		chk = &damageCheck{segs: map[uint64]bool{}}
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range jobs {
				p := v.prepareChecked(c, path, chk)
				if err := sem.Acquire(ctx, weight(p)); err != nil {
					return
				}
				select {
				case results <- p:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, f := range files {
			select {
			case jobs <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var batch []*prepared
	var batchBytes int64
	done := 0
	commit := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := v.writeBatch(ctx, c, batch); err != nil {
			return err
		}
		for _, p := range batch {
			sem.Release(weight(p))
			switch {
			case p.touch:
				rep.Unchanged++
			case p.exists:
				rep.Updated++
			default:
				rep.Added++
			}
			rep.Chunks += len(p.chunks)
			rep.Bytes += p.bytes
		}
		batch, batchBytes = batch[:0], 0
		return v.compact(c)
	}
	var streams []*prepared
	for p := range results {
		done++
		if p.err != nil || p.stream || (p.chunks == nil && !p.touch && p.exists) {
			sem.Release(weight(p)) // not batched
		}
		switch {
		case p.err != nil && p.skipped:
			rep.Skipped = append(rep.Skipped, Skipped{p.path, p.err.Error()})
		case p.err != nil:
			rep.Failed = append(rep.Failed, Skipped{p.path, p.err.Error()})
		case p.stream:
			streams = append(streams, p)
		case p.chunks == nil && !p.touch && p.exists:
			rep.Unchanged++
		default:
			batch = append(batch, p)
			batchBytes += p.bytes
			if len(batch) >= v.opts.BatchFiles || batchBytes >= int64(v.opts.BatchBytes) {
				if err := commit(); err != nil {
					return err
				}
			}
		}
		if o.Progress != nil {
			o.Progress(Progress{Done: done, Total: len(files), Bytes: rep.Bytes + batchBytes})
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := commit(); err != nil {
		return err
	}
	for _, p := range streams {
		if err := v.streamFile(ctx, c, p, rep); err != nil {
			if errors.Is(err, ErrDiskFull) || ctx.Err() != nil {
				return err
			}
			rep.Failed = append(rep.Failed, Skipped{p.path, err.Error()})
		}
	}
	sort.Slice(rep.Skipped, func(i, j int) bool { return rep.Skipped[i].Path < rep.Skipped[j].Path })
	sort.Slice(rep.Failed, func(i, j int) bool { return rep.Failed[i].Path < rep.Failed[j].Path })
	return nil
}

// getDoc reads a document record by path (nil if absent).
func (c *collection) getDoc(tx *bolt.Tx, path string) (*docRecord, []byte, error) {
	key := c.docKey(path)
	b := c.bucket(tx, c.bDocs)
	if b == nil {
		return nil, key, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return nil, key, nil
	}
	pt, err := c.open(c.bDocs, key, raw)
	if err != nil {
		return nil, key, err
	}
	d := &docRecord{}
	if err := json.Unmarshal(pt, d); err != nil {
		return nil, key, err
	}
	return d, key, nil
}

// prepare reads, extracts, chunks and tokenises one file.
func (v *Vault) prepare(c *collection, path string) *prepared { return v.prepareChecked(c, path, nil) }

// prepareChecked is prepare; with chk, a file that looks unchanged is
// re-indexed when its records are damaged.
func (v *Vault) prepareChecked(c *collection, path string, chk *damageCheck) *prepared {
	p := &prepared{path: path}
	fi, err := os.Stat(path)
	if err != nil {
		p.err = fmt.Errorf("cannot read: %s", errText(err))
		return p
	}
	p.size, p.mtime = fi.Size(), fi.ModTime().UnixNano()
	var old *docRecord
	if err := v.db.View(func(tx *bolt.Tx) error {
		var err error
		old, _, err = c.getDoc(tx, path)
		return err
	}); isTamper(err) {
		p.exists, p.damaged = true, true // its record is damaged: rewrite it
	} else if err != nil {
		p.err = err
		return p
	}
	damaged := func() bool { // checked at most once, and only when it matters
		if chk != nil && !p.damaged && !v.intact(c, old, chk) {
			p.damaged = true
		}
		return p.damaged
	}
	// An imported record says nothing about the local file: read it whole.
	detached := old != nil && old.Imported
	if old != nil {
		p.exists = true
		// Unchanged, unless vectors are wanted and it has none yet.
		needVec := v.opts.Embedder != nil && !old.Vec && old.Chunks > 0
		if !detached && old.Size == p.size && old.MTime == p.mtime && !needVec && !damaged() {
			return p // unchanged: no-op
		}
	}
	if p.size > v.opts.StreamThreshold {
		p.stream = true
		return p
	}
	var chunks []prepChunk
	err = readFile(path, p, func(rc rawChunk) error {
		pc := prepChunkOf(rc)
		p.bytes += int64(len(rc.Text))
		chunks = append(chunks, pc)
		return nil
	})
	if err != nil {
		var s errSkip
		p.skipped = errors.As(err, &s)
		p.err = err
		return p
	}
	if old != nil && !detached && old.Hash == p.hash && (v.opts.Embedder == nil || old.Vec || old.Chunks == 0) && !damaged() {
		p.touch = true // same bytes, new mtime
		return p
	}
	if chunks == nil {
		chunks = []prepChunk{}
	}
	p.chunks = chunks
	return p
}

// readFile detects the kind, extracts and chunks path, hashing the bytes
// read and checking the file did not change meanwhile.
func readFile(path string, p *prepared, emit func(rawChunk) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read: %s", errText(err))
	}
	defer f.Close()
	head := make([]byte, 8192)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fmt.Errorf("cannot read: %s", errText(err))
	}
	head = head[:n]
	kind, err := detectKind(path, head)
	if err != nil {
		return err
	}
	p.kind = kind
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	ch := newChunker(emit)
	line := 0
	lines := func(text string) error {
		line++
		return ch.Line(line, text)
	}
	if kind == KindPDF {
		// The PDF reader seeks around; hash the file in one pass first.
		if _, err := io.Copy(h, f); err != nil {
			return fmt.Errorf("cannot read: %s", errText(err))
		}
		err = extractFrom(kind, f, f, p.size, lines)
	} else {
		tf := &teeFile{File: f, h: h}
		err = extractReader(kind, tf, f, p.size, lines)
	}
	if err != nil {
		return err
	}
	if err := ch.End(); err != nil {
		return err
	}
	p.hash = hex.EncodeToString(h.Sum(nil))
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("vanished while being read: %s", errText(err))
	}
	if fi.Size() != p.size || fi.ModTime().UnixNano() != p.mtime {
		return errors.New("changed while being read: add it again once it is stable")
	}
	return nil
}

// teeFile hashes what the extractor reads.
type teeFile struct {
	*os.File
	h hash.Hash
}

func (t *teeFile) Read(b []byte) (int, error) {
	n, err := t.File.Read(b)
	t.h.Write(b[:n])
	return n, err
}

// extractReader runs extract on the hashing reader; trailing bytes the
// extractor did not need are hashed too.
func extractReader(kind string, r io.Reader, f *os.File, size int64, emit lineFunc) error {
	tf := r.(*teeFile)
	if err := extractFrom(kind, tf, f, size, emit); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, tf)
	return err
}

func extractFrom(kind string, r io.Reader, f *os.File, size int64, emit lineFunc) (err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = skipf("unreadable %s file (%v)", kind, rec)
		}
	}()
	switch kind {
	case KindHTML:
		return extractHTML(r, emit)
	case KindEmail:
		return extractEmail(r, emit)
	case KindMbox:
		return extractMbox(r, emit)
	case KindVCard:
		return extractVCard(r, emit)
	case KindPDF:
		return extractPDF(f, size, emit)
	default:
		return extractText(r, emit)
	}
}

// writeBatch commits a batch of prepared files as one segment, in one
// transaction.
func (v *Vault) writeBatch(ctx context.Context, c *collection, batch []*prepared) error {
	vecs, err := v.embedBatch(ctx, c, batch)
	if err != nil {
		return err
	}
	return v.update(func(tx *bolt.Tx) error {
		db := c.bucket(tx, c.bDocs)
		cb := c.bucket(tx, c.bChunks)
		cb.FillPercent = 0.9
		// Old versions of re-indexed files go first, in one pass.
		var delIDs []uint64
		var delDLs []uint32
		olds := make([]*docRecord, len(batch))
		for i, p := range batch {
			if !p.exists {
				continue
			}
			old, _, err := c.getDoc(tx, p.path)
			if err != nil && !isTamper(err) {
				return err
			}
			olds[i] = old
			if old != nil && !p.touch {
				delIDs = append(delIDs, old.chunkIDs()...)
				delDLs = append(delDLs, old.DLs...)
			}
			if old == nil && p.damaged { // its chunk list is lost with the record
				ids, dls := c.chunksOf(tx, p.path, nil)
				delIDs, delDLs = append(delIDs, ids...), append(delDLs, dls...)
			}
		}
		if err := c.deleteChunks(tx, delIDs, delDLs); err != nil {
			return err
		}
		sb := newSegBuilder()
		var vecBlock []vecEntry
		var keys, pts [][]byte
		now := time.Now().UTC().Truncate(time.Second)
		for i, p := range batch {
			if p.touch && olds[i] != nil {
				d := olds[i]
				d.Size, d.MTime = p.size, p.mtime
				if err := c.putDoc(tx, d); err != nil {
					return err
				}
				continue
			}
			d := &docRecord{Path: p.path, Kind: p.kind, Size: p.size, MTime: p.mtime, Hash: p.hash, Bytes: p.bytes, Added: now, Imported: p.imported}
			for j, pc := range p.chunks {
				id, err := cb.NextSequence()
				if err != nil {
					return err
				}
				keys = append(keys, u64(id))
				pts = append(pts, encodeChunk(&chunkRecord{Source: p.path, Heading: pc.raw.Heading, Start: pc.raw.Start, End: pc.raw.End, Text: pc.raw.Text, DL: uint32(pc.dl)}))
				sb.add(id, pc.terms, pc.dl)
				d.addID(id)
				d.DLs = append(d.DLs, uint32(pc.dl))
				if vecs != nil {
					vecBlock = append(vecBlock, vecEntry{id, vecs[i][j]})
				}
			}
			d.Chunks = len(p.chunks)
			d.Vec = vecs != nil
			if err := c.putDoc(tx, d); err != nil {
				return err
			}
		}
		_ = db
		// Seal on all cores, then write in key order.
		cts, err := c.sealAll(c.bChunks, keys, pts)
		if err != nil {
			return err
		}
		for i := range keys {
			if err := cb.Put(keys[i], cts[i]); err != nil {
				return err
			}
		}
		seg, err := c.writeSeg(tx, sb, false)
		if err != nil || seg == nil {
			return err
		}
		return c.putVectors(tx, seg.ID, vecBlock)
	})
}

func (c *collection) putChunk(cb *bolt.Bucket, id uint64, src string, pc prepChunk) error {
	raw := encodeChunk(&chunkRecord{Source: src, Heading: pc.raw.Heading, Start: pc.raw.Start, End: pc.raw.End, Text: pc.raw.Text, DL: uint32(pc.dl)})
	return c.put(cb, c.bChunks, u64(id), raw)
}

func (c *collection) putDoc(tx *bolt.Tx, d *docRecord) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	key := c.docKey(d.Path)
	return c.put(c.bucket(tx, c.bDocs), c.bDocs, key, raw)
}

// streamFile indexes a file too big to hold in memory: chunks go into
// pending segments, flushed every SegmentBytes, and one final transaction
// makes them visible together with the document record.
func (v *Vault) streamFile(ctx context.Context, c *collection, p *prepared, rep *AddReport) error {
	d := &docRecord{Path: p.path, Size: p.size, MTime: p.mtime, Added: time.Now().UTC().Truncate(time.Second)}
	var pend []prepChunk
	var pendBytes int
	var segIDs []uint64
	flush := func() error {
		if len(pend) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := v.update(func(tx *bolt.Tx) error {
			cb := c.bucket(tx, c.bChunks)
			sb := newSegBuilder()
			for _, pc := range pend {
				id, err := cb.NextSequence()
				if err != nil {
					return err
				}
				if err := c.putChunk(cb, id, p.path, pc); err != nil {
					return err
				}
				sb.add(id, pc.terms, pc.dl)
				d.addID(id)
				d.DLs = append(d.DLs, uint32(pc.dl))
			}
			seg, err := c.writeSeg(tx, sb, true)
			if err != nil {
				return err
			}
			segIDs = append(segIDs, seg.ID)
			return nil
		})
		pend, pendBytes = pend[:0], 0
		return err
	}
	err := readFile(p.path, p, func(rc rawChunk) error {
		pc := prepChunkOf(rc)
		pend = append(pend, pc)
		pendBytes += len(rc.Text)
		d.Chunks++
		d.Bytes += int64(len(rc.Text))
		if pendBytes >= v.opts.SegmentBytes {
			if err := flush(); err != nil {
				return err
			}
			clear(pend[:cap(pend)]) // let the flushed chunks be collected
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		// Whatever was flushed is pending and invisible; drop it now.
		_ = v.dropPending(c)
		return err
	}
	d.Kind, d.Hash = p.kind, p.hash
	err = v.update(func(tx *bolt.Tx) error {
		old, _, err := c.getDoc(tx, p.path)
		if err != nil && !isTamper(err) {
			return err
		}
		if old != nil {
			if err := c.deleteChunks(tx, old.chunkIDs(), old.DLs); err != nil {
				return err
			}
		} else if p.damaged {
			keep := map[uint64]bool{}
			for _, id := range d.chunkIDs() {
				keep[id] = true
			}
			ids, dls := c.chunksOf(tx, p.path, keep)
			if err := c.deleteChunks(tx, ids, dls); err != nil {
				return err
			}
		}
		segs, err := c.loadSegs(tx)
		if err != nil {
			return err
		}
		mine := map[uint64]bool{}
		for _, id := range segIDs {
			mine[id] = true
		}
		for _, s := range segs {
			if mine[s.ID] {
				s.Pending = false
				if err := c.putSeg(tx, s); err != nil {
					return err
				}
			}
		}
		return c.putDoc(tx, d)
	})
	if err != nil {
		_ = v.dropPending(c)
		return err
	}
	if p.exists {
		rep.Updated++
	} else {
		rep.Added++
	}
	rep.Chunks += d.Chunks
	rep.Bytes += d.Bytes
	return v.compact(c)
}

// dropPending removes segments (and their chunks) of big files whose
// ingest never finished, e.g. after kill -9.
func (v *Vault) dropPending(c *collection) error {
	any := false
	if err := v.db.View(func(tx *bolt.Tx) error {
		segs, err := c.loadSegs(tx)
		for _, s := range segs {
			any = any || s.Pending
		}
		return err
	}); err != nil || !any {
		return err
	}
	return v.update(func(tx *bolt.Tx) error {
		segs, err := c.loadSegs(tx)
		if err != nil {
			return err
		}
		cb := c.bucket(tx, c.bChunks)
		for _, s := range segs {
			if !s.Pending {
				continue
			}
			cur := cb.Cursor()
			for k, _ := cur.Seek(u64(s.Min)); k != nil && bytes.Compare(k, u64(s.Max)) <= 0; k, _ = cur.Seek(u64(s.Min)) {
				if err := cur.Delete(); err != nil {
					return err
				}
			}
			if err := c.dropSeg(tx, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// recoverPending runs on every writable open.
func (v *Vault) recoverPending(ctx context.Context) error {
	names, err := v.collections()
	if err != nil {
		return err
	}
	for _, n := range names {
		c, err := v.coll(n, false)
		if err != nil {
			return err
		}
		if err := v.dropPending(c); err != nil {
			return fmt.Errorf("recover interrupted ingest: %w", err)
		}
	}
	return nil
}
