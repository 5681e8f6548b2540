package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/chat/conversation"
)

// Pane is a full-area panel drawn over the chat (sessions today; vault,
// feeds, wallet, agents and approvals later). The shell routes keys to the
// top pane; a pane closes itself by returning closePaneMsg.
type Pane interface {
	Update(msg tea.Msg) tea.Cmd
	View(theme Theme, width, height int) []string
	Title() string
}

type closePaneMsg struct{}

// Messages the sessions pane sends to the shell.
type (
	switchSessionMsg struct{ id string }
	deleteSessionMsg struct{ id string }
	renameSessionMsg struct{ id, title string }
)

func msgCmd(m tea.Msg) tea.Cmd { return func() tea.Msg { return m } }

// sessionsPane lists saved sessions to switch, rename or delete.
type sessionsPane struct {
	list     []conversation.Meta
	current  string
	sel      int
	top      int
	renaming bool
	name     []rune
	confirm  bool // delete asked
}

func newSessionsPane(list []conversation.Meta, current string) *sessionsPane {
	p := &sessionsPane{list: list, current: current}
	for i, m := range list {
		if m.ID == current {
			p.sel = i
		}
	}
	return p
}

func (p *sessionsPane) Title() string { return "Sessions" }

func (p *sessionsPane) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		if pm, ok := msg.(tea.PasteMsg); ok && p.renaming {
			p.name = append(p.name, []rune(sanitize(strings.ReplaceAll(pm.Content, "\n", " ")))...)
		}
		return nil
	}
	if p.renaming {
		switch k.String() {
		case "enter":
			p.renaming = false
			title := strings.TrimSpace(string(p.name))
			if title == "" || len(p.list) == 0 {
				return nil
			}
			p.list[p.sel].Title = title
			return msgCmd(renameSessionMsg{id: p.list[p.sel].ID, title: title})
		case "esc":
			p.renaming = false
		case "backspace":
			if len(p.name) > 0 {
				p.name = p.name[:len(p.name)-1]
			}
		default:
			if k.Text != "" {
				p.name = append(p.name, []rune(sanitize(k.Text))...)
			}
		}
		return nil
	}
	if p.confirm {
		p.confirm = false
		if k.String() == "y" || k.String() == "d" {
			id := p.list[p.sel].ID
			p.list = append(p.list[:p.sel], p.list[p.sel+1:]...)
			if p.sel >= len(p.list) && p.sel > 0 {
				p.sel--
			}
			return msgCmd(deleteSessionMsg{id: id})
		}
		return nil
	}
	switch k.String() {
	case "esc", "q":
		return msgCmd(closePaneMsg{})
	case "up", "k":
		if p.sel > 0 {
			p.sel--
		}
	case "down", "j":
		if p.sel < len(p.list)-1 {
			p.sel++
		}
	case "enter":
		if len(p.list) > 0 {
			return msgCmd(switchSessionMsg{id: p.list[p.sel].ID})
		}
	case "r":
		if len(p.list) > 0 {
			p.renaming = true
			p.name = []rune(p.list[p.sel].Title)
		}
	case "d", "delete":
		if len(p.list) > 0 {
			p.confirm = true
		}
	}
	return nil
}

func (p *sessionsPane) View(t Theme, width, height int) []string {
	out := []string{t.Accent.Render(truncate("Sessions", width))}
	hint := "enter open · r rename · d delete · esc close"
	switch {
	case p.renaming:
		hint = "new title: " + string(p.name) + "▌  (enter save · esc cancel)"
	case p.confirm && len(p.list) > 0:
		hint = fmt.Sprintf("delete %q? y to confirm", p.list[p.sel].Title)
	}
	out = append(out, t.Dim.Render(truncate(hint, width)))
	rows := height - len(out)
	if len(p.list) == 0 {
		out = append(out, t.Notice.Render(truncate("  no saved sessions yet", width)))
	}
	if rows < 1 {
		return out[:max(0, min(len(out), height))]
	}
	if p.sel < p.top {
		p.top = p.sel
	}
	if p.sel >= p.top+rows {
		p.top = p.sel - rows + 1
	}
	for i := p.top; i < len(p.list) && i < p.top+rows; i++ {
		m := p.list[i]
		mark := "  "
		if m.ID == p.current {
			mark = "• "
		}
		line := fmt.Sprintf("%s%-32s  %s  %-12s %4d msgs  %s", mark, truncate(m.Title, 32),
			m.Updated.Local().Format("2006-01-02 15:04"), truncate(m.Model, 12), m.Count, m.ID)
		line = truncate(line, width)
		if i == p.sel {
			line = t.Selected.Render(line)
		}
		out = append(out, line)
	}
	return out
}
