package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/sovos/sov/internal/seal"
)

func digest(s string) string { return SHA256([]byte(s)) }

func modelRecord(i int) Record {
	return Record{
		Kind: KindModel, Principal: "cli",
		Subjects: map[string]string{"request": digest(fmt.Sprint("req", i)), "output": digest(fmt.Sprint("out", i))},
		Fields:   map[string]any{"model_sha256": digest("model"), "seed": 42, "temperature": 0.7, "prompt_tokens": 12, "output_tokens": 30},
	}
}

// newSigned makes a ledger with a local key and n signed model entries.
func newSigned(t *testing.T, n int) (*Ledger, *Signer) {
	t.Helper()
	l := Open(t.TempDir())
	s, err := l.CreateLocalKey([]byte("pass"), seal.FastKDF())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(context.Background(), modelRecord(i), s); err != nil {
			t.Fatal(err)
		}
	}
	return l, s
}

func TestLedgerAppendReadVerify(t *testing.T) {
	ctx := context.Background()
	l, s := newSigned(t, 3)
	if _, err := l.Append(ctx, modelRecord(3), nil); err != nil { // a writer without the key
		t.Fatal(err)
	}
	es, err := l.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 {
		t.Fatalf("%d entries, want 4", len(es))
	}
	for i, e := range es {
		if e.Err != nil || e.Seq != uint64(i) || e.Kind != KindModel || e.Principal != "cli" {
			t.Fatalf("entry %d: %+v", i, e)
		}
		if i > 0 && e.Prev != es[i-1].Hash {
			t.Fatalf("entry %d does not chain to %d", i, i-1)
		}
		if e.Subjects["output"] != digest(fmt.Sprint("out", i)) || e.Fields["seed"] != 42.0 || e.Fields["temperature"] != 0.7 {
			t.Fatalf("entry %d round trip: %v %v", i, e.Subjects, e.Fields)
		}
		if e.Signed() != (i < 3) {
			t.Fatalf("entry %d signed=%v", i, e.Signed())
		}
	}
	r, err := l.Verify(ctx)
	if err != nil || r.Err() != nil {
		t.Fatalf("verify: %v %v", err, r.Err())
	}
	if r.Signed != 3 || r.Unsigned != 1 || r.Covered != 0 {
		t.Fatalf("report %+v", r)
	}
	// A checkpoint authenticates the unsigned entry before it.
	cp, err := l.Checkpoint(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Seq != 4 || cp.Fields["size"] != 4.0 {
		t.Fatalf("checkpoint %+v", cp)
	}
	r, _ = l.Verify(ctx)
	if r.Err() != nil || r.Signed != 4 || r.Covered != 1 || r.Unsigned != 0 || r.Checkpoints != 1 {
		t.Fatalf("after checkpoint: %+v %v", r, r.Err())
	}
	// Entries are canonical JSON (RFC 8785): re-canonicalising changes nothing.
	for _, e := range es {
		var v any
		if err := json.Unmarshal(e.Line, &v); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(e.Line, []byte("\n")) || bytes.Contains(e.Line, []byte(": ")) {
			t.Fatalf("line not canonical: %s", e.Line)
		}
	}
}

func TestLedgerRejectsBadRecords(t *testing.T) {
	l := Open(t.TempDir())
	for _, rec := range []Record{
		{Kind: "payment"},
		{Kind: "bogus", Subjects: map[string]string{"x": digest("x")}},
		{Kind: KindNote, Subjects: map[string]string{"x": "not-hex"}},
	} {
		if _, err := l.Append(context.Background(), rec, nil); err == nil {
			t.Errorf("%+v was accepted", rec)
		}
	}
}

// part finds the JSON string value of key in line and returns its span.
func part(t *testing.T, line []byte, key string) (int, int) {
	t.Helper()
	k := []byte(`"` + key + `":"`)
	i := bytes.Index(line, k)
	if i < 0 {
		t.Fatalf("no %s in %s", key, line)
	}
	start := i + len(k)
	end := start + bytes.IndexByte(line[start:], '"')
	return start, end
}

// TestLedgerVerifyCatchesAFlippedByteInEachPart flips one byte in every part
// of one entry's envelope and checks that verify names that entry, and
// still lists the others.
func TestLedgerVerifyCatchesAFlippedByteInEachPart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		part, want string
		at         func(t *testing.T, line []byte) int
	}{
		{"payloadType", "payload type", func(t *testing.T, b []byte) int { s, _ := part(t, b, "payloadType"); return s + 3 }},
		{"payload start", "entry 1", func(t *testing.T, b []byte) int { s, _ := part(t, b, "payload"); return s + 1 }},
		{"payload middle", "entry 1", func(t *testing.T, b []byte) int { s, e := part(t, b, "payload"); return (s + e) / 2 }},
		{"payload end", "entry 1", func(t *testing.T, b []byte) int { _, e := part(t, b, "payload"); return e - 5 }},
		{"keyid", "another key", func(t *testing.T, b []byte) int { s, _ := part(t, b, "keyid"); return s + 7 }},
		{"sig", "signature does not verify", func(t *testing.T, b []byte) int { s, _ := part(t, b, "sig"); return s + 10 }},
		{"structure", "not a DSSE envelope", func(t *testing.T, b []byte) int { return 0 }},
	} {
		t.Run(tc.part, func(t *testing.T) {
			l, _ := newSigned(t, 3)
			path := filepath.Join(l.Dir(), entriesFile)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.SplitAfter(data, []byte("\n"))
			line := lines[1]
			i := tc.at(t, line)
			line[i] = flip(line[i])
			if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := l.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Err()
			if !errors.Is(err, ErrDamaged) || len(r.Problems) == 0 || r.Problems[0].Seq != 1 {
				t.Fatalf("flip in %s: %v (%+v)", tc.part, err, r.Problems)
			}
			if !strings.Contains(err.Error(), "entry 1") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("flip in %s: %q does not say %q", tc.part, err, tc.want)
			}
			// The other entries still read and verify.
			es, _ := l.Entries()
			if len(es) != 3 || es[0].Err != nil || es[2].Err != nil || r.Signed != 2 {
				t.Fatalf("rest not listed: %d entries, signed %d", len(es), r.Signed)
			}
		})
	}
}

