// Package boltfile checks a bbolt file's structure before bbolt maps it.
// bbolt trusts its meta pages: a file cut short behind a valid meta is
// mapped anyway and the first read past its end faults (SIGBUS/SIGSEGV),
// which no recover can catch. Check reads the two meta pages the way
// go.etcd.io/bbolt v1.5 lays them out and refuses such a file first.
package boltfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// ErrDamaged matches every *DamagedError.
var ErrDamaged = errors.New("damaged database file")

// DamagedError says which file is damaged and how, in one line.
type DamagedError struct {
	Path   string
	Reason string
}

func (e *DamagedError) Error() string { return fmt.Sprintf("%s is damaged: %s", e.Path, e.Reason) }

// Is makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// bbolt's on-disk layout (internal/common in bbolt v1.5.0): each page starts
// with a 16-byte header (id, flags, count, overflow); a meta page's body is
// magic, version, pageSize, flags uint32; root {pgid, sequence}, freelist,
// pgid, txid, checksum uint64, in the machine's byte order.
const (
	pageHeaderSize = 16
	metaSize       = 64
	checksumOffset = 56 // FNV-64a covers the meta up to here
	magic          = 0xED0CDAED
	version        = 2
	noFreelist     = ^uint64(0) // freelist not synced
	minPageSize    = 1024
	maxPageSize    = 1024 << 14 // the largest bbolt probes for
)

type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// readMeta parses the meta page at off; the reason says why it is unusable.
func readMeta(f io.ReaderAt, off int64) (meta, string) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if n, err := f.ReadAt(buf, off); n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return meta{}, "file ends inside its meta page"
		}
		return meta{}, err.Error()
	}
	b := buf[pageHeaderSize:]
	ne := binary.NativeEndian
	switch {
	case ne.Uint32(b[0:]) != magic:
		return meta{}, "not a bbolt database (bad magic)"
	case ne.Uint32(b[4:]) != version:
		return meta{}, fmt.Sprintf("unsupported bbolt version %d", ne.Uint32(b[4:]))
	}
	h := fnv.New64a()
	h.Write(b[:checksumOffset])
	if h.Sum64() != ne.Uint64(b[checksumOffset:]) {
		return meta{}, "meta page checksum mismatch"
	}
	m := meta{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]),
		pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	switch {
	case m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0:
		return meta{}, fmt.Sprintf("bad page size %d", m.pageSize)
	case m.pgid < 3 || m.root < 2 || m.root >= m.pgid:
		return meta{}, fmt.Sprintf("bad root page %d of %d", m.root, m.pgid)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
		return meta{}, fmt.Sprintf("bad freelist page %d of %d", m.freelist, m.pgid)
	}
	return m, ""
}

// Check reports a *DamagedError when the bbolt file at path could not be
// opened safely: no valid meta page, or shorter than the pages its meta
// says it has. A missing or empty file is not damage (bbolt creates it).
// Other I/O errors are returned as they are.
func Check(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	// Meta 0 gives the page size; without it, probe for meta 1 at every
	// page size bbolt itself would try.
	m0, why0 := readMeta(f, 0)
	var m1 meta
	why1 := "file ends before its second meta page"
	if why0 == "" {
		m1, why1 = readMeta(f, int64(m0.pageSize))
	} else {
		for ps := int64(minPageSize); ps <= maxPageSize && ps < size; ps <<= 1 {
			if m, why := readMeta(f, ps); why == "" && int64(m.pageSize) == ps {
				m1, why1 = m, ""
				break
			}
		}
	}
	// bbolt uses the valid meta with the higher transaction id.
	var m meta
	switch {
	case why0 != "" && why1 != "":
		return &DamagedError{Path: path, Reason: "no valid meta page (" + why0 + ")"}
	case why0 != "":
		m = m1
	case why1 != "" || m0.txid >= m1.txid:
		m = m0
	default:
		m = m1
	}
	if want := int64(m.pgid) * int64(m.pageSize); size < want {
		return &DamagedError{Path: path, Reason: fmt.Sprintf("truncated: %d bytes, its meta page says %d", size, want)}
	}
	return nil
}
