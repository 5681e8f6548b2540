package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// exportLine is one document line of an export, as Export writes it.
func exportLine(t *testing.T, path string, text ...string) string {
	t.Helper()
	ed := exportDoc{Doc: docRecord{Path: path, Kind: KindText, Size: 100, MTime: 1, Chunks: len(text)}}
	for i, s := range text {
		ed.Chunks = append(ed.Chunks, exportChunk{Start: i + 1, End: i + 1, Text: s})
		ed.Doc.Bytes += int64(len(s))
	}
	b, err := json.Marshal(ed)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exportHead(collection string) string {
	b, _ := json.Marshal(exportHeader{Format: exportFormat, Version: 1, Collection: collection})
	return string(b)
}

// sealed encrypts an export's plaintext lines to r.
func sealed(t *testing.T, r age.Recipient, lines ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(strings.Join(lines, "\n") + "\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// An export names its documents' paths; those are text from outside. Sync
// must not read them (it would pull e.g. an ssh key into the vault, where
// agents read it) nor prune them because they are missing here (that
// would lose a restore); an explicit add of the path re-ties it.
func TestVaultImportedPathIsNotReadBySync(t *testing.T) {
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	home := t.TempDir()
	secret := filepath.Join(home, ".ssh", "id_ed25519")
	writeFile(t, secret, "-----BEGIN OPENSSH PRIVATE KEY-----\nquokkasecretkeymaterial\n")
	gone := filepath.Join(home, "elsewhere", "notes.md") // not on this machine
	archive := sealed(t, id.Recipient(), exportHead("default"),
		exportLine(t, secret, "an imported note about lemurs"),
		exportLine(t, gone, "restored minutes of the marmot society"))

	v, _ := newVault(t)
	mine := filepath.Join(t.TempDir(), "mine.md")
	writeFile(t, mine, "# Mine\n\nA local file about wombats.\n")
	if _, err := v.Add(ctx, []string{mine}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := v.Import(ctx, bytes.NewReader(archive), "", id); n != 2 || err != nil {
		t.Fatalf("import: %d %v", n, err)
	}
	writeFile(t, mine, "# Mine\n\nA local file about wombats, edited.\n")
	rep, err := v.Sync(ctx, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Updated != 1 || rep.Added != 0 || rep.Removed != 0 || len(rep.Failed) != 0 {
		t.Fatalf("sync touched an imported document: %+v", rep)
	}
	if r := search(t, v, "quokkasecretkeymaterial"); len(r.Results) != 0 {
		t.Fatalf("sync read the local file an import named: %+v", r.Results)
	}
	for q, src := range map[string]string{"lemurs": secret, "marmot": gone, "edited wombats": mine} {
		if r := search(t, v, q); len(r.Results) != 1 || r.Results[0].Source != src {
			t.Fatalf("%q after sync: %+v", q, r.Results)
		}
	}
	docs, _, err := v.List(ctx, "")
	if err != nil || len(docs) != 3 {
		t.Fatalf("after sync: %v %v", docs, err)
	}
	for _, d := range docs {
		if d.Imported != (d.Path != mine) {
			t.Fatalf("imported flag: %+v", d)
		}
	}
	// An explicit add of the path is the user's choice: it reads the file.
	if rep, err := v.Add(ctx, []string{secret}, AddOptions{}); err != nil || rep.Updated != 1 {
		t.Fatalf("add: %+v %v", rep, err)
	}
	if r := search(t, v, "quokkasecretkeymaterial"); len(r.Results) != 1 || r.Results[0].Source != secret {
		t.Fatalf("after an explicit add: %+v", r.Results)
	}
	if r := search(t, v, "lemurs"); len(r.Results) != 0 {
		t.Fatalf("the imported text outlived the re-add: %+v", r.Results)
	}
	docs, _, _ = v.List(ctx, "")
	for _, d := range docs {
		if d.Path == secret && d.Imported {
			t.Fatalf("still detached after the re-add: %+v", d)
		}
	}
	// Now tied to the file: a sync follows it again.
	writeFile(t, secret, "rotated key, longer than before\n")
	if rep, err := v.Sync(ctx, AddOptions{}); err != nil || rep.Updated != 1 {
		t.Fatalf("sync after re-add: %+v %v", rep, err)
	}
}

// Every record is checked before anything is written: one bad record
// fails the import, names itself (escaped), and the vault is as it was,
// the good records before it included.
func TestVaultImportRejectsHostileRecords(t *testing.T) {
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	good := exportLine(t, "/restore/good.md", "a perfectly good capybara")
	edit := func(f func(*exportDoc)) string {
		var ed exportDoc
		if err := json.Unmarshal([]byte(exportLine(t, "/restore/bad.md", "text", "more")), &ed); err != nil {
			t.Fatal(err)
		}
		f(&ed)
		b, _ := json.Marshal(ed)
		return string(b)
	}
	path := func(p string) string { return edit(func(ed *exportDoc) { ed.Doc.Path = p }) }
	for _, tc := range []struct {
		name, head, doc, want string
	}{
		{"empty path", "default", path(""), "empty path"},
		{"dotdot relative", "default", path("../../.ssh/id_ed25519"), "relative"},
		{"relative", "default", path("notes.md"), "relative"},
		{"dotdot inside", "default", path("/restore/../etc/passwd"), "not a clean"},
		{"trailing slash", "default", path("/restore/"), "not a clean"},
		{"root", "default", path("/"), "not a clean"},
		{"newline", "default", path("/restore/a\nb.md"), "control character"},
		{"escape", "default", path("/restore/\x1b]52;c;aGk=\x07.md"), "control character"},
		{"C1", "default", path("/restore/\u009b31m.md"), "control character"},
		{"negative size", "default", edit(func(ed *exportDoc) { ed.Doc.Size = -1 }), "negative size"},
		{"negative bytes", "default", edit(func(ed *exportDoc) { ed.Doc.Bytes = -8 }), "negative size"},
		{"bytes mismatch", "default", edit(func(ed *exportDoc) { ed.Doc.Bytes = 99 }), "bytes of text"},
		{"chunk count", "default", edit(func(ed *exportDoc) { ed.Doc.Chunks = 7 }), "chunks"},
		{"negative offset", "default", edit(func(ed *exportDoc) { ed.Chunks[1].Start = -3 }), "chunk 2"},
		{"reversed range", "default", edit(func(ed *exportDoc) { ed.Chunks[0].Start, ed.Chunks[0].End = 9, 2 }), "chunk 1"},
		{"kind", "default", edit(func(ed *exportDoc) { ed.Doc.Kind = "\x1b[2J" }), "unknown kind"},
		{"hash", "default", edit(func(ed *exportDoc) { ed.Doc.Hash = "xyz" }), "sha256"},
		{"twice", "default", good, "listed twice"},
		{"collection escape", "evil\x1b[31m", path("/restore/other.md"), "collection"},
		{"collection newline", "a\nb", path("/restore/other.md"), "collection"},
		{"not json", "default", `{"doc":`, "document 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := newVault(t)
			keep := filepath.Join(t.TempDir(), "keep.md")
			writeFile(t, keep, "# Keep\n\nThe zanzibarquokka ledger.\n")
			if _, err := v.Add(ctx, []string{keep}, AddOptions{}); err != nil {
				t.Fatal(err)
			}
			archive := sealed(t, id.Recipient(), exportHead(tc.head), good, tc.doc)
			n, err := v.Import(ctx, bytes.NewReader(archive), "", id)
			if n != 0 || !errors.Is(err, ErrBadArchive) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("import: %d %v, want ErrBadArchive naming %q", n, err, tc.want)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x1b\u009b") {
				t.Fatalf("error carries control characters: %q", err)
			}
			docs, warn, err := v.List(ctx, "")
			if err != nil || len(warn) > 0 || len(docs) != 1 || docs[0].Path != keep {
				t.Fatalf("the vault changed: %+v %v %v", docs, warn, err)
			}
			if r := search(t, v, "capybara"); len(r.Results) != 0 {
				t.Fatalf("a record before the bad one was written: %+v", r.Results)
			}
			if r := search(t, v, "zanzibarquokka"); len(r.Results) != 1 {
				t.Fatalf("the existing document is not found: %+v", r.Results)
			}
			if colls, err := v.Collections(); err != nil || len(colls) != 1 {
				t.Fatalf("collections: %v %v", colls, err)
			}
		})
	}
	// A collection named by the caller follows the same rule.
	v, _ := newVault(t)
	archive := sealed(t, id.Recipient(), exportHead("default"), good)
	if _, err := v.Import(ctx, bytes.NewReader(archive), "x\x1by", id); !errors.Is(err, ErrBadCollectionName) {
		t.Fatalf("bad collection argument: %v", err)
	}
	if n, err := v.Import(ctx, bytes.NewReader(archive), "restored", id); n != 1 || err != nil {
		t.Fatalf("good archive: %d %v", n, err)
	}
}

// age accepts scrypt work factors up to 2^22 by default (about 4 GiB and
// 15 s to open); a foreign archive must not cost that. sov's own exports
// use 2^18.
func TestVaultImportRefusesHighScryptWorkFactor(t *testing.T) {
	ctx := context.Background()
	const pass = "an export passphrase"
	ask := func() ([]byte, error) { return []byte(pass), nil }
	encrypt := func(logN int) []byte {
		r, err := age.NewScryptRecipient(pass)
		if err != nil {
			t.Fatal(err)
		}
		r.SetWorkFactor(logN)
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, r)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(exportHead("default") + "\n" + exportLine(t, "/restore/a.md", "scrypted aardvark") + "\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	v, _ := newVault(t)
	// A low factor opens, through the capped identity, in both passes.
	ids, err := Identities("", ask)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := v.Import(ctx, bytes.NewReader(encrypt(10)), "", ids...); n != 1 || err != nil {
		t.Fatalf("work factor 10: %d %v", n, err)
	}
	// Encrypting at 2^22 would itself cost 4 GiB: the stanza's factor is
	// rewritten instead (the header MAC then fails too, but only after
	// scrypt ran, which is what must not happen).
	for _, logN := range []string{"21", "22", "30"} {
		archive := regexp.MustCompile(`(?m)^(-> scrypt \S+) 2$`).ReplaceAll(encrypt(2), []byte("${1} "+logN))
		if !bytes.Contains(archive, []byte(" "+logN+"\n")) {
			t.Fatal("no scrypt stanza to rewrite")
		}
		t0 := time.Now()
		n, err := v.Import(ctx, bytes.NewReader(archive), "", ids...)
		if n != 0 || !errors.Is(err, ErrWorkFactor) || !strings.Contains(err.Error(), "2^"+logN) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("work factor %s: %d %v", logN, n, err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("work factor %s refused after %v", logN, d)
		}
	}
}
