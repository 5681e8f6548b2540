package vault

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

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

// ErrBadArchive means an archive holds a record sov's export never
// writes: damaged, or not made by a vault export.
var ErrBadArchive = errors.New("the archive is damaged or was not made by a vault export")

// Import reads an export made by Export and indexes its documents into
// collection (the export's own collection when empty). Documents already
// present under the same path are replaced. Every record is checked before
// anything is written, so a bad one fails the whole import and leaves the
// vault as it was: r is read twice (rewound when it can seek, otherwise
// its ciphertext is held in memory). Imported documents are detached from
// local files (see docRecord.Imported).
func (v *Vault) Import(ctx context.Context, r io.Reader, collection string, identities ...age.Identity) (int, error) {
	end, err := v.begin()
	if err != nil {
		return 0, err
	}
	defer end()
	src, start, err := rewindable(r)
	if err != nil {
		return 0, fmt.Errorf("import: %w", err)
	}
	ids := &keyOnce{ids: identities}
	defer ids.wipe()
	h, err := readArchive(ctx, src, ids, nil)
	if err != nil {
		return 0, err
	}
	if collection == "" {
		if collection = h.Collection; collection != "" {
			if err := checkCollectionName(collection); err != nil {
				return 0, fmt.Errorf("import: the archive's collection: %w: %w", err, ErrBadArchive)
			}
		}
	}
	c, err := v.coll(collection, true)
	if err != nil {
		return 0, err
	}
	if _, err := src.Seek(start, io.SeekStart); err != nil {
		return 0, fmt.Errorf("import: %w", err)
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
	_, err = readArchive(ctx, src, ids, func(ed *exportDoc) error {
		p := &prepared{path: ed.Doc.Path, kind: ed.Doc.Kind, size: ed.Doc.Size, mtime: ed.Doc.MTime, hash: ed.Doc.Hash, bytes: ed.Doc.Bytes, imported: true}
		p.chunks = make([]prepChunk, 0, len(ed.Chunks))
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
			return err
		}
		batch = append(batch, p)
		size += p.bytes
		if len(batch) >= v.opts.BatchFiles || size >= int64(v.opts.BatchBytes) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// rewindable returns r as a seeker and where it starts: a file as it is,
// anything else (a pipe) read into memory; that is ciphertext only.
func rewindable(r io.Reader) (io.ReadSeeker, int64, error) {
	if s, ok := r.(io.ReadSeeker); ok {
		if off, err := s.Seek(0, io.SeekCurrent); err == nil {
			return s, off, nil
		}
	}
	b, err := io.ReadAll(r)
	return bytes.NewReader(b), 0, err
}

// readArchive decrypts and decodes an export from r, checking every
// document record, and passes each to fn (nil: check only).
func readArchive(ctx context.Context, r io.Reader, ids age.Identity, fn func(*exportDoc) error) (exportHeader, error) {
	var h exportHeader
	ar, err := age.Decrypt(r, ids)
	if err != nil {
		var nm *age.NoIdentityMatchError
		switch {
		case errors.As(err, &nm):
			return h, errors.New("cannot decrypt the export: wrong passphrase or identity")
		case errors.Is(err, ErrWorkFactor):
			return h, fmt.Errorf("import: %w", err)
		}
		return h, fmt.Errorf("import: not a vault export archive, or damaged (%v)", err)
	}
	dec := json.NewDecoder(bufio.NewReader(ar))
	if err := dec.Decode(&h); err != nil || h.Format != exportFormat {
		return h, errors.New("import: not a vault export archive")
	}
	if h.Version != 1 {
		return h, fmt.Errorf("import: export version %d is newer than this sov: upgrade sov", h.Version)
	}
	seen := map[string]bool{}
	for i := 1; ; i++ {
		if err := ctx.Err(); err != nil {
			return h, err
		}
		var ed exportDoc
		err := dec.Decode(&ed)
		if err == io.EOF {
			return h, nil
		}
		if err != nil {
			return h, fmt.Errorf("import: document %d: %v: %w", i, err, ErrBadArchive)
		}
		reason := checkExportDoc(&ed)
		if reason == "" && seen[ed.Doc.Path] {
			reason = "listed twice"
		}
		if reason != "" {
			return h, fmt.Errorf("import: document %d (%s): %s: %w", i, quoteShort(ed.Doc.Path), reason, ErrBadArchive)
		}
		seen[ed.Doc.Path] = true
		if fn != nil {
			if err := fn(&ed); err != nil {
				return h, err
			}
		}
	}
}

// maxPath bounds an imported path (PATH_MAX on Linux).
const maxPath = 4096

var exportKinds = map[string]bool{"": true, KindText: true, KindMarkdown: true, KindHTML: true, KindPDF: true,
	KindEmail: true, KindMbox: true, KindVCard: true, KindJSON: true, KindCSV: true}

// checkExportDoc says what is wrong with a document record, "" if nothing:
// it must be what Export writes (an absolute clean path, sizes and line
// ranges that fit its text), since its path and text reach the index,
// search results and terminals.
func checkExportDoc(ed *exportDoc) string {
	d := &ed.Doc
	p := d.Path
	switch {
	case p == "":
		return "empty path"
	case len(p) > maxPath:
		return fmt.Sprintf("path longer than %d bytes", maxPath)
	case !utf8.ValidString(p):
		return "path is not UTF-8"
	case strings.IndexFunc(p, isControl) >= 0:
		return "control character in the path"
	case !filepath.IsAbs(p):
		return "relative path (exports hold absolute ones)"
	case filepath.Clean(p) != p || filepath.Dir(p) == p:
		return "path is not a clean file path (.., //, a trailing /)"
	case !exportKinds[d.Kind]:
		return "unknown kind " + quoteShort(d.Kind)
	case d.Size < 0 || d.Bytes < 0:
		return "negative size"
	case d.Hash != "" && !isSHA256Hex(d.Hash):
		return "malformed sha256"
	case d.Chunks != len(ed.Chunks):
		return fmt.Sprintf("says %d chunks, holds %d", d.Chunks, len(ed.Chunks))
	}
	var text int64
	for i, ch := range ed.Chunks {
		if ch.Start < 0 || ch.End < ch.Start {
			return fmt.Sprintf("chunk %d: bad line range %d-%d", i+1, ch.Start, ch.End)
		}
		text += int64(len(ch.Text))
	}
	if text != d.Bytes {
		return fmt.Sprintf("says %d bytes of text, holds %d", d.Bytes, text)
	}
	return ""
}

// isControl: C0 (newline included), DEL and C1, ESC among them.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size && strings.ToLower(s) == s
}

// quoteShort quotes untrusted text for an error: escaped, so no control
// character reaches a terminal, and cut to a readable length.
func quoteShort(s string) string {
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:80], "") + "…"
	}
	return strconv.Quote(s)
}

