// Package gguf reads and validates GGUF model files (versions 2 and 3).
//
// Read checks the whole structure — magic, version, counts, every string and
// array within the file, every tensor's data within the file — before
// llama.cpp ever maps the file, so a damaged download yields a one-line
// error naming the fix instead of a crash inside C code.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unicode/utf8"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is used when general.alignment is absent.
const DefaultAlignment = 32

// Limits beyond which a value is treated as corrupt rather than as a file
// cut short: no real model comes near them.
const (
	maxTensors   = 1 << 20
	maxKV        = 1 << 20
	maxString    = 1 << 30
	maxKeyLen    = 1 << 16
	maxArrayLen  = 1 << 32
	maxDims      = 4 // GGML_MAX_DIMS
	maxNameBytes = 1 << 16
)

// Classes of format error; test with errors.Is.
var (
	ErrNotGGUF     = errors.New("not a GGUF file")
	ErrTruncated   = errors.New("truncated GGUF file")
	ErrCorrupt     = errors.New("corrupt GGUF file")
	ErrUnsupported = errors.New("unsupported GGUF version")
)

// FormatError describes why a file is not a usable GGUF model.
type FormatError struct {
	Path   string // file name as given, or "input"
	Kind   error  // ErrNotGGUF, ErrTruncated, ErrCorrupt or ErrUnsupported
	Offset int64  // byte where the problem was found
	Size   int64  // file size
	Detail string
}

func (e *FormatError) Error() string {
	switch e.Kind {
	case ErrNotGGUF:
		return fmt.Sprintf("%s is not a GGUF model file (%s): use a .gguf model file", e.Path, e.Detail)
	case ErrTruncated:
		return fmt.Sprintf("%s is truncated (%s; the file has %d bytes): it was cut short, download or copy it again", e.Path, e.Detail, e.Size)
	case ErrUnsupported:
		return fmt.Sprintf("%s uses %s: re-convert it with a current llama.cpp or download a newer .gguf", e.Path, e.Detail)
	default:
		return fmt.Sprintf("%s is a corrupt GGUF file (%s at byte %d): it is damaged, download or copy it again", e.Path, e.Detail, e.Offset)
	}
}

func (e *FormatError) Unwrap() error { return e.Kind }

// KV is one metadata entry. Value holds uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64, float64 or Array.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// Array is an array value. Values is a typed slice ([]uint8 … []float64,
// []bool or []string) matching Type.
type Array struct {
	Type   ValueType
	Values any
}

// Len is the number of elements.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	}
	return 0
}

// Tensor describes one tensor.
type Tensor struct {
	Name     string
	Dims     []uint64
	Type     TensorType
	Offset   uint64 // relative to File.DataOffset
	Elements uint64
	Bytes    uint64
}

// File is a parsed, validated GGUF file (metadata only; tensor data is not
// read).
type File struct {
	Path       string
	Size       int64
	Version    uint32
	Alignment  uint64
	DataOffset int64 // where tensor data starts
	KV         []KV  // in file order
	Tensors    []Tensor
	index      map[string]int
}

// Read opens, parses and validates the GGUF file at path.
func Read(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a GGUF model file: pass the .gguf file inside it", path)
	}
	gf, err := Parse(f, st.Size(), path)
	if err != nil {
		return nil, err
	}
	return gf, nil
}

// Parse reads a GGUF stream of the given total size; name is used in errors.
func Parse(r io.Reader, size int64, name string) (*File, error) {
	return parseStream(r, size, name, false)
}

func parseStream(r io.Reader, size int64, name string, skip bool) (*File, error) {
	if name == "" {
		name = "input"
	}
	p := &parser{r: bufio.NewReaderSize(r, 64<<10), size: size, name: name, skip: skip}
	f, err := p.parse()
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	f.Path = name
	return f, nil
}

// Check validates a GGUF stream as Parse does, without keeping metadata
// arrays: a vocabulary of a hundred thousand strings is read past, not
// copied, so checking a file before loading it leaves no garbage behind.
func Check(r io.Reader, size int64, name string) error {
	_, err := parseStream(r, size, name, true)
	return err
}

type parser struct {
	r    *bufio.Reader
	off  int64
	size int64
	name string
	buf  [8]byte
	skip bool // Check: read past array contents
}

