package ledger

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// EntryError is a problem with one entry, found by Verify.
type EntryError struct {
	Seq    uint64
	Reason string
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %d: %s", e.Seq, e.Reason) }

// ErrDamaged matches every verification failure.
var ErrDamaged = errors.New("the ledger does not verify")

// Report is what Verify found.
type Report struct {
	Entries     int
	KeyID       string // "" when the ledger has no key yet
	Signed      int    // entries with a valid signature by the ledger key
	Covered     int    // entries authenticated by a later signature (chain or checkpoint)
	Unsigned    int    // entries after the last signature: not yet authenticated
	Checkpoints int
	Root        string // Merkle root over every line (RFC 6962, hex)
	Problems    []*EntryError
}

// Err is nil when every entry verifies; otherwise it names the first bad
// entry and matches ErrDamaged.
func (r Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	more := ""
	if n := len(r.Problems) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more problems)", n)
	}
	return fmt.Errorf("%w: %v%s", ErrDamaged, r.Problems[0], more)
}

// Verify checks every line: envelope and statement, sequence numbers, the
// hash chain, signatures against the ledger key, and every checkpoint's
// Merkle root. It reads on past damage and reports each bad entry.
func (l *Ledger) Verify(ctx context.Context) (Report, error) {
	es, err := l.Entries()
	if err != nil {
		return Report{}, err
	}
	key, err := l.LoadKey()
	if err != nil && !errors.Is(err, ErrNoKey) {
		return Report{}, err
	}
	return verifyEntries(ctx, es, key), nil
}

func verifyEntries(ctx context.Context, es []Entry, key KeyInfo) Report {
	r := Report{Entries: len(es), KeyID: key.KeyID}
	bad := map[uint64]string{}
	note := func(seq uint64, format string, a ...any) {
		if _, ok := bad[seq]; !ok {
			bad[seq] = fmt.Sprintf(format, a...)
		}
	}
	var ev *dsse.EnvelopeVerifier
	if key.KeyID != "" {
		ev, _ = dsse.NewEnvelopeVerifier(verifier{pub: key.Public, id: key.KeyID})
	}
	leaves := make([][]byte, len(es))
	for i, e := range es {
		leaves[i] = rfc6962.DefaultHasher.HashLeaf(e.Line)
	}
	lastSigned := -1
	for i, e := range es {
		seq := uint64(i)
		if e.Err != nil {
			note(seq, "%v", e.Err)
			continue
		}
		if e.Seq != seq {
			note(seq, "says it is entry %d: entries were removed, reordered or inserted", e.Seq)
		}
		// The chain: each entry records the previous line's hash. A
		// mismatch means the previous line changed after this was written.
		if i > 0 && e.Prev != es[i-1].Hash {
			note(seq-1, "changed after entry %d recorded its hash (%s…, now %s…)", i, short(e.Prev), short(es[i-1].Hash))
		}
		if i == 0 && e.Prev != "" {
			note(seq, "claims a previous entry, but it is the first: entries before it were removed")
		}
		if e.Signed() {
			switch ok, why := checkSignatures(ctx, ev, key, e); {
			case ok:
				r.Signed++
				lastSigned = i
			default:
				note(seq, "%s", why)
			}
		}
		if e.Kind == KindCheckpoint {
			r.Checkpoints++
			if want := fmt.Sprint(e.Fields["size"]); want != fmt.Sprint(i) {
				note(seq, "checkpoint for %s entries, but it is entry %d", want, i)
			} else if root := merkleRoot(leaves[:i]); e.Subjects["tree-head"] != root {
				note(seq, "checkpoint root %s… does not match the entries before it (%s…): an earlier entry changed", short(e.Subjects["tree-head"]), short(root))
			}
		}
	}
	for i := range es {
		if _, ok := bad[uint64(i)]; ok {
			continue
		}
		switch {
		case es[i].Signed():
		case i < lastSigned:
			r.Covered++
		default:
			r.Unsigned++
		}
	}
	seqs := make([]uint64, 0, len(bad))
	for s := range bad {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(a, b int) bool { return seqs[a] < seqs[b] })
	for _, s := range seqs {
		r.Problems = append(r.Problems, &EntryError{Seq: s, Reason: bad[s]})
	}
	r.Root = merkleRoot(leaves)
	return r
}

