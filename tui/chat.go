package tui

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sovos/sov/chat/conversation"
)

// itemKind is what a line block in the chat is.
type itemKind int

const (
	kindUser itemKind = iota
	kindAssistant
	kindNotice // local information, never sent to the model nor saved
	kindError
	kindTool  // an agent's tool call, folded (never sent nor saved here)
	kindAgent // an agent's final answer
)

// item is one block in the chat: a saved message or a local notice.
type item struct {
	kind      itemKind
	msg       conversation.Message
	streaming bool
	cut       bool // the answer ended because the context was full
	tool      *toolBlock
	agent     string // kindAgent: the agent's name

	// Render cache for finished items: rendering (markdown above all) happens
	// once per width and theme, never per frame.
	cacheW     int
	cacheTheme string
	lines      []string

	// While streaming, the text up to the last newline is wrapped once and
	// kept; only the last paragraph is re-wrapped per frame.
	headLen   int
	headW     int
	headLines []string
}

// chatPane shows the conversation, bottom-anchored, and renders only what
// is on screen: a 5,000-message session costs what the visible part costs.
type chatPane struct {
	items    []*item
	offset   int // lines scrolled up from the bottom; 0 follows the latest
	md       markdown
	theme    Theme
	expanded bool   // agents' tool results shown whole
	model    string // name shown on assistant headers
	width    int
	height   int
}

func (c *chatPane) add(it *item) {
	c.items = append(c.items, it)
}

func (c *chatPane) notice(text string) {
	c.add(&item{kind: kindNotice, msg: conversation.Message{Content: text}})
}

func (c *chatPane) errorf(text string) {
	c.add(&item{kind: kindError, msg: conversation.Message{Content: text}})
}

// invalidate drops render caches (theme change).
func (c *chatPane) invalidate() {
	for _, it := range c.items {
		it.lines = nil
	}
}

// render returns the item's lines at width.
func (c *chatPane) render(it *item, width int) []string {
	if !it.streaming && it.lines != nil && it.cacheW == width && it.cacheTheme == c.theme.Name {
		return it.lines
	}
	t := c.theme
	var lines []string
	body := width - 2
	if body < 1 {
		body = 1
	}
	indent := func(ls []string) []string {
		for i, l := range ls {
			ls[i] = "  " + l
		}
		return ls
	}
	switch it.kind {
	case kindUser:
		lines = append(lines, t.User.Render("› you"))
		text, more := headLines(it.msg.Content, userLinesShown)
		lines = append(lines, indent(wrapPlain(text, body))...)
		if more > 0 {
			lines = append(lines, "  "+t.Dim.Render(truncate(fmt.Sprintf("… %d more lines (all sent; /export shows them)", more), body)))
		}
	case kindAssistant:
		name := "sov"
		if it.msg.Model != "" {
			name = it.msg.Model
		} else if c.model != "" {
			name = c.model
		}
		lines = append(lines, t.Assistant.Render("● "+name))
		switch {
		case it.streaming:
			content := it.msg.Content
			cut := strings.LastIndexByte(content, '\n')
			if cut >= 0 {
				if it.headLen != cut || it.headW != body || it.headLines == nil {
					it.headLines = indent(wrapPlain(content[:cut], body))
					it.headLen, it.headW = cut, body
				}
				lines = append(lines, it.headLines...)
			}
			lines = append(lines, indent(wrapPlain(content[cut+1:]+"▌", body))...)
		case strings.TrimSpace(it.msg.Content) == "":
			// nothing was generated
		default:
			lines = append(lines, clip(c.md.render(it.msg.Content, t, width), width)...)
		}
		if it.msg.Stopped {
			lines = append(lines, "  "+t.Dim.Render("[stopped]"))
		}
		if it.cut {
			lines = append(lines, "  "+t.Dim.Render("[cut: the context is full]"))
		}
		if it.msg.Err != "" {
			for _, l := range wrapPlain("error: "+it.msg.Err, body) {
				lines = append(lines, "  "+t.Error.Render(l))
			}
		}
	case kindTool:
		lines = c.renderTool(it, width, c.expanded)
	case kindAgent:
		lines = append(lines, t.Accent.Render(truncate("◆ agent "+it.agent, width)))
		if strings.TrimSpace(it.msg.Content) != "" {
			lines = append(lines, clip(c.md.render(it.msg.Content, t, width), width)...)
		}
	case kindNotice:
		for _, l := range wrapPlain(it.msg.Content, body) {
			lines = append(lines, "  "+t.Notice.Render(l))
		}
	case kindError:
		for _, l := range wrapPlain(it.msg.Content, body) {
			lines = append(lines, "  "+t.Error.Render(l))
		}
	}
	lines = append(clip(lines, width), "")
	if !it.streaming {
		it.lines, it.cacheW, it.cacheTheme = lines, width, c.theme.Name
	}
	return lines
}

// userLinesShown is how many lines of a long message (a big paste) the chat
// shows; the rest is sent and saved but would only bury the conversation.
const userLinesShown = 30

// headLines returns the first n lines of s (at most 4 KB of them) and how
// many lines were left out.
func headLines(s string, n int) (string, int) {
	const maxBytes = 4 << 10
	if len(s) > maxBytes {
		cut := maxBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		head, _ := headLines(s[:cut], n)
		return head, max(1, strings.Count(s[len(head):], "\n"))
	}
	i, seen := 0, 0
	for seen < n {
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			return s, 0
		}
		i += j + 1
		seen++
	}
	rest := s[i:]
	if rest == "" {
		return s, 0
	}
	return strings.TrimSuffix(s[:i], "\n"), strings.Count(rest, "\n") + 1
}

// scroll moves the view by n lines (positive = up, back in time).
func (c *chatPane) scroll(n int) {
	c.offset += n
	if c.offset < 0 {
		c.offset = 0
	}
}

// view draws exactly height lines of at most width columns.
func (c *chatPane) view(width, height int) []string {
	if height <= 0 {
		return nil
	}
	if width < 1 {
		width = 1
	}
	need := c.offset + height
	var blocks [][]string
	total := 0
	i := len(c.items) - 1
	for ; i >= 0 && total < need; i-- {
		l := c.render(c.items[i], width)
		blocks = append(blocks, l)
		total += len(l)
	}
	if i < 0 && c.offset > total-height {
		// Reached the top of the conversation: stop scrolling there.
		c.offset = max(0, total-height)
	}
	flat := make([]string, 0, total)
	for j := len(blocks) - 1; j >= 0; j-- {
		flat = append(flat, blocks[j]...)
	}
	end := total - c.offset
	start := max(0, end-height)
	out := make([]string, 0, height)
	out = append(out, flat[start:end]...)
	for len(out) < height {
		out = append(out, "")
	}
	if c.offset > 0 {
		out[height-1] = c.theme.Dim.Render(truncate("  ↓ more below (ctrl+g: latest)", width))
	}
	return out
}

// lastAssistant is the index of the latest assistant item, or -1.
func (c *chatPane) lastAssistant() int {
	for i := len(c.items) - 1; i >= 0; i-- {
		if c.items[i].kind == kindAssistant {
			return i
		}
	}
	return -1
}