// discard reads past n bytes.
func (p *parser) discard(n uint64, what string) error {
	if err := p.need(n, what); err != nil {
		return err
	}
	d, err := p.r.Discard(int(n))
	p.off += int64(d)
	if errors.Is(err, io.EOF) {
		return p.fail(ErrTruncated, p.off, "%s ends early at byte %d", what, p.off)
	}
	return err
}

func (p *parser) fail(kind error, off int64, format string, a ...any) error {
	return &FormatError{Path: p.name, Kind: kind, Offset: off, Size: p.size, Detail: fmt.Sprintf(format, a...)}
}

// need fails with ErrTruncated when fewer than n bytes remain.
func (p *parser) need(n uint64, what string) error {
	if n > uint64(p.size-p.off) {
		return p.fail(ErrTruncated, p.off, "%s at byte %d needs %d bytes", what, p.off, n)
	}
	return nil
}

func (p *parser) read(b []byte, what string) error {
	if err := p.need(uint64(len(b)), what); err != nil {
		return err
	}
	n, err := io.ReadFull(p.r, b)
	p.off += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return p.fail(ErrTruncated, p.off, "%s ends early at byte %d", what, p.off)
	}
	return err
}

func (p *parser) u32(what string) (uint32, error) {
	if err := p.read(p.buf[:4], what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p.buf[:4]), nil
}

func (p *parser) u64(what string) (uint64, error) {
	if err := p.read(p.buf[:8], what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p.buf[:8]), nil
}

func (p *parser) str(what string, limit uint64) (string, error) {
	start := p.off
	n, err := p.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > limit {
		return "", p.fail(ErrCorrupt, start, "%s length %d is implausible", what, n)
	}
	if err := p.need(n, what); err != nil {
		return "", err
	}
	b := make([]byte, n)
	if err := p.read(b, what); err != nil {
		return "", err
	}
	return string(b), nil
}

func (p *parser) parse() (*File, error) {
	if p.size < 4 {
		var b [4]byte
		n, _ := io.ReadFull(p.r, b[:p.size])
		if p.size == 0 || n == 0 {
			return nil, p.fail(ErrNotGGUF, 0, "the file is empty")
		}
		if string(b[:n]) == Magic[:n] {
			return nil, p.fail(ErrTruncated, int64(n), "only %d bytes", n)
		}
		return nil, p.fail(ErrNotGGUF, 0, "it starts with %q, not %q", b[:n], Magic)
	}
	var magic [4]byte
	if err := p.read(magic[:], "magic"); err != nil {
		return nil, err
	}
	if string(magic[:]) != Magic {
		return nil, p.fail(ErrNotGGUF, 0, "it starts with %q, not %q", magic[:], Magic)
	}
	f := &File{Size: p.size, Alignment: DefaultAlignment, index: map[string]int{}}
	v, err := p.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case v == 2 || v == 3:
	case v == 1:
		return nil, p.fail(ErrUnsupported, 4, "GGUF version 1, which is no longer supported")
	case v > 3 && v < 16:
		return nil, p.fail(ErrUnsupported, 4, "GGUF version %d, newer than this reader understands (2 or 3)", v)
	default:
		return nil, p.fail(ErrCorrupt, 4, "version field %#x", v)
	}
	f.Version = v
	nt, err := p.u64("tensor count")
	if err != nil {
		return nil, err
	}
	if nt > maxTensors {
		return nil, p.fail(ErrCorrupt, 8, "tensor count %d is implausible", nt)
	}
	nkv, err := p.u64("metadata count")
	if err != nil {
		return nil, err
	}
	if nkv > maxKV {
		return nil, p.fail(ErrCorrupt, 16, "metadata count %d is implausible", nkv)
	}
	f.KV = make([]KV, 0, min(nkv, 4096))
	for i := uint64(0); i < nkv; i++ {
		kv, err := p.kv()
		if err != nil {
			return nil, err
		}
		if _, dup := f.index[kv.Key]; dup {
			return nil, p.fail(ErrCorrupt, p.off, "duplicate metadata key %q", kv.Key)
		}
		f.index[kv.Key] = len(f.KV)
		f.KV = append(f.KV, kv)
	}
	if i, ok := f.index["general.alignment"]; ok {
		a, ok := f.KV[i].Value.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return nil, p.fail(ErrCorrupt, p.off, "general.alignment %v is not a power of two", f.KV[i].Value)
		}
		f.Alignment = uint64(a)
	}
	f.Tensors = make([]Tensor, 0, min(nt, 4096))
	names := make(map[string]struct{}, min(nt, 4096))
	for i := uint64(0); i < nt; i++ {
		t, err := p.tensor(f.Alignment)
		if err != nil {
			return nil, err
		}
		if _, dup := names[t.Name]; dup {
			return nil, p.fail(ErrCorrupt, p.off, "duplicate tensor %q", t.Name)
		}
		names[t.Name] = struct{}{}
		f.Tensors = append(f.Tensors, t)
	}
	// Tensor data starts at the next multiple of the alignment.
	data := (uint64(p.off) + f.Alignment - 1) / f.Alignment * f.Alignment
	f.DataOffset = int64(data)
	if nt > 0 && data > uint64(p.size) {
		return nil, p.fail(ErrTruncated, p.off, "tensor data would start at byte %d", data)
	}
	avail := uint64(p.size) - min(data, uint64(p.size))
	for _, t := range f.Tensors {
		end := t.Offset + t.Bytes
		if end < t.Offset {
			return nil, p.fail(ErrCorrupt, int64(data), "tensor %q extent overflows", t.Name)
		}
		if end > avail {
			return nil, p.fail(ErrTruncated, int64(data+t.Offset), "tensor %q needs bytes up to %d", t.Name, data+end)
		}
	}
	return f, nil
}

