package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ModelCall is one model call as the ledger records it: the model file's
// digest, the digests of what went in and what came out, and the facts
// that decide the bytes (sampling, seed, context) with token counts.
type ModelCall struct {
	Principal   string
	ModelFile   string // recorded by base name only
	ModelSHA256 string
	// Input is everything needed to run the call again (JSON); Output is
	// what the model wrote. The entry holds only their sha256.
	Input, Output []byte
	Facts         map[string]any
	// Keep stores Input and Output in the ledger's blob folder, so the
	// call can be replayed. Callers whose input carries decrypted private
	// data (vault passages) must not keep it.
	Keep bool
}

// RecordModelCall appends a model entry, signed by s when s is not nil.
func (l *Ledger) RecordModelCall(ctx context.Context, mc ModelCall, s *Signer) (Entry, error) {
	in, out := SHA256(mc.Input), SHA256(mc.Output)
	if mc.Keep {
		for _, b := range [][]byte{mc.Input, mc.Output} {
			if err := l.putBlob(b); err != nil {
				return Entry{}, err
			}
		}
	}
	fields := map[string]any{"model_sha256": mc.ModelSHA256, "model_file": filepath.Base(mc.ModelFile), "kept": mc.Keep}
	for k, v := range mc.Facts {
		fields[k] = v
	}
	return l.Append(ctx, Record{
		Kind: KindModel, Principal: mc.Principal,
		Subjects: map[string]string{"input": in, "output": out},
		Fields:   fields,
	}, s)
}

// ErrNoBlob means the content behind a digest was not kept.
var ErrNoBlob = errors.New("the content was not kept")

func (l *Ledger) blobPath(sha string) string { return filepath.Join(l.dir, "blobs", sha) }

func (l *Ledger) putBlob(b []byte) error {
	p := l.blobPath(SHA256(b))
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("ledger blobs: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", p, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("ledger blobs: %w", err)
	}
	return os.Rename(tmp, p)
}

// Blob returns kept content by its sha256, checked against it.
func (l *Ledger) Blob(sha string) ([]byte, error) {
	b, err := os.ReadFile(l.blobPath(filepath.Base(sha)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoBlob
	}
	if err != nil {
		return nil, fmt.Errorf("ledger blobs: %w", err)
	}
	if SHA256(b) != sha {
		return nil, fmt.Errorf("ledger blob %s… is damaged: its content no longer matches its digest", short(sha))
	}
	return b, nil
}
