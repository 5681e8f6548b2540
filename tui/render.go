package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/sovos/sov/internal/termtext"
)

// sanitize makes model or pasted text safe to draw (model output is data,
// never terminal commands): see termtext.Clean.
func sanitize(s string) string { return termtext.Clean(s) }

// wrapPlain wraps text to width columns and splits it into lines.
func wrapPlain(s string, width int) []string {
	if width < 1 {
		width = 1
	}
	// Notices and errors embed outside text (paths, server replies) too.
	return strings.Split(ansi.Wrap(sanitize(s), width, ""), "\n")
}

// clip cuts every line to width so a line can never spill onto the next
// screen row, whatever the renderer produced.
func clip(lines []string, width int) []string {
	for i, l := range lines {
		if ansi.StringWidth(l) > width {
			lines[i] = ansi.Truncate(l, width, "")
		}
	}
	return lines
}
