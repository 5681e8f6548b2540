package nostr

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// FuzzParseVerify: the parser never panics; whatever it accepts
// re-serializes to something that parses to the same event; Verify agrees
// with CheckID about the id.
func FuzzParseVerify(f *testing.F) {
	sk, _ := SecretKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	ev := &Event{CreatedAt: 1700000000, Kind: KindArticle, Tags: [][]string{{"d", "x"}, {"title", "<T>"}}, Content: "hi\n\"there\" \u2028 é"}
	sk.Sign(ev)
	f.Add(ev.Marshal())
	f.Add([]byte(`{"id":"","pubkey":"","created_at":0,"kind":1,"tags":[],"content":"\ud800","sig":""}`))
	f.Add([]byte(`[0,"x",1,1,[],""]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(ev.Marshal())
		if err != nil {
			t.Fatalf("re-marshalled event does not parse: %v", err)
		}
		if !bytes.Equal(again.Serialize(), ev.Serialize()) || again.ID != ev.ID || again.Sig != ev.Sig {
			t.Fatal("round trip changed the event")
		}
		if ev.Verify() == nil && ev.CheckID() != nil {
			t.Fatal("verified an event whose id does not match")
		}
		if c, err := ParseCanonical(ev.Serialize()); err != nil || !bytes.Equal(c.Serialize(), ev.Serialize()) {
			t.Fatalf("canonical form does not round-trip: %v", err)
		}
	})
}

// FuzzVerifySchnorr: never panics, and agrees with btcec's own verifier on
// 32-byte messages.
func FuzzVerifySchnorr(f *testing.F) {
	sk, _ := SecretKeyFromBytes(bytes.Repeat([]byte{9}, 32))
	msg := bytes.Repeat([]byte{1}, 32)
	sig, _ := schnorr.Sign(sk.k, msg)
	pk, _ := hex.DecodeString(sk.PublicKey())
	f.Add(pk, msg, sig.Serialize())
	f.Add(pk, []byte{}, sig.Serialize())
	f.Fuzz(func(t *testing.T, pk, msg, sig []byte) {
		got := VerifySchnorr(pk, msg, sig)
		if len(msg) != 32 || len(pk) != 32 || len(sig) != 64 {
			return
		}
		want := false
		if p, err := schnorr.ParsePubKey(pk); err == nil {
			if s, err := schnorr.ParseSignature(sig); err == nil {
				want = s.Verify(msg, p)
			}
		}
		if got != want {
			t.Fatalf("VerifySchnorr = %v, btcec = %v", got, want)
		}
	})
}
