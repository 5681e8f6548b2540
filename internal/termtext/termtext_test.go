package termtext

import "testing"

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text\nline two", "plain text\nline two"},
		{"\x1b]0;owned\x07title", "]0;ownedtitle"},
		{"red \x1b[31mALERT\x1b[0m", "red [31mALERT[0m"},
		{"tab\there", "tab    here"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"c1 \u009b31m", "c1 31m"},
		{"del\x7f", "del"},
	}
	for _, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
