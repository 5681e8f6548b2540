package conversation

import "testing"

func TestMarkdown(t *testing.T) {
	got := Markdown(Meta{Title: "Trip", System: "Be brief."}, "SmolLM2", []Message{
		{Role: "user", Content: "Where to?"},
		{Role: "assistant", Content: "Lisbon.", Stopped: true},
		{Role: "tool", Content: "ignored"},
	})
	want := "# Trip\n\nModel: SmolLM2\n\nSystem: Be brief.\n\n## You\n\nWhere to?\n\n## Assistant\n\nLisbon.\n\n*(stopped)*\n\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestExportName(t *testing.T) {
	tests := []struct{ title, want string }{
		{"Once upon a time", "sov-once-upon-a-time-ab12.md"},
		{"  ¡¿  ", "sov-chat-ab12.md"},
		{"A very long title that goes on and on and on", "sov-a-very-long-title-that-goes-on-a-ab12.md"},
	}
	for _, tt := range tests {
		if got := ExportName(tt.title, "ab12"); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.title, got, tt.want)
		}
	}
}
