package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// builder writes a GGUF stream for tests.
type builder struct {
	buf bytes.Buffer
}

func (b *builder) u32(v uint32) { binary.Write(&b.buf, binary.LittleEndian, v) }
func (b *builder) u64(v uint64) { binary.Write(&b.buf, binary.LittleEndian, v) }
func (b *builder) str(s string) { b.u64(uint64(len(s))); b.buf.WriteString(s) }

type testTensor struct {
	name string
	dims []uint64
	typ  TensorType
}

// buildGGUF makes a valid v3 file: kvs are written with their Go types,
// tensors laid out contiguously with the given alignment (0 = default).
func buildGGUF(kvs []KV, tensors []testTensor, align uint64) []byte {
	if align == 0 {
		align = DefaultAlignment
	}
	var b builder
	b.buf.WriteString(Magic)
	b.u32(3)
	b.u64(uint64(len(tensors)))
	b.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		b.str(kv.Key)
		b.u32(uint32(kv.Type))
		b.value(kv.Type, kv.Value)
	}
	var off uint64
	for _, t := range tensors {
		b.str(t.name)
		b.u32(uint32(len(t.dims)))
		n := uint64(1)
		for _, d := range t.dims {
			b.u64(d)
			n *= d
		}
		b.u32(uint32(t.typ))
		b.u64(off)
		info := tensorTypes[t.typ]
		off += (n/info.blockSize*info.typeSize + align - 1) / align * align
	}
	for len(tensors) > 0 && uint64(b.buf.Len())%align != 0 {
		b.buf.WriteByte(0)
	}
	b.buf.Write(make([]byte, off))
	return b.buf.Bytes()
}

func (b *builder) value(t ValueType, v any) {
	switch t {
	case TypeString:
		b.str(v.(string))
	case TypeArray:
		a := v.(Array)
		b.u32(uint32(a.Type))
		b.u64(uint64(a.Len()))
		if ss, ok := a.Values.([]string); ok {
			for _, s := range ss {
				b.str(s)
			}
			return
		}
		if bs, ok := a.Values.([]bool); ok {
			for _, x := range bs {
				b.value(TypeBool, x)
			}
			return
		}
		binary.Write(&b.buf, binary.LittleEndian, a.Values)
	case TypeBool:
		if v.(bool) {
			b.buf.WriteByte(1)
		} else {
			b.buf.WriteByte(0)
		}
	default:
		binary.Write(&b.buf, binary.LittleEndian, v)
	}
}

func sampleKVs() []KV {
	return []KV{
		{"general.architecture", TypeString, "llama"},
		{"general.name", TypeString, "tiny"},
		{"general.file_type", TypeUint32, uint32(15)},
		{"llama.context_length", TypeUint32, uint32(512)},
		{"llama.embedding_length", TypeUint64, uint64(64)},
		{"tokenizer.chat_template", TypeString, "{{ messages }}"},
		{"t.u8", TypeUint8, uint8(7)},
		{"t.i8", TypeInt8, int8(-7)},
		{"t.u16", TypeUint16, uint16(700)},
		{"t.i16", TypeInt16, int16(-700)},
		{"t.i32", TypeInt32, int32(-70000)},
		{"t.f32", TypeFloat32, float32(1.5)},
		{"t.bool", TypeBool, true},
		{"t.i64", TypeInt64, int64(-1 << 40)},
		{"t.f64", TypeFloat64, 2.25},
		{"t.tokens", TypeArray, Array{TypeString, []string{"<s>", "</s>", "a"}}},
		{"t.scores", TypeArray, Array{TypeFloat32, []float32{0, -1, -2}}},
		{"t.types", TypeArray, Array{TypeInt32, []int32{1, 2, 3}}},
		{"t.flags", TypeArray, Array{TypeBool, []bool{true, false}}},
		{"t.u64s", TypeArray, Array{TypeUint64, []uint64{1, 2}}},
	}
}

func sampleTensors() []testTensor {
	return []testTensor{
		{"tok_embd.weight", []uint64{64, 3}, 0},
		{"blk.0.attn_q.weight", []uint64{64, 64}, 8},
		{"output_norm.weight", []uint64{64}, 1},
	}
}

