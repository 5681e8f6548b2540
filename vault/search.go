package vault

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// BM25 parameters (the common defaults, as in Lucene and bleve).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
	rrfK   = 60 // reciprocal rank fusion constant
)

// Search modes reported in Response.Mode.
const (
	ModeLexical = "lexical-only" // no embedding model configured
	ModeHybrid  = "hybrid"       // BM25 fused with vector similarity
)

// SearchOptions tune a search.
type SearchOptions struct {
	Collection string
	K          int // results; default 10
}

// Result is one matching chunk.
type Result struct {
	Chunk   uint64  `json:"chunk"`
	Source  string  `json:"source"`
	Heading string  `json:"heading,omitempty"`
	Start   int     `json:"start"`
	End     int     `json:"end"`
	Score   float64 `json:"score"`
	Text    string  `json:"text"`
	// Highlights are byte spans of Text that match query terms.
	Highlights [][2]int `json:"highlights,omitempty"`
	// Lexical reports whether the chunk matched a query term (as opposed
	// to vector similarity only); BM25 is then its relevance to the query
	// (see corpusStats.relevance).
	Lexical bool    `json:"-"`
	BM25    float64 `json:"-"`
	// Similar reports whether the chunk was among the vector search's
	// candidates, Cosine its similarity to the query.
	Similar bool    `json:"-"`
	Cosine  float64 `json:"-"`
}

// Response is a search's results.
type Response struct {
	Mode    string   `json:"mode"`
	Results []Result `json:"results"`
	// Warnings name records that failed authentication and were skipped.
	Warnings []string `json:"warnings,omitempty"`
}

type scored struct {
	id    uint64
	score float64
}

// minHeap keeps the best k by score (ties: lower chunk id first).
type minHeap []scored

