package vault

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/seal"
)

// asker is a Passphrase that counts how often it was asked and keeps what
// it handed out, to check it was wiped.
type asker struct {
	pass  string
	asked int
	given [][]byte
}

func (a *asker) get() ([]byte, error) {
	a.asked++
	p := []byte(a.pass)
	a.given = append(a.given, p)
	return p, nil
}

func (a *asker) wiped(t *testing.T) {
	t.Helper()
	for _, p := range a.given {
		if strings.Trim(string(p), "\x00") != "" {
			t.Fatalf("passphrase %q not wiped after use", p)
		}
	}
}

// The With variants ask for a passphrase only when it can be used, and
// wipe it afterwards.
func TestVaultOpenWithAsksOnlyWhenNeeded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := &asker{pass: string(testPass)}
	if _, err := OpenWith(ctx, dir, a.get, testOpts()); !errors.Is(err, ErrNotInitialised) || a.asked != 0 {
		t.Fatalf("open without a vault: %v, asked %d times", err, a.asked)
	}
	if err := PasswdWith(ctx, dir, a.get, a.get, nil, testOpts()); !errors.Is(err, ErrNotInitialised) || a.asked != 0 {
		t.Fatalf("passwd without a vault: %v, asked %d times", err, a.asked)
	}
	if err := RequestLock(dir); !errors.Is(err, ErrNotInitialised) {
		t.Fatalf("lock without a vault: %v", err)
	}
	if err := InitWith(ctx, dir, a.get, testOpts()); err != nil || a.asked != 1 {
		t.Fatalf("init: %v, asked %d times", err, a.asked)
	}
	if err := InitWith(ctx, dir, a.get, testOpts()); !errors.Is(err, ErrExists) || a.asked != 1 {
		t.Fatalf("second init: %v, asked %d times", err, a.asked)
	}
	v, err := OpenWith(ctx, dir, a.get, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	a.wiped(t)

	// passwd: a wrong current passphrase stops before the new one is asked.
	wrong, next := &asker{pass: "wrong"}, &asker{pass: "second"}
	if err := PasswdWith(ctx, dir, wrong.get, next.get, nil, testOpts()); !errors.Is(err, ErrWrongPassphrase) || next.asked != 0 {
		t.Fatalf("passwd with a wrong passphrase: %v, new one asked %d times", err, next.asked)
	}
	k := seal.FastKDF()
	k.Salt = nil
	if err := PasswdWith(ctx, dir, a.get, next.get, &k, testOpts()); err != nil || next.asked != 1 {
		t.Fatalf("passwd: %v", err)
	}
	a.wiped(t)
	next.wiped(t)
	if _, err := Open(ctx, dir, []byte("second"), testOpts()); err != nil {
		t.Fatalf("new passphrase: %v", err)
	}
}

func TestVaultConfigKDF(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		o       KDFOverride
		want    seal.KDF // Salt ignored
		wantErr bool
	}{
		{"defaults", Config{}, KDFOverride{}, seal.KDF{Time: 3, MemoryKiB: 64 << 10, Threads: 4}, false},
		{"config", Config{KDFTime: 2, KDFMemoryMiB: 19, KDFThreads: 1}, KDFOverride{}, seal.KDF{Time: 2, MemoryKiB: 19 << 10, Threads: 1}, false},
		{"override beats config", Config{KDFTime: 2, KDFMemoryMiB: 19}, KDFOverride{Time: 5, Threads: 2}, seal.KDF{Time: 5, MemoryKiB: 19 << 10, Threads: 2}, false},
		{"config under the minimum", Config{KDFMemoryMiB: 8}, KDFOverride{}, seal.KDF{}, true},
		{"override under the minimum", Config{}, KDFOverride{MemoryMiB: 1}, seal.KDF{}, true},
		{"out of range", Config{}, KDFOverride{Time: 1000}, seal.KDF{}, true},
		{"memory that would wrap", Config{}, KDFOverride{MemoryMiB: math.MaxUint32/1024 + 2}, seal.KDF{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tt.cfg.KDF(tt.o)
			if tt.wantErr {
				if !errors.Is(err, ErrBadKDF) {
					t.Fatalf("want ErrBadKDF, got %v %+v", err, k)
				}
				return
			}
			if err != nil || k.Time != tt.want.Time || k.MemoryKiB != tt.want.MemoryKiB || k.Threads != tt.want.Threads || len(k.Salt) < 8 {
				t.Fatalf("got %+v %v, want %+v", k, err, tt.want)
			}
		})
	}
}