func TestGGUFRoundTrip(t *testing.T) {
	data := buildGGUF(sampleKVs(), sampleTensors(), 0)
	f, err := Parse(bytes.NewReader(data), int64(len(data)), "sample.gguf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range sampleKVs() {
		got, ok := f.Get(want.Key)
		if !ok {
			t.Errorf("%s missing", want.Key)
			continue
		}
		if a, ok := want.Value.(Array); ok {
			ga := got.(Array)
			if ga.Type != a.Type || ga.Len() != a.Len() {
				t.Errorf("%s = %v want %v", want.Key, ga, a)
			}
			continue
		}
		if got != want.Value {
			t.Errorf("%s = %#v want %#v", want.Key, got, want.Value)
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"arch", f.Architecture(), "llama"},
		{"name", f.Name(), "tiny"},
		{"params", f.ParameterCount(), uint64(64*3 + 64*64 + 64)},
		{"ctx", f.ContextLength(), uint64(512)},
		{"embd", f.EmbeddingLength(), uint64(64)},
		{"quant", f.Quantization(), "Q4_K_M"},
		{"template", f.HasChatTemplate(), true},
		{"tensors", len(f.Tensors), 3},
		{"q8 bytes", f.Tensors[1].Bytes, uint64(64 * 64 / 32 * 34)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v want %v", c.name, c.got, c.want)
		}
	}
}

func TestGGUFQuantizationFromTensors(t *testing.T) {
	kvs := []KV{{"general.architecture", TypeString, "llama"}}
	data := buildGGUF(kvs, sampleTensors(), 0)
	f, err := Parse(bytes.NewReader(data), int64(len(data)), "")
	if err != nil {
		t.Fatal(err)
	}
	if q := f.Quantization(); q != "Q8_0" {
		t.Errorf("quantization %q, want Q8_0 (the type holding most bytes)", q)
	}
}

func TestGGUFAlignment(t *testing.T) {
	kvs := []KV{{"general.alignment", TypeUint32, uint32(64)}}
	data := buildGGUF(kvs, sampleTensors(), 64)
	f, err := Parse(bytes.NewReader(data), int64(len(data)), "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Errorf("alignment %d data offset %d", f.Alignment, f.DataOffset)
	}
	// The same layout read with alignment 48 is rejected.
	bad := buildGGUF([]KV{{"general.alignment", TypeUint32, uint32(48)}}, nil, 0)
	if _, err := Parse(bytes.NewReader(bad), int64(len(bad)), ""); !errors.Is(err, ErrCorrupt) {
		t.Errorf("alignment 48: %v, want ErrCorrupt", err)
	}
}

func TestGGUFSharedModels(t *testing.T) {
	tests := []struct {
		file                string
		model               testtool.TestModel
		arch                string
		params, ctx, embd   uint64
		quant               string
		template            bool
		tensors, vocabLen   int
		vocabKey, firstWord string
	}{
		{"stories260K.gguf", testtool.Stories, "llama", 292800, 2048, 64, "F32", false, 48, 512, "tokenizer.ggml.tokens", "<unk>"},
		{"llama-2-tiny-random.gguf", testtool.TinyRandom, "llama", 513048, 4096, 8, "F16", false, 12, 32000, "tokenizer.ggml.tokens", "<unk>"},
		{"SmolLM2-135M-Instruct.Q4_1.gguf", testtool.Chat, "llama", 134515008, 8192, 576, "Q4_1", true, 272, 49152, "tokenizer.ggml.tokens", "<|endoftext|>"},
		{"gemma-3-270m-q4_k_m.gguf", testtool.ChatLarge, "gemma3", 268098176, 32768, 640, "Q4_K_M", false, 236, 262144, "tokenizer.ggml.tokens", "<pad>"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := Read(testtool.Model(t, tt.model))
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(testtool.Model(t, tt.model))
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(bytes.NewReader(data), int64(len(data)), tt.file); err != nil {
				t.Errorf("Check: %v", err)
			}
			if f.Architecture() != tt.arch || f.ParameterCount() != tt.params || f.ContextLength() != tt.ctx ||
				f.EmbeddingLength() != tt.embd || f.Quantization() != tt.quant || f.HasChatTemplate() != tt.template ||
				len(f.Tensors) != tt.tensors {
				t.Errorf("got arch=%s params=%d ctx=%d embd=%d quant=%s template=%v tensors=%d",
					f.Architecture(), f.ParameterCount(), f.ContextLength(), f.EmbeddingLength(), f.Quantization(), f.HasChatTemplate(), len(f.Tensors))
			}
			v, _ := f.Get(tt.vocabKey)
			a, ok := v.(Array)
			if !ok || a.Len() != tt.vocabLen || a.Values.([]string)[0] != tt.firstWord {
				t.Errorf("vocab %v", v)
			}
		})
	}
}

