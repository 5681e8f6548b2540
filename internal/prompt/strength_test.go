package prompt

import (
	"errors"
	"testing"
)

func TestCheckStrength(t *testing.T) {
	tests := []struct {
		pass string
		weak bool
	}{
		{"a", true},
		{"password", true},
		{"password1!", true},
		{"qwertyuiop", true},
		{"sov sov sov sov", true},
		{"correct horse battery staple", false},
		{"tangerine-orbit-walrus-nebula", false},
		{"Xk9#mQ2$vL7p", false},
	}
	for _, tt := range tests {
		t.Run(tt.pass, func(t *testing.T) {
			err := CheckStrength([]byte(tt.pass))
			if got := errors.Is(err, ErrWeakPassphrase); got != tt.weak {
				t.Fatalf("weak = %v (%v), want %v", got, err, tt.weak)
			}
			var we *WeakError
			if tt.weak && (!errors.As(err, &we) || we.Score >= MinScore) {
				t.Fatalf("want a *WeakError below %d, got %v", MinScore, err)
			}
		})
	}
	// What the attacker knows counts against the passphrase.
	if err := CheckStrength([]byte("tangerine-orbit-walrus-nebula"), "tangerine-orbit-walrus-nebula"); !errors.Is(err, ErrWeakPassphrase) {
		t.Fatalf("user inputs ignored: %v", err)
	}
}
