package vault

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/seal"
)

// The export format is an age-encrypted stream of JSON lines: a header line,
// then one line per document with its chunks. It carries the extracted text
// and metadata, not the index, so it can be imported into any vault.

type exportHeader struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	Collection string `json:"collection"`
}

type exportDoc struct {
	Doc    docRecord     `json:"doc"`
	Chunks []exportChunk `json:"chunks"`
}

type exportChunk struct {
	Heading string `json:"heading,omitempty"`
	Start   int    `json:"start"`
	End     int    `json:"end"`
	Text    string `json:"text"`
}

const exportFormat = "sov-vault-export"

// Export writes the collection, encrypted to recipients, to w. It returns
// the number of documents written. A document with a damaged record is
// left out and the archive of the rest completed; the error is then a
// *DamagedError naming the files left out.
func (v *Vault) Export(ctx context.Context, w io.Writer, collection string, recipients ...age.Recipient) (int, error) {
	end, err := v.begin()
	if err != nil {
		return 0, err
	}
	defer end()
	if len(recipients) == 0 {
		return 0, errors.New("export needs a recipient or passphrase")
	}
	recs, warn, err := v.docs(collection)
	if err != nil {
		return 0, err
	}
	c, err := v.coll(collection, false)
	if err != nil && !errors.Is(err, ErrEmpty) {
		return 0, err
	}
	aw, err := age.Encrypt(w, recipients...)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	bw := bufio.NewWriter(aw)
	enc := json.NewEncoder(bw)
	if collection == "" {
		collection = DefaultCollection
	}
	if err := enc.Encode(exportHeader{Format: exportFormat, Version: 1, Collection: collection}); err != nil {
		return 0, err
	}
	n := 0
	var left DamagedError
	for _, d := range recs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		ed := exportDoc{Doc: *d}
		ed.Doc.IDs, ed.Doc.DLs = nil, nil
		err := v.db.View(func(tx *bolt.Tx) error {
			cb := c.bucket(tx, c.bChunks)
			for _, id := range d.chunkIDs() {
				key := u64(id)
				raw := cb.Get(key)
				if raw == nil {
					return &TamperError{Record: c.recordName(c.bChunks, key) + " (missing)"}
				}
				pt, err := c.open(c.bChunks, key, raw)
				if err != nil {
					return err
				}
				var cr chunkRecord
				if err := decodeChunk(pt, &cr); err != nil {
					return err
				}
				ed.Chunks = append(ed.Chunks, exportChunk{cr.Heading, cr.Start, cr.End, cr.Text})
			}
			return nil
		})
		if isTamper(err) {
			left.Files = append(left.Files, d.Path)
			continue
		}
		if err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		if err := enc.Encode(ed); err != nil {
			return n, err
		}
		n++
	}
	if len(warn) > 0 { // damaged document records: named by their chunks
		var rep VerifyReport
		if err := v.db.View(func(tx *bolt.Tx) error { return c.verify(ctx, tx, &rep) }); err != nil {
			return n, err
		}
		listed := map[string]bool{}
		for _, d := range recs {
			listed[d.Path] = true
		}
		named := 0
		for _, d := range rep.Damaged {
			if !listed[d.Path] {
				left.Files = append(left.Files, d.Path)
				named++
			}
		}
		left.Other = max(0, len(warn)-named)
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	if err := aw.Close(); err != nil {
		return n, err
	}
	if len(left.Files) > 0 || left.Other > 0 {
		return n, fmt.Errorf("the archive holds %d document(s), not those it could not read: %w", n, &left)
	}
	return n, nil
}

