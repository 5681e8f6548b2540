package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// namedEmbedder is a conceptEmbedder that names its model; it fails from
// its failAt-th call on when failAt > 0.
type namedEmbedder struct {
	conceptEmbedder
	sha, name string
	failAt    int
	calls     *int
}

func (e namedEmbedder) ModelIdentity(context.Context) (string, string, error) {
	return e.sha, e.name, nil
}

func (e namedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if e.calls != nil {
		*e.calls++
		if e.failAt > 0 && *e.calls >= e.failAt {
			return nil, errors.New("embedder crashed")
		}
	}
	return e.conceptEmbedder.Embed(ctx, texts)
}

var (
	modelA = namedEmbedder{conceptEmbedder: conceptEmbedder{map[string]string{"automobile": "car"}}, sha: strings.Repeat("a", 64), name: "a.gguf"}
	modelB = namedEmbedder{conceptEmbedder: conceptEmbedder{map[string]string{"vessel": "boat"}}, sha: strings.Repeat("b", 64), name: "b.gguf"}
)

func reopen(t *testing.T, dir string, e Embedder) *Vault {
	t.Helper()
	o := testOpts()
	o.Embedder = e
	v, err := Open(context.Background(), dir, testPass, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func TestEmbedModelMixRefused(t *testing.T) {
	ctx := context.Background()
	v, dir := newVault(t, func(o *Options) { o.Embedder = modelA })
	src := addFiles(t, v, map[string]string{"car.txt": "my car needs new tyres\n", "boat.txt": "the boat needs paint\n"})
	v.Close()
	// Same dimension, another model: refused, naming both.
	b := reopen(t, dir, modelB)
	_, err := b.Search(ctx, "boat", SearchOptions{})
	var me *EmbedModelError
	if !errors.As(err, &me) || me.Recorded.SHA256 != modelA.sha || me.Current.SHA256 != modelB.sha ||
		!strings.Contains(err.Error(), "a.gguf") || !strings.Contains(err.Error(), "b.gguf") {
		t.Fatalf("search with another model: %v", err)
	}
	writeFile(t, filepath.Join(src, "new.txt"), "a new vessel\n")
	if _, err := b.Add(ctx, []string{src}, AddOptions{}); !errors.As(err, &me) {
		t.Fatalf("add with another model: %v", err)
	}
	b.Close()
	// The recorded model still works, and nothing of B's was added.
	a := reopen(t, dir, modelA)
	if r := search(t, a, "automobile"); len(r.Results) == 0 || filepath.Base(r.Results[0].Source) != "car.txt" || len(r.Warnings) != 0 {
		t.Fatalf("search with the recorded model: %+v", r)
	}
	for _, r := range search(t, a, "vessel").Results {
		if filepath.Base(r.Source) == "new.txt" {
			t.Fatalf("B's document was indexed: %+v", r)
		}
	}
}

func TestEmbedModelUnrecordedVectorsWarn(t *testing.T) {
	// Vectors from before models were recorded: searched with a warning.
	v, dir := newVault(t, func(o *Options) { o.Embedder = modelA.conceptEmbedder })
	addFiles(t, v, map[string]string{"car.txt": "my car needs new tyres\n"})
	v.Close()
	a := reopen(t, dir, modelA)
	r := search(t, a, "automobile")
	if len(r.Results) != 1 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "unrecorded embedding model") {
		t.Fatalf("unrecorded vectors: %+v", r)
	}
}

// vectorsMatch checks that every live chunk of the collection has exactly
// one vector, the one e gives its text, and returns how many there are.
func vectorsMatch(t *testing.T, v *Vault, e Embedder) int {
	t.Helper()
	c, err := v.coll("", false)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = v.db.View(func(tx *bolt.Tx) error {
		segs, err := c.loadSegs(tx)
		if err != nil {
			return err
		}
		cb, vb := c.bucket(tx, c.bChunks), c.bucket(tx, c.bVecs)
		for _, s := range segs {
			raw := vb.Get(u64(s.ID))
			if raw == nil {
				t.Errorf("segment %d has no vectors", s.ID)
				continue
			}
			pt, err := c.open(c.bVecs, u64(s.ID), raw)
			if err != nil {
				return err
			}
			seen := 0
			err = decodeVectors(pt, func(id uint64, vec []float32) {
				if s.isDeleted(id) {
					return
				}
				seen++
				cpt, err := c.open(c.bChunks, u64(id), cb.Get(u64(id)))
				var cr chunkRecord
				if err == nil {
					err = decodeChunk(cpt, &cr)
				}
				if err != nil {
					t.Errorf("chunk %d: %v", id, err)
					return
				}
				want, _ := e.Embed(context.Background(), []string{cr.Text})
				if !slices.Equal(vec, want[0]) {
					t.Errorf("chunk %d (%q) has another model's vector", id, cr.Text)
				}
			})
			if err != nil {
				return err
			}
			if seen != s.Live {
				t.Errorf("segment %d: %d vectors for %d live chunks", s.ID, seen, s.Live)
			}
			n += seen
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func recorded(t *testing.T, v *Vault) EmbedModel {
	t.Helper()
	c, err := v.coll("", false)
	if err != nil {
		t.Fatal(err)
	}
	var m *EmbedModel
	if err := v.db.View(func(tx *bolt.Tx) (err error) { m, _, err = c.embedMeta(tx); return err }); err != nil || m == nil {
		t.Fatalf("recorded model: %v %v", m, err)
	}
	return *m
}

func TestVaultReembed(t *testing.T) {
	ctx := context.Background()
	v, dir := newVault(t, func(o *Options) { o.Embedder = modelA; o.BatchFiles = 1 })
	files := map[string]string{"car.txt": "my car needs new tyres\n", "boat.txt": "the boat needs paint\n", "garden.txt": "roses in the garden\n"}
	src := addFiles(t, v, files)
	if _, err := v.Remove(ctx, "", []string{filepath.Join(src, "garden.txt")}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(src, "garden.txt"))
	v.Close()
	// Indexed without vectors: reembed gives it some too.
	plain := reopen(t, dir, nil)
	writeFile(t, filepath.Join(src, "plain.txt"), "a quiet vessel at anchor\n")
	if _, err := plain.Add(ctx, []string{filepath.Join(src, "plain.txt")}, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	plain.Close()

	calls := 0
	b := reopen(t, dir, modelB)
	rep, err := b.Reembed(ctx, "", nil)
	if err != nil || rep.Chunks != 3 || rep.Model.SHA256 != modelB.sha || calls != 0 {
		t.Fatalf("reembed: %+v %v", rep, err)
	}
	if n := vectorsMatch(t, b, modelB); n != 3 || recorded(t, b).SHA256 != modelB.sha {
		t.Fatalf("after reembed: %d vectors, model %v", n, recorded(t, b))
	}
	found := false // boat.txt says "boat", which only B maps "vessel" to
	for _, r := range search(t, b, "vessel").Results {
		found = found || (filepath.Base(r.Source) == "boat.txt" && !r.Lexical)
	}
	if !found {
		t.Fatal("search with the new model misses its synonym")
	}
	if rep, err := b.Add(ctx, []string{src}, AddOptions{}); err != nil || rep.Unchanged != 3 {
		t.Fatalf("add after reembed embeds again: %+v %v", rep, err)
	}
	b.Close()
	a := reopen(t, dir, modelA)
	if _, err := a.Search(ctx, "car", SearchOptions{}); !errors.As(err, new(*EmbedModelError)) {
		t.Fatalf("old model after reembed: %v", err)
	}
	a.Close()

	// An interrupted reembed leaves the previous model's vectors throughout.
	failing := modelA
	failing.failAt, failing.calls = 2, &calls
	f := reopen(t, dir, failing)
	if _, err := f.Reembed(ctx, "", nil); err == nil || calls != 2 {
		t.Fatalf("failing reembed: %v after %d calls", err, calls)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Reembed(cctx, "", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled reembed: %v", err)
	}
	if n := vectorsMatch(t, f, modelB); n != 3 || recorded(t, f).SHA256 != modelB.sha {
		t.Fatalf("after interrupted reembed: %d vectors, model %v", n, recorded(t, f))
	}
	f.Close()
	if _, err := reopen(t, dir, nil).Reembed(ctx, "", nil); !errors.Is(err, ErrNoEmbedder) {
		t.Fatalf("no embedder: %v", err)
	}
}

// A damaged model record is named in a warning; search goes on, and
// reembed writes it again.
func TestEmbedModelRecordTampered(t *testing.T) {
	ctx := context.Background()
	v, _ := newVault(t, func(o *Options) { o.Embedder = modelA })
	addFiles(t, v, map[string]string{"car.txt": "my car needs new tyres\n"})
	c, err := v.coll("", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.db.Update(func(tx *bolt.Tx) error {
		vb := c.bucket(tx, c.bVecs)
		raw := slices.Clone(vb.Get(embedMetaKey))
		raw[len(raw)-1] ^= 1
		return vb.Put(embedMetaKey, raw)
	}); err != nil {
		t.Fatal(err)
	}
	r := search(t, v, "automobile")
	if len(r.Results) != 1 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "embedding model record failed authentication") {
		t.Fatalf("tampered model record: %+v", r)
	}
	if _, err := v.Reembed(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	if r := search(t, v, "automobile"); len(r.Warnings) != 0 || recorded(t, v) != (EmbedModel{modelA.sha, modelA.name}) {
		t.Fatalf("after reembed: %+v", r)
	}
}
