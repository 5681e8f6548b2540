// Package roles is `sov build`: a request becomes tested code through a
// product manager (the PRD and acceptance cases), the user's review, an
// architect (the design and the tasks), a developer (the code, one task at
// a time, repaired against the task's cases) and a tester (every case run
// in the sandbox), ending in a report. Every artifact and the state live
// in the build folder, written atomically, so a build killed at any moment
// resumes from its last completed step.
package roles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sovos/sov/agents"
	"github.com/sovos/sov/agents/roles/coder"
	"github.com/sovos/sov/agents/sandbox"
	"github.com/sovos/sov/assets"
	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/internal/ledger"
)

// Model is what a role runs on: tool calls for the planning roles, chat
// for the developer. *model.Session implements it.
type Model interface {
	agents.Caller
	coder.Generator
}

// Config is one build.
type Config struct {
	Dir string
	// Request is what to build; with Resume it comes from the folder.
	Request string
	Lang    Lang
	Resume  bool
	// Model gives a role its model (a session of its own) and a release.
	Model     func(role string) (Model, func(), error)
	ModelPath string // recorded with each model call in the ledger
	Ledger    *ledger.Ledger
	Signer    *ledger.Signer
	// Transcripts keeps the planning roles' conversations (the build's
	// .sov/transcripts); nil: not kept.
	Transcripts *conversation.Store
	Events      func(Event)
	// Review shows the PRD and acceptance cases to the user, who may edit
	// the files; true approves. nil: headless, and Approve must be set.
	Review  func(ctx context.Context, d ReviewDocs) (bool, error)
	Approve bool
	// Ask puts the PM's question to the user; nil: headless, and the build
	// stops with the question in the report.
	Ask func(ctx context.Context, question string) (string, error)
	// Repair is the repair rounds per task after a failing first attempt.
	Repair int
	// Unsafe runs tests on the host where the sandbox is unavailable.
	Unsafe bool
	// SandboxCheck says whether this host can sandbox (nil: sandbox.Check;
	// tests stand in for a host that cannot).
	SandboxCheck func() error
	MaxTokens    int           // per model reply (0: DefaultMaxTokens)
	RoleWall     time.Duration // per planning role (0: 10 minutes)
	TestWall     time.Duration // per test run (0: DefaultTestWall)
	// AfterStep is called once a step is durable on disk (tests kill the
	// process there).
	AfterStep func(step string)
}

// Defaults.
const (
	DefaultMaxTokens = 512
	DefaultTestWall  = 2 * time.Minute
	DefaultRepair    = 3
)

// ReviewDocs are the files the user reviews.
type ReviewDocs struct {
	PRD, Acceptance string // paths
	Text            string // the PRD as markdown
}

// Event is one line of a build's progress.
type Event struct {
	Type    string `json:"type"` // step, model_call, refused, test
	Step    string `json:"step,omitempty"`
	Status  string `json:"status,omitempty"` // start, done, skipped, redo
	Role    string `json:"role,omitempty"`
	Tokens  int    `json:"tokens,omitempty"`
	Closed  bool   `json:"closed,omitempty"`
	Message string `json:"message,omitempty"`
}

// Line is the event as a progress line ("" for events not shown).
func (e Event) Line() string {
	switch e.Type {
	case "step":
		if e.Message != "" {
			return fmt.Sprintf("%s: %s (%s)", e.Step, e.Status, e.Message)
		}
		return fmt.Sprintf("%s: %s", e.Step, e.Status)
	case "model_call":
		if e.Message != "" {
			return fmt.Sprintf("  %s: %s", e.Role, e.Message)
		} else if e.Closed {
			return fmt.Sprintf("  %s: a reply reached its token cap and was closed short", e.Role)
		}
	case "refused":
		return "  refused: " + e.Message
	case "test":
		return "  tests: " + e.Message
	}
	return ""
}

// Errors a build ends with besides the engine's and the host's.
var (
	// ErrNeedsReview: headless, and the PRD is not approved (the artifacts
	// are on disk).
	ErrNeedsReview = errors.New("the PRD and acceptance tests need the user's approval")
	// ErrStopped: the user stopped the build at the review.
	ErrStopped = errors.New("stopped at the review")
	// ErrNeedsAnswer: the PM could not write a spec and asks a question
	// (in the report).
	ErrNeedsAnswer = errors.New("the product manager needs an answer before writing the spec")
	// ErrIsABuild: a new build was started in a folder that holds one.
	ErrIsABuild = errors.New("the folder already holds a build")
	// ErrNoRequest: a new build without a request.
	ErrNoRequest = errors.New("nothing to build: the request is empty")
)