func checkSignatures(ctx context.Context, ev *dsse.EnvelopeVerifier, key KeyInfo, e Entry) (bool, string) {
	for _, id := range e.KeyIDs {
		if key.KeyID == "" {
			return false, fmt.Sprintf("signed by key %s…, but the ledger has no key file", short(id))
		}
		if id != key.KeyID {
			return false, fmt.Sprintf("signed by another key (%s…), not the ledger's key %s…", short(id), short(key.KeyID))
		}
	}
	if _, err := ev.Verify(ctx, &e.env); err != nil {
		return false, "signature does not verify: the entry was changed after it was signed"
	}
	return true, ""
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// merkleRoot is the RFC 6962 tree hash over leaf hashes, hex.
func merkleRoot(leaves [][]byte) string {
	f := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rg := f.NewEmptyRange(0)
	for _, h := range leaves {
		_ = rg.Append(h, nil) // appending to an empty-begun range cannot fail
	}
	if len(leaves) == 0 {
		return hex.EncodeToString(rfc6962.DefaultHasher.EmptyRoot())
	}
	root, _ := rg.GetRootHash(nil)
	return hex.EncodeToString(root)
}

// Checkpoint appends a signed tree head over every entry so far: every
// entry before it is then authenticated, signed or not.
func (l *Ledger) Checkpoint(ctx context.Context, s *Signer) (Entry, error) {
	if s == nil {
		return Entry{}, ErrNoKey
	}
	var out Entry
	err := l.lock(true, func() error {
		es, err := l.readLocked()
		if err != nil {
			return err
		}
		leaves := make([][]byte, len(es))
		for i, e := range es {
			leaves[i] = rfc6962.DefaultHasher.HashLeaf(e)
		}
		root := merkleRoot(leaves)
		rec := Record{Kind: KindCheckpoint, Principal: "user", Subjects: map[string]string{"tree-head": root}, Fields: map[string]any{"size": len(es)}}
		out, err = l.appendLocked(ctx, rec, s)
		return err
	})
	return out, err
}

func (l *Ledger) readLocked() ([][]byte, error) {
	f, err := os.Open(l.path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	var lines [][]byte
	err = scanLines(f, func(b []byte) error { lines = append(lines, bytes.Clone(b)); return nil })
	return lines, err
}

// Export writes the ledger as DSSE JSON Lines to w, one envelope per line
// exactly as stored, so a third party can check each signature with the
// DSSE spec and the public key alone.
func (l *Ledger) Export(w io.Writer) (int, error) {
	var n int
	err := l.lock(false, func() error {
		lines, err := l.readLocked()
		if err != nil {
			return err
		}
		for _, b := range lines {
			if _, err := w.Write(append(b, '\n')); err != nil {
				return fmt.Errorf("ledger export: %w", err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// PAE is the DSSE pre-authentication encoding of an entry, what its
// signature covers.
func (e Entry) PAE() []byte { return dsse.PAE(e.env.PayloadType, e.payload) }

// Signatures returns the raw signatures of the entry.
func (e Entry) Signatures() [][]byte {
	var out [][]byte
	for _, s := range e.env.Signatures {
		b, err := base64.StdEncoding.DecodeString(s.Sig)
		if err == nil {
			out = append(out, b)
		}
	}
	return out
}

// CheckpointText is a checkpoint written for others to check (published as
// a signed article): the signed tree head exactly as stored, and the
// ledger's public key.
func CheckpointText(e Entry, k KeyInfo) (title, body string, err error) {
	if e.Kind != KindCheckpoint || !e.Signed() {
		return "", "", fmt.Errorf("entry %d is not a signed checkpoint", e.Seq)
	}
	pub, err := k.PublicPEM()
	if err != nil {
		return "", "", err
	}
	title = fmt.Sprintf("sov ledger checkpoint: %v entries", e.Fields["size"])
	body = fmt.Sprintf("The signed head of my sov ledger: %v entries, RFC 6962 Merkle root `%s`, ledger key id `%s`.\n\n"+
		"The DSSE envelope (an in-toto statement, signed with ed25519):\n\n```json\n%s\n```\n\nThe public key:\n\n```\n%s```\n",
		e.Fields["size"], e.Subjects["tree-head"], k.KeyID, e.Line, pub)
	return title, body, nil
}
