package vault

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// A fixed identity, so a failing input found by the fuzzer (the export's
// plaintext, or its ciphertext) replays the same way later.
const fuzzIdentity = "AGE-SECRET-KEY-10GYA67LT8CQ0TR3VQH456WEW2PEK923FGZ9NE7U8NWKXU8APU8NQJRX4L5"

// FuzzImportExport: an export file may be damaged or hostile (it names its
// own collection, paths, offsets and text). Importing one never panics, and
// whatever it does, the document already in the vault is still there,
// whole and findable, and every record of the vault still opens: no
// partial write loses existing data. data is the export's plaintext
// (encrypted here, so the fuzzer can reach the JSON) or, when raw, the
// age file itself.
func FuzzImportExport(f *testing.F) {
	ctx := context.Background()
	id, err := age.ParseX25519Identity(fuzzIdentity)
	if err != nil {
		f.Fatal(err)
	}
	// A template vault holding one document; each run imports into a copy.
	small := func(o *Options) { o.BatchFiles = 2 }
	v, tmpl := newVault(f, small)
	src := f.TempDir()
	keep := filepath.Join(src, "keep.md")
	writeFile(f, keep, "# Keep\n\nThe zanzibarquokka ledger must survive every import.\n")
	writeFile(f, filepath.Join(src, "other.md"), "# Other\n\nA second document, for the export seed.\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		f.Fatal(err)
	}
	docs, _, err := v.List(ctx, "")
	if err != nil || len(docs) != 2 {
		f.Fatalf("template vault: %v %v", docs, err)
	}
	var want Doc
	for _, d := range docs {
		if d.Path == keep {
			want = d
		}
	}
	var sealed bytes.Buffer
	if _, err := v.Export(ctx, &sealed, "", id.Recipient()); err != nil {
		f.Fatal(err)
	}
	if err := v.Close(); err != nil {
		f.Fatal(err)
	}
	ar, err := age.Decrypt(bytes.NewReader(sealed.Bytes()), id)
	if err != nil {
		f.Fatal(err)
	}
	plain, err := io.ReadAll(ar)
	if err != nil {
		f.Fatal(err)
	}
	// Hostile and damaged seeds beside the real export.
	f.Add(plain, false)
	f.Add(sealed.Bytes(), true)
	f.Add(sealed.Bytes()[:sealed.Len()*2/3], true)
	f.Add(plain[:len(plain)/2], false)
	f.Add(bytes.Replace(plain, []byte(`"collection":"default"`), []byte(`"collection":"other"`), 1), false)
	f.Add([]byte(`{"format":"sov-vault-export","version":1,"collection":""}
{"doc":{"path":"","kind":"md","size":-1,"bytes":-5},"chunks":[{"start":-3,"end":-9,"text":""},{"start":9,"end":2,"text":"x"}]}
{"doc":{"path":"a","ids":[[0,18446744073709551615]],"dls":[4294967295],"chunks":-1},"chunks":null}
{"doc":{"path":"a"},"chunks":[{"text":"zanzibarquokka"}]}
{"doc":{}}`), false)
	f.Add([]byte(`{"format":"sov-vault-export","version":2}`), false)
	f.Add([]byte(`{"format":"sov-vault-export","version":1,"collection":"c"}
{"doc":{"path":"p"},"chunks":[{"text":"t"}]}
{"doc":{"path":"q"},"chunks":[{"text":"t"}]}
{"doc":{"path":"r"},"chunks":[{"text":"t"}]}
{"doc":`), false)
	f.Add([]byte("age-encryption.org/v1\n-> scrypt AAAAAAAAAAAAAAAAAAAAAA 22\nAAAA\n--- AAAA\n"), true)
	// An archive naming a local file (other.md here; ~/.ssh/id_ed25519 in
	// an attack) with other text: the sync below must not read it.
	f.Add([]byte(`{"format":"sov-vault-export","version":1,"collection":"default"}
{"doc":{"path":"`+filepath.Join(src, "other.md")+`","kind":"text","size":3,"bytes":5,"chunks":1},"chunks":[{"start":1,"end":1,"text":"lemur"}]}`), false)

	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		dir := filepath.Join(t.TempDir(), "vault")
		if err := os.CopyFS(dir, os.DirFS(tmpl)); err != nil {
			t.Fatal(err)
		}
		o := testOpts()
		small(&o)
		w, err := Open(ctx, dir, testPass, o)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		in := data
		if !raw {
			var buf bytes.Buffer
			aw, err := age.Encrypt(&buf, id.Recipient())
			if err != nil {
				t.Fatal(err)
			}
			aw.Write(data)
			if err := aw.Close(); err != nil {
				t.Fatal(err)
			}
			in = buf.Bytes()
		}
		if _, err := w.Import(ctx, bytes.NewReader(in), "", id); err != nil && strings.ContainsAny(err.Error(), "\r\x1b") {
			t.Fatalf("import error carries terminal control: %q", err)
		}
		checkKept(t, w, want)
		// Sync reads only files the user added: the template's two, both
		// unchanged. An imported path is never read nor pruned.
		rep, err := w.Sync(ctx, AddOptions{})
		if err != nil || rep.Added+rep.Updated+rep.Removed > 0 || len(rep.Failed) > 0 {
			t.Fatalf("sync after import: %+v %v", rep, err)
		}
		checkKept(t, w, want)
	})
}

// checkKept fails unless want is still in w's default collection, whole,
// and every collection's records still open.
func checkKept(t *testing.T, w *Vault, want Doc) {
	t.Helper()
	ctx := context.Background()
	docs, warn, err := w.List(ctx, "")
	if err != nil || len(warn) > 0 {
		t.Fatalf("list after import: %v %v", err, warn)
	}
	found := false
	for _, d := range docs {
		if d.Path == want.Path {
			found = true
			if d.Chunks != want.Chunks || d.Bytes != want.Bytes || d.Size != want.Size {
				t.Fatalf("the existing document changed: %+v, was %+v", d, want)
			}
		}
	}
	if !found {
		t.Fatalf("the existing document %s is gone after the import", want.Path)
	}
	r, err := w.Search(ctx, "zanzibarquokka ledger", SearchOptions{K: 50})
	if err != nil || len(r.Warnings) > 0 {
		t.Fatalf("search after import: %v %v", err, r)
	}
	hit := false
	for _, res := range r.Results {
		if res.Source == want.Path && strings.Contains(res.Text, "zanzibarquokka") {
			hit = true
			if _, err := w.Get(ctx, "", res.Chunk); err != nil {
				t.Fatalf("the existing document's chunk %d does not open: %v", res.Chunk, err)
			}
		}
	}
	if !hit {
		t.Fatalf("the existing document is no longer found by search: %+v", r.Results)
	}
	colls, err := w.Collections()
	if err != nil {
		t.Fatalf("collections after import: %v", err)
	}
	for _, c := range colls {
		if _, warn, err := w.List(ctx, c); err != nil || len(warn) > 0 {
			t.Fatalf("collection %q after import: %v %v", c, err, warn)
		}
		if _, err := w.Stats(ctx, c); err != nil {
			t.Fatalf("stats of %q after import: %v", c, err)
		}
	}
}
