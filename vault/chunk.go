package vault

import (
	"strings"
)

// Chunk sizes in bytes: chunks close at a heading, or at a paragraph end
// once past target, and never grow past max. Consecutive chunks that split
// a section share up to overlap bytes of whole lines.
const (
	chunkTarget  = 700
	chunkMax     = 1500
	chunkOverlap = 200
)

// rawChunk is a chunk before it is indexed.
type rawChunk struct {
	Text    string
	Heading string
	Start   int // first line, 1-based
	End     int // last line
}

type cline struct {
	n    int
	text string
}

// chunker turns a stream of lines into chunks; it holds at most one chunk
// in memory, so big files stream.
type chunker struct {
	emit    func(rawChunk) error
	heading string
	lines   []cline
	size    int
	fresh   int // lines added since the last flush (not overlap)
	inFence bool
}

func newChunker(emit func(rawChunk) error) *chunker { return &chunker{emit: emit} }

// Line feeds line n (1-based) of the extracted text.
func (c *chunker) Line(n int, text string) error {
	text = strings.TrimRight(text, " \t\r")
	for len(text) > chunkMax {
		cut := strings.LastIndexByte(text[:chunkMax], ' ')
		if cut < chunkMax/2 {
			cut = chunkMax
			for cut > 0 && text[cut]&0xC0 == 0x80 { // keep UTF-8 whole
				cut--
			}
		}
		if err := c.line(n, text[:cut]); err != nil {
			return err
		}
		text = strings.TrimLeft(text[cut:], " ")
	}
	return c.line(n, text)
}

func (c *chunker) line(n int, text string) error {
	trim := strings.TrimSpace(text)
	if strings.HasPrefix(trim, "```") || strings.HasPrefix(trim, "~~~") {
		c.inFence = !c.inFence
	}
	switch {
	case trim == "":
		if c.size >= chunkTarget {
			return c.flush(true)
		}
		return nil
	case !c.inFence && isHeading(trim):
		if c.fresh > 0 {
			if err := c.flush(false); err != nil {
				return err
			}
		} else {
			c.reset()
		}
		c.heading = strings.TrimSpace(strings.TrimLeft(trim, "#"))
	case c.size+len(text) > chunkMax && c.fresh > 0:
		if err := c.flush(true); err != nil {
			return err
		}
	}
	c.lines = append(c.lines, cline{n, text})
	c.size += len(text) + 1
	c.fresh++
	return nil
}

func isHeading(s string) bool {
	i := 0
	for i < len(s) && s[i] == '#' {
		i++
	}
	return i >= 1 && i <= 6 && i < len(s) && s[i] == ' '
}

func (c *chunker) reset() {
	c.lines, c.size, c.fresh = c.lines[:0], 0, 0
}

func (c *chunker) flush(overlap bool) error {
	if c.fresh == 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(c.size)
	for i, l := range c.lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l.text)
	}
	ch := rawChunk{Text: b.String(), Heading: c.heading, Start: c.lines[0].n, End: c.lines[len(c.lines)-1].n}
	if err := c.emit(ch); err != nil {
		return err
	}
	if !overlap {
		c.reset()
		return nil
	}
	// Keep the trailing whole lines that fit in the overlap, never all.
	keep, size := 0, 0
	for i := len(c.lines) - 1; i > 0; i-- {
		if size+len(c.lines[i].text)+1 > chunkOverlap {
			break
		}
		size += len(c.lines[i].text) + 1
		keep++
	}
	tail := append([]cline(nil), c.lines[len(c.lines)-keep:]...)
	c.lines = append(c.lines[:0], tail...)
	c.size, c.fresh = size, 0
	return nil
}

// End flushes the last chunk.
func (c *chunker) End() error { return c.flush(false) }
