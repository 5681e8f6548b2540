package gguf

import (
	"fmt"
	"strconv"
	"strings"
)

// ArrayShown is the longest array Summary and JSONMetadata give in full;
// longer ones (the vocabulary, merges, scores) are summarised by their
// element type and length.
const ArrayShown = 16

// summaryRunes is where Summary cuts a long string (a chat template).
const summaryRunes = 100

// Summary renders the value on one line for people: strings quoted and cut
// short, long arrays as "[N × type]".
func (kv KV) Summary() string {
	switch x := kv.Value.(type) {
	case string:
		return shortQuote(x)
	case Array:
		if x.Len() > ArrayShown {
			return fmt.Sprintf("[%d × %s]", x.Len(), x.Type)
		}
		if ss, ok := x.Values.([]string); ok {
			q := make([]string, len(ss))
			for i, s := range ss {
				q[i] = shortQuote(s)
			}
			return "[" + strings.Join(q, ", ") + "]"
		}
		return fmt.Sprint(x.Values)
	}
	return fmt.Sprint(kv.Value)
}

// shortQuote quotes s, escaping special characters, and cuts it at
// summaryRunes with a note of its full length.
func shortQuote(s string) string {
	r := []rune(s)
	if len(r) <= summaryRunes {
		return strconv.Quote(s)
	}
	return strconv.Quote(string(r[:summaryRunes])) + fmt.Sprintf("… (%d characters)", len(r))
}

// JSONMetadata is the metadata as a map for JSON output: float32 values as
// their shortest decimal (1e-05, not 9.999999747378752e-06) and long arrays
// as {"type", "length"}.
func (f *File) JSONMetadata() map[string]any {
	meta := make(map[string]any, len(f.KV))
	for _, kv := range f.KV {
		meta[kv.Key] = jsonValue(kv.Value)
	}
	return meta
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case float32:
		d, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return d
	case Array:
		if x.Len() > ArrayShown {
			return map[string]any{"type": x.Type.String(), "length": x.Len()}
		}
		return x.Values
	}
	return v
}