// flip changes a byte to another of the same class, so base64 and hex stay
// decodable and the change must be caught by what they mean.
func flip(b byte) byte {
	switch {
	case b >= '0' && b <= '8', b >= 'a' && b <= 'e', b >= 'A' && b <= 'Y':
		return b + 1
	case b == '9':
		return '0'
	case b == 'f':
		return 'a'
	case b == 'Z' || b == 'z':
		return 'b'
	}
	return b ^ 0x01
}

func TestLedgerUnsignedEntryChangedIsCaughtByChainAndCheckpoint(t *testing.T) {
	ctx := context.Background()
	l := Open(t.TempDir())
	s, err := l.CreateLocalKey([]byte("pass"), seal.FastKDF())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Append(ctx, modelRecord(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx, s); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(l.Dir(), entriesFile)
	data, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(data, []byte("\n"))
	st, en := part(t, lines[1], "payload")
	// Re-encode a changed but well-formed statement: only the chain and the
	// checkpoint can tell.
	payload, _ := base64.StdEncoding.DecodeString(string(lines[1][st:en]))
	payload = bytes.Replace(payload, []byte(`"seed":42`), []byte(`"seed":43`), 1)
	lines[1] = append(append(append([]byte{}, lines[1][:st]...), base64.StdEncoding.EncodeToString(payload)...), lines[1][en:]...)
	os.WriteFile(path, bytes.Join(lines, nil), 0o600)
	r, _ := l.Verify(ctx)
	if r.Err() == nil || r.Problems[0].Seq != 1 || !strings.Contains(r.Err().Error(), "changed after entry 2") {
		t.Fatalf("changed unsigned entry: %v", r.Err())
	}
	if !strings.Contains(fmt.Sprint(r.Problems), "checkpoint root") {
		t.Fatalf("checkpoint did not notice: %v", r.Problems)
	}
}

func TestLedgerTruncatedAndTornTail(t *testing.T) {
	ctx := context.Background()
	l, s := newSigned(t, 3)
	path := filepath.Join(l.Dir(), entriesFile)
	data, _ := os.ReadFile(path)
	// A writer killed mid-line: the last entry loses its second half.
	cut := len(data) - 200
	if err := os.WriteFile(path, data[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ := l.Verify(ctx)
	if r.Err() == nil || r.Problems[0].Seq != 2 || !strings.Contains(r.Err().Error(), "truncated") {
		t.Fatalf("truncated: %v", r.Err())
	}
	if r.Signed != 2 || r.Entries != 3 {
		t.Fatalf("the rest is not listed: %+v", r)
	}
	// Appending goes on after the torn line, which stays reported alone.
	e, err := l.Append(ctx, modelRecord(9), s)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 3 {
		t.Fatalf("seq after torn line: %d", e.Seq)
	}
	r, _ = l.Verify(ctx)
	if len(r.Problems) != 1 || r.Problems[0].Seq != 2 || r.Signed != 3 {
		t.Fatalf("after append: %+v", r)
	}
}

func TestLedgerEntrySignedByAnotherKey(t *testing.T) {
	ctx := context.Background()
	l, _ := newSigned(t, 2)
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := l.Signer(other); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("foreign key accepted as signer: %v", err)
	}
	if _, err := l.Append(ctx, modelRecord(2), NewSigner(other)); err != nil {
		t.Fatal(err)
	}
	r, _ := l.Verify(ctx)
	if r.Err() == nil || r.Problems[0].Seq != 2 || !strings.Contains(r.Err().Error(), "another key") {
		t.Fatalf("foreign signature: %v", r.Err())
	}
}

func TestLedgerLocalKey(t *testing.T) {
	l := Open(t.TempDir())
	if _, err := l.UnlockLocalKey([]byte("x")); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
	s, err := l.CreateLocalKey([]byte("right"), seal.FastKDF())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateLocalKey([]byte("right"), seal.FastKDF()); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second key: %v", err)
	}
	if _, err := l.UnlockLocalKey([]byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	s2, err := l.UnlockLocalKey([]byte("right"))
	if err != nil || s2.id != s.id {
		t.Fatalf("unlock: %v", err)
	}
	raw, _ := os.ReadFile(filepath.Join(l.Dir(), keyFile))
	if bytes.Contains(raw, s.priv.Seed()) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(s.priv.Seed()))) {
		t.Fatal("the private key is on disk in plaintext")
	}
}

