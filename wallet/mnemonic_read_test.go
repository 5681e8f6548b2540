package wallet

import (
	"errors"
	"strings"
	"testing"
)

func TestWalletReadMnemonic(t *testing.T) {
	const want = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	tests := []struct {
		name, in string
		err      error
	}{
		{"one line", want + "\n", nil},
		{"two lines", "abandon abandon abandon abandon abandon abandon\nabandon abandon abandon abandon abandon about\n", nil},
		{"crlf, tabs and blank lines", "\r\n  Abandon\tabandon abandon abandon abandon abandon\r\n\r\nabandon abandon abandon abandon abandon ABOUT  ", nil},
		{"one word a line", strings.ReplaceAll(want, " ", "\n"), nil},
		{"empty", " \n\n", ErrNoMnemonic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadMnemonic(strings.NewReader(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if tt.err == nil && got != want {
				t.Fatalf("got %q", got)
			}
		})
	}
	var me *MnemonicError
	if _, err := ReadMnemonic(strings.NewReader(strings.Repeat("abandon ", 3000))); !errors.As(err, &me) {
		t.Fatalf("oversized input: %v", err)
	}
}
