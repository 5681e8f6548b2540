package vault

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sovos/sov/internal/config"
)

func TestVaultConfig(t *testing.T) {
	c, err := LoadConfig(nil)
	if err != nil || c.Options().IdleTimeout != DefaultIdleTimeout || c.Options().OpenTimeout != 2*time.Second {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("[vault]\nembed_model = \"e5\"\nidle_minutes = 3\nkdf_memory_mib = 128\n"), 0o600)
	f, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err = LoadConfig(f)
	if err != nil || c.EmbedModel != "e5" || c.IdleMinutes != 3 || c.KDFMemoryMiB != 128 || c.OpenTimeoutSeconds != 2 {
		t.Fatalf("config: %+v %v", c, err)
	}
	os.WriteFile(p, []byte("[vault]\nidle_minutes = \"soon\"\n"), 0o600)
	f, _ = config.Load(p)
	if _, err := LoadConfig(f); err == nil {
		t.Fatal("bad type accepted")
	}
}

func TestVaultHighlights(t *testing.T) {
	text := "The Garden and the GARDENER's garden."
	got := highlights(text, []string{"garden"})
	if len(got) != 2 || text[got[0][0]:got[0][1]] != "Garden" || text[got[1][0]:got[1][1]] != "garden" {
		t.Fatalf("highlights %v", got)
	}
}
