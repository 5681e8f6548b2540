package store

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/sovos/sov/internal/termtext"
)

// FormatBytes renders n as e.g. "1.2 GiB"; a negative n (an unknown size)
// as "?".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < 0 {
		return "?"
	}
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// FormatParams renders a parameter count as e.g. "292.8K", "7.2B".
func FormatParams(n uint64) string {
	switch {
	case n >= 1e9:
		return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + "B"
	case n >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 1e3:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "K"
	}
	return strconv.FormatUint(n, 10)
}

// Meter follows the Progress reports of a pull and works out what a
// display shows. The zero value is ready to use.
type Meter struct {
	now   func() time.Time // time.Now when nil; tests set a clock
	phase string
	start time.Time
	tenth int // the last tenth of the total reported by Reading.NewTenth
}

// Reading is one Progress report with the figures a display needs.
type Reading struct {
	Progress
	NewPhase bool          // the first report of its phase
	Elapsed  time.Duration // since the phase began
	Speed    int64         // bytes a second in this phase, resumed bytes left out
	Percent  int           // 0–100; -1 when the total is unknown
	ETA      time.Duration // time left at this speed; -1 when unknown
	// NewTenth is set when Percent enters a new tenth between 10% and 90%,
	// so a log can print one line per tenth.
	NewTenth bool
}

// Read turns a report into a Reading.
func (m *Meter) Read(p Progress) Reading {
	now := time.Now
	if m.now != nil {
		now = m.now
	}
	t := now()
	r := Reading{Progress: p, Percent: -1, ETA: -1}
	if p.Phase != m.phase || m.start.IsZero() {
		m.phase, m.start, m.tenth, r.NewPhase = p.Phase, t, 0, true
	}
	r.Elapsed = t.Sub(m.start)
	if s := r.Elapsed.Seconds(); s > 0 {
		r.Speed = int64(float64(p.Done-p.Resumed) / s)
	}
	if p.Total > 0 {
		r.Percent = int(p.Done * 100 / p.Total)
		if r.Speed > 0 {
			r.ETA = time.Duration(float64(p.Total-p.Done) / float64(r.Speed) * float64(time.Second)).Round(time.Second)
		}
	}
	if tenth := r.Percent / 10; r.Percent > 0 && r.Percent < 100 && tenth > m.tenth {
		m.tenth, r.NewTenth = tenth, true
	}
	return r
}

// Printer shows a pull's progress. On a terminal it redraws a bar in place,
// fitted to Width columns (0: unknown); otherwise it writes a line when a
// phase starts, at each tenth and at the end, for logs. File names, which
// may come from a server, are cleaned of control characters.
type Printer struct {
	W     io.Writer
	TTY   bool
	Width int
	meter Meter
	drawn bool // a bar is on the line
}

// NewPrinter returns a Printer for w, drawing a bar when w is a terminal.
func NewPrinter(w io.Writer) *Printer {
	p := &Printer{W: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.TTY = true
		p.Width, _, _ = term.GetSize(int(f.Fd()))
	}
	return p
}

// Update shows one report; it is a ProgressFunc.
func (p *Printer) Update(ev Progress) {
	r := p.meter.Read(ev)
	ev.File = termtext.Clean(ev.File)
	speed := FormatBytes(r.Speed) + "/s"
	if p.TTY {
		// The numbers take at most ~52 columns; the name and the bar share
		// the rest, so \r redraws the line in place.
		name, width := 24, 20
		if p.Width > 0 {
			name, width = 16, min(max(p.Width-1-16-52, 5), 30)
		}
		filled := max(r.Percent, 0) * width / 100
		eta := "--"
		if r.ETA >= 0 {
			eta = r.ETA.String()
		}
		fmt.Fprintf(p.W, "\r%s %s%s %3d%% %s/%s %s ETA %s\x1b[K", fitName(ev.File, name), strings.Repeat("█", filled), strings.Repeat("·", width-filled),
			max(r.Percent, 0), FormatBytes(ev.Done), FormatBytes(ev.Total), speed, eta)
		p.drawn = !ev.Final
		if ev.Final {
			fmt.Fprintln(p.W)
		}
		return
	}
	if r.NewPhase {
		line := map[string]string{"download": "downloading", "copy": "copying", "verify": "verifying"}[ev.Phase] + " " + ev.File
		if ev.Total >= 0 {
			line += " (" + FormatBytes(ev.Total) + ")"
		}
		if ev.Resumed > 0 {
			line += ", resuming at " + FormatBytes(ev.Resumed)
		}
		fmt.Fprintln(p.W, line)
	}
	switch {
	case ev.Final:
		fmt.Fprintf(p.W, "%s: done, %s in %s (%s)\n", ev.File, FormatBytes(ev.Done), r.Elapsed.Round(time.Millisecond), speed)
	case r.NewTenth:
		fmt.Fprintf(p.W, "%s: %d%% %s of %s, %s\n", ev.File, r.Percent, FormatBytes(ev.Done), FormatBytes(ev.Total), speed)
	}
}

// End finishes a bar left half-drawn by a failed transfer.
func (p *Printer) End() {
	if p.drawn {
		fmt.Fprintln(p.W)
		p.drawn = false
	}
}

// fitName pads or cuts s to n columns.
func fitName(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s + strings.Repeat(" ", n-len(r))
	}
	return string(r[:n-1]) + "…"
}
