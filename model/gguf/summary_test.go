package gguf

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestKVSummary(t *testing.T) {
	long := strings.Repeat("é", summaryRunes+5)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"number", uint32(2048), "2048"},
		{"float", float32(0.5), "0.5"},
		{"string quoted", "a\tb", `"a\tb"`},
		{"long string cut", long, `"` + strings.Repeat("é", summaryRunes) + `"… (105 characters)`},
		{"short string array", Array{Type: TypeString, Values: []string{"x", "y\n"}}, `["x", "y\n"]`},
		{"short number array", Array{Type: TypeInt32, Values: []int32{1, 2}}, "[1 2]"},
		{"long array", Array{Type: TypeString, Values: make([]string, ArrayShown+1)}, "[17 × string]"},
	}
	for _, tt := range tests {
		if got := (KV{Key: "k", Value: tt.v}).Summary(); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestJSONMetadata(t *testing.T) {
	f := &File{KV: []KV{
		{Key: "eps", Value: float32(1e-5)},
		{Key: "arch", Value: "llama"},
		{Key: "few", Value: Array{Type: TypeUint8, Values: []uint8{1, 2}}},
		{Key: "vocab", Value: Array{Type: TypeString, Values: make([]string, 512)}},
	}}
	b, err := json.Marshal(f.JSONMetadata())
	if err != nil {
		t.Fatal(err)
	}
	// encoding/json writes []uint8 as base64, as before.
	const want = `{"arch":"llama","eps":0.00001,"few":"AQI=","vocab":{"length":512,"type":"string"}}`
	if string(b) != want {
		t.Errorf("%s\nwant %s", b, want)
	}
}
