package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textarea"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// bigPaste is the size above which a paste is kept aside and shown as a
// one-line placeholder: the editor stays fast and the block is sent whole.
const bigPaste = 8 << 10

// inputPane is the multi-line editor with history, slash-command completion
// and large-paste attachments.
type inputPane struct {
	ta       textarea.Model
	history  []string
	histPos  int // == len(history) when editing a fresh line
	draft    string
	pastes   map[string]string // placeholder -> pasted text
	nPaste   int
	matches  []string // completion candidates for the current "/word"
	matchIdx int
}

func newInputPane(theme Theme) *inputPane {
	ta := textarea.New()
	ta.Prompt = "› "
	ta.ShowLineNumbers = false
	ta.Placeholder = "Message, or /help"
	ta.CharLimit = 0
	ta.MaxHeight = 8
	ta.MaxContentHeight = 0
	ta.DynamicHeight = true
	ta.MinHeight = 1
	ta.SetVirtualCursor(false)
	// Enter is handled by the shell (send); newline keys are inserted by the
	// shell too, so the editor itself never inserts on Enter.
	ta.KeyMap.InsertNewline = key.NewBinding(key.WithDisabled())
	ta.KeyMap.LinePrevious = key.NewBinding(key.WithKeys("up"))
	ta.KeyMap.LineNext = key.NewBinding(key.WithKeys("down"))
	st := textarea.DefaultStyles(theme.Name != "light")
	if theme.Name == "none" {
		st = textarea.Styles{Cursor: st.Cursor}
		st.Cursor.Color = nil
	}
	st.Focused.CursorLine = lipgloss.NewStyle()
	st.Focused.Prompt = theme.User
	st.Blurred.Prompt = theme.Dim
	ta.SetStyles(st)
	ta.Focus()
	return &inputPane{ta: ta, pastes: map[string]string{}}
}

func (in *inputPane) setWidth(w int) {
	if w < 3 {
		w = 3
	}
	in.ta.SetWidth(w)
}

func (in *inputPane) setMaxHeight(h int) {
	if h < 1 {
		h = 1
	}
	in.ta.MaxHeight = h
	in.ta.SetHeight(min(in.ta.Height(), h))
}

func (in *inputPane) value() string { return in.ta.Value() }

func (in *inputPane) reset() {
	in.ta.Reset()
	in.pastes = map[string]string{}
	in.matches = nil
}

// expanded is the text to send: placeholders replaced by their pastes.
func (in *inputPane) expanded() string {
	v := in.ta.Value()
	for ph, text := range in.pastes {
		v = strings.ReplaceAll(v, ph, text)
	}
	return v
}

// paste inserts pasted text, keeping big blocks aside as a placeholder.
func (in *inputPane) paste(s string) {
	// Terminals send line breaks in a paste as CR.
	s = sanitize(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"))
	if len(s) <= bigPaste {
		in.ta.InsertString(s)
		return
	}
	in.nPaste++
	ph := fmt.Sprintf("[pasted %s, %d lines #%d]", humanBytes(len(s)), strings.Count(s, "\n")+1, in.nPaste)
	in.pastes[ph] = s
	in.ta.InsertString(ph)
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// remember adds a sent input to the history.
func (in *inputPane) remember(s string) {
	if s == "" || len(in.history) > 0 && in.history[len(in.history)-1] == s {
		in.histPos = len(in.history)
		return
	}
	in.history = append(in.history, s)
	in.histPos = len(in.history)
}

// onFirstLine / onLastLine decide whether Up/Down browse history or move
// the cursor inside a multi-line input.
func (in *inputPane) onFirstLine() bool { return in.ta.Line() == 0 && in.ta.LineInfo().RowOffset == 0 }
func (in *inputPane) onLastLine() bool {
	li := in.ta.LineInfo()
	return in.ta.Line() == in.ta.LineCount()-1 && li.RowOffset == li.Height-1
}

func (in *inputPane) historyPrev() {
	if in.histPos == 0 || len(in.history) == 0 {
		return
	}
	if in.histPos == len(in.history) {
		in.draft = in.ta.Value()
	}
	in.histPos--
	in.ta.SetValue(in.history[in.histPos])
}

func (in *inputPane) historyNext() {
	if in.histPos >= len(in.history) {
		return
	}
	in.histPos++
	if in.histPos == len(in.history) {
		in.ta.SetValue(in.draft)
	} else {
		in.ta.SetValue(in.history[in.histPos])
	}
}

// updateMatches recomputes slash-command completion candidates.
func (in *inputPane) updateMatches(names []string) {
	v := in.ta.Value()
	in.matches = nil
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \n") {
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, v) {
			in.matches = append(in.matches, n)
		}
	}
	if len(in.matches) == 1 && in.matches[0] == v {
		in.matches = nil
	}
	if in.matchIdx >= len(in.matches) {
		in.matchIdx = 0
	}
}

// complete fills in the selected candidate and moves to the next one.
func (in *inputPane) complete() {
	if len(in.matches) == 0 {
		return
	}
	choice := in.matches[in.matchIdx]
	in.ta.SetValue(choice + " ")
	in.matches = nil
	in.matchIdx = 0
}

func (in *inputPane) update(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	in.ta, cmd = in.ta.Update(msg)
	return cmd
}

// view draws the completion hint (if any) and the editor.
func (in *inputPane) view(theme Theme, width int) []string {
	var out []string
	if len(in.matches) > 0 {
		var parts []string
		for i, m := range in.matches {
			if i == in.matchIdx {
				parts = append(parts, theme.Selected.Render(m))
			} else {
				parts = append(parts, theme.Dim.Render(m))
			}
		}
		out = append(out, truncate(strings.Join(parts, " ")+theme.Dim.Render("  (tab)"), width))
	}
	out = append(out, clip(strings.Split(in.ta.View(), "\n"), width)...)
	return out
}
