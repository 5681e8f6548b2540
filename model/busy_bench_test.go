package model

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// BenchmarkLlamaBusyCPU: stories260K's generation speed while as many
// busy-loop processes as there are CPUs run (SOV_BENCH_BUSY sets how many), with every core's thread (the
// default before the engine measured the load) against the default now
// (Options.Threads 0), three times each, alternating, each on a freshly
// loaded engine. A run stops after 512 tokens or 2 s. The ratio of the
// medians is printed; then the same for SOV_BENCH_MODEL when it is set.
func BenchmarkLlamaBusyCPU(b *testing.B) {
	paths := []string{testtool.Model(b, testtool.Stories)}
	if p := os.Getenv("SOV_BENCH_MODEL"); p != "" {
		paths = append(paths, p)
	}
	cores := DefaultThreads()
	busy := cores
	if n, err := strconv.Atoi(os.Getenv("SOV_BENCH_BUSY")); err == nil && n >= 0 {
		busy = n // how many busy processes, instead of one per CPU
	}
	for range busy {
		spin := exec.Command("sh", "-c", "echo; while :; do :; done")
		out, err := spin.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := spin.Start(); err != nil {
			b.Skip("no sh:", err)
		}
		defer func() {
			spin.Process.Kill()
			spin.Wait()
		}()
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			b.Fatal(err)
		}
	}
	errEnough := errors.New("enough")
	run := func(path string, threads int) (tps float64, used int) {
		e, err := Load(context.Background(), Options{Path: path, ContextSize: 1024, Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		t0 := time.Now()
		_, st, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 512, IgnoreEOG: true}, func(string) error {
			if time.Since(t0) > 2*time.Second {
				return errEnough
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnough) {
			b.Fatal(err)
		}
		return st.GenTPS(), st.Threads
	}
	for k, path := range paths {
		var all, now []float64
		var used []int
		for i := range 3 {
			testtool.Alternate(i,
				func() { t, _ := run(path, cores); all = append(all, t) },
				func() { t, n := run(path, 0); now, used = append(now, t), append(used, n) })
		}
		ratio := median(now) / median(all)
		fmt.Printf("%-34s %s, %d busy processes on %d CPUs: %d threads %.1f tok/s, default (chose %v) %.1f tok/s (median of 3, alternating: %.1f / %.1f); ratio %.1fx\n",
			"generation on a busy CPU", filepath.Base(path), busy, cores, cores, median(all), used, median(now), all, now, ratio)
		if k == 0 {
			b.ReportMetric(ratio, "default/all-cores")
		}
	}
}
