package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type modelSec struct {
	Default string `toml:"default"`
	Threads int    `toml:"threads"`
}

type walletSec struct {
	Limit string `toml:"limit"`
}

func TestSectionsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := modelSec{Threads: 4}
	if err := f.Section("model", &m); err != nil || m.Threads != 4 {
		t.Fatalf("missing file should keep defaults: %v %+v", err, m)
	}
	if err := SetSection(path, "model", modelSec{Default: "tiny", Threads: 2}); err != nil {
		t.Fatal(err)
	}
	if err := SetSection(path, "wallet", walletSec{Limit: "5 USDC"}); err != nil {
		t.Fatal(err)
	}
	f, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m = modelSec{}
	w := walletSec{}
	if err := f.Section("model", &m); err != nil {
		t.Fatal(err)
	}
	if err := f.Section("wallet", &w); err != nil {
		t.Fatal(err)
	}
	if m.Default != "tiny" || m.Threads != 2 || w.Limit != "5 USDC" {
		t.Fatalf("got %+v %+v", m, w)
	}
}

func TestInvalidTOML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("[model\nx="), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "fix or remove") {
		t.Fatalf("want clear error, got %v", err)
	}
}