// Paths of the artifacts, relative to the build folder.
const (
	PRDFile        = "docs/prd.md"
	AcceptanceFile = "docs/acceptance.json"
	DesignFile     = "docs/design.md"
	TasksFile      = "docs/tasks.json"
	ReportFile     = ".sov/report.json"
	pmFile         = ".sov/pm.json"
	architectFile  = ".sov/architect.json"
	logFile        = ".sov/log.jsonl"
)

type builder struct {
	cfg    Config
	st     *State
	run    *runner
	report *Report
}

// Build runs (or, with cfg.Resume, continues) a build. The report is
// returned and written to .sov/report.json whenever the build got as far
// as having a state, also when it stops early with an error.
func Build(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.RoleWall <= 0 {
		cfg.RoleWall = 10 * time.Minute
	}
	if cfg.TestWall <= 0 {
		cfg.TestWall = DefaultTestWall
	}
	if cfg.Repair < 0 {
		cfg.Repair = 0
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	b := &builder{cfg: cfg}
	if cfg.Resume {
		if b.st, err = LoadState(dir); err != nil {
			return nil, err
		}
		b.cfg.Lang = b.st.Lang
	} else {
		if strings.TrimSpace(cfg.Request) == "" {
			return nil, ErrNoRequest
		}
		// A build that never finished a step (its PM asked a question)
		// may be started again with a new request; any other is resumed.
		if old, err := LoadState(dir); err == nil && len(old.Steps) > 0 {
			return nil, fmt.Errorf("%s: %w", dir, ErrIsABuild)
		}
		if cfg.Lang == "" {
			b.cfg.Lang = Python
		}
		b.st = &State{Version: stateVersion, Request: strings.TrimSpace(cfg.Request), Lang: b.cfg.Lang, Created: time.Now().UTC()}
	}
	// The sandbox and the toolchain are checked before any model call:
	// a build that cannot test its code says so at once.
	check := cfg.SandboxCheck
	if check == nil {
		check = sandbox.Check
	}
	if b.run, err = newRunner(ctx, dir, b.cfg.Lang, cfg.Unsafe, check, cfg.TestWall); err != nil {
		return nil, err
	}
	b.run.refused = b.refused
	if err := os.MkdirAll(filepath.Join(dir, ".sov"), 0o700); err != nil {
		return nil, err
	}
	if !cfg.Resume {
		if err := b.st.save(dir); err != nil {
			return nil, err
		}
	}
	b.report = &Report{Dir: dir, Request: b.st.Request, Lang: b.cfg.Lang, Sandboxed: !cfg.Unsafe, Started: time.Now().UTC()}
	err = b.steps(ctx)
	b.finish(err)
	return b.report, err
}

func (b *builder) emit(e Event) {
	if b.cfg.Events != nil {
		b.cfg.Events(e)
	}
}

// logLine appends one JSON line to .sov/log.jsonl (refusals, redone steps).
func (b *builder) logLine(v map[string]any) {
	v["time"] = time.Now().UTC()
	line, _ := json.Marshal(v)
	f, err := os.OpenFile(filepath.Join(b.cfg.Dir, logFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}

func (b *builder) refused(path string, err error) {
	b.report.Refused = append(b.report.Refused, Refusal{Path: path, Reason: err.Error()})
	b.logLine(map[string]any{"event": "refused", "path": path, "reason": err.Error()})
	b.emit(Event{Type: "refused", Message: err.Error()})
}

// complete records step name as done with outputs (paths in the build
// folder), durably, and then calls AfterStep.
func (b *builder) complete(name string, u Usage, outputs ...string) error {
	st := Step{Name: name, Done: time.Now().UTC(), Outputs: map[string]string{}, Tokens: u.Tokens, Calls: u.Calls, Wall: u.Wall}
	for _, p := range outputs {
		h, err := fileHash(filepath.Join(b.cfg.Dir, p))
		if err != nil {
			return err
		}
		st.Outputs[p] = h
	}
	b.st.Steps = append(b.st.Steps, st)
	if err := b.st.save(b.cfg.Dir); err != nil {
		return err
	}
	b.report.Steps = append(b.report.Steps, StepLine{Name: name, Status: "done"})
	b.emit(Event{Type: "step", Step: name, Status: "done", Tokens: u.Tokens})
	if b.cfg.AfterStep != nil {
		b.cfg.AfterStep(name)
	}
	return nil
}

// skip reports whether step name is done and valid, saying so.
func (b *builder) skip(name string) bool {
	if b.st.done(name) == nil {
		b.emit(Event{Type: "step", Step: name, Status: "start"})
		return false
	}
	b.report.Steps = append(b.report.Steps, StepLine{Name: name, Status: "skipped"})
	// What the step cost when it ran counts toward the build.
	if s := b.st.done(name); s.Tokens > 0 || s.Wall > 0 {
		b.report.addUsage(Usage{Role: roleOf(name), Tokens: s.Tokens, Calls: s.Calls, Wall: s.Wall})
	}
	b.emit(Event{Type: "step", Step: name, Status: "skipped"})
	return true
}

func (b *builder) write(rel string, data []byte) error {
	return writeAtomic(filepath.Join(b.cfg.Dir, rel), data)
}

func (b *builder) steps(ctx context.Context) error {
	if dropped := b.st.valid(b.cfg.Dir); len(dropped) > 0 {
		b.logLine(map[string]any{"event": "redo", "steps": dropped})
		for _, s := range dropped {
			b.emit(Event{Type: "step", Step: s, Status: "redo", Message: "an artifact it depends on changed or is gone"})
		}
		if err := b.st.save(b.cfg.Dir); err != nil {
			return err
		}
	}
	if !b.skip("pm") {
		if err := b.productManager(ctx); err != nil {
			return err
		}
	}
	if !b.skip("review") {
		if err := b.review(ctx); err != nil {
			return err
		}
	}
	acc, err := b.acceptance()
	if err != nil {
		return err
	}
	if !b.skip("architect") {
		if err := b.architect(ctx, acc); err != nil {
			return err
		}
	}
	tasks, err := b.tasks()
	if err != nil {
		return err
	}
	b.run.module = moduleOf(tasks.Tasks)
	for _, t := range tasks.Tasks {
		if b.skip(fmt.Sprintf("develop:%d", t.ID)) {
			continue
		}
		if err := b.develop(ctx, t, tasks.Tasks, acc.Cases); err != nil {
			return err
		}
	}
	if b.skip("test") {
		return b.loadVerdicts()
	}
	return b.test(ctx, acc.Cases)
}

func (b *builder) productManager(ctx context.Context) error {
	request := b.st.Request
	for asked := 0; ; asked++ {
		var prd PRD
		r := &role{
			name: "pm", tool: "build.spec", desc: "Hand over the spec: PRD fields and acceptance tests.",
			prompt: strings.ReplaceAll(assets.Role("pm"), "{lang}", string(b.cfg.Lang)),
			schema: prdSchema, input: "The user's request:\n\n" + request,
			accept: func(raw json.RawMessage) error { return decodeStrict(raw, &prd, "the spec") },
		}
		raw, u, err := b.runRole(ctx, r)
		b.report.addUsage(u)
		if err != nil {
			return err
		}
		if err := decodeStrict(raw, &prd, "the spec"); err != nil {
			return err
		}
		prd.normalise()
		if prd.Question != "" && b.cfg.Ask != nil && asked < 2 {
			answer, err := b.cfg.Ask(ctx, prd.Question)
			if err != nil {
				return err
			}
			request += "\n\nThe product manager asked: " + prd.Question + "\nThe user answered: " + strings.TrimSpace(answer)
			continue
		}
		if err := b.writePM(&prd, request, raw); err != nil {
			return err
		}
		if prd.Question != "" {
			// Not recorded as done: the spec is not one until the
			// question is answered (a new request, or at a terminal).
			b.report.Question = prd.Question
			return ErrNeedsAnswer
		}
		if request != b.st.Request {
			b.st.Request = request
		}
		return b.complete("pm", b.report.usage("pm"), PRDFile, AcceptanceFile, pmFile)
	}
}

func (b *builder) writePM(prd *PRD, request string, raw json.RawMessage) error {
	acc, err := json.MarshalIndent(Acceptance{Lang: b.cfg.Lang, Cases: prd.Acceptance}, "", "  ")
	if err != nil {
		return err
	}
	if err := b.write(pmFile, raw); err != nil {
		return err
	}
	if err := b.write(AcceptanceFile, append(acc, '\n')); err != nil {
		return err
	}
	return b.write(PRDFile, []byte(prd.markdown(request)))
}

func (b *builder) review(ctx context.Context) error {
	if _, err := b.acceptance(); err != nil {
		return err
	}
	if !b.cfg.Approve {
		if b.cfg.Review == nil {
			return ErrNeedsReview
		}
		text, err := os.ReadFile(filepath.Join(b.cfg.Dir, PRDFile))
		if err != nil {
			return err
		}
		ok, err := b.cfg.Review(ctx, ReviewDocs{PRD: filepath.Join(b.cfg.Dir, PRDFile), Acceptance: filepath.Join(b.cfg.Dir, AcceptanceFile), Text: string(text)})
		if err != nil {
			return err
		}
		if !ok {
			return ErrStopped
		}
		if _, err := b.acceptance(); err != nil { // the user may have edited it
			return err
		}
	}
	// The approved files are the review's outputs: edits after it re-run
	// the architect and what follows, not the review.
	return b.complete("review", Usage{Role: "review"}, PRDFile, AcceptanceFile)
}

func (b *builder) acceptance() (*Acceptance, error) {
	raw, err := os.ReadFile(filepath.Join(b.cfg.Dir, AcceptanceFile))
	if err != nil {
		return nil, err
	}
	var a Acceptance
	if err := decodeStrict(raw, &a, AcceptanceFile); err != nil {
		return nil, err
	}
	if err := a.check(AcceptanceFile); err != nil {
		return nil, err
	}
	return &a, nil
}

func (b *builder) tasks() (*Tasks, error) {
	raw, err := os.ReadFile(filepath.Join(b.cfg.Dir, TasksFile))
	if err != nil {
		return nil, err
	}
	var t Tasks
	if err := decodeStrict(raw, &t, TasksFile); err != nil {
		return nil, err
	}
	if t.Lang != b.cfg.Lang {
		return nil, &InvalidError{TasksFile, fmt.Sprintf("written for %s, the build is %s", t.Lang, b.cfg.Lang)}
	}
	if err := t.check(TasksFile); err != nil {
		return nil, err
	}
	return &t, nil
}

func (b *builder) architect(ctx context.Context, acc *Acceptance) error {
	prd, err := os.ReadFile(filepath.Join(b.cfg.Dir, PRDFile))
	if err != nil {
		return err
	}
	var d Design
	r := &role{
		name: "architect", tool: "build.design", desc: "Hand over the design: an overview and the tasks in build order.",
		prompt: strings.NewReplacer("{lang}", string(b.cfg.Lang), "{example}", exampleFile(b.cfg.Lang)).Replace(assets.Role("architect")),
		schema: designSchema, input: "The spec (docs/prd.md):\n\n" + string(prd),
		accept: func(raw json.RawMessage) error { return decodeStrict(raw, &d, "the design") },
	}
	raw, u, err := b.runRole(ctx, r)
	b.report.addUsage(u)
	if err != nil {
		return err
	}
	if err := decodeStrict(raw, &d, "the design"); err != nil {
		return err
	}
	for _, t := range d.Tasks {
		if f := strings.TrimSpace(t.File); !filepath.IsLocal(f) || strings.ContainsAny(f, `/\`) {
			// A task's file is a plain name in the build folder; one
			// elsewhere is refused and the code goes to the folder.
			b.refused(f, fmt.Errorf("task %s: the file %q is outside the build folder or in a subfolder: refused, written as %s", t.Function, f, localFile(f, b.cfg.Lang)))
		}
	}
	d.normalise(b.cfg.Lang)
	d.Tasks = coverCases(d.Tasks, acc.Cases, b.cfg.Lang)
	tasks, err := json.MarshalIndent(Tasks{Lang: b.cfg.Lang, Tasks: d.Tasks}, "", "  ")
	if err != nil {
		return err
	}
	if err := b.write(architectFile, raw); err != nil {
		return err
	}
	if err := b.write(TasksFile, append(tasks, '\n')); err != nil {
		return err
	}
	if err := b.write(DesignFile, []byte(d.markdown(b.cfg.Lang))); err != nil {
		return err
	}
	return b.complete("architect", b.report.usage("architect"), DesignFile, TasksFile, architectFile)
}

// coverCases adds a task for every function the cases call that no task
// builds (in the first task's file), and drops duplicate functions.
func coverCases(ts []Task, cases []Case, lang Lang) []Task {
	seen := map[string]bool{}
	var out []Task
	for _, t := range ts {
		if !seen[t.Function] {
			seen[t.Function] = true
			out = append(out, t)
		}
	}
	file := localFile("solution", lang)
	if len(out) > 0 {
		file = out[0].File
	}
	for _, c := range cases {
		if !seen[c.Function] {
			seen[c.Function] = true
			out = append(out, Task{File: file, Function: c.Function, Signature: c.Function + "(" + c.Args + ")",
				Description: "called by the acceptance test " + c.Name})
		}
	}
	for i := range out {
		out[i].ID = i + 1
	}
	return out
}

// moduleOf maps a function to the Python module of its task's file.
func moduleOf(ts []Task) func(string) string {
	m := map[string]string{}
	for _, t := range ts {
		m[t.Function] = strings.TrimSuffix(t.File, ".py")
	}
	first := "solution"
	if len(ts) > 0 {
		first = strings.TrimSuffix(ts[0].File, ".py")
	}
	return func(fn string) string {
		if v, ok := m[fn]; ok {
			return v
		}
		return first
	}
}

// taskFile is where task t's code goes. Python: the task's file, which
// holds the code of every task before it in that file too. Go: a file of
// its own for every task after the first in a file (one package, so they
// see each other, and no file repeats imports).
func taskFile(t Task, all []Task) (file string, before []Task) {
	n := 0
	for _, o := range all {
		if o.ID >= t.ID {
			break
		}
		if o.File == t.File {
			n++
			before = append(before, o)
		}
	}
	if strings.HasSuffix(t.File, ".go") && n > 0 {
		return fmt.Sprintf("%s_%d.go", strings.TrimSuffix(t.File, ".go"), n+1), nil
	}
	return t.File, before
}

var goPackageClause = regexp.MustCompile(`(?m)^package\s+\w+`)

func (b *builder) develop(ctx context.Context, t Task, all []Task, cases []Case) error {
	file, before := taskFile(t, all)
	var mine []Case
	for _, c := range cases {
		if c.Function == t.Function {
			mine = append(mine, c)
		}
	}
	tests := ""
	if len(mine) > 0 {
		raw, _ := json.Marshal(mine)
		tests = string(raw)
	}
	var spec strings.Builder
	fmt.Fprintf(&spec, "Task %d of %d: the function %s, signature: %s\n", t.ID, len(all), t.Function, t.Signature)
	if t.Description != "" {
		fmt.Fprintf(&spec, "What it does: %s\n", t.Description)
	}
	for _, c := range mine {
		fmt.Fprintf(&spec, "It must pass: %s(%s) returns %s\n", c.Function, c.Args, c.Expect)
	}
	ct := coder.Task{Lang: string(b.cfg.Lang), File: file, Spec: spec.String(), EntryPoint: t.Function, Tests: tests}
	if b.cfg.Lang == Go {
		spec.WriteString("The file is in package main.\n")
		ct.Spec = spec.String()
	}
	// Python: the earlier tasks of this file stay in it, above this one.
	var prefix string
	if b.cfg.Lang == Python && len(before) > 0 {
		if old, err := os.ReadFile(filepath.Join(b.cfg.Dir, file)); err == nil {
			prefix = strings.TrimRight(string(old), "\n") + "\n\n"
		}
	}
	g, release, err := b.cfg.Model("developer")
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	res, err := coder.Solve(ctx, g, &taskRunner{r: b.run, prefix: prefix, lang: b.cfg.Lang}, ct, coder.Options{Repairs: b.cfg.Repair, Sampling: samplingFor(b.cfg.MaxTokens)})
	p, gen := res.Tokens()
	u := Usage{Role: "developer", Tokens: p + gen, Calls: len(res.Attempts), Wall: time.Since(start)}
	b.report.addUsage(u)
	b.emit(Event{Type: "model_call", Role: "developer", Tokens: u.Tokens, Message: fmt.Sprintf("task %d: %d attempts, passed %v", t.ID, len(res.Attempts), res.Passed())})
	if err != nil {
		return err
	}
	// The developer's transcript: every attempt, its code and its failure.
	raw, _ := json.MarshalIndent(struct {
		Task Task         `json:"task"`
		File string       `json:"file"`
		Res  coder.Result `json:"result"`
	}{t, file, res}, "", "  ")
	rec := fmt.Sprintf(".sov/developer/task-%d.json", t.ID)
	if err := b.write(rec, raw); err != nil {
		return err
	}
	outputs := []string{rec}
	if _, err := os.Stat(filepath.Join(b.cfg.Dir, file)); err == nil {
		outputs = append(outputs, file)
	}
	return b.complete(fmt.Sprintf("develop:%d", t.ID), u, outputs...)
}

// taskRunner is the developer's Runner: the code goes into the task's
// file (after the file's earlier tasks; Go: in package main), then the
// task's cases run.
type taskRunner struct {
	r      *runner
	prefix string
	lang   Lang
}

func (tr *taskRunner) Run(ctx context.Context, t coder.Task, code string) (coder.Verdict, error) {
	if tr.lang == Go {
		if goPackageClause.MatchString(code) {
			code = goPackageClause.ReplaceAllString(code, "package main")
		} else {
			code = "package main\n\n" + code
		}
	}
	return tr.r.Run(ctx, t, tr.prefix+code)
}

func (b *builder) test(ctx context.Context, cases []Case) error {
	start := time.Now()
	res, err := b.run.test(ctx, cases)
	if err != nil {
		return err
	}
	b.report.Cases = verdicts(b.cfg.Lang, cases, res)
	b.report.TestRun = res.String()
	b.report.addUsage(Usage{Role: "tester", Wall: time.Since(start)})
	b.emit(Event{Type: "test", Role: "tester", Message: res.String()})
	raw, _ := json.MarshalIndent(verdictFile{TestRun: b.report.TestRun, Cases: b.report.Cases}, "", "  ")
	if err := b.write(".sov/verdicts.json", raw); err != nil {
		return err
	}
	return b.complete("test", Usage{Role: "tester", Wall: time.Since(start)}, testFile(b.cfg.Lang), ".sov/verdicts.json")
}

// loadVerdicts reads the test step's verdicts on a resume that finds it done.
func (b *builder) loadVerdicts() error {
	raw, err := os.ReadFile(filepath.Join(b.cfg.Dir, ".sov/verdicts.json"))
	if err != nil {
		return err
	}
	var v verdictFile
	if err := json.Unmarshal(raw, &v); err != nil {
		return &InvalidError{".sov/verdicts.json", err.Error()}
	}
	b.report.Cases, b.report.TestRun = v.Cases, v.TestRun
	return nil
}

// verdictFile is .sov/verdicts.json: the tester's run.
type verdictFile struct {
	TestRun string       `json:"test_run"`
	Cases   []CaseResult `json:"cases"`
}

// finish completes the report and writes it (also after an error).
func (b *builder) finish(err error) {
	r := b.report
	r.Wall = time.Since(r.Started)
	for _, c := range r.Cases {
		if c.Passed {
			r.Passed++
		} else {
			r.Failed++
		}
	}
	switch {
	case err == nil && r.Failed == 0 && r.Passed > 0:
		r.Status = "passed"
	case err == nil:
		r.Status = "failed"
	case errors.Is(err, ErrNeedsAnswer):
		r.Status = "needs_answer"
	case errors.Is(err, ErrNeedsReview):
		r.Status = "needs_review"
	case errors.Is(err, ErrStopped):
		r.Status = "stopped"
	case errors.Is(err, context.Canceled):
		r.Status = "interrupted"
	default:
		r.Status, r.Error = "error", err.Error()
	}
	r.Artifacts = nil
	for _, p := range []string{PRDFile, AcceptanceFile, DesignFile, TasksFile} {
		r.addArtifact(b.cfg.Dir, p)
	}
	files := map[string]bool{}
	for _, s := range b.st.Steps {
		for p := range s.Outputs {
			if !strings.HasPrefix(p, ".sov/") && !strings.HasPrefix(p, "docs/") {
				files[p] = true
			}
		}
	}
	keys := make([]string, 0, len(files))
	for p := range files {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		r.addArtifact(b.cfg.Dir, p)
	}
	raw, _ := json.MarshalIndent(r, "", "  ")
	_ = b.write(ReportFile, append(raw, '\n'))
}

// DefaultDir is the folder a new build of request goes to: "build-" and
// the request's first words.
func DefaultDir(request string) string {
	var words []string
	for _, w := range strings.Fields(strings.ToLower(request)) {
		if w = strings.Trim(notIdent.ReplaceAllString(w, ""), "_"); w != "" {
			words = append(words, w)
		}
		if len(words) == 4 {
			break
		}
	}
	if len(words) == 0 {
		return "build"
	}
	return "build-" + strings.Join(words, "-")
}
