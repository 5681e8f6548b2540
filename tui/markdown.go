package tui

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// markdown renders finished assistant messages: goldmark parses CommonMark
// with GitHub's extensions (tables, strikethrough, task lists, autolinks)
// and the walk below lays the tree out as terminal lines in the theme's
// styles. It replaces glamour, whose syntax highlighter (chroma) parses
// hundreds of embedded XML files at program start and so cost every `sov`
// invocation, `sov run` included, about 30 ms before main ran. Code blocks
// are shown in one code colour, without per-language highlighting.
//
// Source line breaks are kept: models write single newlines meaning line
// breaks far more often than they wrap paragraphs by hand.
type markdown struct {
	p      parser.Parser
	theme  string
	styles map[mdStyle][2]string // SGR prefix and suffix per style set
	t      Theme
}

// mdStyle is a set of inline styles.
type mdStyle uint8

const (
	mdBold mdStyle = 1 << iota
	mdItalic
	mdCode
	mdStrike
	mdLink
	mdDim
	mdHeading
)

// mdLeftMargin matches the indent of the other chat items.
const mdLeftMargin = "  "

// render lays src out at width columns, each line starting with the
// chat's two-space margin.
func (m *markdown) render(src string, t Theme, width int) []string {
	body := width - len(mdLeftMargin)
	if body < 6 {
		// Too narrow for list markers and margins: plain wrapping reads better.
		return clip(wrapPlain(sanitize(src), width), max(width, 1))
	}
	if m.p == nil {
		m.p = goldmark.New(goldmark.WithExtensions(extension.GFM)).Parser()
	}
	if m.styles == nil || m.theme != t.Name {
		m.styles, m.theme, m.t = map[mdStyle][2]string{}, t.Name, t
	}
	// Callers pass sanitized text; a stored session edited by hand may not
	// be, and model output is data, never terminal commands.
	source := []byte(sanitize(src))
	doc := m.p.Parse(text.NewReader(source))
	r := mdRenderer{m: m, src: source}
	lines := r.blocks(doc, body)
	for i, l := range lines {
		if l != "" {
			lines[i] = mdLeftMargin + l
		}
	}
	return lines
}

// sgr returns the escape sequences that open and close a style set,
// computed once per theme: wrapping styles each word on its own so that a
// line cut out of a paragraph never starts or ends inside an open style.
func (m *markdown) sgr(s mdStyle) (string, string) {
	if p, ok := m.styles[s]; ok {
		return p[0], p[1]
	}
	st := lipgloss.NewStyle()
	switch {
	case s&mdCode != 0:
		st = m.t.Code
	case s&mdHeading != 0:
		st = m.t.Accent
	case s&mdLink != 0:
		st = m.t.User.Bold(false)
	case s&mdDim != 0:
		st = m.t.Dim
	}
	if s&(mdBold|mdHeading) != 0 {
		st = st.Bold(true)
	}
	if s&mdItalic != 0 {
		st = st.Italic(true)
	}
	if s&mdStrike != 0 {
		st = st.Strikethrough(true)
	}
	if s&mdLink != 0 {
		st = st.Underline(true)
	}
	out := st.Render("\x00")
	pre, post, _ := strings.Cut(out, "\x00")
	m.styles[s] = [2]string{pre, post}
	return pre, post
}

type mdRenderer struct {
	m   *markdown
	src []byte
}

// blocks renders the children of a container, blank lines between them
// (none between the items' blocks of a tight list).
func (r *mdRenderer) blocks(n ast.Node, width int) []string {
	var out []string
	tight := false
	if li, ok := n.(*ast.ListItem); ok {
		if l, ok := li.Parent().(*ast.List); ok {
			tight = l.IsTight
		}
	}
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		ls := r.block(c, width)
		if len(ls) == 0 {
			continue
		}
		if len(out) > 0 && !tight {
			out = append(out, "")
		}
		out = append(out, ls...)
	}
	return out
}

func (r *mdRenderer) block(n ast.Node, width int) []string {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		return r.wrap(r.inline(n, 0), width)
	case *ast.Heading:
		return r.wrap(r.inline(n, mdHeading), width)
	case *ast.ThematicBreak:
		pre, post := r.m.sgr(mdDim)
		return []string{pre + strings.Repeat("─", min(width, 40)) + post}
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		return r.code(n, width)
	case *ast.HTMLBlock:
		var sb strings.Builder
		r.lines(n, &sb)
		if n.HasClosure() {
			sb.Write(n.ClosureLine.Value(r.src))
		}
		return wrapPlain(strings.TrimRight(sb.String(), "\n"), width)
	case *ast.Blockquote:
		pre, post := r.m.sgr(mdDim)
		bar := pre + "│" + post + " "
		inner := r.blocks(n, max(width-2, 1))
		for i, l := range inner {
			inner[i] = bar + l
		}
		return inner
	case *ast.List:
		return r.list(n, width)
	case *east.Table:
		return r.table(n, width)
	}
	return r.blocks(n, width)
}

