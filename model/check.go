package model

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// validateGGUF is a first check of the file header so that obviously wrong
// files get a clear error instead of reaching llama.cpp.
func validateGGUF(f *os.File, size int64, path string) error {
	var hdr [24]byte
	n, err := io.ReadFull(f, hdr[:])
	if n >= 4 && string(hdr[:4]) != "GGUF" {
		return fmt.Errorf("%s is not a GGUF model file (wrong magic bytes): sov runs GGUF models; convert it or pull a .gguf", path)
	}
	if err != nil {
		return fmt.Errorf("%s is truncated (%d bytes): re-download it with sov pull", path, size)
	}
	if v := binary.LittleEndian.Uint32(hdr[4:8]); v < 2 || v > 3 {
		return fmt.Errorf("%s is a corrupt GGUF file (version %d): re-download it with sov pull", path, v)
	}
	return nil
}
