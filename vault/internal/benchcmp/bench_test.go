package benchcmp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/token/stop"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	_ "github.com/blevesearch/bleve/v2/analysis/tokenmap"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/sovos/sov/vault"
)

// Corpus parameters: 10,000 Markdown documents of ~5 KB (~50 MB), each with
// a dozen short sections, so the index holds over 100,000 chunks.
var (
	numDocs    = envInt("SOV_BENCH_DOCS", 10000)
	sections   = 12
	numQueries = 100
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// vocabulary builds deterministic pseudo-words.
func vocabulary(n int) []string {
	syl := strings.Fields("ka lo mi ne ru sa ti vo ze ba do fu gi ha ju ke li mo nu pa re si to vu wa ya")
	r := rand.New(rand.NewSource(7))
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		var b strings.Builder
		for k := 0; k < 2+r.Intn(3); k++ {
			b.WriteString(syl[r.Intn(len(syl))])
		}
		w := b.String()
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// writeCorpus writes the documents and returns their total size.
func writeCorpus(b *testing.B, dir string, vocab []string) int64 {
	r := rand.New(rand.NewSource(42))
	zipf := rand.NewZipf(r, 1.07, 2, uint64(len(vocab)-1))
	var total int64
	var sb strings.Builder
	for i := 0; i < numDocs; i++ {
		sb.Reset()
		fmt.Fprintf(&sb, "# Note %d\n\n", i)
		for s := 0; s < sections; s++ {
			fmt.Fprintf(&sb, "## Topic %s %s\n\n", vocab[zipf.Uint64()], vocab[zipf.Uint64()])
			words := 45 + r.Intn(30)
			for w := 0; w < words; w++ {
				sb.WriteString(vocab[zipf.Uint64()])
				if w%12 == 11 {
					sb.WriteString(".\n")
				} else {
					sb.WriteByte(' ')
				}
			}
			sb.WriteString("\n\n")
		}
		p := filepath.Join(dir, fmt.Sprintf("%02d", i%100), fmt.Sprintf("note%05d.md", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(sb.Len())
	}
	return total
}

// queries are 1–3 words from the middle of the frequency range.
func queries(vocab []string) []string {
	r := rand.New(rand.NewSource(99))
	out := make([]string, numQueries)
	for i := range out {
		n := 1 + r.Intn(3)
		var ws []string
		for k := 0; k < n; k++ {
			ws = append(ws, vocab[20+r.Intn(3000)])
		}
		out[i] = strings.Join(ws, " ")
	}
	return out
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func rssKiB() (rss, hwm int) {
	raw, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "VmRSS:" {
			rss, _ = strconv.Atoi(f[1])
		}
		if len(f) >= 2 && f[0] == "VmHWM:" {
			hwm, _ = strconv.Atoi(f[1])
		}
	}
	return
}

func bleveMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	m.ScoringModel = index.BM25Scoring
	var stops []any
	for _, w := range vault.StopWords() {
		stops = append(stops, w)
	}
	if err := m.AddCustomTokenMap("sov_stop", map[string]any{"type": "custom", "tokens": stops}); err != nil {
		return nil, err
	}
	if err := m.AddCustomTokenFilter("sov_stop_filter", map[string]any{"type": stop.Name, "stop_token_map": "sov_stop"}); err != nil {
		return nil, err
	}
	// The same analysis as the vault: Unicode words, lower case, its stop list.
	if err := m.AddCustomAnalyzer("sov", map[string]any{
		"type": "custom", "tokenizer": unicode.Name, "token_filters": []any{lowercase.Name, "sov_stop_filter"},
	}); err != nil {
		return nil, err
	}
	m.DefaultAnalyzer = "sov"
	doc := bleve.NewDocumentStaticMapping()
	f := bleve.NewTextFieldMapping()
	f.Analyzer = "sov"
	f.Store = true
	f.IncludeInAll = false
	f.IncludeTermVectors = false
	doc.AddFieldMappingsAt("text", f)
	m.DefaultMapping = doc
	return m, nil
}

// BenchmarkVaultVsBleve ingests the corpus into an encrypted vault, indexes
// the very same chunks in bleve v2.6.1 (BM25), runs the same 100 queries on
// both and prints latency ratios, top-10 overlap, ingest rate, unlock time
// and memory.
func BenchmarkVaultVsBleve(b *testing.B) {
	ctx := context.Background()
	tmp := b.TempDir()
	corpus := filepath.Join(tmp, "corpus")
	vocab := vocabulary(20000)
	size := writeCorpus(b, corpus, vocab)
	qs := queries(vocab)
	vdir := filepath.Join(tmp, "vault")
	pass := []byte("benchmark passphrase")
	// Production KDF parameters: the unlock figure includes them.
	if err := vault.Init(ctx, vdir, pass, vault.Options{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		v, err := vault.Open(ctx, vdir, pass, vault.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		rep, err := v.Add(ctx, []string{corpus}, vault.AddOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ingest := time.Since(t0)
		st, err := v.Stats(ctx, "")
		if err != nil {
			b.Fatal(err)
		}
		mbps := float64(size) / 1e6 / ingest.Seconds()

		// Spool the plaintext chunks for bleve (the same units sov ranks)
		// to a file, so they do not inflate this process's memory figures.
		spool := filepath.Join(tmp, "chunks.jsonl")
		sf, err := os.Create(spool)
		if err != nil {
			b.Fatal(err)
		}
		enc := json.NewEncoder(sf)
		for id, n := uint64(1), 0; n < st.Chunks && id < uint64(st.Chunks)*4; id++ {
			if r, err := v.Get(ctx, "", id); err == nil {
				n++
				enc.Encode(spooled{id, r.Text})
			}
		}
		sf.Close()
		v.Close()
		runtime.GC()
		debug.FreeOSMemory()

		// Unlock (KDF + keys) and first search, measured from cold open.
		t1 := time.Now()
		v, err = vault.Open(ctx, vdir, pass, vault.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Search(ctx, qs[0], vault.SearchOptions{K: 10}); err != nil {
			b.Fatal(err)
		}
		unlockFirst := time.Since(t1)
		kdf := v.KDFDuration()

		// Warm up, then time each query once.
		sovTop := make([][]string, len(qs))
		for _, q := range qs {
			v.Search(ctx, q, vault.SearchOptions{K: 10})
		}
		sovLat := make([]time.Duration, len(qs))
		for i, q := range qs {
			s := time.Now()
			r, err := v.Search(ctx, q, vault.SearchOptions{K: 10})
			sovLat[i] = time.Since(s)
			if err != nil {
				b.Fatal(err)
			}
			for _, x := range r.Results {
				sovTop[i] = append(sovTop[i], strconv.FormatUint(x.Chunk, 10))
			}
		}
		runtime.GC()
		debug.FreeOSMemory()
		rss, hwm := rssKiB()
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)

		// bleve over the same plaintext chunks.
		m, err := bleveMapping()
		if err != nil {
			b.Fatal(err)
		}
		bidx, err := bleve.New(filepath.Join(tmp, "bleve"), m)
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		batch := bidx.NewBatch()
		rf, err := os.Open(spool)
		if err != nil {
			b.Fatal(err)
		}
		dec := json.NewDecoder(bufio.NewReader(rf))
		for {
			var c spooled
			if err := dec.Decode(&c); err != nil {
				break
			}
			if err := batch.Index(strconv.FormatUint(c.ID, 10), map[string]any{"text": c.Text}); err != nil {
				b.Fatal(err)
			}
			if batch.Size() >= 2000 {
				if err := bidx.Batch(batch); err != nil {
					b.Fatal(err)
				}
				batch = bidx.NewBatch()
			}
		}
		rf.Close()
		if err := bidx.Batch(batch); err != nil {
			b.Fatal(err)
		}
		bleveIndex := time.Since(t2)
		bsearch := func(q string) (*bleve.SearchResult, error) {
			mq := bleve.NewMatchQuery(q)
			mq.SetField("text")
			mq.Analyzer = "sov"
			req := bleve.NewSearchRequestOptions(mq, 10, 0, false)
			req.Fields = []string{"text"}
			return bidx.Search(req)
		}
		for _, q := range qs {
			bsearch(q)
		}
		bLat := make([]time.Duration, len(qs))
		var overlap float64
		for i, q := range qs {
			s := time.Now()
			res, err := bsearch(q)
			bLat[i] = time.Since(s)
			if err != nil {
				b.Fatal(err)
			}
			want := map[string]bool{}
			for _, h := range res.Hits {
				want[h.ID] = true
			}
			common := 0
			for _, id := range sovTop[i] {
				if want[id] {
					common++
				}
			}
			den := max(min(len(res.Hits), 10), 1)
			overlap += float64(common) / float64(den)
		}
		overlap /= float64(len(qs))
		bidx.Close()
		v.Close()

		sp50, sp95 := percentile(sovLat, .5), percentile(sovLat, .95)
		bp50, bp95 := percentile(bLat, .5), percentile(bLat, .95)
		fi, _ := os.Stat(vault.DBPath(vdir))
		fmt.Printf("\nvault benchmark: %d docs, %.1f MB, %d chunks, %d segments, vault file %.1f MB\n",
			rep.Added, float64(size)/1e6, st.Chunks, st.Segments, float64(fi.Size())/1e6)
		fmt.Printf("  ingest (lexical, encrypted, incl. extraction+chunking): %.1fs = %.1f MB/s; bleve indexing the pre-chunked text: %.1fs (sov/bleve time %.2fx)\n",
			ingest.Seconds(), mbps, bleveIndex.Seconds(), ingest.Seconds()/bleveIndex.Seconds())
		fmt.Printf("  search p50/p95 over %d queries: sov %.2f/%.2f ms, bleve %.2f/%.2f ms, ratio sov/bleve p50 %.2fx p95 %.2fx\n",
			len(qs), ms(sp50), ms(sp95), ms(bp50), ms(bp95), float64(sp50)/float64(bp50), float64(sp95)/float64(bp95))
		fmt.Printf("  top-10 overlap with bleve BM25: %.1f%%\n", overlap*100)
		fmt.Printf("  open+unlock+first search: %.0f ms, of which Argon2id (t=3, 64 MiB) %.0f ms; after the KDF %.1f ms\n", ms(unlockFirst), ms(kdf), ms(unlockFirst-kdf))
		fmt.Printf("  memory with the vault open after the searches: RSS %.1f MB (Go heap in use %.1f MB; the rest is mostly the mapped database file); peak RSS %.1f MB during ingest\n",
			float64(rss)/1024, float64(mem.HeapInuse)/1e6, float64(hwm)/1024)
		b.ReportMetric(mbps, "ingest-MB/s")
		b.ReportMetric(ms(sp50), "sov-p50-ms")
		b.ReportMetric(ms(sp95), "sov-p95-ms")
		b.ReportMetric(ms(bp50), "bleve-p50-ms")
		b.ReportMetric(float64(sp50)/float64(bp50), "p50-ratio")
		b.ReportMetric(overlap*100, "overlap-%")
		b.ReportMetric(ms(unlockFirst-kdf), "unlock-after-kdf+search-ms")
		b.ReportMetric(float64(mem.HeapInuse)/1e6, "heap-MB")
		b.ReportMetric(float64(rss)/1024, "RSS-MB")
	}
}

type spooled struct {
	ID   uint64 `json:"id"`
	Text string `json:"t"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
