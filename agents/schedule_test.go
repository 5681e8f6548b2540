package agents

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fakeClock is driven by Set. Only the scheduler's loop calls After, and
// it abandons its previous timer each time round, so one waiter is kept.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	at  time.Time
	ch  chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.at, c.ch = c.now.Add(d), ch
	if d <= 0 {
		ch <- c.now
		c.ch = nil
	}
	return ch
}

// Set moves the clock to t and says whether that woke the loop.
func (c *fakeClock) Set(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	if c.ch != nil && !c.at.After(t) {
		c.ch <- t
		c.ch = nil
		return true
	}
	return false
}

// fixedRand draws d (or n-1 when d does not fit) and records each bound.
type fixedRand struct {
	d      time.Duration
	mu     sync.Mutex
	bounds []int64
}

func (r *fixedRand) Int64N(n int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bounds = append(r.bounds, n)
	return min(int64(r.d), n-1)
}

type firing struct {
	agent string
	in    InputEvent
}

// harness runs a Scheduler on a fake clock in a goroutine; the test steps
// it by setting the clock and waiting for the loop to go back to sleep.
type harness struct {
	t       *testing.T
	dir     string
	clock   *fakeClock
	s       *Scheduler
	waits   chan int // runs in flight each time the loop sleeps
	wakes   chan time.Time
	runs    chan firing
	block   map[string]chan struct{} // agents whose runs wait for a token
	notices chan Notice
	cancel  context.CancelFunc
	errc    chan error
	wake0   time.Time // when the loop first slept until
}

var t0 = time.Date(2026, 12, 6, 10, 5, 0, 0, time.UTC)

