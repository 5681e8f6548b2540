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
