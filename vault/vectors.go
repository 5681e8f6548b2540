package vault

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// Embedder turns texts into L2-normalised vectors (model.Engine.Embed).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Vectors are stored one sealed block per segment (chunk id + vector for
// each chunk), so a vector search decrypts a few large records instead of
// one per chunk; merges concatenate the blocks.

type vecEntry struct {
	id  uint64
	vec []float32
}

const embedBatchSize = 32

// embedBatch embeds every chunk of the batch (nil without an embedder),
// once the embedder's model is known to be the collection's.
func (v *Vault) embedBatch(ctx context.Context, c *collection, batch []*prepared) ([][][]float32, error) {
	if v.opts.Embedder == nil {
		return nil, nil
	}
	if err := v.claimEmbed(ctx, c); err != nil {
		return nil, err
	}
	out := make([][][]float32, len(batch))
	for i, p := range batch {
		texts := make([]string, len(p.chunks))
		for j, c := range p.chunks {
			texts[j] = c.raw.Text
		}
		for s := 0; s < len(texts); s += embedBatchSize {
			e := min(s+embedBatchSize, len(texts))
			vs, err := v.opts.Embedder.Embed(ctx, texts[s:e])
			if err != nil {
				return nil, fmt.Errorf("embed %s: %w", p.path, err)
			}
			out[i] = append(out[i], vs...)
		}
	}
	return out, nil
}

func encodeVectors(es []vecEntry) []byte {
	if len(es) == 0 {
		return nil
	}
	dim := len(es[0].vec)
	out := make([]byte, 0, 16+len(es)*(8+4*dim))
	out = binary.AppendUvarint(out, uint64(len(es)))
	out = binary.AppendUvarint(out, uint64(dim))
	for _, e := range es {
		out = binary.BigEndian.AppendUint64(out, e.id)
		for i := 0; i < dim; i++ {
			var f float32
			if i < len(e.vec) {
				f = e.vec[i]
			}
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(f))
		}
	}
	return out
}

func decodeVectors(b []byte, fn func(id uint64, vec []float32)) error {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return errBadPostings
	}
	b = b[k:]
	dim, k := binary.Uvarint(b)
	if k <= 0 || dim > 1<<16 {
		return errBadPostings
	}
	b = b[k:]
	if uint64(len(b)) != n*(8+4*dim) {
		return errBadPostings
	}
	vec := make([]float32, dim)
	for i := uint64(0); i < n; i++ {
		id := binary.BigEndian.Uint64(b)
		b = b[8:]
		for j := range vec {
			vec[j] = math.Float32frombits(binary.LittleEndian.Uint32(b))
			b = b[4:]
		}
		fn(id, vec)
	}
	return nil
}

func (c *collection) putVectors(tx *bolt.Tx, seg uint64, es []vecEntry) error {
	if len(es) == 0 {
		return nil
	}
	return c.put(c.bucket(tx, c.bVecs), c.bVecs, u64(seg), encodeVectors(es))
}

// mergeVectors concatenates the blocks of merged segments, dropping
// deleted chunks.
func (c *collection) mergeVectors(tx *bolt.Tx, run []*segMeta, out *segMeta) error {
	vb := c.bucket(tx, c.bVecs)
	var all []vecEntry
	for _, s := range run {
		key := u64(s.ID)
		raw := vb.Get(key)
		if raw == nil {
			continue
		}
		pt, err := c.open(c.bVecs, key, raw)
		if err != nil {
			return err
		}
		if err := decodeVectors(pt, func(id uint64, vec []float32) {
			if !s.isDeleted(id) {
				all = append(all, vecEntry{id, append([]float32(nil), vec...)})
			}
		}); err != nil {
			return err
		}
		if err := vb.Delete(key); err != nil {
			return err
		}
	}
	return c.putVectors(tx, out.ID, all)
}

func dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	var s float32
	for i := 0; i < n; i++ {
		s += a[i] * b[i]
	}
	return s
}