func (h minHeap) Len() int { return len(h) }
func (h minHeap) Less(i, j int) bool {
	if h[i].score != h[j].score {
		return h[i].score < h[j].score
	}
	return h[i].id > h[j].id
}
func (h minHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)   { *h = append(*h, x.(scored)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func topK(k int, each func(push func(id uint64, s float64))) []scored {
	h := make(minHeap, 0, k+1)
	each(func(id uint64, s float64) {
		if len(h) < k {
			heap.Push(&h, scored{id, s})
			return
		}
		if s > h[0].score || (s == h[0].score && id < h[0].id) {
			h[0] = scored{id, s}
			heap.Fix(&h, 0)
		}
	})
	sort.Slice(h, func(i, j int) bool { return h.Less(j, i) })
	return h
}

// Search runs query over the collection: BM25 over the sealed index, fused
// by reciprocal rank with vector similarity when an embedder is set.
func (v *Vault) Search(ctx context.Context, query string, o SearchOptions) (*Response, error) {
	end, err := v.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	return v.search(ctx, query, o)
}

func (v *Vault) search(ctx context.Context, query string, o SearchOptions) (*Response, error) {
	if o.K <= 0 {
		o.K = 10
	}
	resp := &Response{Mode: ModeLexical}
	c, err := v.coll(o.Collection, false)
	if errors.Is(err, ErrEmpty) {
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	terms := uniqueTerms(query)
	var qvec []float32
	var model EmbedModel
	if v.opts.Embedder != nil {
		resp.Mode = ModeHybrid
		if model, err = v.embedModel(ctx); err != nil {
			return nil, err
		}
		vs, err := v.opts.Embedder.Embed(ctx, []string{query})
		if err != nil {
			return nil, err
		}
		if len(vs) == 1 {
			qvec = vs[0]
		}
	}
	err = v.db.View(func(tx *bolt.Tx) error {
		segs, warn := c.loadSegsTolerant(tx)
		resp.Warnings = append(resp.Warnings, warn...)
		want := o.K
		if qvec != nil {
			want = o.K * 4
		}
		var cs corpusStats
		lex, warn := c.bm25(tx, segs, terms, want, &cs)
		resp.Warnings = append(resp.Warnings, warn...)
		lexical, cosine := map[uint64]float64{}, map[uint64]float64{}
		for _, s := range lex {
			lexical[s.id] = s.score
		}
		final := lex
		if qvec != nil {
			w, err := c.checkEmbed(tx, model)
			if err != nil {
				return err
			}
			if w != "" {
				resp.Warnings = append(resp.Warnings, w)
			}
			vec, warn := c.vectorTop(tx, segs, qvec, want)
			resp.Warnings = append(resp.Warnings, warn...)
			for _, s := range vec {
				cosine[s.id] = s.score
			}
			final = fuse(o.K, lex, vec)
		}
		if len(final) > o.K {
			final = final[:o.K]
		}
		cb := c.bucket(tx, c.bChunks)
		for _, s := range final {
			if err := ctx.Err(); err != nil {
				return err
			}
			key := u64(s.id)
			raw := cb.Get(key)
			if raw == nil {
				continue
			}
			pt, err := c.open(c.bChunks, key, raw)
			if err != nil {
				resp.Warnings = append(resp.Warnings, err.Error())
				continue
			}
			var cr chunkRecord
			if err := decodeChunk(pt, &cr); err != nil {
				resp.Warnings = append(resp.Warnings, c.recordName(c.bChunks, key)+": "+err.Error())
				continue
			}
			r := Result{
				Chunk: s.id, Source: cr.Source, Heading: cr.Heading, Start: cr.Start, End: cr.End,
				Score: s.score, Text: cr.Text, Highlights: highlights(cr.Text, terms),
			}
			_, r.Lexical = lexical[s.id]
			r.Cosine, r.Similar = cosine[s.id]
			if r.Lexical {
				r.BM25 = cs.relevance(cr.Text, cr.DL)
			}
			resp.Results = append(resp.Results, r)
		}
		return nil
	})
	return resp, err
}

func uniqueTerms(q string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range Tokenize(q) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// loadSegsTolerant reads the committed segments, skipping (and naming)
// tampered ones. Read-only callers share the result while the database is
// unchanged (same transaction id), so a search does not re-open them.
func (c *collection) loadSegsTolerant(tx *bolt.Tx) ([]*segMeta, []string) {
	c.segMu.Lock()
	if c.segTx == tx.ID() && c.segs != nil {
		segs, warn := c.segs, c.segWarn
		c.segMu.Unlock()
		return segs, warn
	}
	c.segMu.Unlock()
	b := c.bucket(tx, c.bSegs)
	if b == nil {
		return nil, nil
	}
	segs := []*segMeta{}
	var warn []string
	_ = b.ForEach(func(k, raw []byte) error {
		pt, err := c.open(c.bSegs, k, raw)
		if err != nil {
			warn = append(warn, err.Error())
			return nil
		}
		s := &segMeta{}
		if err := json.Unmarshal(pt, s); err != nil {
			warn = append(warn, c.recordName(c.bSegs, k)+": "+err.Error())
			return nil
		}
		if !s.Pending {
			s.isDeleted(0) // build the lookup now: cached metas are shared read-only
			segs = append(segs, s)
		}
		return nil
	})
	sortSegs(segs)
	if !tx.Writable() {
		c.segMu.Lock()
		c.segTx, c.segs, c.segWarn = tx.ID(), segs, warn
		c.segMu.Unlock()
	}
	return segs, warn
}

// bm25 scores chunks for terms (a disjunction, with bleve-style coord
// factor matched/len(terms)) and returns the best k.
func (c *collection) bm25(tx *bolt.Tx, segs []*segMeta, terms []string, k int, cs *corpusStats) ([]scored, []string) {
	if len(terms) == 0 || len(segs) == 0 {
		return nil, nil
	}
	var warn []string
	var n, sumDL float64
	lo, hi := segs[0].Min, segs[0].Max
	for _, s := range segs {
		lo, hi = min(lo, s.Min), max(hi, s.Max)
		n += float64(s.Live)
		sumDL += float64(s.SumDL)
	}
	if n == 0 {
		return nil, nil
	}
	avgDL := sumDL / n
	defer func() { cs.n, cs.avgDL = n, avgDL }()
	pb := c.bucket(tx, c.bPost)
	type plist struct {
		seg *segMeta
		pt  []byte
	}
	lists := make([][]plist, len(terms))
	dfs := make([]float64, len(terms))
	for i, t := range terms {
		tt := tag(c.termKey, termTagLen, t)
		for _, s := range segs {
			key := postKey(s.ID, tt)
			raw := pb.Get(key)
			if raw == nil {
				continue
			}
			pt, err := c.open(c.bPost, key, raw)
			if err != nil {
				warn = append(warn, err.Error())
				continue
			}
			cnt, _ := uvarint(pt)
			df := float64(cnt)
			if len(s.Deleted) > 0 {
				df = 0
				_ = decodePostings(s.Min, pt, func(id uint64, _, _ uint32) {
					if !s.isDeleted(id) {
						df++
					}
				})
			}
			dfs[i] += df
			cs.df(terms[i], df)
			lists[i] = append(lists[i], plist{s, pt})
		}
	}
	// Dense accumulators over the id range; a map if it is huge.
	span := hi - lo + 1
	var dense []float64
	var hits []uint8
	var sparse map[uint64]*[2]float64
	if span <= 8<<20 {
		acc := c.getAcc(int(span))
		defer c.putAcc(acc)
		dense, hits = acc.score[:span], acc.hits[:span]
	} else {
		sparse = map[uint64]*[2]float64{}
	}
	var touched []uint64
	for i := range terms {
		if dfs[i] == 0 {
			continue
		}
		idf := math.Log(1 + (n-dfs[i]+0.5)/(dfs[i]+0.5))
		for _, pl := range lists[i] {
			s := pl.seg
			err := decodePostings(s.Min, pl.pt, func(id uint64, tf, dl uint32) {
				if len(s.Deleted) > 0 && s.isDeleted(id) {
					return
				}
				f := float64(tf)
				sc := idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*float64(dl)/avgDL))
				if dense != nil {
					j := id - lo
					if hits[j] == 0 {
						touched = append(touched, id)
					}
					dense[j] += sc
					hits[j]++
					return
				}
				a := sparse[id]
				if a == nil {
					a = &[2]float64{}
					sparse[id] = a
					touched = append(touched, id)
				}
				a[0] += sc
				a[1]++
			})
			if err != nil {
				warn = append(warn, c.recordName(c.bPost, postKey(s.ID, tag(c.termKey, termTagLen, terms[i])))+": "+err.Error())
			}
		}
	}
	nt := float64(len(terms))
	return topK(k, func(push func(uint64, float64)) {
		for _, id := range touched {
			var sc, m float64
			if dense != nil {
				sc, m = dense[id-lo], float64(hits[id-lo])
				dense[id-lo], hits[id-lo] = 0, 0 // leave the pooled buffer clean
			} else {
				a := sparse[id]
				sc, m = a[0], a[1]
			}
			push(id, sc*m/nt)
		}
	}), warn
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	var s uint
	for i, c := range b {
		if c < 0x80 {
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}

// vectorTop returns the k chunks most similar to q (cosine; vectors are
// normalised).
func (c *collection) vectorTop(tx *bolt.Tx, segs []*segMeta, q []float32, k int) ([]scored, []string) {
	vb := c.bucket(tx, c.bVecs)
	if vb == nil {
		return nil, nil
	}
	var warn []string
	top := topK(k, func(push func(uint64, float64)) {
		for _, s := range segs {
			key := u64(s.ID)
			raw := vb.Get(key)
			if raw == nil {
				continue
			}
			pt, err := c.open(c.bVecs, key, raw)
			if err != nil {
				warn = append(warn, err.Error())
				continue
			}
			mismatch := false
			_ = decodeVectors(pt, func(id uint64, vec []float32) {
				if len(vec) != len(q) {
					mismatch = true
					return
				}
				if !s.isDeleted(id) {
					push(id, float64(dot(q, vec)))
				}
			})
			if mismatch {
				warn = append(warn, fmt.Sprintf("segment %d has vectors from another embedding model (skipped): re-embed the collection with the current model", s.ID))
			}
		}
	})
	return top, warn
}

// fuse combines ranked lists by reciprocal rank fusion.
func fuse(k int, lists ...[]scored) []scored {
	score := map[uint64]float64{}
	for _, l := range lists {
		for rank, s := range l {
			score[s.id] += 1 / float64(rrfK+rank+1)
		}
	}
	return topK(k, func(push func(uint64, float64)) {
		for id, s := range score {
			push(id, s)
		}
	})
}

// relevancePrior is the number of unrelated chunks a collection is taken
// to hold besides its own when relevance is scored: in a vault of a few
// files a term that every chunk has still says something, in a large one
// it says nothing.
const relevancePrior = 8

// corpusStats are what a chunk's BM25 relevance to a query is scored
// with: the live chunks, their mean index length and each term's
// document frequency.
type corpusStats struct {
	n, avgDL float64
	dfs      map[string]float64
}

func (cs *corpusStats) df(term string, df float64) {
	if cs.dfs == nil {
		cs.dfs = map[string]float64{}
	}
	cs.dfs[term] += df
}

// relevance is text's BM25 score for the query's terms, summed without
// the coordination factor the ranking uses, with the smoothed idf
// log(1 + (n + prior - df + 0.5) / (df + 0.5)); Ask compares it with a
// floor.
func (cs *corpusStats) relevance(text string, dl uint32) float64 {
	if cs.n == 0 {
		return 0
	}
	tf := map[string]float64{}
	forEachToken(text, func(t string, _, _ int) {
		if _, ok := cs.dfs[t]; ok {
			tf[t]++
		}
	})
	var sum float64
	for t, f := range tf {
		df := cs.dfs[t]
		idf := math.Log(1 + (cs.n+relevancePrior-df+0.5)/(df+0.5))
		sum += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*float64(dl)/cs.avgDL))
	}
	return sum
}

// highlights returns the byte spans of text matching terms.
func highlights(text string, terms []string) [][2]int {
	want := map[string]bool{}
	for _, t := range terms {
		want[t] = true
	}
	var out [][2]int
	forEachToken(text, func(t string, s, e int) {
		if want[t] {
			out = append(out, [2]int{s, e})
		}
	})
	return out
}

// acc is a reusable dense score accumulator; entries are zeroed by their
// user after use, so a pooled one is always clean.
type acc struct {
	score []float64
	hits  []uint8
}

func (c *collection) getAcc(n int) *acc {
	if a, ok := c.accs.Get().(*acc); ok && len(a.score) >= n {
		return a
	}
	return &acc{score: make([]float64, n), hits: make([]uint8, n)}
}

func (c *collection) putAcc(a *acc) { c.accs.Put(a) }