func (p *parser) kv() (KV, error) {
	start := p.off
	key, err := p.str("metadata key", maxKeyLen)
	if err != nil {
		return KV{}, err
	}
	if key == "" || !utf8.ValidString(key) {
		return KV{}, p.fail(ErrCorrupt, start, "metadata key %q is not valid", key)
	}
	t, err := p.u32("type of " + key)
	if err != nil {
		return KV{}, err
	}
	vt := ValueType(t)
	if vt >= typeCount {
		return KV{}, p.fail(ErrCorrupt, p.off-4, "metadata %q has unknown type %d", key, t)
	}
	v, err := p.value(vt, key)
	if err != nil {
		return KV{}, err
	}
	return KV{Key: key, Type: vt, Value: v}, nil
}

func (p *parser) value(t ValueType, key string) (any, error) {
	switch t {
	case TypeString:
		return p.str(key, maxString)
	case TypeArray:
		return p.array(key)
	}
	var b [8]byte
	n := t.size()
	if err := p.read(b[:n], key); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0], nil
	case TypeInt8:
		return int8(b[0]), nil
	case TypeBool:
		if b[0] > 1 {
			return nil, p.fail(ErrCorrupt, p.off-1, "metadata %q has bool value %d", key, b[0])
		}
		return b[0] == 1, nil
	case TypeUint16:
		return le.Uint16(b[:]), nil
	case TypeInt16:
		return int16(le.Uint16(b[:])), nil
	case TypeUint32:
		return le.Uint32(b[:]), nil
	case TypeInt32:
		return int32(le.Uint32(b[:])), nil
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b[:])), nil
	case TypeUint64:
		return le.Uint64(b[:]), nil
	case TypeInt64:
		return int64(le.Uint64(b[:])), nil
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b[:])), nil
	}
	return nil, p.fail(ErrCorrupt, p.off, "metadata %q has unknown type %d", key, t)
}

