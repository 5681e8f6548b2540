package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/robfig/cron/v3"
	bolt "go.etcd.io/bbolt"

	"github.com/sovos/sov/internal/boltfile"
)

// Files of the scheduler, in the agents folder beside the agent files.
const (
	ScheduleDB   = "schedule.db"   // each agent's last due time and runs
	ScheduleLock = "schedule.lock" // held by the running scheduler, with its pid
)

// Defaults of a Scheduler.
const (
	// DefaultJitter bounds the random delay added to each due time, so
	// agents on the same schedule do not all start in the same second. It
	// is capped at half an agent's misfire grace, so a jittered run is
	// still on time.
	DefaultJitter = 5 * time.Second
	// DefaultReload is how often the agent files are read again (edits,
	// new agents) when nothing is due sooner. It also bounds each sleep,
	// so a machine that wakes from suspend catches up within it.
	DefaultReload = time.Minute
)

// RunFunc runs one scheduled run; the daemon wires it to Run. It should
// return when ctx is cancelled.
type RunFunc func(ctx context.Context, a *Agent, in InputEvent) Outcome

// ScheduleOptions configure a Scheduler; the zero value is the daemon's.
type ScheduleOptions struct {
	Clock  Clock         // nil: the machine's clock
	Rand   Rand          // nil: math/rand/v2
	Jitter time.Duration // 0: DefaultJitter; negative: none
	Reload time.Duration // 0: DefaultReload
	// Notify hears what the scheduler does (from its goroutine; it must
	// not block for long). nil: nothing is reported.
	Notify func(Notice)
}