// TestLedgerConcurrentProcesses has two processes append at once: every
// entry is kept and the chain is intact.
func TestLedgerConcurrentProcesses(t *testing.T) {
	if dir := os.Getenv("SOV_LEDGER_HELPER_DIR"); dir != "" {
		l := Open(dir)
		for i := range 150 {
			if _, err := l.Append(context.Background(), modelRecord(i), nil); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for range 2 {
		c := exec.Command(os.Args[0], "-test.run=^TestLedgerConcurrentProcesses$")
		c.Env = append(os.Environ(), "SOV_LEDGER_HELPER_DIR="+dir)
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	l := Open(dir)
	r, err := l.Verify(context.Background())
	if err != nil || r.Err() != nil || r.Entries != 300 {
		t.Fatalf("after two writers: %d entries, %v %v", r.Entries, err, r.Err())
	}
}

// TestLedgerExportVerifiesWithTheDSSESpecAlone checks an export the way a
// third party would: the PAE from the DSSE spec, ed25519 from the standard
// library, and the public key from its PEM.
func TestLedgerExportVerifiesWithTheDSSESpecAlone(t *testing.T) {
	l, _ := newSigned(t, 3)
	var buf bytes.Buffer
	n, err := l.Export(&buf)
	if err != nil || n != 3 {
		t.Fatalf("export: %d %v", n, err)
	}
	k, _ := l.LoadKey()
	pemBytes, err := k.PublicPEM()
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	pk, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pae := func(typ string, body []byte) []byte {
		return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(typ), typ, len(body), body))
	}
	// The spec's own example.
	if got := string(pae("http://example.com/HelloWorld", []byte("hello world"))); got != "DSSEv1 29 http://example.com/HelloWorld 11 hello world" {
		t.Fatalf("PAE vector: %q", got)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
			Signatures  []struct{ KeyID, Sig string }
		}
		if err := json.Unmarshal(line, &env); err != nil {
			t.Fatal(err)
		}
		body, _ := base64.StdEncoding.DecodeString(env.Payload)
		sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
		if !ed25519.Verify(pk.(ed25519.PublicKey), pae(env.PayloadType, body), sig) {
			t.Fatalf("entry %d does not verify with the DSSE spec alone", i)
		}
		var st map[string]any
		json.Unmarshal(body, &st)
		if st["_type"] != "https://in-toto.io/Statement/v1" {
			t.Fatalf("entry %d is not an in-toto v1 statement: %v", i, st["_type"])
		}
	}
}

// TestLedgerMerkleVectors checks the tree hash and proofs against RFC 6962's
// reference vectors and verifiers.
func TestLedgerMerkleVectors(t *testing.T) {
	in := testonly.LeafInputs()
	var leaves [][]byte
	for i, d := range in {
		leaves = append(leaves, rfc6962.DefaultHasher.HashLeaf(d))
		want := hex.EncodeToString(testonly.RootHashes()[i+1])
		if got := merkleRoot(leaves); got != want {
			t.Fatalf("root of %d leaves: %s, want %s", i+1, got, want)
		}
		if got := hex.EncodeToString(mth(leaves)); got != want {
			t.Fatalf("mth of %d leaves: %s, want %s", i+1, got, want)
		}
	}
	if merkleRoot(nil) != hex.EncodeToString(testonly.EmptyRootHash()) {
		t.Fatal("empty root")
	}
	// Proofs over a real ledger, checked by the library's verifiers.
	l, _ := newSigned(t, 7)
	es, _ := l.Entries()
	for size := uint64(1); size <= 7; size++ {
		var lh [][]byte
		for _, e := range es[:size] {
			lh = append(lh, LeafHash(e.Line))
		}
		root := mth(lh)
		for i := range size {
			p, err := l.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, lh[i], p, root); err != nil {
				t.Fatalf("inclusion %d/%d: %v", i, size, err)
			}
		}
		for m := uint64(1); m < size; m++ {
			p, err := l.ConsistencyProof(m, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, m, size, p, mth(lh[:m]), root); err != nil {
				t.Fatalf("consistency %d→%d: %v", m, size, err)
			}
		}
	}
}

