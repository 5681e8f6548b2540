package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ModelIdentifier is implemented by embedders that can name their model:
// the sha256 of its weights (remembered, not rehashed per call: weights
// are large) and a name for messages. The vault records it with a
// collection's vectors and refuses to mix in vectors of another model,
// which would compare meaninglessly even at the same dimension. An
// embedder that is no ModelIdentifier (or returns an empty sha256) is
// neither recorded nor checked.
type ModelIdentifier interface {
	ModelIdentity(ctx context.Context) (sha256, name string, err error)
}

// EmbedModel names the model a collection's vectors were made with.
type EmbedModel struct {
	SHA256 string `json:"sha256"`
	Name   string `json:"name,omitempty"`
}

func (m EmbedModel) String() string {
	sha := m.SHA256
	if len(sha) > 12 {
		sha = sha[:12] + "…"
	}
	if m.Name == "" {
		return "sha256 " + sha
	}
	return fmt.Sprintf("%s (sha256 %s)", m.Name, sha)
}

// EmbedModelError: the collection's vectors come from another embedding
// model than the one configured.
type EmbedModelError struct {
	Collection        string
	Recorded, Current EmbedModel
}

func (e *EmbedModelError) Error() string {
	return fmt.Sprintf("collection %q was embedded with %s, not %s: vectors of two models cannot be mixed; use the recorded model, or re-embed the collection with the new one", e.Collection, e.Recorded, e.Current)
}

// ErrNoEmbedder is returned by Reembed without an embedding model.
var ErrNoEmbedder = errors.New("no embedding model to re-embed with")

// embedMetaKey holds the collection's EmbedModel in its vectors bucket;
// vector blocks are keyed by 8-byte segment ids, so it never collides.
var embedMetaKey = []byte("embed-model")

// embedModel identifies the configured embedder (zero when it cannot).
func (v *Vault) embedModel(ctx context.Context) (EmbedModel, error) {
	id, ok := v.opts.Embedder.(ModelIdentifier)
	if !ok {
		return EmbedModel{}, nil
	}
	sha, name, err := id.ModelIdentity(ctx)
	if err != nil {
		return EmbedModel{}, fmt.Errorf("identify the embedding model: %w", err)
	}
	return EmbedModel{SHA256: sha, Name: name}, nil
}

// embedMeta reads the recorded model (nil when none is) and whether the
// collection holds any vector block.
func (c *collection) embedMeta(tx *bolt.Tx) (*EmbedModel, bool, error) {
	vb := c.bucket(tx, c.bVecs)
	if vb == nil {
		return nil, false, nil
	}
	k, _ := vb.Cursor().First()
	blocks := k != nil && !bytes.Equal(k, embedMetaKey)
	raw := vb.Get(embedMetaKey)
	if raw == nil {
		return nil, blocks, nil
	}
	pt, err := c.open(c.bVecs, embedMetaKey, raw)
	if err != nil {
		return nil, blocks, err
	}
	var m EmbedModel
	if err := json.Unmarshal(pt, &m); err != nil {
		return nil, blocks, fmt.Errorf("%s: %w", c.recordName(c.bVecs, embedMetaKey), err)
	}
	return &m, blocks, nil
}

func (c *collection) putEmbedMeta(tx *bolt.Tx, m EmbedModel) error {
	pt, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.put(c.bucket(tx, c.bVecs), c.bVecs, embedMetaKey, pt)
}

// checkEmbed refuses cur when the collection's vectors come from another
// model. Vectors from before models were recorded are let through with a
// warning.
func (c *collection) checkEmbed(tx *bolt.Tx, cur EmbedModel) (warn string, err error) {
	if cur.SHA256 == "" {
		return "", nil
	}
	m, blocks, err := c.embedMeta(tx)
	switch {
	case isTamper(err):
		return err.Error(), nil // searched as if unrecorded; reembed rewrites it
	case err != nil:
		return "", err
	case m == nil && blocks:
		return fmt.Sprintf("collection %q has vectors of an unrecorded embedding model: re-embed it to record %s", c.name, cur), nil
	case m != nil && blocks && m.SHA256 != cur.SHA256:
		return "", &EmbedModelError{Collection: c.name, Recorded: *m, Current: cur}
	}
	return "", nil
}