// Import reads an export made by Export and indexes its documents into
// collection (the export's own collection when empty). Documents already
// present under the same path are replaced.
func (v *Vault) Import(ctx context.Context, r io.Reader, collection string, identities ...age.Identity) (int, error) {
	end, err := v.begin()
	if err != nil {
		return 0, err
	}
	defer end()
	ar, err := age.Decrypt(r, identities...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return 0, errors.New("cannot decrypt the export: wrong passphrase or identity")
		}
		return 0, fmt.Errorf("import: not a vault export archive, or damaged (%v)", err)
	}
	dec := json.NewDecoder(bufio.NewReader(ar))
	var h exportHeader
	if err := dec.Decode(&h); err != nil || h.Format != exportFormat {
		return 0, errors.New("import: not a vault export archive")
	}
	if h.Version != 1 {
		return 0, fmt.Errorf("import: export version %d is newer than this sov: upgrade sov", h.Version)
	}
	if collection == "" {
		collection = h.Collection
	}
	c, err := v.coll(collection, true)
	if err != nil {
		return 0, err
	}
	var batch []*prepared
	var size int64
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := v.writeBatch(ctx, c, batch); err != nil {
			return err
		}
		n += len(batch)
		batch, size = batch[:0], 0
		return v.compact(c)
	}
	for {
		var ed exportDoc
		err := dec.Decode(&ed)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("import: damaged export after %d documents: %v", n, err)
		}
		p := &prepared{path: ed.Doc.Path, kind: ed.Doc.Kind, size: ed.Doc.Size, mtime: ed.Doc.MTime, hash: ed.Doc.Hash, bytes: ed.Doc.Bytes}
		p.chunks = []prepChunk{}
		for _, ch := range ed.Chunks {
			p.chunks = append(p.chunks, prepChunkOf(rawChunk{Text: ch.Text, Heading: ch.Heading, Start: ch.Start, End: ch.End}))
		}
		if err := v.db.View(func(tx *bolt.Tx) error {
			old, _, err := c.getDoc(tx, p.path)
			p.exists = old != nil
			if isTamper(err) {
				return nil
			}
			return err
		}); err != nil {
			return n, err
		}
		batch = append(batch, p)
		size += p.bytes
		if len(batch) >= v.opts.BatchFiles || size >= int64(v.opts.BatchBytes) {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// ErrBadRecipient wraps a recipient that is not an age X25519 public key.
var ErrBadRecipient = errors.New("not an age public key (age1…)")

// Recipients are the age recipients of an export: the X25519 public keys
// given, or with none an scrypt recipient for the passphrase pass supplies
// (asked only then; with pass nil there is no recipient yet, so keys can
// be checked before any prompt).
func Recipients(keys []string, pass Passphrase) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(k)
		if err != nil {
			return nil, fmt.Errorf("%q is %w: %v", k, ErrBadRecipient, err)
		}
		out = append(out, r)
	}
	if len(out) > 0 || pass == nil {
		return out, nil
	}
	r, err := fromPassphrase(pass, age.NewScryptRecipient)
	if err != nil {
		return nil, err
	}
	return []age.Recipient{r}, nil
}

// fromPassphrase builds an age recipient or identity from the export
// passphrase pass supplies, wiped after use.
func fromPassphrase[T any](pass Passphrase, build func(string) (T, error)) (T, error) {
	var zero T
	p, err := pass()
	if err != nil {
		return zero, err
	}
	defer seal.Wipe(p)
	v, err := build(string(p))
	if err != nil {
		return zero, fmt.Errorf("export passphrase: %w", err)
	}
	return v, nil
}

// Identities open an export: the age identities in identityFile, or with
// none given the passphrase pass supplies (asked only then).
func Identities(identityFile string, pass Passphrase) ([]age.Identity, error) {
	if identityFile != "" {
		f, err := os.Open(identityFile)
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		defer f.Close()
		ids, err := age.ParseIdentities(f)
		if err != nil {
			return nil, fmt.Errorf("identity %s: %v: it must be an age identity file (AGE-SECRET-KEY-…)", identityFile, err)
		}
		return ids, nil
	}
	id, err := fromPassphrase(pass, age.NewScryptIdentity)
	if err != nil {
		return nil, err
	}
	return []age.Identity{id}, nil
}

// ExportFileWith is ExportFile to recipients, or with none to an scrypt
// recipient for the passphrase pass supplies, asked only then: after the
// vault's own passphrase, and after Recipients checked the keys given.
func (v *Vault) ExportFileWith(ctx context.Context, path, collection string, recipients []age.Recipient, pass Passphrase) (int, error) {
	if len(recipients) == 0 {
		var err error
		if recipients, err = Recipients(nil, pass); err != nil {
			return 0, err
		}
	}
	return v.ExportFile(ctx, path, collection, recipients...)
}

// ExportFile is Export to the file at path, written whole or not at all: a
// temporary file beside it is synced and renamed over path, so a failed
// export leaves no partial archive and keeps the file it would replace.
func (v *Vault) ExportFile(ctx context.Context, path, collection string, recipients ...age.Recipient) (int, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, left := v.Export(ctx, tmp, collection, recipients...)
	if err = left; errors.As(left, new(*DamagedError)) {
		err = nil // the archive of the rest is whole: keep it, then say what it lacks
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		return n, left
	}
	if !errors.Is(err, ErrDiskFull) {
		err = fmt.Errorf("export: %w", err)
	}
	return n, err
}
