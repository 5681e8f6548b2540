package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// bbolt never shrinks its file and never clears a page it frees: a
// removed document, an old header or a re-indexed file's old chunks stay
// in free pages. Compaction copies only the live records into a fresh file
// and renames it over the old one.

// CompactResult is the database file's size before and after Compact.
type CompactResult struct {
	Before int64 `json:"before_bytes"`
	After  int64 `json:"after_bytes"`
}

// compactSuffix names the temporary file compaction writes beside the
// database; one left by a crash is removed by the next compaction.
const compactSuffix = ".compact-"

// compactTxBytes bounds one transaction of the copy, so compaction holds
// at most this much in memory whatever the vault's size.
const compactTxBytes = 32 << 20

// Compact rewrites the database with only its live records: the space of
// removed and replaced records is given back to the file system and their
// bytes are no longer in the file.
func (v *Vault) Compact(ctx context.Context) (CompactResult, error) {
	if v.opts.ReadOnly {
		return CompactResult{}, ErrReadOnly
	}
	v.op.Lock() // no operation uses the database while it is swapped
	defer v.op.Unlock()
	return v.compactFile(ctx)
}

// compactFile is Compact with v.op held exclusively. The old file stays
// in place, and locked, until the new one is complete and synced: a crash
// or a full disk before the rename leaves the vault as it was.
func (v *Vault) compactFile(ctx context.Context) (CompactResult, error) {
	var res CompactResult
	fi, err := os.Stat(v.path)
	if err != nil {
		return res, fmt.Errorf("compact: %w", err)
	}
	res.Before = fi.Size()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	dir := filepath.Dir(v.path)
	if stale, _ := filepath.Glob(filepath.Join(dir, FileName+compactSuffix+"*")); len(stale) > 0 {
		for _, s := range stale {
			os.Remove(s) // a crashed compaction's copy; the vault file is whole
		}
	}
	tmp, err := os.CreateTemp(dir, FileName+compactSuffix+"*")
	if err != nil {
		return res, fmt.Errorf("compact: %w", diskErr(err))
	}
	name := tmp.Name()
	tmp.Close()
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(name)
		}
	}()
	dst, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: v.opts.OpenTimeout})
	if err != nil {
		return res, fmt.Errorf("compact: %w", diskErr(err))
	}
	err = bolt.Compact(dst, v.db, compactTxBytes) // every commit is fsynced
	var used int64
	if err == nil {
		err = dst.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = truncateSync(name, used)
	}
	if err != nil {
		return res, compactErr(err)
	}
	if err := os.Rename(name, v.path); err != nil {
		return res, compactErr(err)
	}
	renamed = true
	syncDir(dir)
	// The new file is opened before the old one is closed, so the lock is
	// never free in between; openBolt retries a process that locked the
	// old file meanwhile (it checks the path still names what it locked).
	db, err := openBolt(v.path, false, v.opts.OpenTimeout)
	if err != nil {
		return res, fmt.Errorf("compact: the vault was rewritten but cannot be re-opened: %w", err)
	}
	old := v.db
	v.db = db
	old.Close()
	// Caches keyed by transaction id would mistake the new file's ids.
	v.mu.Lock()
	for _, c := range v.colls {
		c.wipe()
	}
	v.colls = map[string]*collection{}
	v.mu.Unlock()
	if fi, err := os.Stat(v.path); err == nil {
		res.After = fi.Size()
	}
	return res, nil
}

func compactErr(err error) error {
	if err = diskErr(err); errors.Is(err, ErrDiskFull) {
		return err
	}
	return fmt.Errorf("compact (the vault file is unchanged): %w", err)
}

// truncateSync cuts the file at path to size and syncs it: bbolt grows a
// file ahead of its data (up to 16 MiB at a time), and regrows it as needed.
func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