// claimEmbed, before vectors are added, checks the configured model
// against the collection's and records it in a collection that has no
// vectors yet.
func (v *Vault) claimEmbed(ctx context.Context, c *collection) error {
	cur, err := v.embedModel(ctx)
	if err != nil || cur.SHA256 == "" {
		return err
	}
	var m *EmbedModel
	var blocks, tampered bool
	if err := v.db.View(func(tx *bolt.Tx) error {
		if _, err := c.checkEmbed(tx, cur); err != nil {
			return err
		}
		m, blocks, err = c.embedMeta(tx)
		tampered = isTamper(err)
		if tampered {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	if blocks || tampered || (m != nil && *m == cur) {
		return nil // this model's, or unrecorded ones (left to reembed)
	}
	return v.update(func(tx *bolt.Tx) error { return c.putEmbedMeta(tx, cur) })
}

// ReembedReport says what Reembed did (zero after an error).
type ReembedReport struct {
	Chunks int        `json:"chunks"`
	Model  EmbedModel `json:"model"`
}

// Reembed replaces every vector of the collection with one from the
// configured embedder and records its model, in one transaction: an
// interrupted reembed (cancelled, failed, killed) leaves the old vectors
// and the old model throughout. The new vectors are held in memory until
// the commit (about 1.5 KiB a chunk for a 384-dimension model).
func (v *Vault) Reembed(ctx context.Context, collection string, progress func(done, total int)) (ReembedReport, error) {
	end, err := v.begin()
	if err != nil {
		return ReembedReport{}, err
	}
	defer end()
	if v.opts.Embedder == nil {
		return ReembedReport{}, ErrNoEmbedder
	}
	cur, err := v.embedModel(ctx)
	if err != nil {
		return ReembedReport{}, err
	}
	c, err := v.coll(collection, false)
	if err != nil {
		return ReembedReport{}, err
	}
	rep := ReembedReport{Model: cur}
	err = v.update(func(tx *bolt.Tx) error {
		rep.Chunks = 0
		segs, err := c.loadSegs(tx)
		if err != nil {
			return err
		}
		total := 0
		for _, s := range segs {
			if !s.Pending {
				total += s.Live
			}
		}
		cb := c.bucket(tx, c.bChunks)
		for _, s := range segs {
			if s.Pending {
				continue
			}
			es, err := v.reembedSeg(ctx, c, cb, s, func(n int) {
				if progress != nil {
					progress(rep.Chunks+n, total)
				}
			})
			if err != nil {
				return err
			}
			rep.Chunks += len(es)
			if len(es) == 0 {
				if err := c.bucket(tx, c.bVecs).Delete(u64(s.ID)); err != nil {
					return err
				}
				continue
			}
			if err := c.putVectors(tx, s.ID, es); err != nil {
				return err
			}
		}
		if err := c.markDocsEmbedded(tx); err != nil {
			return err
		}
		if cur.SHA256 == "" {
			return c.bucket(tx, c.bVecs).Delete(embedMetaKey)
		}
		return c.putEmbedMeta(tx, cur)
	})
	if err != nil {
		return ReembedReport{}, err
	}
	return rep, nil
}

// reembedSeg embeds the live chunks of segment s (ranges are disjoint, so
// the chunks in its id range are its own).
func (v *Vault) reembedSeg(ctx context.Context, c *collection, cb *bolt.Bucket, s *segMeta, done func(int)) ([]vecEntry, error) {
	var es []vecEntry
	var ids []uint64
	var texts []string
	flush := func() error {
		if len(texts) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		vs, err := v.opts.Embedder.Embed(ctx, texts)
		if err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		if len(vs) != len(texts) {
			return fmt.Errorf("embed: %d vectors for %d texts", len(vs), len(texts))
		}
		for i, id := range ids {
			es = append(es, vecEntry{id, vs[i]})
		}
		ids, texts = ids[:0], texts[:0]
		done(len(es))
		return nil
	}
	cur := cb.Cursor()
	hi := u64(s.Max)
	for k, raw := cur.Seek(u64(s.Min)); k != nil && bytes.Compare(k, hi) <= 0; k, raw = cur.Next() {
		id := be64key(k)
		if s.isDeleted(id) {
			continue
		}
		pt, err := c.open(c.bChunks, k, raw)
		if err != nil {
			return nil, err
		}
		var cr chunkRecord
		if err := decodeChunk(pt, &cr); err != nil {
			return nil, fmt.Errorf("%s: %w", c.recordName(c.bChunks, k), err)
		}
		ids, texts = append(ids, id), append(texts, cr.Text)
		if len(texts) == embedBatchSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return es, flush()
}

// markDocsEmbedded notes on every document that its chunks have vectors,
// so the next add does not embed them again.
func (c *collection) markDocsEmbedded(tx *bolt.Tx) error {
	db := c.bucket(tx, c.bDocs)
	var docs []*docRecord
	if err := db.ForEach(func(k, raw []byte) error {
		pt, err := c.open(c.bDocs, k, raw)
		if err != nil {
			return err
		}
		d := &docRecord{}
		if err := json.Unmarshal(pt, d); err != nil {
			return fmt.Errorf("%s: %w", c.recordName(c.bDocs, k), err)
		}
		if !d.Vec && d.Chunks > 0 {
			docs = append(docs, d)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, d := range docs {
		d.Vec = true
		if err := c.putDoc(tx, d); err != nil {
			return err
		}
	}
	return nil
}
