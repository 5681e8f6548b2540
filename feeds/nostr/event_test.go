package nostr

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// TestBIP340Vectors runs every row of the official bitcoin/bips
// bip-0340/test-vectors.csv (including the variable-length messages added
// in 2022) through VerifySchnorr, and the 32-byte rows with a secret key
// through btcec's signer with the row's aux_rand.
func TestBIP340Vectors(t *testing.T) {
	f, err := os.Open("testdata/bip340-test-vectors.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 20 {
		t.Fatalf("want header + 19 vectors, got %d rows", len(rows))
	}
	for _, row := range rows[1:] {
		idx, skHex, pkHex, auxHex, msgHex, sigHex, result := row[0], row[1], row[2], row[3], row[4], row[5], row[6]
		pk := mustHex(t, pkHex)
		msg := mustHex(t, msgHex)
		sig := mustHex(t, sigHex)
		want := result == "TRUE"
		if got := VerifySchnorr(pk, msg, sig); got != want {
			t.Errorf("vector %s (%s): verify = %v, want %v", idx, row[7], got, want)
		}
		if skHex != "" && len(msg) == 32 {
			sk, err := SecretKeyFromBytes(mustHex(t, skHex))
			if err != nil {
				t.Fatalf("vector %s: %v", idx, err)
			}
			if !strings.EqualFold(sk.PublicKey(), pkHex) {
				t.Errorf("vector %s: public key %s, want %s", idx, sk.PublicKey(), pkHex)
			}
			var aux [32]byte
			copy(aux[:], mustHex(t, auxHex))
			s, err := schnorr.Sign(sk.k, msg, schnorr.CustomNonce(aux))
			if err != nil {
				t.Fatalf("vector %s: sign: %v", idx, err)
			}
			if !bytes.Equal(s.Serialize(), sig) {
				t.Errorf("vector %s: signature %x, want %x", idx, s.Serialize(), sig)
			}
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyMatchesBtcec cross-checks the verifier against btcec's own
// schnorr.Verify on random signatures and single-bit corruptions.
func TestVerifyMatchesBtcec(t *testing.T) {
	for i := 0; i < 50; i++ {
		sk, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		msg := sha256.Sum256([]byte{byte(i)})
		sig, err := schnorr.Sign(sk.k, msg[:])
		if err != nil {
			t.Fatal(err)
		}
		sb := sig.Serialize()
		pk := schnorr.SerializePubKey(sk.k.PubKey())
		if i%2 == 1 {
			sb[i%64] ^= 1 << (i % 8)
		}
		want := false
		if ps, err := schnorr.ParseSignature(sb); err == nil {
			pub, _ := schnorr.ParsePubKey(pk)
			want = ps.Verify(msg[:], pub)
		}
		if got := VerifySchnorr(pk, msg[:], sb); got != want {
			t.Fatalf("case %d: ours %v, btcec %v", i, got, want)
		}
	}
}

func signed(t testing.TB, sk *SecretKey, content string, tags [][]string) *Event {
	t.Helper()
	ev := &Event{CreatedAt: 1700000000, Kind: KindArticle, Tags: tags, Content: content}
	if err := sk.Sign(ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestSignParseVerifyRoundTrip(t *testing.T) {
	sk, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Characters whose escaping differs between NIP-01 and json.Marshal.
	content := "<b>Tom & Jerry</b>\u2028line\ttab \"q\" \\ \x01 é 🎉"
	ev := signed(t, sk, content, [][]string{{"d", "slug"}, {"title", "T <1>"}, {"t", "go"}})
	got, err := Parse(ev.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(); err != nil {
		t.Fatal(err)
	}
	if got.Content != content || got.Tag("title") != "T <1>" || got.ReplaceKey() != ev.PubKey+":30023:slug" {
		t.Fatalf("round trip changed the event: %+v", got)
	}
	// encoding/json's output of the same event parses to the same values
	// and therefore still verifies.
	std, _ := json.Marshal(ev)
	got2, err := Parse(std)
	if err != nil {
		t.Fatal(err)
	}
	if err := got2.Verify(); err != nil {
		t.Fatalf("json.Marshal form: %v", err)
	}
	// An id computed over an HTML-escaped serialization is not canonical.
	bad := *ev
	ser, _ := json.Marshal([]any{0, bad.PubKey, bad.CreatedAt, bad.Kind, bad.Tags, bad.Content})
	id := sha256.Sum256(ser)
	bad.ID = hex.EncodeToString(id[:])
	if err := bad.Verify(); !errors.Is(err, ErrIDMismatch) {
		t.Fatalf("HTML-escaped id: %v, want id mismatch", err)
	}
}

func TestVerifyRejections(t *testing.T) {
	sk, _ := GenerateKey()
	other, _ := GenerateKey()
	ev := signed(t, sk, "hello", nil)
	ev2 := signed(t, sk, "other", nil)
	tests := []struct {
		name string
		mut  func(e *Event)
		want error
	}{
		{"ok", func(e *Event) {}, nil},
		{"content changed", func(e *Event) { e.Content = "hellO" }, ErrIDMismatch},
		{"valid signature over a different id", func(e *Event) { e.Sig = ev2.Sig }, ErrBadSignature},
		{"signature and id of another event", func(e *Event) { e.ID, e.Sig = ev2.ID, ev2.Sig }, ErrIDMismatch},
		{"other pubkey, recomputed id", func(e *Event) {
			e.PubKey = other.PublicKey()
			id := e.ComputeID()
			e.ID = hex.EncodeToString(id[:])
		}, ErrBadSignature},
		{"zero signature", func(e *Event) { e.Sig = strings.Repeat("0", 128) }, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := *ev
			tt.mut(&e)
			if err := e.Verify(); !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseRejectsBadInput(t *testing.T) {
	sk, _ := GenerateKey()
	good := string(signed(t, sk, "x", nil).Marshal())
	repl := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	tests := []struct {
		name, in string
	}{
		{"not json", "{nope"},
		{"array", "[1,2]"},
		{"empty", ""},
		{"trailing data", good + "{}"},
		{"kind string", repl(`"kind":30023`, `"kind":"30023"`)},
		{"kind fraction", repl(`"kind":30023`, `"kind":30023.0`)},
		{"kind exponent", repl(`"kind":30023`, `"kind":3e4`)},
		{"kind negative", repl(`"kind":30023`, `"kind":-1`)},
		{"kind too big", repl(`"kind":30023`, `"kind":70000`)},
		{"created_at string", repl(`"created_at":1700000000`, `"created_at":"1700000000"`)},
		{"created_at negative", repl(`"created_at":1700000000`, `"created_at":-5`)},
		{"created_at huge", repl(`"created_at":1700000000`, `"created_at":1e400`)},
		{"content number", repl(`"content":"x"`, `"content":5`)},
		{"content null", repl(`"content":"x"`, `"content":null`)},
		{"tags object", repl(`"tags":[]`, `"tags":{}`)},
		{"tags null", repl(`"tags":[]`, `"tags":null`)},
		{"tag not array", repl(`"tags":[]`, `"tags":["a"]`)},
		{"tag item number", repl(`"tags":[]`, `"tags":[["t",1]]`)},
		{"id uppercase", strings.Replace(good, good[7:71], strings.ToUpper(good[7:71]), 1)},
		{"id short", repl(`"id":"`, `"id":"ab`)},
		{"missing sig", strings.Replace(good, `,"sig":"`+good[len(good)-130:len(good)-2]+`"`, "", 1)},
		{"duplicate content", repl(`"content":"x"`, `"content":"x","content":"y"`)},
		{"lone high surrogate", repl(`"content":"x"`, `"content":"\ud800x"`)},
		{"lone low surrogate", repl(`"content":"x"`, `"content":"\udc00"`)},
		{"reversed surrogates", repl(`"content":"x"`, `"content":"\udc00\ud800"`)},
		{"invalid utf-8", repl(`"content":"x"`, "\"content\":\"\xff\xfe\"")},
		{"overlong utf-8", repl(`"content":"x"`, "\"content\":\"\xc0\xaf\"")},
		{"too big", repl(`"content":"x"`, `"content":"`+strings.Repeat("a", MaxEventSize)+`"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == good {
				t.Fatal("mutation did not apply")
			}
			ev, err := Parse([]byte(tt.in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v (%+v), want malformed", err, ev)
			}
		})
	}
	// A valid surrogate pair is fine.
	if _, err := Parse([]byte(repl(`"content":"x"`, `"content":"\ud83c\udf89"`))); err != nil {
		t.Fatalf("surrogate pair: %v", err)
	}
}

func TestParsePublicKey(t *testing.T) {
	sk, _ := GenerateKey()
	pub := sk.PublicKey()
	for _, in := range []string{pub, Npub(pub), strings.ToUpper(pub)} {
		got, err := ParsePublicKey(in)
		if err != nil || got != pub {
			t.Fatalf("ParsePublicKey(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "npub1xyz", pub[:62], strings.Repeat("f", 64), "nsec1" + Npub(pub)[5:]} {
		if _, err := ParsePublicKey(in); err == nil {
			t.Fatalf("ParsePublicKey(%q) accepted", in)
		}
	}
}
