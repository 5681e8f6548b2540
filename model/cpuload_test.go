package model

import (
	"bufio"
	"context"
	"math"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
)

// fakeLoad is a machine whose other processes take others cores' worth of
// CPU. Each reading is one second after the previous one, and the clock
// reads one second past the last reading, so every window is long enough.
type fakeLoad struct {
	at     time.Time
	cores  int
	idle   time.Duration
	others float64
	reads  int
}

func (f *fakeLoad) meter() *cpuMeter {
	return &cpuMeter{
		now: func() time.Time { return f.at.Add(time.Second) },
		sample: func() (cpuSample, error) {
			f.at = f.at.Add(time.Second)
			f.idle += time.Duration((float64(f.cores) - f.others) * float64(time.Second))
			f.reads++
			return cpuSample{at: f.at, cores: f.cores, idle: f.idle}, nil
		},
	}
}

func TestOthersBetween(t *testing.T) {
	at := time.Unix(1000, 0)
	tests := []struct {
		name   string
		a, b   cpuSample
		want   float64
		wantOK bool
	}{
		{"idle machine", cpuSample{at: at, cores: 2}, cpuSample{at: at.Add(time.Second), cores: 2, idle: 2 * time.Second}, 0, true},
		{"we use one core", cpuSample{at: at, cores: 2}, cpuSample{at: at.Add(time.Second), cores: 2, idle: time.Second, own: time.Second}, 0, true},
		{"two busy loops", cpuSample{at: at, cores: 2}, cpuSample{at: at.Add(time.Second), cores: 2}, 2, true},
		{"they got a third of our two threads' cores", cpuSample{at: at, cores: 2, own: 5 * time.Second}, cpuSample{at: at.Add(3 * time.Second), cores: 2, own: 9 * time.Second}, 2.0 / 3, true},
		{"ticks rounding past idle", cpuSample{at: at, cores: 2}, cpuSample{at: at.Add(time.Second), cores: 2, idle: 1100 * time.Millisecond, own: time.Second}, 0, true},
		{"no time passed", cpuSample{at: at, cores: 2}, cpuSample{at: at, cores: 2}, 0, false},
		{"CPUs changed", cpuSample{at: at, cores: 2}, cpuSample{at: at.Add(time.Second), cores: 4}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := othersBetween(tt.a, tt.b)
			if ok != tt.wantOK || (got-tt.want) > 1e-9 || (tt.want-got) > 1e-9 {
				t.Fatalf("othersBetween = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFitThreads(t *testing.T) {
	tests := []struct {
		cores  int
		others float64
		limit  int
		want   int
	}{
		{2, 0, 2, 2},
		{2, 0.3, 2, 2}, // a core 70% free is worth its thread
		{2, 0.5, 2, 1},
		{2, 1, 2, 1},
		{2, 2, 2, 1}, // never below one
		{2, 5, 2, 1},
		{16, 3, 16, 13},
		{16, 0, 8, 8}, // never above the limit
		{1, 0, 1, 1},
	}
	for _, tt := range tests {
		if got := fitThreads(tt.cores, tt.others, tt.limit); got != tt.want {
			t.Errorf("fitThreads(%d, %v, %d) = %d, want %d", tt.cores, tt.others, tt.limit, got, tt.want)
		}
	}
}

// TestGovernorDecide drives the decisions with readings of the other
// processes' load, one window each.
func TestGovernorDecide(t *testing.T) {
	tests := []struct {
		name    string
		auto    bool
		cores   int
		threads int       // at the start
		limit   int       // the most threads; 0 = threads
		others  []float64 // per window
		want    []int     // threads after each window
		reports []Busy
	}{
		{name: "auto, idle", auto: true, cores: 2, threads: 2, others: []float64{0, 0.2}, want: []int{2, 2}},
		// The engine adapts, and has nothing to report.
		{name: "auto, load comes and goes", auto: true, cores: 2, threads: 2, others: []float64{0, 1.9, 1.2, 0.1, 1.5},
			want: []int{2, 1, 1, 2, 1}},
		{name: "auto, many cores, part busy", auto: true, cores: 16, threads: 16, others: []float64{4, 8}, want: []int{12, 8}},
		{name: "auto, chosen low at load, machine frees up", auto: true, cores: 4, threads: 1, limit: 4, others: []float64{0.5, 0}, want: []int{3, 4}},
		{name: "explicit threads are kept and reported", cores: 2, threads: 2, others: []float64{2, 2},
			want:    []int{2, 2},
			reports: []Busy{{Cores: 2, Others: 2, Threads: 2, Suggest: 1}}},
		{name: "explicit threads beyond the cores on an idle machine", cores: 2, threads: 8, others: []float64{0}, want: []int{8}},
		{name: "explicit, beyond the cores and busy", cores: 2, threads: 8, others: []float64{1.5}, want: []int{8},
			reports: []Busy{{Cores: 2, Others: 1.5, Threads: 8, Suggest: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLoad{at: time.Unix(1000, 0), cores: tt.cores}
			var got []Busy
			limit := tt.limit
			if limit == 0 {
				limit = tt.threads
			}
			g := governor{meter: f.meter(), auto: tt.auto, limit: limit, cur: tt.threads, report: func(b Busy) {
				b.Others = math.Round(b.Others*1000) / 1000 // the fake's nanoseconds are not exact
				got = append(got, b)
			}}
			g.begin()
			for i, o := range tt.others {
				f.others = o
				if !g.due() {
					t.Fatalf("window %d: not due", i)
				}
				n, changed := g.decide()
				if n != tt.want[i] || g.cur != n {
					t.Fatalf("window %d (others %v): threads %d (cur %d), want %d", i, o, n, g.cur, tt.want[i])
				}
				prev := tt.threads
				if i > 0 {
					prev = tt.want[i-1]
				}
				if changed != (n != prev) {
					t.Fatalf("window %d: changed = %v going from %d to %d", i, changed, prev, n)
				}
			}
			if len(got) != len(tt.reports) {
				t.Fatalf("reports %+v, want %+v", got, tt.reports)
			}
			for i := range got {
				if got[i] != tt.reports[i] {
					t.Fatalf("report %+v, want %+v", got[i], tt.reports[i])
				}
			}
		})
	}
}

func TestGovernorWithoutMeter(t *testing.T) {
	g := governor{auto: true, limit: 4, cur: 4}
	g.begin()
	if g.due() {
		t.Fatal("a governor without a meter has no window")
	}
}

func TestBusyText(t *testing.T) {
	tests := []struct {
		b    Busy
		want string
	}{
		{Busy{Cores: 2, Others: 1.84, Threads: 2, Suggest: 1},
			"the CPU is busy with other work (1.8 of 2 cores): generation with 2 threads waits for cores and slows down; 1 would be faster"},
		{Busy{Cores: 8, Others: 4, Threads: 8, Suggest: 4},
			"the CPU is busy with other work (4.0 of 8 cores): generation with 8 threads waits for cores and slows down; 4 would be faster"},
	}
	for _, tt := range tests {
		if got := tt.b.String(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

// loadBusy loads stories260K with threads (0 = chosen) on a machine whose
// load f reports, collecting Busy reports.
func loadBusy(t *testing.T, f *fakeLoad, threads int, got *[]Busy) *Engine {
	t.Helper()
	e, err := Load(context.Background(), Options{Path: testtool.Model(t, testtool.Stories), ContextSize: 512, Threads: threads,
		meter: f.meter(), OnBusy: func(b Busy) { *got = append(*got, b) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestLoadChoosesThreadsFromLoad(t *testing.T) {
	cores := DefaultThreads()
	if cores < 2 {
		t.Skip("one CPU: nothing to choose")
	}
	tests := []struct {
		name   string
		others float64
		want   int
	}{
		{"idle", 0, cores},
		{"all busy", float64(cores), 1},
		{"one busy", 1, cores - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLoad{at: time.Unix(1000, 0), cores: cores, others: tt.others}
			var reports []Busy
			e := loadBusy(t, f, 0, &reports)
			if e.thr != tt.want || e.llamaThreads() != tt.want {
				t.Fatalf("threads %d (llama.cpp %d), want %d", e.thr, e.llamaThreads(), tt.want)
			}
			if f.reads != 2 || len(reports) != 0 {
				t.Fatalf("%d readings, reports %v: want 2 readings and no report at load", f.reads, reports)
			}
		})
	}
	t.Run("explicit threads are not measured at load", func(t *testing.T) {
		f := &fakeLoad{at: time.Unix(1000, 0), cores: cores, others: float64(cores)}
		var reports []Busy
		if e := loadBusy(t, f, 2, &reports); e.thr != 2 || f.reads != 0 {
			t.Fatalf("threads %d after %d readings, want 2 after none", e.thr, f.reads)
		}
	})
}

// TestGenerateAdaptsThreads: the load changes between and during
// generations; the engine follows it, with nothing to report.
func TestGenerateAdaptsThreads(t *testing.T) {
	cores := DefaultThreads()
	if cores < 2 {
		t.Skip("one CPU: nothing to adapt")
	}
	f := &fakeLoad{at: time.Unix(1000, 0), cores: cores}
	var reports []Busy
	e := loadBusy(t, f, 0, &reports)
	s := Sampling{MaxTokens: 48, IgnoreEOG: true}
	want, st, err := e.Complete(context.Background(), "Once upon a time", s, nil)
	if err != nil || st.Threads != cores || len(reports) != 0 {
		t.Fatalf("idle: %v, threads %d, reports %v", err, st.Threads, reports)
	}

	f.others = float64(cores) // every core taken by others
	got, st, err := e.Complete(context.Background(), "Once upon a time", s, nil)
	if err != nil || st.Threads != 1 || e.llamaThreads() != 1 {
		t.Fatalf("busy: %v, threads %d (llama.cpp %d), want 1", err, st.Threads, e.llamaThreads())
	}
	if got != want {
		t.Fatalf("fewer threads changed the greedy reply:\n%q\n%q", got, want)
	}
	// The next call starts with one thread, prompt included.
	if _, st, err = e.Complete(context.Background(), "Once upon a time there was", s, nil); err != nil || st.Threads != 1 {
		t.Fatalf("still busy: %v, threads %d", err, st.Threads)
	}

	f.others = 0
	if _, st, err = e.Complete(context.Background(), "Once upon a time", s, nil); err != nil || st.Threads != cores || e.llamaThreads() != cores {
		t.Fatalf("idle again: %v, threads %d (llama.cpp %d), want %d", err, st.Threads, e.llamaThreads(), cores)
	}
	// The team that grew back flushes subnormals, as at load (see
	// TestSubnormalFlush).
	if x86 := runtime.GOARCH == "amd64" || runtime.GOARCH == "386"; x86 && cores <= 32 {
		if m, want := e.fpProbe(), uint32(1<<cores-1)&^1; m != want {
			t.Fatalf("flushing threads %b, want %b", m, want)
		}
	}
	if len(reports) != 0 {
		t.Fatalf("reports %+v: the engine adapted, there is nothing to tell", reports)
	}
}

func TestExplicitThreadsReportBusy(t *testing.T) {
	f := &fakeLoad{at: time.Unix(1000, 0), cores: 2, others: 2}
	var reports []Busy
	e := loadBusy(t, f, 2, &reports)
	_, st, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 16, IgnoreEOG: true}, nil)
	if err != nil || st.Threads != 2 || e.llamaThreads() != 2 {
		t.Fatalf("%v, threads %d (llama.cpp %d): explicit threads must stay", err, st.Threads, e.llamaThreads())
	}
	if len(reports) != 1 || reports[0].Threads != 2 || reports[0].Suggest != 1 {
		t.Fatalf("reports %+v, want one suggesting 1 thread", reports)
	}
	// Once per engine.
	if _, _, err := e.Complete(context.Background(), "Once upon a time", Sampling{MaxTokens: 16, IgnoreEOG: true}, nil); err != nil || len(reports) != 1 {
		t.Fatalf("%v, reports %+v, want the first only", err, reports)
	}
}

// TestLoadOnBusyMachine loads with the machine's own meter while as many
// processes as this one has CPUs spin: the engine must choose one thread
// (with all cores, llama.cpp's threads stall on each other).
func TestLoadOnBusyMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the load is read from /proc/stat")
	}
	cores := DefaultThreads()
	if cores < 2 {
		t.Skip("one CPU: nothing to choose")
	}
	if testing.Short() {
		t.Skip("spins every CPU")
	}
	for range cores {
		spin := exec.Command("sh", "-c", "echo; while :; do :; done")
		out, err := spin.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := spin.Start(); err != nil {
			t.Skip("no sh:", err)
		}
		t.Cleanup(func() {
			spin.Process.Kill()
			spin.Wait()
		})
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	e, err := Load(context.Background(), Options{Path: testtool.Model(t, testtool.Stories), ContextSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.thr != 1 {
		t.Fatalf("%d threads with every CPU busy, want 1", e.thr)
	}
}