func TestVaultRecipientsIdentities(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	a := &asker{pass: "export pass"}
	rs, err := Recipients([]string{id.Recipient().String()}, a.get)
	if err != nil || len(rs) != 1 || a.asked != 0 {
		t.Fatalf("key recipient: %v, asked %d", err, a.asked)
	}
	if _, err := Recipients([]string{"age1nope"}, a.get); !errors.Is(err, ErrBadRecipient) || !strings.Contains(err.Error(), `"age1nope"`) {
		t.Fatalf("bad key: %v", err)
	}
	if rs, err := Recipients(nil, nil); err != nil || len(rs) != 0 {
		t.Fatalf("no keys, no passphrase yet: %v %v", rs, err)
	}
	rs, err = Recipients(nil, a.get)
	if err != nil || len(rs) != 1 || a.asked != 1 {
		t.Fatalf("passphrase recipient: %v, asked %d", err, a.asked)
	}
	a.wiped(t)

	idFile := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	ids, err := Identities(idFile, a.get)
	if err != nil || len(ids) != 1 || a.asked != 1 {
		t.Fatalf("identity file: %v, asked %d", err, a.asked)
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte("not a key\n"), 0o600)
	if _, err := Identities(bad, a.get); err == nil || !strings.Contains(err.Error(), "AGE-SECRET-KEY") {
		t.Fatalf("bad identity file: %v", err)
	}
	if ids, err := Identities("", a.get); err != nil || len(ids) != 1 || a.asked != 2 {
		t.Fatalf("passphrase identity: %v", err)
	}
}