// RunRecord is one scheduled run as the scheduler's database keeps it.
type RunRecord struct {
	Input      InputEvent `json:"input"`
	Run        string     `json:"run,omitempty"` // the run's ID (Outcome.Run)
	FinishedAt time.Time  `json:"finished_at,omitzero"`
	Status     Status     `json:"status,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// ScheduleState is what the scheduler keeps of one agent.
type ScheduleState struct {
	// Schedule is the cron expression the state is for: a changed
	// schedule starts counting due times afresh from when it was seen.
	Schedule string `json:"schedule"`
	// Last is the last due time dealt with (run or skipped), or when the
	// scheduler first saw the schedule; due times after it are pending.
	// A wall clock set back waits for it again rather than re-running.
	Last time.Time `json:"last"`
	// Running is the run started and not yet finished. Found when the
	// scheduler opens, it is a run the last daemon died in (kill -9, a
	// crash, power): it becomes LastRun, interrupted, and is not run again.
	Running *RunRecord `json:"running,omitempty"`
	LastRun *RunRecord `json:"last_run,omitempty"`
	// Skipped counts due times dropped by catch_up = "skip".
	Skipped int `json:"skipped,omitempty"`
}

// NoticeKind says what a Notice reports.
type NoticeKind string

const (
	NoticeFire        NoticeKind = "fire"        // a run starts (Input)
	NoticeDone        NoticeKind = "done"        // a run ended (Input, Outcome)
	NoticeSkip        NoticeKind = "skip"        // late due times dropped (Skipped)
	NoticeInterrupted NoticeKind = "interrupted" // a run the last daemon died in (Input)
	NoticeError       NoticeKind = "error"       // a broken agent file, a failed write (Err)
)

// Notice is one thing the scheduler did or found.
type Notice struct {
	Time    time.Time
	Kind    NoticeKind
	Agent   string
	Input   *InputEvent
	Outcome *Outcome
	Skipped int
	Err     error
}

// ErrRunInterrupted is the Error recorded for a run the daemon died in.
var ErrRunInterrupted = errors.New("the scheduler stopped during the run (killed or crashed); it is not run again")

// Scheduler starts agents when their schedules say: one run at a time per
// agent, runs missed while the machine slept collapsed into one catch-up
// run (or none), never a burst. Due times persist in ScheduleDB; only one
// Scheduler may hold an agents folder.
type Scheduler struct {
	store  *Store
	db     *bolt.DB
	lock   *os.File
	clock  Clock
	rand   Rand
	jitter time.Duration
	reload time.Duration
	notify func(Notice)

	// Owned by Run's goroutine.
	states    map[string]*ScheduleState
	running   map[string]bool
	jit       map[string]jitterFor
	reported  map[string]string // the error last reported per agent, said once
	recovered []Notice

	onWait func(inflight int, wake time.Time) // tests: the loop is about to sleep
}

type jitterFor struct {
	due time.Time
	d   time.Duration
}

type finished struct {
	agent string
	out   Outcome
}

var bucketSchedule = []byte("schedule")

// OpenScheduler opens the scheduler of store's agents (store.Dir holds its
// database and lock). A second scheduler on the same folder, in any
// process, is refused with a *DaemonRunningError naming the first. A run
// the last scheduler died in is marked interrupted (reported when Run
// starts) and not run again: a payment it may have made is not repeated.
func OpenScheduler(store *Store, opt ScheduleOptions) (*Scheduler, error) {
	if err := os.MkdirAll(store.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", store.Dir, err)
	}
	lock, err := daemonLock(filepath.Join(store.Dir, ScheduleLock))
	if err != nil {
		return nil, err
	}
	s := &Scheduler{store: store, lock: lock, clock: opt.Clock, rand: opt.Rand, jitter: opt.Jitter, reload: opt.Reload,
		notify: opt.Notify, states: map[string]*ScheduleState{}, running: map[string]bool{},
		jit: map[string]jitterFor{}, reported: map[string]string{}}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.rand == nil {
		s.rand = realRand{}
	}
	if s.jitter == 0 {
		s.jitter = DefaultJitter
	}
	if s.reload <= 0 {
		s.reload = DefaultReload
	}
	if err := s.open(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Scheduler) open() error {
	path := filepath.Join(s.store.Dir, ScheduleDB)
	if err := boltfile.Check(path); err != nil {
		return err // a truncated file would fault inside bbolt's mmap
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("open the scheduler's database %s: %w", path, err)
	}
	s.db = db
	now := s.clock.Now()
	return db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSchedule)
		if err != nil {
			return fmt.Errorf("init %s: %w", path, err)
		}
		return b.ForEach(func(k, v []byte) error {
			st := new(ScheduleState)
			if err := json.Unmarshal(v, st); err != nil {
				return fmt.Errorf("%s: agent %q's state: %w", path, k, err)
			}
			name := string(k)
			s.states[name] = st
			if r := st.Running; r != nil {
				r.Status, r.Error, r.FinishedAt = StatusInterrupted, ErrRunInterrupted.Error(), now
				st.LastRun, st.Running = r, nil
				data, err := json.Marshal(st)
				if err != nil {
					return err
				}
				if err := b.Put(k, data); err != nil {
					return fmt.Errorf("mark agent %q's run interrupted: %w", name, err)
				}
				in := r.Input
				s.recovered = append(s.recovered, Notice{Time: now, Kind: NoticeInterrupted, Agent: name, Input: &in, Err: ErrRunInterrupted})
			}
			return nil
		})
	})
}

// Close releases the database and the lock; call it after Run returns.
func (s *Scheduler) Close() error {
	var err error
	if s.db != nil {
		err = s.db.Close()
	}
	if s.lock != nil {
		s.lock.Truncate(0) //nolint:errcheck // the pid is a courtesy; the flock is the lock
		if cerr := s.lock.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// States is a copy of what the scheduler keeps, by agent. Not safe while
// Run is running.
func (s *Scheduler) States() map[string]ScheduleState {
	out := make(map[string]ScheduleState, len(s.states))
	for k, v := range s.states {
		out[k] = *v
	}
	return out
}

// Run schedules until ctx is cancelled, handing each due run to fn (in a
// goroutine of its own; different agents may run at once). On
// cancellation it waits for the runs in flight, whose ctx is cancelled
// too, records how they ended, and returns nil.
func (s *Scheduler) Run(ctx context.Context, fn RunFunc) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, n := range s.recovered {
		s.emit(n)
	}
	s.recovered = nil
	done := make(chan finished)
	inflight := 0
	for {
		if ctx.Err() != nil {
			break
		}
		wake := s.step(ctx, fn, done, &inflight)
		timer := s.clock.After(max(wake.Sub(s.clock.Now()), 0))
		if s.onWait != nil {
			s.onWait(inflight, wake)
		}
		select {
		case <-ctx.Done():
		case f := <-done:
			inflight--
			s.finish(f)
		case <-timer:
		}
	}
	for ; inflight > 0; inflight-- {
		s.finish(<-done)
	}
	return nil
}

// step starts what is due now and returns when to look again.
func (s *Scheduler) step(ctx context.Context, fn RunFunc, done chan<- finished, inflight *int) time.Time {
	now := s.clock.Now()
	wake := now.Add(s.reload)
	entries, err := s.store.List()
	if err != nil {
		s.reportOnce("", err)
		return wake
	}
	for _, e := range entries {
		if e.Err != nil {
			s.reportOnce(e.Name, e.Err)
			continue
		}
		delete(s.reported, e.Name)
		if e.Agent.Schedule == "" || s.running[e.Name] {
			continue // one run at a time: what falls due meanwhile collapses
		}
		if t := s.agentStep(ctx, e.Agent, now, fn, done, inflight); !t.IsZero() && t.Before(wake) {
			wake = t
		}
	}
	return wake
}

// agentStep deals with one idle agent at now: starts its run if one is
// due, drops late due times it skips, and returns when it is next due
// (zero: not before the next reload).
func (s *Scheduler) agentStep(ctx context.Context, a *Agent, now time.Time, fn RunFunc, done chan<- finished, inflight *int) time.Time {
	sched, err := cron.ParseStandard(a.Schedule)
	if err != nil { // Load refuses these; a Store without it may not
		s.reportOnce(a.Name, fmt.Errorf("agent %q: schedule %q: %w", a.Name, a.Schedule, err))
		return time.Time{}
	}
	st := s.states[a.Name]
	if st == nil || st.Schedule != a.Schedule {
		// A new or changed schedule counts from now: no catch-up for
		// times before the daemon knew of it.
		ns := &ScheduleState{Schedule: a.Schedule, Last: now}
		if st != nil {
			ns.LastRun, ns.Skipped = st.LastRun, st.Skipped
		}
		if !s.put(a.Name, ns) {
			return time.Time{}
		}
		s.states[a.Name], st = ns, ns
	}
	first := sched.Next(st.Last)
	if first.IsZero() {
		return time.Time{} // a date that never comes
	}
	if a.Disabled {
		// Due times pass unrun, and enabling the agent does not
		// catch them up.
		if !first.After(now) {
			st.Last = now
			s.put(a.Name, st)
		}
		return time.Time{}
	}
	grace := a.MisfireGrace
	if grace <= 0 {
		grace = DefaultMisfireGrace
	}
	if fireAt := first.Add(s.jitterOf(a.Name, first, grace)); now.Before(fireAt) {
		return fireAt
	}
	n, latest := dueTimes(sched, st.Last, now)
	onTime := now.Sub(latest) <= grace
	missed := n
	if onTime {
		missed = n - 1
	}
	if a.CatchUp == "skip" && missed > 0 {
		st.Skipped += missed
		s.emit(Notice{Kind: NoticeSkip, Agent: a.Name, Skipped: missed})
		missed = 0
		if !onTime {
			st.Last = latest
			s.put(a.Name, st)
			next := sched.Next(latest)
			if next.IsZero() {
				return next
			}
			return next.Add(s.jitterOf(a.Name, next, grace))
		}
	}
	in := InputEvent{Type: "cron", ScheduledAt: latest, FiredAt: now, Missed: missed}
	// Recorded as started before it starts: a daemon that dies during the
	// run finds it on restart and does not run it again.
	prev := *st
	st.Last, st.Running = latest, &RunRecord{Input: in}
	if !s.put(a.Name, st) {
		*st = prev
		return time.Time{}
	}
	s.running[a.Name] = true
	*inflight++
	s.emit(Notice{Kind: NoticeFire, Agent: a.Name, Input: &in})
	go func() { done <- finished{a.Name, safeRun(ctx, fn, a, in)} }()
	return time.Time{}
}

// safeRun runs fn; a panic ends the run as an error instead of the daemon.
func safeRun(ctx context.Context, fn RunFunc, a *Agent, in InputEvent) (out Outcome) {
	defer func() {
		if r := recover(); r != nil {
			out = Outcome{Status: StatusError, Err: fmt.Errorf("the run panicked: %v", r)}
		}
	}()
	return fn(ctx, a, in)
}

// finish records how a run ended.
func (s *Scheduler) finish(f finished) {
	delete(s.running, f.agent)
	st := s.states[f.agent]
	r := st.Running
	if r == nil {
		r = &RunRecord{}
	}
	r.Run, r.Status, r.FinishedAt = f.out.Run, f.out.Status, s.clock.Now()
	if f.out.Err != nil {
		r.Error = f.out.Err.Error()
	}
	st.LastRun, st.Running = r, nil
	s.put(f.agent, st)
	in, out := r.Input, f.out
	s.emit(Notice{Kind: NoticeDone, Agent: f.agent, Input: &in, Outcome: &out})
}

// maxCatchUp bounds how far back due times are counted, so a schedule
// of every minute over years asleep is not millions of steps.
const maxCatchUp = 366 * 24 * time.Hour

// dueTimes counts the due times after last up to now and returns the
// latest of them.
func dueTimes(sched cron.Schedule, last, now time.Time) (n int, latest time.Time) {
	if floor := now.Add(-maxCatchUp); last.Before(floor) {
		last = floor
	}
	for t := sched.Next(last); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		n, latest = n+1, t
	}
	return n, latest
}

// jitterOf is agent's random delay for due time due, drawn once per due
// time, below half the grace so a jittered run is still on time.
func (s *Scheduler) jitterOf(agent string, due time.Time, grace time.Duration) time.Duration {
	j := min(s.jitter, grace/2)
	if j <= 0 {
		return 0
	}
	if c, ok := s.jit[agent]; ok && c.due.Equal(due) {
		return c.d
	}
	d := time.Duration(s.rand.Int64N(int64(j)))
	s.jit[agent] = jitterFor{due, d}
	return d
}

// put writes agent's state; a failure is reported and returns false.
func (s *Scheduler) put(agent string, st *ScheduleState) bool {
	err := s.db.Update(func(tx *bolt.Tx) error {
		data, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketSchedule).Put([]byte(agent), data)
	})
	if err != nil {
		s.emit(Notice{Kind: NoticeError, Agent: agent, Err: fmt.Errorf("record agent %q's schedule: %w", agent, err)})
		return false
	}
	return true
}

// reportOnce reports err for agent unless it was the last thing said.
func (s *Scheduler) reportOnce(agent string, err error) {
	if s.reported[agent] == err.Error() {
		return
	}
	s.reported[agent] = err.Error()
	s.emit(Notice{Kind: NoticeError, Agent: agent, Err: err})
}

func (s *Scheduler) emit(n Notice) {
	if s.notify == nil {
		return
	}
	if n.Time.IsZero() {
		n.Time = s.clock.Now()
	}
	s.notify(n)
}
