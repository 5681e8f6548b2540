package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func renderPlain(t *testing.T, theme, src string, width int) string {
	t.Helper()
	var m markdown
	lines := m.render(src, NewTheme(theme), width)
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d columns wide, more than %d: %q", i, w, width, ansi.Strip(l))
		}
		lines[i] = strings.TrimRight(ansi.Strip(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestMarkdownLayout(t *testing.T) {
	tests := []struct {
		name, src string
		width     int
		want      string
	}{
		{"paragraph wraps", "one two three four five six", 16, "  one two three\n  four five six"},
		{"newlines kept", "line one\nline two", 40, "  line one\n  line two"},
		{"emphasis marks go", "a **bold** and *it* and ~~gone~~ and `code`.", 60, "  a bold and it and gone and code."},
		{"punctuation stays with its word", "aaaa **bbbb**, cc", 13, "  aaaa bbbb,\n  cc"},
		{"heading", "# Title\n\nbody", 40, "  Title\n\n  body"},
		{"tight list", "- one\n- two\n  - nested", 40, "  • one\n  • two\n    • nested"},
		{"ordered list aligns", "8. eight\n9. nine\n10. ten", 40, "  8.  eight\n  9.  nine\n  10. ten"},
		{"list item wraps under its text", "- alpha beta gamma delta", 16, "  • alpha beta\n    gamma delta"},
		{"task list", "- [x] done\n- [ ] todo", 40, "  • [x] done\n  • [ ] todo"},
		{"code block keeps spaces", "```go\nif x {\n    y()\n}\n```", 40, "    if x {\n        y()\n    }"},
		{"long code line wraps", "```\n" + strings.Repeat("x", 20) + "\n```", 16, "    xxxxxxxxxxxx\n    xxxxxxxx"},
		{"long word is cut", strings.Repeat("y", 20), 12, "  yyyyyyyyyy\n  yyyyyyyyyy"},
		{"link shows its target", "see [docs](https://x.org/d) or <https://y.org>", 60, "  see docs (https://x.org/d) or https://y.org"},
		{"blockquote", "> quoted text", 40, "  │ quoted text"},
		{"rule", "a\n\n---\n\nb", 12, "  a\n\n  ──────────\n\n  b"},
		{"table", "| a | bb |\n|---|---|\n| 1 | 2 |", 40, "  a │ bb\n  ──┼───\n  1 │ 2"},
		{"table shrinks to fit", "| col | text |\n|---|---|\n| 1 | some long words here |", 20, "  col │ text\n  ────┼─────────────\n  1   │ some long\n      │ words here"},
		{"table alignment", "| n | name |\n|--:|:-:|\n| 10 | a |\n| 2 | bcd |", 40, "   n │ name\n  ───┼─────\n  10 │  a\n   2 │ bcd"},
		{"html is text", "<script>alert(1)</script>", 40, "  <script>alert(1)</script>"},
		{"escape sequences are dropped", "a \x1b[31mred\x1b[0m b", 40, "  a red b"},
		{"too narrow falls back", "abc def", 5, "abc\ndef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderPlain(t, "dark", tt.src, tt.width); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestMarkdownWidths renders a message using every construct at many
// widths: no line may be wider than the pane, and no line may leave a style
// open, since lines are shown one by one when the chat scrolls.
func TestMarkdownWidths(t *testing.T) {
	src := "# Heading with several words\n\nSome **bold and long** text with `code spans` and a [link](https://example.org/a/long/path).\n\n" +
		"1. first item with text\n2. second\n   - nested bullet with more words\n\n> a quote that goes on for a while\n\n" +
		"```\nfunc main() { fmt.Println(\"hello, world\") }\n```\n\n| name | value | note |\n|---|---|---|\n| alpha | 1 | a longer note here |\n\n" +
		strings.Repeat("wide字符", 8)
	for _, theme := range []string{"dark", "light", "none"} {
		for width := 1; width <= 90; width++ {
			var m markdown
			for i, l := range m.render(src, NewTheme(theme), width) {
				if w := ansi.StringWidth(l); w > width {
					t.Fatalf("%s width %d: line %d is %d wide: %q", theme, width, i, w, ansi.Strip(l))
				}
				if i := strings.LastIndex(l, "\x1b["); i >= 0 && !strings.HasPrefix(l[i:], "\x1b[m") && !strings.HasPrefix(l[i:], "\x1b[0m") {
					t.Fatalf("%s width %d: line %d leaves a style open: %q", theme, width, i, l)
				}
			}
		}
	}
}
