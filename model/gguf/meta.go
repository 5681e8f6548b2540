package gguf

import (
	"math"
	"sort"
)

// Get returns the value stored under key.
func (f *File) Get(key string) (any, bool) {
	i, ok := f.index[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// String returns a string value ("" when absent or not a string).
func (f *File) String(key string) string {
	v, _ := f.Get(key)
	s, _ := v.(string)
	return s
}

// Uint returns an integer value of any integer type, when it is non-negative.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return toUint(v)
}

func toUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

// Architecture is general.architecture, e.g. "llama".
func (f *File) Architecture() string { return f.String("general.architecture") }

// Name is general.name (may be empty).
func (f *File) Name() string { return f.String("general.name") }

// ParameterCount is the total number of tensor elements.
func (f *File) ParameterCount() uint64 {
	var n uint64
	for _, t := range f.Tensors {
		if n > math.MaxUint64-t.Elements {
			return math.MaxUint64
		}
		n += t.Elements
	}
	return n
}

// ContextLength is <arch>.context_length (0 when absent).
func (f *File) ContextLength() uint64 {
	n, _ := f.Uint(f.Architecture() + ".context_length")
	return n
}

// EmbeddingLength is <arch>.embedding_length (0 when absent).
func (f *File) EmbeddingLength() uint64 {
	n, _ := f.Uint(f.Architecture() + ".embedding_length")
	return n
}

// HasChatTemplate reports whether tokenizer.chat_template is set.
func (f *File) HasChatTemplate() bool { return f.String("tokenizer.chat_template") != "" }

// ChatTemplate is tokenizer.chat_template ("" when absent).
func (f *File) ChatTemplate() string { return f.String("tokenizer.chat_template") }

// Quantization names the file's quantisation, e.g. "Q4_K_M": from
// general.file_type when present, otherwise the tensor type holding the most
// bytes.
func (f *File) Quantization() string {
	if ft, ok := f.Uint("general.file_type"); ok {
		if name, ok := fileTypes[ft]; ok {
			return name
		}
	}
	bytes := map[TensorType]uint64{}
	for _, t := range f.Tensors {
		bytes[t.Type] += t.Bytes
	}
	types := make([]TensorType, 0, len(bytes))
	for t := range bytes {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if bytes[types[i]] != bytes[types[j]] {
			return bytes[types[i]] > bytes[types[j]]
		}
		return types[i] < types[j]
	})
	if len(types) == 0 {
		return ""
	}
	return types[0].String()
}
