package vault

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// conceptEmbedder is a small deterministic embedder for tests: words map to
// concepts (synonyms share one), and a text's vector is its normalised
// concept histogram.
type conceptEmbedder struct{ synonyms map[string]string }

func (e conceptEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 64)
		for _, w := range Tokenize(t) {
			if s, ok := e.synonyms[w]; ok {
				w = s
			}
			h := fnv.New32a()
			h.Write([]byte(w))
			v[h.Sum32()%64]++
		}
		var n float64
		for _, x := range v {
			n += float64(x * x)
		}
		if n > 0 {
			for j := range v {
				v[j] /= float32(math.Sqrt(n))
			}
		}
		out[i] = v
	}
	return out, nil
}

func TestVaultHybridSearch(t *testing.T) {
	ctx := context.Background()
	emb := conceptEmbedder{map[string]string{"automobile": "car", "vehicle": "car"}}
	v, _ := newVault(t, func(o *Options) { o.Embedder = emb; o.BatchFiles = 1 })
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "car.txt"), "my car needs new tyres\n")
	writeFile(t, filepath.Join(src, "boat.txt"), "the boat needs paint\n")
	writeFile(t, filepath.Join(src, "other.txt"), "unrelated words about gardens\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := v.Optimize(""); err != nil { // merges the vector blocks too
		t.Fatal(err)
	}
	r := search(t, v, "automobile")
	if r.Mode != ModeHybrid || len(r.Results) == 0 || filepath.Base(r.Results[0].Source) != "car.txt" {
		t.Fatalf("vector match: %+v", r)
	}
	if r.Results[0].Lexical {
		t.Fatal("vector-only match marked lexical")
	}
	// A vector-only match reaches ask (TestAskReachesVectorOnlyMatches).
	ans, err := v.Ask(ctx, "automobile", func(context.Context, string, string, []byte) ([]byte, error) {
		return []byte(`{"statements":[{"text":"x","cites":[1]}]}`), nil
	}, AskOptions{})
	if err != nil || ans.NotFound || filepath.Base(ans.Sources[0].Source) != "car.txt" {
		t.Fatalf("ask on vector-only match: %+v %v", ans, err)
	}
	r = search(t, v, "boat paint")
	if filepath.Base(r.Results[0].Source) != "boat.txt" {
		t.Fatalf("fused ranking: %+v", r.Results)
	}
	// Files indexed before an embedding model was configured get vectors
	// on the next add.
	writeFile(t, filepath.Join(src, "later.txt"), "a quiet library afternoon\n")
	plain, vdir := newVault(t)
	if _, err := plain.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	o := testOpts()
	o.Embedder = emb
	withEmb, err := Open(ctx, vdir, testPass, o)
	if err != nil {
		t.Fatal(err)
	}
	defer withEmb.Close()
	rep, err := withEmb.Add(ctx, []string{src}, AddOptions{})
	if err != nil || rep.Updated != 4 {
		t.Fatalf("re-add with an embedder: %+v %v", rep, err)
	}
	if rep, _ := withEmb.Add(ctx, []string{src}, AddOptions{}); rep.Unchanged != 4 {
		t.Fatalf("second re-add: %+v", rep)
	}
	if r := search(t, withEmb, "automobile"); len(r.Results) == 0 || filepath.Base(r.Results[0].Source) != "car.txt" {
		t.Fatalf("vectors after re-add: %+v", r.Results)
	}
	// Deleting a file removes its vectors from search.
	if _, err := v.Remove(ctx, "", []string{filepath.Join(src, "car.txt")}); err != nil {
		t.Fatal(err)
	}
	for _, res := range search(t, v, "automobile").Results {
		if filepath.Base(res.Source) == "car.txt" {
			t.Fatal("removed file still found by vector")
		}
	}
}

// A full disk during ingest is reported as ErrDiskFull, the batch is rolled
// back and the vault keeps working. Needs root to mount a small tmpfs.
func TestVaultDiskFull(t *testing.T) {
	dir := smallDisk(t, "1m")
	ctx := context.Background()
	o := testOpts()
	if err := Init(ctx, dir, testPass, o); err != nil {
		t.Fatal(err)
	}
	v, err := Open(ctx, dir, testPass, o)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "small.txt"), "a small note about herons\n")
	if _, err := v.Add(ctx, []string{src}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, "line %d with words that fill the disk quickly enough\n\n", i)
	}
	writeFile(t, filepath.Join(src, "big.txt"), b.String())
	_, err = v.Add(ctx, []string{src}, AddOptions{})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("add on a full disk: %v", err)
	}
	if strings.Count(err.Error(), "\n") > 0 || !strings.Contains(err.Error(), "free some space") {
		t.Fatalf("disk-full error: %q", err)
	}
	v.Close()
	v, err = Open(ctx, dir, testPass, o)
	if err != nil {
		t.Fatalf("re-open after disk full: %v", err)
	}
	defer v.Close()
	if r := search(t, v, "herons"); len(r.Results) != 1 {
		t.Fatalf("earlier data after disk full: %+v", r)
	}
	docs, _, _ := v.List(ctx, "")
	if len(docs) != 1 {
		t.Fatalf("partial file kept: %+v", docs)
	}
}

func TestVaultFileChangesDuringIngest(t *testing.T) {
	src := t.TempDir()
	path := filepath.Join(src, "moving.txt")
	var b strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "paragraph %d of a file that is being edited\n\n", i)
	}
	writeFile(t, path, b.String())
	fi, _ := os.Stat(path)
	p := &prepared{path: path, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	first := true
	err := readFile(path, p, func(rawChunk) error {
		if first {
			first = false
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("appended while sov reads\n")
			f.Close()
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "changed while being read") {
		t.Fatalf("changed file: %v", err)
	}
	// Through Add: the file is reported as failed, nothing partial is kept,
	// and a vanished file is reported too.
	v, _ := newVault(t)
	gone := filepath.Join(src, "gone.txt")
	res := v.prepare(mustColl(t, v), gone)
	if res.err == nil || !strings.Contains(res.err.Error(), "cannot read") {
		t.Fatalf("vanished file: %v", res.err)
	}
}

func mustColl(t *testing.T, v *Vault) *collection {
	c, err := v.coll("", true)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// smallDisk is a tmpfs of size (e.g. "1m") mounted for the test, which is
// skipped where mounting needs a root it does not have.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a size-limited tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}