// list renders items behind a bullet or number; continuation lines line up
// with the item's text.
func (r *mdRenderer) list(l *ast.List, width int) []string {
	var out []string
	num := l.Start
	markerW := 2
	if l.IsOrdered() {
		last := num + l.ChildCount() - 1
		markerW = len(strconv.Itoa(last)) + 2
	}
	for it := l.FirstChild(); it != nil; it = it.NextSibling() {
		marker := "• "
		if l.IsOrdered() {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		marker += strings.Repeat(" ", markerW-ansi.StringWidth(marker))
		body := r.blocks(it, max(width-markerW, 1))
		if len(body) == 0 {
			body = []string{""}
		}
		if len(out) > 0 && !l.IsTight {
			out = append(out, "")
		}
		pad := strings.Repeat(" ", markerW)
		for i, line := range body {
			switch {
			case i == 0:
				line = marker + line
			case line != "":
				line = pad + line
			}
			out = append(out, line)
		}
	}
	return out
}

// code renders a code block in the code style, long lines wrapped rather
// than cut so nothing is lost.
func (r *mdRenderer) code(n ast.Node, width int) []string {
	var sb strings.Builder
	r.lines(n, &sb)
	src := strings.TrimRight(sb.String(), "\n")
	pre, post := r.m.sgr(mdCode)
	w := max(width-2, 1)
	var out []string
	for _, line := range strings.Split(src, "\n") {
		for _, part := range strings.Split(ansi.Hardwrap(line, w, true), "\n") {
			if part == "" {
				out = append(out, "")
				continue
			}
			out = append(out, "  "+pre+part+post)
		}
	}
	return out
}

// lines appends a block's raw source lines.
func (r *mdRenderer) lines(n ast.Node, sb *strings.Builder) {
	segs := n.Lines()
	for i := 0; i < segs.Len(); i++ {
		s := segs.At(i)
		sb.Write(s.Value(r.src))
	}
}

// span is a run of text in one style; brk marks a line break after it.
type span struct {
	text  string
	style mdStyle
	brk   bool
}

// inline flattens a block's inline children into styled spans.
func (r *mdRenderer) inline(n ast.Node, base mdStyle) []span {
	var out []span
	var walk func(n ast.Node, st mdStyle)
	walk = func(n ast.Node, st mdStyle) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Text:
				out = append(out, span{text: string(c.Segment.Value(r.src)), style: st, brk: c.SoftLineBreak() || c.HardLineBreak()})
			case *ast.String:
				out = append(out, span{text: sanitize(string(c.Value)), style: st})
			case *ast.CodeSpan:
				var sb strings.Builder
				for t := c.FirstChild(); t != nil; t = t.NextSibling() {
					if tx, ok := t.(*ast.Text); ok {
						sb.Write(tx.Segment.Value(r.src))
					}
				}
				out = append(out, span{text: sb.String(), style: st | mdCode})
			case *ast.Emphasis:
				if c.Level >= 2 {
					walk(c, st|mdBold)
				} else {
					walk(c, st|mdItalic)
				}
			case *east.Strikethrough:
				walk(c, st|mdStrike)
			case *ast.Link:
				before := len(out)
				walk(c, st|mdLink)
				dest := string(c.Destination)
				if dest != "" && r.plain(out[before:]) != dest {
					out = append(out, span{text: " (" + dest + ")", style: st | mdDim})
				}
			case *ast.AutoLink:
				out = append(out, span{text: string(c.URL(r.src)), style: st | mdLink})
			case *ast.Image:
				alt := r.plain(r.inline(c, 0))
				out = append(out, span{text: "[image: " + alt + "] " + string(c.Destination), style: st | mdDim})
			case *ast.RawHTML:
				for i := 0; i < c.Segments.Len(); i++ {
					s := c.Segments.At(i)
					out = append(out, span{text: string(s.Value(r.src)), style: st})
				}
			case *east.TaskCheckBox:
				box := "[ ] "
				if c.IsChecked {
					box = "[x] "
				}
				out = append(out, span{text: box, style: st})
			default:
				walk(c, st)
			}
		}
	}
	walk(n, base)
	return out
}

func (r *mdRenderer) plain(spans []span) string {
	var sb strings.Builder
	for _, s := range spans {
		sb.WriteString(s.text)
	}
	return sb.String()
}

// word is an unbreakable piece of a line: styled text and its width.
type word struct {
	text  string
	width int
	space bool // preceded by a space
	brk   bool // a line break follows
}

