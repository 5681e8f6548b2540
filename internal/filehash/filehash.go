// Package filehash gives the sha256 of large files (model weights) once:
// the digest is remembered in a small memo file by path, size and
// modification time, so a multi-gigabyte model is hashed once, not on
// every start.
package filehash

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SHA256 returns the sha256 of the file at path, using and updating the
// memo file (a damaged memo is rebuilt; a memo that cannot be written only
// costs a re-hash next time).
func SHA256(path, memo string) ([32]byte, error) {
	var sum [32]byte
	st, err := os.Stat(path)
	if err != nil {
		return sum, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	key := fmt.Sprintf("%s|%d|%d", abs, st.Size(), st.ModTime().UnixNano())
	known := map[string]string{}
	if b, err := os.ReadFile(memo); err == nil {
		json.Unmarshal(b, &known) //nolint:errcheck // a damaged memo is only rebuilt
	}
	if h, ok := known[key]; ok {
		if b, err := hex.DecodeString(h); err == nil && len(b) == len(sum) {
			copy(sum[:], b)
			return sum, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("hash %s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	known[key] = hex.EncodeToString(sum[:])
	if b, err := json.Marshal(known); err == nil && os.MkdirAll(filepath.Dir(memo), 0o700) == nil {
		// A temporary file of its own: two files hashed at once (a model
		// loading while another's call is recorded) must not write into
		// one. The later rename wins; the loser's digest is only computed
		// again next time.
		if f, err := os.CreateTemp(filepath.Dir(memo), filepath.Base(memo)+".*.tmp"); err == nil {
			_, werr := f.Write(b)
			if cerr := f.Close(); werr == nil && cerr == nil && os.Rename(f.Name(), memo) == nil {
				return sum, nil
			}
			os.Remove(f.Name())
		}
	}
	return sum, nil
}
