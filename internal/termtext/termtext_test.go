package termtext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "plain text\nline two", "plain text\nline two"},
		{"osc52 bel", "a\x1b]52;c;ZWNobyBvd25lZA==\x07b", "ab"},
		{"osc52 st", "a\x1b]52;c;ZWNobyBvd25lZA==\x1b\\b", "ab"},
		{"osc0 title", "\x1b]0;owned\x07title", "title"},
		{"osc2 title st", "\x1b]2;owned\x1b\\title", "title"},
		{"osc8 link", "\x1b]8;;https://evil\x07click\x1b]8;;\x07", "click"},
		{"csi 2J", "x\x1b[2Jy", "xy"},
		{"csi sgr", "red \x1b[31mALERT\x1b[0m", "red ALERT"},
		{"csi private", "\x1b[?1049hz", "z"},
		{"csi cursor", "\x1b[1;1H\x1b[Kz", "z"},
		{"esc two byte", "\x1bcreset\x1b7z", "resetz"},
		{"esc charset", "\x1b(0q", "(0q"},
		{"esc before text", "/a\x1b.md", "/a.md"},
		{"dcs", "\x1bPq#0;2;0;0;0\x1b\\z", "z"},
		{"apc", "\x1b_payload\x1b\\z", "z"},
		{"lone esc", "end\x1b", "end"},
		{"unterminated osc keeps next line", "\x1b]0;title\nnext", "\nnext"},
		{"c1 csi rune", "c1 \u009b31mx", "c1 x"},
		{"c1 osc rune", "\u009d52;c;QQ==\u009cok", "ok"},
		{"c1 osc bel", "\u009d0;t\x07ok", "ok"},
		{"c1 other", "a\u0085b\u0080c", "abc"},
		{"c1 raw bytes", "a\x9b2Jb", "a\uFFFD2Jb"},
		{"del", "del\x7f", "del"},
		{"bel bs cr", "a\x07b\x08c\rd", "abcd"},
		{"tab", "tab\there", "tab    here"},
		{"bad byte", "bad \xff byte", "bad \uFFFD byte"},
		{"bidi override", "file\u202egpj.exe", "filegpj.exe"},
		{"bidi embeddings", "\u202aa\u202bb\u202cc\u202dd", "abcd"},
		{"bidi isolates", "\u2066a\u2067b\u2068c\u2069", "abc"},
		{"bidi marks", "\u200ea\u200fb\u061cc", "abc"},
		{"joiners kept", "👨\u200d👩 a\u200cb", "👨\u200d👩 a\u200cb"},
		{"unicode kept", "naïve — 日本語 مرحبا", "naïve — 日本語 مرحبا"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Clean(tt.in)
			if got != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if strings.IndexFunc(got, unsafe) >= 0 {
				t.Errorf("Clean(%q) = %q still holds a control", tt.in, got)
			}
		})
	}
}

func TestJSONWriter(t *testing.T) {
	in := "t\x1b]52;c;QQ==\x07 \u009b2J \u009d0;x\u009c \u202egpj \u2066i\u2069 \u200f 日本 \u200d"
	raw, _ := json.Marshal(map[string]string{"title": in})
	var b bytes.Buffer
	if n, err := (JSONWriter{W: &b}).Write(raw); err != nil || n != len(raw) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	out := b.String()
	for _, r := range out {
		if r < 0x20 || r >= 0x80 && r < 0xa0 || bidi(r) {
			t.Fatalf("raw control %U in %q", r, out)
		}
	}
	for _, esc := range []string{`\u001b`, `\u009b`, `\u202e`, `\u200f`, "日本", "\u200d"} {
		if !strings.Contains(out, esc) {
			t.Errorf("%q missing from %q", esc, out)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["title"] != in {
		t.Fatalf("decoded %q, %v; want %q", back["title"], err, in)
	}
}
