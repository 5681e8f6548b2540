package model

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Why this file exists: llama.cpp's CPU threads wait for each other at a
// barrier after every node of the graph, spinning while they wait. When
// other processes hold the cores, a thread that lost its core stalls all
// the others until the scheduler gives it back, which costs a time slice
// per barrier: on a two-core machine with two busy processes, stories260K
// generated 4.8 tokens/s with two threads against 2,155 with one. So the
// engine picks its thread count from the cores other work leaves free, and
// keeps measuring while it generates.

// cpuSample is a reading of how much CPU time went where, up to at.
type cpuSample struct {
	at    time.Time
	cores int           // CPUs this process may run on
	idle  time.Duration // idle (and I/O wait) time of those CPUs, summed
	own   time.Duration // CPU time this process used, all threads
}

// cpuMeter reads CPU samples. Tests give the engine a fake one (through
// Options.meter) to drive the thread decisions without timing anything.
type cpuMeter struct {
	now    func() time.Time
	sample func() (cpuSample, error)
}

// systemMeter reads the real machine; nil where the platform offers no
// per-CPU idle time, which turns the adaptation off.
func systemMeter() *cpuMeter {
	if !haveCPUStat() {
		return nil
	}
	return &cpuMeter{now: time.Now, sample: func() (cpuSample, error) { return readCPUSample(time.Now()) }}
}

// othersBetween is the CPU time, in cores, that other processes took
// between a and b: what was neither idle nor ours. Steal time (a VM's
// cores lent to other guests) counts as theirs, which it is.
func othersBetween(a, b cpuSample) (float64, bool) {
	wall := b.at.Sub(a.at)
	if wall <= 0 || b.cores <= 0 || b.cores != a.cores {
		return 0, false
	}
	used := time.Duration(b.cores)*wall - (b.idle - a.idle) - (b.own - a.own)
	return max(0, used.Seconds()/wall.Seconds()), true
}

// fitThreads is the thread count for the cores others leave free: whole
// free cores, rounding up from 0.7 (a core mostly free is worth a thread;
// one mostly taken costs a stall per barrier), never below 1 or above
// limit.
func fitThreads(cores int, others float64, limit int) int {
	n := int(float64(cores) - others + 0.3)
	return max(1, min(n, limit))
}

// loadWindow is how long Load measures the machine before choosing; it
// overlaps loading the model, so only a model that loads faster waits.
// /proc/stat counts in 10 ms ticks per CPU: 100 ms reads the load to
// within about 0.2 of a core on two cores.
const loadWindow = 100 * time.Millisecond

// busyWindow is how long generation runs between two decisions.
const busyWindow = 250 * time.Millisecond

// governor keeps an engine's generation thread count fitted to the cores
// other work leaves free. Its methods run under the engine's lock.
type governor struct {
	meter  *cpuMeter // nil: measure nothing
	auto   bool      // Options.Threads was 0: the governor may change cur
	limit  int       // the most threads auto may use
	cur    int       // the threads llama.cpp uses now
	from   cpuSample // start of the current window
	open   bool      // from holds a reading
	warned bool      // Busy was reported (once per engine)
	report func(Busy)
	logger *slog.Logger // told of each change (may be nil)
}

// choose picks the thread count at load time from a reading taken before
// the model was loaded (at least loadWindow before, waiting if need be).
func (g *governor) choose(ctx context.Context, start cpuSample) {
	if wait := loadWindow - g.meter.now().Sub(start.at); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	s, err := g.meter.sample()
	if err != nil {
		return
	}
	if others, ok := othersBetween(start, s); ok {
		g.cur = fitThreads(s.cores, others, g.limit)
	}
}

// begin opens a measuring window (a generation starts).
func (g *governor) begin() {
	g.open = false
	if g.meter == nil {
		return
	}
	if s, err := g.meter.sample(); err == nil {
		g.from, g.open = s, true
	}
}

// due reports whether the window is long enough for a decision. It is
// called for every batch of tokens, so it reads only the clock.
func (g *governor) due() bool {
	return g.open && g.meter.now().Sub(g.from.at) >= busyWindow
}

// decide closes the window and opens the next; it returns the thread
// count from now on (changed when it differs from before) and reports
// Busy, once, when other work slows generation down.
func (g *governor) decide() (threads int, changed bool) {
	s, err := g.meter.sample()
	if err != nil {
		g.open = false
		return g.cur, false
	}
	others, ok := othersBetween(g.from, s)
	g.from = s
	if !ok {
		return g.cur, false
	}
	want := fitThreads(s.cores, others, max(g.limit, g.cur))
	if !g.auto {
		// Fewer threads than cores is others' doing; more threads than
		// cores (asked for) is not, and is not reported as such.
		if want < min(g.cur, s.cores) && !g.warned && g.report != nil {
			g.warned = true
			g.report(Busy{Cores: s.cores, Others: others, Threads: g.cur, Suggest: want})
		}
		return g.cur, false
	}
	if want == g.cur {
		return g.cur, false
	}
	if g.logger != nil {
		g.logger.Debug("compute threads follow the CPU load", "threads", want, "was", g.cur, "others_cores", others)
	}
	g.cur = want
	return g.cur, true
}

// String is the report as one line, naming no command or flag.
func (b Busy) String() string {
	return fmt.Sprintf("the CPU is busy with other work (%.1f of %d cores): generation with %d threads waits for cores and slows down; %d would be faster",
		b.Others, b.Cores, b.Threads, b.Suggest)
}
