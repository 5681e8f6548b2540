package store

import (
	"strings"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{FormatBytes(-1), "?"},
		{FormatBytes(1000), "1000 B"},
		{FormatBytes(1185376), "1.1 MiB"},
		{FormatBytes(5 << 30), "5.0 GiB"},
		{FormatParams(999), "999"},
		{FormatParams(292800), "292.8K"},
		{FormatParams(134_515_008), "134.5M"},
		{FormatParams(7_241_732_096), "7.2B"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestMeter: a resumed download of 1,000 bytes read every second; the clock
// is the test's, so speed and ETA are exact.
func TestMeter(t *testing.T) {
	now := time.Unix(0, 0)
	m := Meter{now: func() time.Time { return now }}
	var tenths []int
	var last Reading
	for i, done := 0, int64(100); done <= 1000; i, done = i+1, done+100 {
		r := m.Read(Progress{Phase: "download", File: "m.gguf", Done: done, Total: 1000, Resumed: 100})
		if r.NewPhase != (i == 0) {
			t.Errorf("report %d: NewPhase %v", i, r.NewPhase)
		}
		if r.NewTenth {
			tenths = append(tenths, r.Percent)
		}
		last = r
		now = now.Add(time.Second)
	}
	if len(tenths) != 9 || tenths[0] != 10 || tenths[8] != 90 {
		t.Errorf("tenths %v, want 10 to 90", tenths)
	}
	if last.Percent != 100 || last.Elapsed != 9*time.Second || last.Speed != 100 || last.ETA != 0 {
		t.Errorf("last %+v", last)
	}
	r := m.Read(Progress{Phase: "download", Done: 400, Total: 1000, Resumed: 100})
	if r.NewPhase || r.Speed != 30 || r.ETA != 20*time.Second || r.NewTenth {
		t.Errorf("mid %+v", r)
	}
	// A new phase starts its own clock; an unknown total has no percent or ETA.
	r = m.Read(Progress{Phase: "verify", Done: 10, Total: -1})
	if !r.NewPhase || r.Elapsed != 0 || r.Speed != 0 || r.Percent != -1 || r.ETA != -1 || r.NewTenth {
		t.Errorf("new phase %+v", r)
	}
}

// TestPrinter moved here from cmd/sov with the progress display: plain
// lines for a log, a bar that fits the terminal, control characters in a
// server's file name dropped.
func TestPrinter(t *testing.T) {
	var plain strings.Builder
	p := NewPrinter(&plain)
	const total = 1000
	for done := int64(0); done <= total; done += 50 {
		p.Update(Progress{Phase: "download", File: "m.gguf", Done: done, Total: total, Final: done == total})
	}
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(lines) != 11 || lines[0] != "downloading m.gguf (1000 B)" || !strings.HasPrefix(lines[1], "m.gguf: 10% 100 B of 1000 B, ") || !strings.HasPrefix(lines[9], "m.gguf: 90% 900 B of 1000 B, ") ||
		!strings.HasPrefix(lines[10], "m.gguf: done, 1000 B in") {
		t.Errorf("plain progress:\n%s", plain.String())
	}
	var bar strings.Builder
	p = NewPrinter(&bar)
	p.TTY, p.Width = true, 80
	p.Update(Progress{Phase: "download", File: "m\x1b[2J.gguf", Done: 500, Total: total, Resumed: 100})
	p.End()
	out := bar.String()
	if !strings.HasPrefix(out, "\rm.gguf") || !strings.Contains(out, " 50% 500 B/1000 B") || !strings.Contains(out, "ETA") || !strings.HasSuffix(out, "\n") {
		t.Errorf("bar %q", out)
	}
	for _, line := range strings.Split(out, "\r") {
		if n := len([]rune(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\x1b[K"))); n >= 80 {
			t.Errorf("bar line is %d columns, wider than the terminal", n)
		}
	}
}