// TestGGUFBadFiles covers the bad inputs: a file that is not GGUF, a
// GGUF truncated to 1,000 bytes, and the magic followed by garbage, plus the
// other ways a header can be broken.
func TestGGUFBadFiles(t *testing.T) {
	good := buildGGUF(sampleKVs(), sampleTensors(), 0)
	garbage := make([]byte, 4096)
	seed := uint32(12345)
	for i := range garbage {
		seed = seed*1664525 + 1013904223
		garbage[i] = byte(seed >> 24)
	}
	patch := func(off int, v []byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	keyType := 24 + 8 + 20 // magic+version+counts, key length, "general.architecture"
	noTensors := buildGGUF(sampleKVs(), nil, 0)
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotGGUF, "empty"},
		{"text", []byte("hello, this is a text file\n"), ErrNotGGUF, "not a GGUF model file"},
		{"safetensors-like", append([]byte{0x08, 0, 0, 0, 0, 0, 0, 0}, garbage[:100]...), ErrNotGGUF, "use a .gguf model file"},
		{"magic only", []byte("GGUF"), ErrTruncated, "truncated"},
		{"short magic", []byte("GG"), ErrTruncated, "truncated"},
		{"magic+garbage", append([]byte("GGUF"), garbage...), ErrCorrupt, "corrupt"},
		{"truncated header", good[:30], ErrTruncated, "download or copy it again"},
		{"truncated data", good[:len(good)-1], ErrTruncated, "truncated"},
		{"version 1", patch(4, u32(1)), ErrUnsupported, "version 1"},
		{"version 9", patch(4, u32(9)), ErrUnsupported, "newer"},
		{"huge tensor count", patch(8, u64(1<<40)), ErrCorrupt, "tensor count"},
		{"huge kv count", patch(16, u64(1<<40)), ErrCorrupt, "metadata count"},
		{"more kvs than file", append(append(bytes.Clone(noTensors[:16]), u64(1000)...), noTensors[24:]...), ErrTruncated, "truncated"},
		{"huge key", patch(24, u64(1<<50)), ErrCorrupt, "implausible"},
		{"key past end", patch(24, u64(60000)), ErrTruncated, "truncated"},
		{"unknown type", patch(keyType, u32(99)), ErrCorrupt, "unknown type"},
		{"empty key", patch(24, u64(0)), ErrCorrupt, "not valid"},
	}
	// A GGUF truncated to 1,000 bytes: the real model when present.
	if p, err := testtool.ModelPath(testtool.Stories); err == nil {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name string
			data []byte
			want error
			msg  string
		}{"stories260K cut to 1000 bytes", b[:1000], ErrTruncated, "truncated"})
		tests = append(tests, struct {
			name string
			data []byte
			want error
			msg  string
		}{"stories260K cut in tensor data", b[:len(b)/2], ErrTruncated, "truncated"})
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".gguf")
			if err := os.WriteFile(p, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Read(p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if cerr := Check(bytes.NewReader(tt.data), int64(len(tt.data)), p); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check: %v, Parse: %v", cerr, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.msg) || strings.Contains(msg, "\n") || !strings.Contains(msg, p) {
				t.Errorf("message %q should be one line naming the file and contain %q", msg, tt.msg)
			}
		})
	}
}

func TestGGUFReadErrors(t *testing.T) {
	if _, err := Read(filepath.Join(t.TempDir(), "missing.gguf")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
}

// Every prefix of a valid file is rejected as truncated (never as a panic
// and never as valid).
func TestGGUFEveryPrefixTruncated(t *testing.T) {
	good := buildGGUF(sampleKVs(), sampleTensors(), 0)
	for n := 0; n < len(good); n++ {
		_, err := Parse(bytes.NewReader(good[:n]), int64(n), "x")
		if n < 4 && n > 0 && !errors.Is(err, ErrTruncated) || n >= 4 && !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix %d: %v", n, err)
		}
		if cerr := Check(bytes.NewReader(good[:n]), int64(n), "x"); cerr == nil || cerr.Error() != err.Error() {
			t.Fatalf("prefix %d: Check %v, Parse %v", n, cerr, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	good := buildGGUF(sampleKVs(), sampleTensors(), 0)
	f.Add(good)
	f.Add(good[:200])
	f.Add(buildGGUF(nil, nil, 0))
	f.Add(buildGGUF([]KV{{"general.alignment", TypeUint32, uint32(64)}}, sampleTensors(), 64))
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		gf, err := Parse(bytes.NewReader(data), int64(len(data)), "fuzz")
		// Check must agree with Parse, message for message.
		if cerr := Check(bytes.NewReader(data), int64(len(data)), "fuzz"); (cerr == nil) != (err == nil) || err != nil && cerr.Error() != err.Error() {
			t.Fatalf("Check %v, Parse %v", cerr, err)
		}
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FormatError: %v", err)
			}
			return
		}
		// A file that parses must be self-consistent.
		for _, tt := range gf.Tensors {
			if uint64(gf.DataOffset)+tt.Offset+tt.Bytes > uint64(len(data)) {
				t.Fatalf("tensor %q beyond end", tt.Name)
			}
		}
		_ = gf.Quantization()
		_ = gf.ParameterCount()
		if gf.Alignment == 0 || gf.Alignment&(gf.Alignment-1) != 0 || gf.Alignment > math.MaxUint32 {
			t.Fatalf("alignment %d", gf.Alignment)
		}
	})
}