func (p *parser) array(key string) (any, error) {
	start := p.off
	et, err := p.u32("element type of " + key)
	if err != nil {
		return nil, err
	}
	t := ValueType(et)
	if t >= typeCount || t == TypeArray {
		return nil, p.fail(ErrCorrupt, start, "array %q has invalid element type %d", key, et)
	}
	n, err := p.u64("length of " + key)
	if err != nil {
		return nil, err
	}
	if n >= maxArrayLen {
		return nil, p.fail(ErrCorrupt, start+4, "array %q length %d is implausible", key, n)
	}
	// Every element takes at least its fixed size (8 for a string's length),
	// so a count the rest of the file cannot hold is caught before allocating.
	minSize := uint64(t.size())
	if t == TypeString {
		minSize = 8
	}
	if err := p.need(n*minSize, "array "+key); err != nil {
		return nil, err
	}
	if p.skip && t == TypeString {
		for i := uint64(0); i < n; i++ {
			what := key // the error names "<key> length", built only then
			if p.size-p.off < 8 {
				what = key + " length"
			}
			sl, err := p.u64(what)
			if err != nil {
				return nil, err
			}
			if sl > maxString {
				return nil, p.fail(ErrCorrupt, p.off-8, "%s length %d is implausible", key, sl)
			}
			if err := p.discard(sl, key); err != nil {
				return nil, err
			}
		}
		return Array{Type: t}, nil
	}
	if p.skip && t != TypeBool {
		if err := p.discard(n*minSize, "array "+key); err != nil {
			return nil, err
		}
		return Array{Type: t}, nil
	}
	if t == TypeString {
		out := make([]string, n)
		for i := range out {
			if out[i], err = p.str(key, maxString); err != nil {
				return nil, err
			}
		}
		return Array{Type: t, Values: out}, nil
	}
	raw := make([]byte, n*minSize)
	if err := p.read(raw, "array "+key); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var vals any
	switch t {
	case TypeUint8:
		vals = raw
	case TypeInt8:
		vals = decode(raw, 1, func(b []byte) int8 { return int8(b[0]) })
	case TypeBool:
		s := make([]bool, n)
		for i := range s {
			if raw[i] > 1 {
				return nil, p.fail(ErrCorrupt, p.off, "array %q has bool value %d", key, raw[i])
			}
			s[i] = raw[i] == 1
		}
		vals = s
	case TypeUint16:
		vals = decode(raw, 2, func(b []byte) uint16 { return le.Uint16(b) })
	case TypeInt16:
		vals = decode(raw, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case TypeUint32:
		vals = decode(raw, 4, func(b []byte) uint32 { return le.Uint32(b) })
	case TypeInt32:
		vals = decode(raw, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case TypeFloat32:
		vals = decode(raw, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case TypeUint64:
		vals = decode(raw, 8, func(b []byte) uint64 { return le.Uint64(b) })
	case TypeInt64:
		vals = decode(raw, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case TypeFloat64:
		vals = decode(raw, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	}
	return Array{Type: t, Values: vals}, nil
}

// decode splits raw into size-byte little-endian elements.
func decode[T any](raw []byte, size int, conv func([]byte) T) []T {
	out := make([]T, len(raw)/size)
	for i := range out {
		out[i] = conv(raw[i*size:])
	}
	return out
}

func (p *parser) tensor(align uint64) (Tensor, error) {
	start := p.off
	name, err := p.str("tensor name", maxNameBytes)
	if err != nil {
		return Tensor{}, err
	}
	if name == "" {
		return Tensor{}, p.fail(ErrCorrupt, start, "empty tensor name")
	}
	nd, err := p.u32("dimensions of " + name)
	if err != nil {
		return Tensor{}, err
	}
	if nd == 0 || nd > maxDims {
		return Tensor{}, p.fail(ErrCorrupt, p.off-4, "tensor %q has %d dimensions", name, nd)
	}
	t := Tensor{Name: name, Dims: make([]uint64, nd), Elements: 1}
	for i := range t.Dims {
		if t.Dims[i], err = p.u64("shape of " + name); err != nil {
			return Tensor{}, err
		}
		d := t.Dims[i]
		if d > math.MaxInt64 || (d != 0 && t.Elements > math.MaxInt64/d) {
			return Tensor{}, p.fail(ErrCorrupt, p.off-8, "tensor %q shape overflows", name)
		}
		t.Elements *= d
	}
	tt, err := p.u32("type of " + name)
	if err != nil {
		return Tensor{}, err
	}
	t.Type = TensorType(tt)
	info, ok := tensorTypes[t.Type]
	if !ok {
		return Tensor{}, p.fail(ErrCorrupt, p.off-4, "tensor %q has unknown type %d", name, tt)
	}
	if t.Dims[0]%info.blockSize != 0 {
		return Tensor{}, p.fail(ErrCorrupt, p.off-4, "tensor %q row of %d is not a multiple of %s's block size %d", name, t.Dims[0], info.name, info.blockSize)
	}
	if blocks := t.Elements / info.blockSize; blocks > math.MaxInt64/info.typeSize {
		return Tensor{}, p.fail(ErrCorrupt, p.off-4, "tensor %q size overflows", name)
	}
	t.Bytes = t.Elements / info.blockSize * info.typeSize
	if t.Offset, err = p.u64("offset of " + name); err != nil {
		return Tensor{}, err
	}
	if t.Offset%align != 0 {
		return Tensor{}, p.fail(ErrCorrupt, p.off-8, "tensor %q offset %d is not aligned to %d", name, t.Offset, align)
	}
	return t, nil
}