// wrap fills lines of at most width columns with the spans' words; a word
// wider than a line is cut into pieces.
func (r *mdRenderer) wrap(spans []span, width int) []string {
	var words []word
	space := false
	for _, s := range spans {
		pre, post := r.m.sgr(s.style)
		rest := s.text
		for rest != "" {
			i := strings.IndexAny(rest, " \n")
			if i == 0 {
				space = true
				rest = rest[1:]
				continue
			}
			piece := rest
			if i > 0 {
				piece, rest = rest[:i], rest[i:]
			} else {
				rest = ""
			}
			for piece != "" {
				w := ansi.StringWidth(piece)
				cut := piece
				if w > width {
					cut = ansi.Truncate(piece, width, "")
					if cut == "" { // one rune wider than the line
						_, size := utf8.DecodeRuneInString(piece)
						cut = piece[:size]
					}
					w = ansi.StringWidth(cut)
				}
				styled := pre + cut + post
				if n := len(words); n > 0 && !space && !words[n-1].brk && words[n-1].width+w <= width {
					// Glued to the previous word ("**bold**," or
					// "a`b`"): never split between them.
					words[n-1].text += styled
					words[n-1].width += w
				} else {
					words = append(words, word{text: styled, width: w, space: space})
				}
				space = false
				piece = piece[len(cut):]
			}
		}
		if s.brk && len(words) > 0 {
			words[len(words)-1].brk = true
			space = false
		}
	}
	var lines []string
	var line strings.Builder
	lineW, started := 0, false
	flush := func() {
		lines = append(lines, line.String())
		line.Reset()
		lineW, started = 0, false
	}
	for _, w := range words {
		need := w.width
		if started && w.space {
			need++
		}
		if started && lineW+need > width {
			flush()
		}
		if started && w.space {
			line.WriteByte(' ')
			lineW++
		}
		line.WriteString(w.text)
		lineW += w.width
		started = true
		if w.brk {
			flush()
		}
	}
	if started {
		flush()
	}
	return lines
}

// table lays a GFM table out in columns separated by "│", aligned as the
// delimiter row asks. Columns shrink to fit the width, widest first, and
// their cells wrap.
func (r *mdRenderer) table(t *east.Table, width int) []string {
	var rows [][][]span
	var aligns []east.Alignment
	var header int
	for row := t.FirstChild(); row != nil; row = row.NextSibling() {
		if _, ok := row.(*east.TableHeader); ok {
			header = 1
		}
		var cells [][]span
		for c := row.FirstChild(); c != nil; c = c.NextSibling() {
			if tc, ok := c.(*east.TableCell); ok && len(cells) >= len(aligns) {
				aligns = append(aligns, tc.Alignment)
			}
			st := mdStyle(0)
			if header == 1 && len(rows) == 0 {
				st = mdBold
			}
			cells = append(cells, r.inline(c, st))
		}
		rows = append(rows, cells)
	}
	ncol := 0
	for _, row := range rows {
		ncol = max(ncol, len(row))
	}
	if ncol == 0 {
		return nil
	}
	widths := make([]int, ncol)
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], ansi.StringWidth(r.plain(c)), 1)
		}
	}
	sep := 3 // " │ "
	avail := width - sep*(ncol-1)
	if avail < ncol {
		// No room for columns: one cell per line.
		var out []string
		for _, row := range rows {
			for _, c := range row {
				out = append(out, r.wrap(c, width)...)
			}
			out = append(out, "")
		}
		return out[:max(len(out)-1, 0)]
	}
	for sum(widths) > avail {
		widest := 0
		for i := range widths {
			if widths[i] > widths[widest] {
				widest = i
			}
		}
		widths[widest]--
	}
	pre, post := r.m.sgr(mdDim)
	bar := " " + pre + "│" + post + " "
	var out []string
	for ri, row := range rows {
		cells := make([][]string, ncol)
		height := 1
		for i := range cells {
			if i < len(row) {
				cells[i] = r.wrap(row[i], widths[i])
			}
			height = max(height, len(cells[i]))
		}
		for l := 0; l < height; l++ {
			var sb strings.Builder
			for i := range cells {
				if i > 0 {
					sb.WriteString(bar)
				}
				cell := ""
				if l < len(cells[i]) {
					cell = cells[i][l]
				}
				pad := widths[i] - ansi.StringWidth(cell)
				left := 0
				if i < len(aligns) {
					switch aligns[i] {
					case east.AlignRight:
						left = pad
					case east.AlignCenter:
						left = pad / 2
					}
				}
				sb.WriteString(strings.Repeat(" ", left))
				sb.WriteString(cell)
				sb.WriteString(strings.Repeat(" ", pad-left))
			}
			out = append(out, strings.TrimRight(sb.String(), " "))
		}
		if ri == 0 && header == 1 {
			var sb strings.Builder
			for i, w := range widths {
				if i > 0 {
					sb.WriteString("─┼─")
				}
				sb.WriteString(strings.Repeat("─", w))
			}
			out = append(out, pre+sb.String()+post)
		}
	}
	return out
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
