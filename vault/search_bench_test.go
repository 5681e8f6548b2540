package vault

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"
)

// BenchmarkVaultSearch measures one search over a small corpus (the fixed
// per-search cost); the side-by-side corpus benchmark is in internal/benchcmp.
func BenchmarkVaultSearch(b *testing.B) {
	v, _ := newVault(b)
	src := b.TempDir()
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 300; i++ {
		writeFile(b, filepath.Join(src, fmt.Sprintf("d%03d.md", i)), genDoc(r, i))
	}
	if _, err := v.Add(context.Background(), []string{src}, AddOptions{}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Search(ctx, "velvet marble", SearchOptions{K: 10}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVaultIngest measures Add of 500 small Markdown files.
func BenchmarkVaultIngest(b *testing.B) {
	src := b.TempDir()
	r := rand.New(rand.NewSource(1))
	var size int64
	for i := 0; i < 500; i++ {
		d := genDoc(r, i) + genDoc(r, i) + genDoc(r, i)
		size += int64(len(d))
		writeFile(b, filepath.Join(src, fmt.Sprintf("d%03d.md", i)), d)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		v, _ := newVault(b)
		b.StartTimer()
		if _, err := v.Add(context.Background(), []string{src}, AddOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
