package model

import (
	"os"

	"github.com/sovos/sov/model/gguf"
)

// validateGGUF parses the whole GGUF structure (header, metadata, tensor
// extents) in Go so that damaged files get a clear error instead of reaching
// llama.cpp.
func validateGGUF(f *os.File, size int64, path string) error {
	return gguf.Check(f, size, path)
}