func at(hhmmss string) time.Time {
	t, err := time.Parse("15:04:05", hhmmss)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 12, 6, t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

func writeAgent(t *testing.T, dir, name, top string) {
	t.Helper()
	body := top + "\n[[tools]]\nname = \"vault.search\"\n"
	if err := os.WriteFile(filepath.Join(dir, name+".toml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newHarness(t *testing.T, dir string, now time.Time, opt ScheduleOptions) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir, clock: &fakeClock{now: now}, waits: make(chan int, 1000), wakes: make(chan time.Time, 1000),
		runs: make(chan firing, 100), block: map[string]chan struct{}{}, notices: make(chan Notice, 1000)}
	opt.Clock = h.clock
	if opt.Jitter == 0 {
		opt.Jitter = -1
	}
	opt.Notify = func(n Notice) {
		select {
		case h.notices <- n:
		default:
		}
	}
	s, err := OpenScheduler(&Store{Dir: dir}, opt)
	if err != nil {
		t.Fatal(err)
	}
	s.onWait = func(n int, wake time.Time) {
		select { // a runaway loop fills the buffer: drop, never hang the loop
		case h.waits <- n:
			h.wakes <- wake
		default:
		}
	}
	h.s = s
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *harness) start() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.errc = cancel, make(chan error, 1)
	go func() {
		h.errc <- h.s.Run(ctx, func(ctx context.Context, a *Agent, in InputEvent) Outcome {
			select {
			case h.runs <- firing{a.Name, in}:
			default: // a runaway: the test fails on the count; never hang
				return Outcome{Status: StatusError}
			}
			if ch := h.block[a.Name]; ch != nil {
				select {
				case <-ch:
				case <-ctx.Done():
					return Outcome{Run: "r-" + a.Name, Status: StatusInterrupted, Err: ctx.Err()}
				}
			}
			return Outcome{Run: "r-" + a.Name, Status: StatusDone}
		})
	}()
	h.wake0 = h.waitIdle(0)
	return h
}

// stop cancels Run, waits for it and closes the scheduler.
func (h *harness) stop() {
	if h.s == nil {
		return
	}
	if h.cancel != nil {
		h.cancel()
		if err := <-h.errc; err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.cancel = nil
	}
	if err := h.s.Close(); err != nil {
		h.t.Errorf("Close: %v", err)
	}
	h.s = nil
}

// waitIdle waits until the loop sleeps with n runs in flight and returns
// when it will wake.
func (h *harness) waitIdle(n int) time.Time {
	h.t.Helper()
	timeout := time.After(5 * time.Second) // once: a runaway loop keeps sending
	for {
		select {
		case got := <-h.waits:
			wake := <-h.wakes
			if got == n {
				return wake
			}
		case <-timeout:
			h.t.Fatalf("the scheduler did not settle with %d runs in flight", n)
		}
	}
}

// set moves the clock; when that wakes the loop, it waits for it to sleep
// again with n runs in flight.
func (h *harness) set(t time.Time, n int) {
	h.t.Helper()
	if h.clock.Set(t) {
		h.waitIdle(n)
	}
}

// fired returns the runs started so far.
func (h *harness) fired() []firing {
	var out []firing
	for {
		select {
		case f := <-h.runs:
			out = append(out, f)
		default:
			return out
		}
	}
}

func (h *harness) state(name string) ScheduleState {
	h.t.Helper()
	// States is read between steps: the loop is asleep.
	return h.s.States()[name]
}

func TestScheduleDue(t *testing.T) {
	type want struct {
		runs          int
		scheduled     string
		missed, skips int
	}
	for _, tc := range []struct {
		name  string
		top   string
		setTo string
		want  want
	}{
		{"on time", ``, "10:10:00", want{1, "10:10:00", 0, 0}},
		{"not yet", ``, "10:09:59", want{0, "", 0, 0}},
		// The acceptance: the clock jumps past three due times, one run.
		{"three missed collapse", ``, "10:38:00", want{1, "10:30:00", 3, 0}},
		{"late beyond grace", ``, "10:14:00", want{1, "10:10:00", 1, 0}},
		{"late within grace", `misfire_grace = "5m"`, "10:14:00", want{1, "10:10:00", 0, 0}},
		{"grace keeps the latest on time", ``, "10:30:30", want{1, "10:30:00", 2, 0}},
		{"skip drops late runs", `catch_up = "skip"`, "10:38:00", want{0, "", 0, 3}},
		{"skip runs the on-time one", `catch_up = "skip"`, "10:30:30", want{1, "10:30:00", 0, 2}},
		{"skip within grace", "catch_up = \"skip\"\nmisfire_grace = \"5m\"", "10:14:00", want{1, "10:10:00", 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeAgent(t, dir, "a", "schedule = \"*/10 * * * *\"\n"+tc.top)
			h := newHarness(t, dir, t0, ScheduleOptions{}).start()
			h.set(at(tc.setTo), 0)
			got := h.fired()
			if len(got) != tc.want.runs {
				t.Fatalf("%d runs, want %d: %+v", len(got), tc.want.runs, got)
			}
			if st := h.state("a"); st.Skipped != tc.want.skips {
				t.Errorf("skipped %d, want %d", st.Skipped, tc.want.skips)
			}
			if tc.want.runs == 0 {
				return
			}
			in := got[0].in
			wantIn := InputEvent{Type: "cron", ScheduledAt: at(tc.want.scheduled), FiredAt: at(tc.setTo), Missed: tc.want.missed}
			if in != wantIn {
				t.Errorf("input %+v, want %+v", in, wantIn)
			}
			st := h.state("a")
			if st.Running != nil || st.LastRun == nil || st.LastRun.Status != StatusDone || st.LastRun.Run != "r-a" || st.LastRun.Input != wantIn {
				t.Errorf("state %+v (last run %+v)", st, st.LastRun)
			}
		})
	}
}

// The acceptance in sequence: on time, then once after a jump over three
// due times, then on time again; never a second run for the same time.
func TestScheduleFiresOnTimeThenCatchesUpOnce(t *testing.T) {
	dir := t.TempDir()
	writeAgent(t, dir, "a", `schedule = "*/10 * * * *"`)
	h := newHarness(t, dir, t0, ScheduleOptions{}).start()
	for _, step := range []struct {
		to        string
		scheduled string // "" no run
		missed    int
	}{
		{"10:09:59", "", 0},
		{"10:10:00", "10:10:00", 0},
		{"10:10:30", "", 0},
		{"10:48:00", "10:40:00", 3},
		{"10:49:00", "", 0},
		{"10:50:00", "10:50:00", 0},
	} {
		h.set(at(step.to), 0)
		got := h.fired()
		switch {
		case step.scheduled == "" && len(got) != 0:
			t.Fatalf("at %s: runs %+v, want none", step.to, got)
		case step.scheduled == "":
		case len(got) != 1 || !got[0].in.ScheduledAt.Equal(at(step.scheduled)) || got[0].in.Missed != step.missed:
			t.Fatalf("at %s: runs %+v, want one for %s with missed %d", step.to, got, step.scheduled, step.missed)
		}
	}
}

func TestScheduleOneRunAtATime(t *testing.T) {
	dir := t.TempDir()
	writeAgent(t, dir, "slow", `schedule = "*/10 * * * *"`)
	writeAgent(t, dir, "quick", `schedule = "*/10 * * * *"`)
	h := newHarness(t, dir, t0, ScheduleOptions{})
	release := make(chan struct{}, 2)
	h.block["slow"] = release
	h.start()

	h.set(at("10:10:00"), 1)
	if got := h.fired(); len(got) != 2 {
		t.Fatalf("runs %+v, want slow and quick", got)
	}
	// slow is still running at its next two due times: no second run,
	// while quick keeps its own schedule.
	for _, to := range []string{"10:20:00", "10:30:00", "10:35:00"} {
		h.set(at(to), 1)
		for _, f := range h.fired() {
			if f.agent == "slow" {
				t.Fatalf("at %s slow ran again while running: %+v", to, f)
			}
		}
	}
	release <- struct{}{}
	select {
	case f := <-h.runs:
		want := InputEvent{Type: "cron", ScheduledAt: at("10:30:00"), FiredAt: at("10:35:00"), Missed: 2}
		if f.agent != "slow" || f.in != want {
			t.Fatalf("after the long run: %+v, want slow %+v", f, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the due times the long run overlapped did not collapse into one run")
	}
	h.waitIdle(1)
	release <- struct{}{}
	h.waitIdle(0)
	if got := h.fired(); len(got) != 0 {
		t.Fatalf("a burst after the long run: %+v", got)
	}
}

func TestScheduleJitter(t *testing.T) {
	dir := t.TempDir()
	writeAgent(t, dir, "a", `schedule = "*/10 * * * *"`)
	writeAgent(t, dir, "tight", "schedule = \"*/10 * * * *\"\nmisfire_grace = \"4s\"")
	r := &fixedRand{d: 3 * time.Second}
	h := newHarness(t, dir, t0, ScheduleOptions{Rand: r, Jitter: 5 * time.Second, Reload: time.Hour})
	h.start()
	// a draws 3s of at most 5s; tight's is capped at half its grace (2s),
	// so its draw is 2s-1ns and it wakes the loop first.
	if wake, want := h.wake0, at("10:10:02").Add(-1); !wake.Equal(want) {
		t.Errorf("first wake %v, want %v", wake, want)
	}
	r.mu.Lock()
	bounds := r.bounds
	r.mu.Unlock()
	if len(bounds) != 2 || bounds[0] != int64(5*time.Second) || bounds[1] != int64(2*time.Second) {
		t.Errorf("jitter bounds %v, want [5s 2s]", bounds)
	}
	h.set(at("10:10:00"), 0)
	if got := h.fired(); len(got) != 0 {
		t.Fatalf("ran before its jitter: %+v", got)
	}
	h.set(at("10:10:02"), 0)
	if got := h.fired(); len(got) != 1 || got[0].agent != "tight" || got[0].in.Missed != 0 {
		t.Fatalf("runs %+v, want tight on time", got)
	}
	h.set(at("10:10:03"), 0)
	if got := h.fired(); len(got) != 1 || got[0].agent != "a" || got[0].in.Missed != 0 || !got[0].in.FiredAt.Equal(at("10:10:03")) {
		t.Fatalf("runs %+v, want a on time at 10:10:03", got)
	}

	// The machine's source stays within the bound.
	s := &Scheduler{rand: realRand{}, jitter: 5 * time.Second, jit: map[string]jitterFor{}}
	for i := range 200 {
		d := s.jitterOf(fmt.Sprint(i), t0, time.Minute)
		if d < 0 || d >= 5*time.Second {
			t.Fatalf("jitter %v outside [0, 5s)", d)
		}
	}
	s.jitter = -1
	if d := s.jitterOf("x", t0, time.Minute); d != 0 {
		t.Errorf("jitter off: %v", d)
	}
}

func TestScheduleSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	writeAgent(t, dir, "a", `schedule = "*/10 * * * *"`)
	h := newHarness(t, dir, t0, ScheduleOptions{}).start()
	h.set(at("10:10:00"), 0)
	if len(h.fired()) != 1 {
		t.Fatal("no run at 10:10")
	}
	h.stop()

	// Restarted in the same minute: 10:10 is done, not run again.
	h2 := newHarness(t, dir, at("10:10:40"), ScheduleOptions{}).start()
	if got := h2.fired(); len(got) != 0 {
		t.Fatalf("restart re-ran: %+v", got)
	}
	st := h2.state("a")
	if !st.Last.Equal(at("10:10:00")) || st.LastRun == nil || st.LastRun.Status != StatusDone {
		t.Fatalf("state after restart %+v", st)
	}
	h2.stop()

	// Restarted after the machine slept: the state says what was missed.
	h3 := newHarness(t, dir, at("10:48:00"), ScheduleOptions{}).start()
	if got := h3.fired(); len(got) != 1 || got[0].in.Missed != 3 || !got[0].in.ScheduledAt.Equal(at("10:40:00")) {
		t.Fatalf("after a sleep across restarts: %+v, want one run with missed 3", got)
	}
}

func TestScheduleDisabledAndChanged(t *testing.T) {
	dir := t.TempDir()
	writeAgent(t, dir, "a", "schedule = \"*/10 * * * *\"\ndisabled = true")
	h := newHarness(t, dir, t0, ScheduleOptions{}).start()
	h.set(at("10:10:00"), 0)
	h.set(at("10:48:00"), 0)
	if got := h.fired(); len(got) != 0 {
		t.Fatalf("a disabled agent ran: %+v", got)
	}
	// Enabled: the disabled stretch is not caught up; the next due time runs.
	writeAgent(t, dir, "a", `schedule = "*/10 * * * *"`)
	h.set(at("10:49:00"), 0)
	if got := h.fired(); len(got) != 0 {
		t.Fatalf("enabling caught up the disabled stretch: %+v", got)
	}
	h.set(at("10:50:00"), 0)
	if got := h.fired(); len(got) != 1 || got[0].in.Missed != 0 {
		t.Fatalf("runs %+v, want one on time", got)
	}
	// A changed schedule counts from when it was seen.
	writeAgent(t, dir, "a", `schedule = "5 * * * *"`)
	h.set(at("10:51:00"), 0)
	h.set(at("11:05:00"), 0)
	if got := h.fired(); len(got) != 1 || !got[0].in.ScheduledAt.Equal(at("11:05:00")) || got[0].in.Missed != 0 {
		t.Fatalf("runs %+v, want one at 11:05", got)
	}
}

func TestScheduleBrokenFileAndPanic(t *testing.T) {
	dir := t.TempDir()
	writeAgent(t, dir, "a", `schedule = "*/10 * * * *"`)
	if err := os.WriteFile(filepath.Join(dir, "bad.toml"), []byte("schedule = \"every tuesday\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, dir, t0, ScheduleOptions{})
	h.start()
	h.set(at("10:10:00"), 0)
	var bad int
	for len(h.notices) > 0 {
		if n := <-h.notices; n.Kind == NoticeError && n.Agent == "bad" {
			bad++
			if !strings.Contains(n.Err.Error(), "schedule") {
				t.Errorf("bad file reported as %v", n.Err)
			}
		}
	}
	if bad != 1 {
		t.Errorf("the broken file was reported %d times, want once", bad)
	}
	if got := h.fired(); len(got) != 1 || got[0].agent != "a" {
		t.Fatalf("a broken file stopped the others: %+v", got)
	}
	h.stop()

	// A run that panics is recorded as an error; the scheduler goes on.
	h2 := newHarness(t, dir, at("10:19:00"), ScheduleOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- h2.s.Run(ctx, func(context.Context, *Agent, InputEvent) Outcome { panic("boom") })
	}()
	h2.waitIdle(0)
	h2.set(at("10:20:00"), 0)
	st := h2.state("a")
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if st.LastRun == nil || st.LastRun.Status != StatusError || !strings.Contains(st.LastRun.Error, "boom") {
		t.Fatalf("a panicking run recorded as %+v", st.LastRun)
	}
}

func TestScheduleStopInterruptsRuns(t *testing.T) {
	dir := t.TempDir()
	writeAgent(t, dir, "a", `schedule = "*/10 * * * *"`)
	h := newHarness(t, dir, t0, ScheduleOptions{})
	h.block["a"] = make(chan struct{})
	h.start()
	h.set(at("10:10:00"), 1)
	h.cancel()
	if err := <-h.errc; err != nil {
		t.Fatal(err)
	}
	h.cancel = nil
	if st := h.state("a"); st.Running != nil || st.LastRun == nil || st.LastRun.Status != StatusInterrupted {
		t.Fatalf("a run stopped with the daemon recorded as %+v", st)
	}
}

// A daemon killed mid-run (simulated: the started record without its
// finish): the run is marked interrupted on restart and not run again.
func TestScheduleCrashMarksInterrupted(t *testing.T) {
	dir := t.TempDir()
	writeAgent(t, dir, "a", `schedule = "*/10 * * * *"`)
	in := InputEvent{Type: "cron", ScheduledAt: at("10:10:00"), FiredAt: at("10:10:00")}
	db, err := bolt.Open(filepath.Join(dir, ScheduleDB), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSchedule)
		if err != nil {
			return err
		}
		return b.Put([]byte("a"), []byte(`{"schedule":"*/10 * * * *","last":"2026-12-06T10:10:00Z","running":{"input":{"type":"cron","scheduled_at":"2026-12-06T10:10:00Z","fired_at":"2026-12-06T10:10:00Z"}}}`))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, dir, in)
}

func checkRecovered(t *testing.T, dir string, in InputEvent) {
	t.Helper()
	h := newHarness(t, dir, at("10:12:00"), ScheduleOptions{})
	st := h.state("a")
	if st.Running != nil || st.LastRun == nil || st.LastRun.Status != StatusInterrupted || st.LastRun.Input != in {
		t.Fatalf("after the crash: %+v (last run %+v)", st, st.LastRun)
	}
	h.start()
	n := <-h.notices
	if n.Kind != NoticeInterrupted || n.Agent != "a" || *n.Input != in || !errors.Is(n.Err, ErrRunInterrupted) {
		t.Errorf("first notice %+v, want the interrupted run", n)
	}
	if got := h.fired(); len(got) != 0 {
		t.Fatalf("the interrupted run was run again: %+v", got)
	}
	h.set(at("10:20:00"), 0)
	if got := h.fired(); len(got) != 1 || !got[0].in.ScheduledAt.Equal(at("10:20:00")) || got[0].in.Missed != 0 {
		t.Fatalf("runs %+v, want the next due time only", got)
	}
	h.stop()
	// Marked once: a second restart finds nothing to recover.
	h2 := newHarness(t, dir, at("10:21:00"), ScheduleOptions{})
	if len(h2.s.recovered) != 0 {
		t.Errorf("recovered again: %+v", h2.s.recovered)
	}
}

func TestScheduleTwoDaemons(t *testing.T) {
	dir := t.TempDir()
	first, err := OpenScheduler(&Store{Dir: dir}, ScheduleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenScheduler(&Store{Dir: dir}, ScheduleOptions{})
	var de *DaemonRunningError
	if !errors.As(err, &de) || !errors.Is(err, ErrDaemonRunning) || de.PID != os.Getpid() ||
		!strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second scheduler: %v, want one naming pid %d", err, os.Getpid())
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := OpenScheduler(&Store{Dir: dir}, ScheduleOptions{})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	second.Close()
}

const childEnv = "SOV_TEST_SCHEDULE_CHILD"

// A real daemon process killed with SIGKILL mid-run: a second daemon is
// refused naming it while it lives; after the kill the run is marked
// interrupted and not run again.
func TestScheduleKill9(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		scheduleChild(dir)
		return
	}
	dir := t.TempDir()
	writeAgent(t, dir, "a", `schedule = "*/10 * * * *"`)
	// The schedule is first seen at 10:05, so the child (at 10:10) runs it.
	h := newHarness(t, dir, t0, ScheduleOptions{}).start()
	h.stop()

	cmd := exec.Command(os.Args[0], "-test.run=^TestScheduleKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck // already dead when the test passes
	started := filepath.Join(dir, "started")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child daemon did not start its run")
		}
	}
	_, err := OpenScheduler(&Store{Dir: dir}, ScheduleOptions{})
	var de *DaemonRunningError
	if !errors.As(err, &de) || de.PID != cmd.Process.Pid {
		t.Fatalf("while the child runs: %v, want one naming pid %d", err, cmd.Process.Pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() //nolint:errcheck // killed
	checkRecovered(t, dir, InputEvent{Type: "cron", ScheduledAt: at("10:10:00"), FiredAt: at("10:10:00")})
}

// scheduleChild is the daemon TestScheduleKill9 kills: at 10:10 it starts
// the run, says so, and hangs in it.
func scheduleChild(dir string) {
	s, err := OpenScheduler(&Store{Dir: dir}, ScheduleOptions{Clock: &fakeClock{now: at("10:10:00")}, Jitter: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s.Run(context.Background(), func(context.Context, *Agent, InputEvent) Outcome { //nolint:errcheck // killed
		os.WriteFile(filepath.Join(dir, "started"), nil, 0o600) //nolint:errcheck // the parent times out
		time.Sleep(time.Hour)                                   // until killed (a select{} would be a deadlock)
		return Outcome{}
	})
}
