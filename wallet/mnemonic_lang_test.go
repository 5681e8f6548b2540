package wallet

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// TestWalletImportsEveryBIP39Language: a mnemonic in any official list
// validates (it used to be refused with "check its spelling"), and the
// seed is the official vector's, so a wallet made by another app in
// Japanese or Spanish opens with the same keys.
func TestWalletImportsEveryBIP39Language(t *testing.T) {
	tests := []struct {
		lang, mnemonic, pass, seed string
	}{
		{"japanese", "そつう　れきだい　ほんやく　わかす　りくつ　ばいか　ろせん　やちん　そつう　れきだい　ほんやく　わかめ", "㍍ガバヴァぱばぐゞちぢ十人十色",
			"aee025cbe6ca256862f889e48110a6a382365142f7d16f2b9545285b3af64e542143a577e9c144e101a6bdca18f8d97ec3366ebf5b088b1c1af9bc31346e60d9"},
		{"spanish", "ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco abierto", "TREZOR",
			"29a2ee16de47d07025de37e7d9c596869439f9bcd26a702d2bae64db2bf0f68383841c5444b5b3bd39dd720d2ebe59969e110e5955c8e6d32c6c3294fd87439b"},
		{"english", abandonMnemonic, "TREZOR",
			"c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			lang, err := MnemonicLanguage(tt.mnemonic)
			if err != nil || lang != tt.lang {
				t.Fatalf("language %q %v", lang, err)
			}
			seed, err := SeedFromMnemonic(tt.mnemonic, tt.pass)
			if err != nil || hex.EncodeToString(seed) != tt.seed {
				t.Fatalf("seed %x %v", seed, err)
			}
			// what the store seals (NormalizeMnemonic) gives the same seed
			if seed, _ := SeedFromMnemonic(NormalizeMnemonic(tt.mnemonic), tt.pass); hex.EncodeToString(seed) != tt.seed {
				t.Fatal("normalised mnemonic gives another seed")
			}
		})
	}
	// a Spanish word typed without its accent is named, with the fix
	err := ValidateMnemonic("abaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco ábaco abierto")
	var me *MnemonicError
	if !errors.As(err, &me) || me.Position != 1 || !strings.Contains(err.Error(), "spanish") || !strings.Contains(err.Error(), `did you mean "ábaco"`) {
		t.Fatalf("unaccented word: %v", err)
	}
	// a Japanese wallet reveals its words composed, and they re-import
	st := OpenStore(t.TempDir(), WithKDF(func() (KDFParams, error) { return testKDF(), nil }))
	if _, err := st.Create(tests[0].mnemonic, tests[0].pass, []byte("pw"), false); err != nil {
		t.Fatal(err)
	}
	m, _, err := st.Reveal([]byte("pw"))
	if err != nil || m != strings.Join(strings.Fields(tests[0].mnemonic), " ") {
		t.Fatalf("revealed %q %v", m, err)
	}
	if seed, _ := SeedFromMnemonic(m, tests[0].pass); hex.EncodeToString(seed) != tests[0].seed {
		t.Fatal("revealed words give another seed")
	}
}