func TestLedgerGet(t *testing.T) {
	l, _ := newSigned(t, 3)
	es, _ := l.Entries()
	for _, id := range []string{"1", es[1].Hash[:10]} {
		e, err := l.Get(id)
		if err != nil || e.Seq != 1 {
			t.Fatalf("get %s: %v %d", id, err, e.Seq)
		}
	}
	for _, id := range []string{"9", "abc", strconv.Itoa(-1), "ffffffffff"} {
		if _, err := l.Get(id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get %s: %v", id, err)
		}
	}
}

func TestLedgerModelCallBlobs(t *testing.T) {
	ctx := context.Background()
	l := Open(t.TempDir())
	mc := ModelCall{Principal: "cli", ModelFile: "/models/x.gguf", ModelSHA256: digest("w"), Input: []byte(`{"prompt":"hi"}`), Output: []byte("hello"), Facts: map[string]any{"seed": 7}, Keep: true}
	e, err := l.RecordModelCall(ctx, mc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != KindModel || e.Subjects["input"] != SHA256(mc.Input) || e.Fields["model_file"] != "x.gguf" || e.Fields["seed"] != 7.0 {
		t.Fatalf("entry %+v", e)
	}
	if b, err := l.Blob(e.Subjects["output"]); err != nil || string(b) != "hello" {
		t.Fatalf("blob: %q %v", b, err)
	}
	// The entry itself holds no content.
	if bytes.Contains(e.Statement(), []byte("hello")) || bytes.Contains(e.Statement(), []byte("prompt")) {
		t.Fatalf("content in the ledger: %s", e.Statement())
	}
	os.WriteFile(l.blobPath(e.Subjects["output"]), []byte("HELLO"), 0o600)
	if _, err := l.Blob(e.Subjects["output"]); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged blob: %v", err)
	}
	mc.Keep = false
	mc.Input = []byte("secret passages")
	e, _ = l.RecordModelCall(ctx, mc, nil)
	if _, err := l.Blob(e.Subjects["input"]); !errors.Is(err, ErrNoBlob) {
		t.Fatalf("unkept input: %v", err)
	}
}

func TestLedgerUnlockPicksTheKey(t *testing.T) {
	_, walletKey, _ := ed25519.GenerateKey(nil)
	fromWallet := func() (ed25519.PrivateKey, error) { return walletKey, nil }
	pass := func(bool) ([]byte, error) { return []byte("pw"), nil }
	fast := func() (seal.KDF, error) { return seal.FastKDF(), nil }
	noPass := func(bool) ([]byte, error) { t.Fatal("asked for a local passphrase"); return nil, nil }

	// No key and no create: nothing is made.
	l := Open(t.TempDir())
	if _, err := l.Unlock(Keys{Wallet: fromWallet, Passphrase: pass}, false); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
	// With a wallet, the wallet's key becomes the ledger's key; no passphrase is asked.
	s, err := l.Unlock(Keys{Wallet: fromWallet, Passphrase: noPass}, true)
	if err != nil || s.id != KeyID(walletKey.Public().(ed25519.PublicKey)) {
		t.Fatalf("wallet key: %v", err)
	}
	if k, _ := l.LoadKey(); k.Source != SourceWallet || k.Sealed != nil {
		t.Fatalf("key.json: %+v", k)
	}
	// Later, a wallet whose key differs (a restored other seed) is refused.
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := l.Unlock(Keys{Wallet: func() (ed25519.PrivateKey, error) { return other, nil }}, true); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("other wallet: %v", err)
	}
	// A wallet-keyed ledger without the wallet says so.
	if _, err := l.Unlock(Keys{Passphrase: pass}, true); err == nil || !strings.Contains(err.Error(), "wallet") {
		t.Fatalf("missing wallet: %v", err)
	}

	// Without a wallet, a local key is created (asked twice) and then unlocked.
	l = Open(t.TempDir())
	var creates []bool
	ask := func(create bool) ([]byte, error) { creates = append(creates, create); return []byte("pw"), nil }
	s1, err := l.Unlock(Keys{Passphrase: ask, KDF: fast}, true)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := l.Unlock(Keys{Passphrase: ask, Wallet: fromWallet}, false) // a wallet made later does not take over
	if err != nil || s2.id != s1.id || fmt.Sprint(creates) != "[true false]" {
		t.Fatalf("local key: %v %v", err, creates)
	}
	if _, err := l.Unlock(Keys{Passphrase: func(bool) ([]byte, error) { return []byte("bad"), nil }}, false); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}
