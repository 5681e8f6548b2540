package benchcmp

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/vault"
)

// BenchmarkVaultBigFile streams one 200 MB Markdown file into the vault and
// reports the peak Go heap while doing so, which must stay far below the
// file's size (the file is chunked and committed in pending segments).
func BenchmarkVaultBigFile(b *testing.B) {
	ctx := context.Background()
	tmp := b.TempDir()
	size := int64(envInt("SOV_BENCH_BIGFILE_MB", 200)) << 20
	path := filepath.Join(tmp, "big.md")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	vocab := vocabulary(20000)
	r := rand.New(rand.NewSource(5))
	zipf := rand.NewZipf(r, 1.07, 2, uint64(len(vocab)-1))
	var n int64
	for sec := 0; n < size; sec++ {
		k, _ := fmt.Fprintf(w, "## Part %d\n\n", sec)
		n += int64(k)
		for i := 0; i < 60; i++ {
			k, _ := w.WriteString(vocab[zipf.Uint64()] + " ")
			n += int64(k)
		}
		k, _ = w.WriteString("\n\n")
		n += int64(k)
	}
	w.Flush()
	f.Close()
	kdf := seal.FastKDF() // the KDF is not what this measures
	vdir := filepath.Join(tmp, "vault")
	if err := vault.Init(ctx, vdir, []byte("p"), vault.Options{KDF: &kdf}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		v, err := vault.Open(ctx, vdir, []byte("p"), vault.Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
				}
			}
		}()
		t0 := time.Now()
		rep, err := v.Add(ctx, []string{path}, vault.AddOptions{})
		el := time.Since(t0)
		close(done)
		if err != nil || rep.Added+rep.Updated != 1 {
			b.Fatalf("add: %+v %v", rep, err)
		}
		res, err := v.Search(ctx, vocab[500], vault.SearchOptions{K: 5})
		if err != nil || len(res.Results) == 0 {
			b.Fatalf("search after big add: %v", err)
		}
		v.Close()
		fmt.Printf("\nbig file: %.0f MB streamed in %.1fs (%.1f MB/s), %d chunks; peak Go heap %.0f MB (%.0f MB before), file/heap ratio %.1fx\n",
			float64(n)/1e6, el.Seconds(), float64(n)/1e6/el.Seconds(), rep.Chunks, float64(peak.Load())/1e6, float64(base.HeapInuse)/1e6, float64(n)/float64(peak.Load()))
		b.ReportMetric(float64(peak.Load())/1e6, "peak-heap-MB")
		b.ReportMetric(float64(n)/1e6/el.Seconds(), "MB/s")
		os.Remove(vault.DBPath(vdir))
		if err := vault.Init(ctx, vdir, []byte("p"), vault.Options{KDF: &kdf}); err != nil {
			b.Fatal(err)
		}
	}
}
