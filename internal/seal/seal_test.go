package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	kek, err := FastKDF().Derive([]byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := FastKDF().Derive([]byte("wrong horse"))
	ct, err := Seal(kek, []byte("secret"), []byte("bucket/key/v1"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  []byte
		ct   []byte
		aad  []byte
		ok   bool
	}{
		{"round trip", kek, ct, []byte("bucket/key/v1"), true},
		{"wrong key", other, ct, []byte("bucket/key/v1"), false},
		{"aad swapped", kek, ct, []byte("bucket/other/v1"), false},
		{"flipped byte", kek, flip(ct, 30), []byte("bucket/key/v1"), false},
		{"truncated", kek, ct[:10], []byte("bucket/key/v1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := Open(tt.key, tt.ct, tt.aad)
			if tt.ok {
				if err != nil || !bytes.Equal(pt, []byte("secret")) {
					t.Fatalf("open: %v %q", err, pt)
				}
				return
			}
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("want ErrOpen, got %v", err)
			}
		})
	}
}

func TestKDFValidate(t *testing.T) {
	d, err := DefaultKDF()
	if err != nil || d.Validate() != nil || d.Time != 3 || d.MemoryKiB != 65536 || d.Threads != 4 {
		t.Fatalf("default: %+v %v", d, err)
	}
	if _, err := (KDF{}).Derive([]byte("x")); err == nil {
		t.Fatal("zero params must be rejected")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

// ValidateNew refuses weak parameters someone chooses now; Validate (used
// to open existing files) still takes them, so nobody is locked out.
func TestValidateNewMinimums(t *testing.T) {
	def, err := DefaultKDF()
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("sov-test-salt-16")
	tests := []struct {
		name     string
		k        KDF
		newErr   error // from ValidateNew
		existing bool  // Validate passes
	}{
		{"default", def, nil, true},
		{"at the floor", KDF{Time: 1, MemoryKiB: MinMemoryKiB, Threads: 1, Salt: salt}, nil, true},
		{"1 MiB", KDF{Time: 1, MemoryKiB: 1024, Threads: 1, Salt: salt}, ErrWeakKDF, true},
		{"one KiB under", KDF{Time: 2, MemoryKiB: MinMemoryKiB - 1, Threads: 1, Salt: salt}, ErrWeakKDF, true},
		{"test parameters", FastKDF(), ErrWeakKDF, true},
		{"time 0", KDF{Time: 0, MemoryKiB: MinMemoryKiB, Threads: 1, Salt: salt}, errAny, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.k.ValidateNew()
			switch {
			case tt.newErr == nil && err != nil, tt.newErr == errAny && err == nil,
				tt.newErr != nil && tt.newErr != errAny && !errors.Is(err, tt.newErr):
				t.Fatalf("ValidateNew: %v, want %v", err, tt.newErr)
			}
			if err := tt.k.Validate(); (err == nil) != tt.existing {
				t.Fatalf("Validate: %v, want ok=%v", err, tt.existing)
			}
		})
	}
	if _, err := FastKDF().Derive([]byte("x")); err != nil {
		t.Fatalf("existing weak parameters must still derive: %v", err)
	}
}

var errAny = errors.New("any error")
