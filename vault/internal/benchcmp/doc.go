// Package benchcmp holds the vault's side-by-side benchmark against bleve
// (in its test files only, so the sov binary never links bleve).
//
// Run: go test ./vault/internal/benchcmp -run '^$' -bench . -benchtime 1x -timeout 60m
package benchcmp
