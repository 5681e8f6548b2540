package bip39

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestBIP39AllWordlists checks every embedded list against its published
// digest, then the official Japanese vectors (bip32JP's test_JP_BIP39.json:
// ideographic spaces, an NFKD-sensitive passphrase) and published Spanish,
// Chinese and French vectors: entropy → words, words → language and
// entropy, words → seed.
func TestBIP39AllWordlists(t *testing.T) {
	if len(Lists()) != 10 {
		t.Fatalf("%d lists, want the 10 official ones", len(Lists()))
	}
	for _, l := range Lists() {
		if err := l.load(); err != nil {
			t.Fatal(err)
		}
		if len(l.index) != 2048 {
			t.Errorf("%s: %d distinct NFKD words", l.Name, len(l.index))
		}
	}
	type vector struct {
		Entropy, Mnemonic, Passphrase, Seed string
		lang                                string
	}
	var vs []vector
	b, err := os.ReadFile("testdata/test_JP_BIP39.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 24 {
		t.Fatalf("%d Japanese vectors", len(vs))
	}
	for i := range vs {
		vs[i].lang = "japanese"
	}
	vs = append(vs,
		vector{"00000000000000000000000000000000", "ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco abierto", "TREZOR",
			"29a2ee16de47d07025de37e7d9c596869439f9bcd26a702d2bae64db2bf0f68383841c5444b5b3bd39dd720d2ebe59969e110e5955c8e6d32c6c3294fd87439b", "spanish"},
		vector{"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "ligero vista talar yogur venta queso yacer trozo ligero vista talar zafiro", "TREZOR",
			"1580aa5d5d67057b3a0a12253c283b93921851555529d0bbe9634349d641029216f791ddce3527819d44d833a0df3500b15fd8ba4cae7ca24e1464b9167de633", "spanish"},
		vector{"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "枪 疫 霉 尝 俩 闹 饿 贤 枪 疫 霉 卿", "TREZOR",
			"816a69d6866891b246b4d33f54d6d2be624470141754396205d039bdd8003949fec4340253dde4c8e11437a181ad992f56d5b976eb9fbe48f4c5e5fec60a27e1", "chinese_simplified"},
		vector{"00000000000000000000000000000000", "abaisser abaisser abaisser abaisser abaisser abaisser abaisser abaisser abaisser abaisser abaisser abeille", "TREZOR",
			"3bf3366c40256d7e2fca716fddf8673425c7c7e444af290ee1edf1bbf095e6e78a7190253f3e46f1e2069345d4b05ac17b242faa225c0a3e4d268976744e0698", "french"},
	)
	for _, v := range vs {
		name := v.lang + " " + v.Entropy
		t.Run(name, func(t *testing.T) {
			ent, _ := hex.DecodeString(v.Entropy)
			words := strings.Fields(v.Mnemonic) // splits on U+3000 too
			l, err := Detect(words)
			if err != nil || l.Name != v.lang {
				t.Fatalf("detect: %v %v", l, err)
			}
			got, err := l.Entropy(words)
			if err != nil || hex.EncodeToString(got) != v.Entropy {
				t.Fatalf("entropy %x %v", got, err)
			}
			m, err := l.Mnemonic(ent)
			if err != nil || Normalize(m) != Normalize(v.Mnemonic) {
				t.Fatalf("mnemonic %q %v, want %q", m, err, v.Mnemonic)
			}
			if s := hex.EncodeToString(Seed(v.Mnemonic, v.Passphrase)); s != v.Seed {
				t.Fatalf("seed %s", s)
			}
			// ASCII spaces and NFKD input give the same seed.
			if s := hex.EncodeToString(Seed(Normalize(strings.Join(words, " ")), Normalize(v.Passphrase))); s != v.Seed {
				t.Fatalf("seed from normalised input %s", s)
			}
		})
	}
}

func TestBIP39DetectRefusals(t *testing.T) {
	tests := []struct {
		name  string
		words string
		want  error
	}{
		{"unknown word", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon zzzz", ErrUnknownWord},
		{"mixed languages", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abierto", ErrUnknownWord},
		// abandon is English and French: in neither does the checksum hold
		{"bad checksum in every list holding the words", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", ErrChecksum},
		{"eleven words", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", ErrWordCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Detect(strings.Fields(tt.words)); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Words both lists hold and whose checksum holds in both are refused:
	// find such a mnemonic among the English/French shared words.
	var shared []string
	fr, _ := Lookup("french")
	for _, w := range English().Words() {
		if _, ok := fr.Index(w); ok {
			shared = append(shared, w)
		}
	}
	if len(shared) < 50 {
		t.Fatalf("%d shared words", len(shared))
	}
	found := false
	for i := 0; i < len(shared) && !found; i++ {
		for j := 0; j < len(shared) && !found; j++ {
			words := append(strings.Fields(strings.Repeat(shared[i]+" ", 11)), shared[j])
			_, e1 := English().Entropy(words)
			_, e2 := fr.Entropy(words)
			if e1 == nil && e2 == nil {
				found = true
				if _, err := Detect(words); !errors.Is(err, ErrAmbiguous) {
					t.Fatalf("ambiguous %v: %v", words, err)
				}
			}
		}
	}
	if !found {
		t.Skip("no ambiguous 11+1 mnemonic among the shared words")
	}
}
