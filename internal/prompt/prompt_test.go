package prompt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pass")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared")
	os.WriteFile(shared, []byte("from-file\n"), 0o600)
	os.Chmod(shared, 0o640) // Chmod: WriteFile's mode is masked by umask
	world := filepath.Join(dir, "world")
	os.WriteFile(world, []byte("from-file\n"), 0o600)
	os.Chmod(world, 0o604)
	owner := filepath.Join(dir, "owner-only")
	os.WriteFile(owner, []byte("from-file\n"), 0o600)
	os.Chmod(owner, 0o400)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	env := func(k string) string {
		if k == "X_PASS" {
			return "from-env"
		}
		return ""
	}
	tests := []struct {
		name string
		src  Source
		want string
		err  string
	}{
		{"file first", Source{File: file, Env: "X_PASS", Getenv: env, Stdin: devnull}, "from-file", ""},
		{"env", Source{Env: "X_PASS", Getenv: env, Stdin: devnull}, "from-env", ""},
		{"empty file", Source{File: empty, Stdin: devnull}, "", "is empty"},
		{"group-readable file", Source{File: shared, Env: "X_PASS", Getenv: env, Stdin: devnull}, "", "mode 0640: chmod 600 " + shared},
		{"world-readable file", Source{File: world, Stdin: devnull}, "", "chmod 600 " + world},
		{"read-only owner file", Source{File: owner, Stdin: devnull}, "from-file", ""},
		{"missing file", Source{File: filepath.Join(dir, "nope"), Stdin: devnull}, "", "read passphrase file"},
		{"no tty", Source{Env: "Y_PASS", Getenv: env, Stdin: devnull}, "", "set Y_PASS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Secret(tt.src)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error %q, got %v", tt.err, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q %v", got, err)
			}
		})
	}
	_, err := Secret(Source{Stdin: devnull, Getenv: env})
	if !errors.Is(err, ErrNoSecret) {
		t.Fatalf("want ErrNoSecret, got %v", err)
	}
}

func TestLine(t *testing.T) {
	got, err := Line(strings.NewReader("  yes \n"))
	if err != nil || got != "yes" {
		t.Fatal(got, err)
	}
}

func TestConsolePassphrase(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	c := Console{Stdin: devnull, Getenv: func(k string) string {
		if k == "X_PASS" {
			return "from-env"
		}
		return ""
	}}
	if p, err := c.Passphrase("vault passphrase", "X_PASS", file, false); err != nil || string(p) != "from-file" {
		t.Fatalf("file: %q %v", p, err)
	}
	if p, err := c.Passphrase("vault passphrase", "X_PASS", "", false); err != nil || string(p) != "from-env" {
		t.Fatalf("env: %q %v", p, err)
	}
	_, err := c.Passphrase("export passphrase", "Y_PASS", "", true)
	if !errors.Is(err, ErrNoSecret) || err.Error() != "export passphrase: no passphrase available: not a terminal, set Y_PASS" {
		t.Fatalf("no source: %v", err)
	}
	if _, err := c.Passphrase("wallet passphrase", "", filepath.Join(t.TempDir(), "none"), false); err == nil || !strings.HasPrefix(err.Error(), "wallet passphrase: read passphrase file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSecretFileModeTyped(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(f, []byte("x"), 0o600)
	os.Chmod(f, 0o644)
	if _, err := Secret(Source{File: f}); !errors.Is(err, ErrFileMode) {
		t.Fatalf("want ErrFileMode, got %v", err)
	}
}

func TestConsolePassphraseJudgesOnlyNewOnes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(file, []byte("sovwallet\n"), 0o600)
	env := map[string]string{}
	c := Console{Getenv: func(k string) string { return env[k] }}
	tests := []struct {
		name      string
		confirm   bool
		allowWeak string
		weak      bool
	}{
		{"unlocking is never judged", false, "", false},
		{"choosing a weak one is refused", true, "", true},
		{"0 does not allow it", true, "0", true},
		{"1 allows it", true, "1", false},
	}
	for _, tt := range tests {
		env[EnvAllowWeak] = tt.allowWeak
		p, err := c.Passphrase("wallet passphrase", "", file, tt.confirm)
		var weak *WeakError
		if got := errors.As(err, &weak); got != tt.weak || (!tt.weak && string(p) != "sovwallet") {
			t.Errorf("%s: %q, %v", tt.name, p, err)
		}
		if tt.weak && !strings.Contains(err.Error(), EnvAllowWeak+"=1") {
			t.Errorf("%s: %v does not say how to keep it", tt.name, err)
		}
	}
}