// keyOnce unwraps an archive's file key once, with the identities given,
// and hands it to the second read of the same archive (age still checks
// the header's MAC with it), so a passphrase costs one scrypt, not two.
type keyOnce struct {
	ids []age.Identity
	key []byte
}

func (k *keyOnce) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if k.key != nil {
		return bytes.Clone(k.key), nil
	}
	for _, id := range k.ids {
		key, err := id.Unwrap(stanzas)
		if errors.Is(err, age.ErrIncorrectIdentity) {
			continue
		}
		if err != nil {
			return nil, err
		}
		k.key = bytes.Clone(key)
		return key, nil
	}
	return nil, age.ErrIncorrectIdentity
}

func (k *keyOnce) wipe() { seal.Wipe(k.key) }

// MaxScryptWorkFactor caps the scrypt work factor (log2 N) of a
// passphrase archive Import accepts: sov's own exports use 18 (age's
// default, 256 MiB); each step doubles memory and time, and age's own
// cap of 22 costs 4 GiB and seconds, which a foreign archive must not
// impose.
const MaxScryptWorkFactor = 20

// ErrWorkFactor means a passphrase archive asks for more scrypt work than
// MaxScryptWorkFactor.
var ErrWorkFactor = errors.New("the archive's passphrase work factor is above what sov accepts")

// cappedScrypt refuses an scrypt stanza above MaxScryptWorkFactor with
// ErrWorkFactor before any work is done.
type cappedScrypt struct{ *age.ScryptIdentity }

func (c cappedScrypt) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != "scrypt" || len(s.Args) != 2 {
			continue
		}
		if n, err := strconv.Atoi(s.Args[1]); err == nil && n > MaxScryptWorkFactor {
			return nil, fmt.Errorf("%w: 2^%d, the limit is 2^%d (sov's exports use 2^18)", ErrWorkFactor, n, MaxScryptWorkFactor)
		}
	}
	return c.ScryptIdentity.Unwrap(stanzas)
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
	id.SetMaxWorkFactor(MaxScryptWorkFactor)
	return []age.Identity{cappedScrypt{id}}, nil
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