// ExportFile writes the archive whole: a failed export leaves the file it
// would have replaced as it was, and no temporary file behind.
func TestVaultExportFile(t *testing.T) {
	v, _ := newVault(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.md"), "# A\n\napples and pears\n")
	if _, err := v.Add(context.Background(), []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	out := filepath.Join(t.TempDir(), "v.age")
	os.WriteFile(out, []byte("old"), 0o600)
	if _, err := v.ExportFile(context.Background(), out, ""); err == nil {
		t.Fatal("export without recipients succeeded")
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatalf("a failed export changed the file: %q", b)
	}
	n, err := v.ExportFile(context.Background(), out, "", id.Recipient())
	if err != nil || n != 1 {
		t.Fatalf("export: %d %v", n, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	f, _ := os.Open(out)
	defer f.Close()
	w, _ := newVault(t)
	if n, err := w.Import(context.Background(), f, "", id); err != nil || n != 1 {
		t.Fatalf("import of the export: %d %v", n, err)
	}
}

func TestVaultRemoveNoMatch(t *testing.T) {
	v, _ := newVault(t)
	ctx := context.Background()
	if _, err := v.Remove(ctx, "", []string{"/nothing"}); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("empty vault: %v", err)
	}
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.md"), "# A\n\napples\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Remove(ctx, "", []string{filepath.Join(src, "b.md")}); !errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), "b.md") {
		t.Fatalf("no match: %v", err)
	}
	if n, err := v.Remove(ctx, "", []string{src}); err != nil || n != 1 {
		t.Fatalf("remove folder: %d %v", n, err)
	}
	var nc *NoCollectionError
	if _, _, err := v.List(ctx, "elsewhere"); !errors.As(err, &nc) || nc.Name != "elsewhere" {
		t.Fatalf("unknown collection: %v", err)
	}
}

// No library error names a command or flag: the CLI adds those.
func TestVaultErrorsNameNoFlag(t *testing.T) {
	for _, err := range []error{ErrWrongPassphrase, ErrNotInitialised, ErrExists, ErrEmpty, ErrNoMatch, ErrNoChatModel,
		ErrBadKDF, ErrBadRecipient, &NoCollectionError{Name: "x"}, &FailedError{Files: 2}} {
		if s := err.Error(); strings.Contains(s, "--") || strings.Contains(s, "sov ") || strings.Contains(s, "SOV_") {
			t.Errorf("%q names a flag, command or variable", s)
		}
	}
}

// loadFails is an Embedder whose model cannot load.
type loadFails struct{ loads int }

func (l *loadFails) Load(context.Context) error { l.loads++; return errors.New("no such model") }
func (l *loadFails) Embed(context.Context, []string) ([][]float32, error) {
	return nil, errors.New("not loaded")
}

// With opens, runs and closes; an embedding model that cannot load fails
// before the passphrase is asked, and not at all without a vault.
func TestVaultWithLoadsEmbedderFirst(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := &asker{pass: string(testPass)}
	emb := &loadFails{}
	o := testOpts()
	o.Embedder = emb
	if err := With(ctx, dir, a.get, o, func(*Vault) error { return nil }); !errors.Is(err, ErrNotInitialised) || a.asked != 0 || emb.loads != 0 {
		t.Fatalf("no vault: %v, asked %d, loads %d", err, a.asked, emb.loads)
	}
	if err := InitWith(ctx, dir, a.get, testOpts()); err != nil {
		t.Fatal(err)
	}
	if err := With(ctx, dir, a.get, o, func(*Vault) error { return nil }); err == nil || a.asked != 1 || emb.loads != 1 {
		t.Fatalf("model that cannot load: %v, asked %d, loads %d", err, a.asked, emb.loads)
	}
	var held *Vault
	if err := With(ctx, dir, a.get, testOpts(), func(v *Vault) error { held = v; return errors.New("from fn") }); err == nil || err.Error() != "from fn" {
		t.Fatalf("fn's error: %v", err)
	}
	if _, _, err := held.List(ctx, ""); !errors.Is(err, ErrLocked) {
		t.Fatalf("the vault is still open after With: %v", err)
	}
}

// InitConfigured and PasswdConfigured take Argon2id parameters from the
// override, then [vault]; passwd without an override keeps the vault's.
func TestVaultInitPasswdConfigured(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("[vault]\nkdf_time = 2\nkdf_memory_mib = 19\n"), 0o600)
	f, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := &asker{pass: "first"}
	if _, err := InitConfigured(ctx, f, dir, a.get, KDFOverride{Time: 1000}); !errors.Is(err, ErrBadKDF) || a.asked != 0 {
		t.Fatalf("bad override: %v, asked %d", err, a.asked)
	}
	kdf, err := InitConfigured(ctx, f, dir, a.get, KDFOverride{Threads: 1})
	if err != nil || kdf.Time != 2 || kdf.MemoryKiB != 19<<10 || kdf.Threads != 1 {
		t.Fatalf("init: %+v %v", kdf, err)
	}
	params := func(pass string) seal.KDF {
		t.Helper()
		v, err := Open(ctx, dir, []byte(pass), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		k, err := v.KDFParams()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	second := &asker{pass: "second"}
	if err := PasswdConfigured(ctx, f, dir, a.get, second.get, nil); err != nil {
		t.Fatal(err)
	}
	if k := params("second"); k.Time != 2 || k.Threads != 1 {
		t.Fatalf("passwd without an override changed the parameters: %+v", k)
	}
	third := &asker{pass: "third"}
	if err := PasswdConfigured(ctx, f, dir, second.get, third.get, &KDFOverride{Time: 1, Threads: 2}); err != nil {
		t.Fatal(err)
	}
	if k := params("third"); k.Time != 1 || k.MemoryKiB != 19<<10 || k.Threads != 2 {
		t.Fatalf("passwd with an override: %+v", k)
	}
	a.wiped(t)
	second.wiped(t)
}

// Ingest adds the paths given and syncs without any; ExportFileWith asks
// the export passphrase only when no recipient was given.
func TestVaultIngestAndExportFileWith(t *testing.T) {
	ctx := context.Background()
	v, _ := newVault(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.md"), "# A\n\napples\n")
	writeFile(t, filepath.Join(src, "b.md"), "# B\n\npears\n")
	if rep, err := v.Ingest(ctx, []string{src}, AddOptions{}); err != nil || rep.Added != 2 {
		t.Fatalf("ingest paths: %+v %v", rep, err)
	}
	os.Remove(filepath.Join(src, "b.md"))
	if rep, err := v.Ingest(ctx, nil, AddOptions{}); err != nil || rep.Removed != 1 || rep.Unchanged != 1 {
		t.Fatalf("ingest without paths (sync): %+v %v", rep, err)
	}
	id, _ := age.GenerateX25519Identity()
	a := &asker{pass: "export pass"}
	out := filepath.Join(t.TempDir(), "v.age")
	if n, err := v.ExportFileWith(ctx, out, "", []age.Recipient{id.Recipient()}, a.get); err != nil || n != 1 || a.asked != 0 {
		t.Fatalf("export to a key: %d %v, asked %d", n, err, a.asked)
	}
	if n, err := v.ExportFileWith(ctx, out, "", nil, a.get); err != nil || n != 1 || a.asked != 1 {
		t.Fatalf("export with a passphrase: %d %v, asked %d", n, err, a.asked)
	}
	a.wiped(t)
	ids, err := Identities("", (&asker{pass: "export pass"}).get)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(out)
	defer f.Close()
	w, _ := newVault(t)
	if n, err := w.Import(ctx, f, "", ids...); err != nil || n != 1 {
		t.Fatalf("import of the passphrase export: %d %v", n, err)
	}
}
