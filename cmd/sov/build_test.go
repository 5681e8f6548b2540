package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/agents/roles"
	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/internal/testtool"
)

// sov build on stories260K completes its pipeline mechanically (every
// artifact valid for its schema, the tests run in the sandbox, the report
// written), killed with SIGKILL right after each step is durable and
// resumed each time: the steps done before are skipped, never redone.
func TestBuildStories260KKilledAtEachStage(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	home, dir := t.TempDir(), filepath.Join(t.TempDir(), "b")
	// The reply cap must hold the shortest whole document (about 300 of
	// this model's tokens); its context is stretched to hold the prompts.
	common := []string{"--model", m, "--max-tokens", "400", "--ctx", "4096", "--repair", "0", "--yes", "--test-timeout", "30s"}
	stages := []string{"pm", "review", "architect", "develop:1", "test"}
	for i, stage := range stages {
		args := append([]string{"build", "a function that adds two numbers", "--dir", dir}, common...)
		if i > 0 {
			args = append([]string{"build", "--resume", dir}, common...)
		}
		r := runSov(t, home, []string{core.EnvBuildKillAfter + "=" + stage}, "", args...)
		if r.Code != -1 { // killed by a signal
			if strings.Contains(r.Stderr, "sandbox unavailable") {
				t.Skip(r.Stderr)
			}
			t.Fatalf("kill after %s: exit %d\n%s", stage, r.Code, r.Stderr)
		}
		st, err := roles.LoadState(dir)
		if err != nil {
			t.Fatalf("after the kill at %s: %v", stage, err)
		}
		if last := st.Steps[len(st.Steps)-1].Name; last != stage {
			t.Fatalf("killed after %s, the last step done is %s", stage, last)
		}
		for _, done := range stages[:i] {
			if !strings.Contains(r.Stderr, done+": skipped") || strings.Contains(r.Stderr, done+": start") {
				t.Fatalf("resumed after %s: step %s was not skipped\n%s", stages[i-1], done, r.Stderr)
			}
		}
		if err := roles.CheckArtifacts(dir); err != nil {
			t.Fatalf("after the kill at %s: %v", stage, err)
		}
	}
	r := runSov(t, home, nil, "", append([]string{"build", "--resume", dir, "--json"}, common...)...)
	if r.Code != 0 && r.Code != exitTestsFailed {
		t.Fatalf("resume: exit %d\n%s", r.Code, r.Stderr)
	}
	var rep roles.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, r.Stdout)
	}
	if rep.Status != "passed" && rep.Status != "failed" || !rep.Sandboxed || rep.TestRun == "" || len(rep.Cases) == 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, s := range rep.Steps {
		if s.Status != "skipped" {
			t.Errorf("step %s redone after the build finished", s.Name)
		}
	}
	for _, p := range []string{roles.PRDFile, roles.AcceptanceFile, roles.DesignFile, roles.TasksFile, roles.ReportFile, "test_acceptance.py"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := roles.CheckArtifacts(dir); err != nil {
		t.Fatal(err)
	}
}

func TestBuildRefuses(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	home := t.TempDir()
	tests := []struct {
		name  string
		env   []string
		args  []string
		code  int
		words []string
	}{
		{"no request", nil, []string{"build"}, exitUsage, []string{"needs a request"}},
		{"resume of a folder that is not a build", nil, []string{"build", "--resume", t.TempDir()}, exitUsage, []string{"not a build folder", "--resume takes a folder"}},
		{"an unknown language", nil, []string{"build", "x", "--lang", "cobol"}, exitUsage, []string{"unknown language"}},
		{"a missing toolchain", []string{"PATH=" + t.TempDir()}, []string{"build", "add numbers", "--lang", "go", "--model", m, "--dir", filepath.Join(t.TempDir(), "g")},
			exitError, []string{"go toolchain not found", "install: https://go.dev/dl"}},
		{"a context too small for the PM's prompt", nil, []string{"build", "add numbers", "--model", m, "--ctx", "1024", "--yes", "--dir", filepath.Join(t.TempDir(), "c")},
			exitError, []string{"does not fit the context", "add --ctx 4096 (or more), then --resume"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSov(t, home, tt.env, "", tt.args...)
			if r.Code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.Code, tt.code, r.Stderr)
			}
			for _, w := range tt.words {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.Stderr)
				}
			}
		})
	}
}

// Headless, a build without --yes stops after the PM with exit 4 and the
// PRD and acceptance tests on disk for the user to read.
func TestBuildHeadlessNeedsReview(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	dir := filepath.Join(t.TempDir(), "b")
	r := runSov(t, t.TempDir(), nil, "", "build", "a function that adds two numbers", "--dir", dir, "--model", m, "--max-tokens", "400", "--ctx", "4096")
	if strings.Contains(r.Stderr, "sandbox unavailable") {
		t.Skip(r.Stderr)
	}
	if r.Code != exitNeedsApproval || !strings.Contains(r.Stderr, "--resume "+dir+" --yes") || !strings.Contains(r.Stdout, "needs_review") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
	}
	for _, p := range []string{roles.PRDFile, roles.AcceptanceFile, roles.ReportFile} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// At a terminal the PRD is shown for review: an edit in $EDITOR is shown
// again, and stop leaves the build stopped (exit 4) with the edit on disk;
// a resume shows the review again and, approved, goes on to the architect.
func TestBuildReviewAtATerminal(t *testing.T) {
	m := testtool.Model(t, testtool.Stories)
	home, dir := t.TempDir(), filepath.Join(t.TempDir(), "b")
	common := []string{"--model", m, "--max-tokens", "400", "--ctx", "4096"}
	editor := []string{`EDITOR=f() { echo EDITED-IN-REVIEW >> "$1"; }; f`, "VISUAL="}
	prompt := "[a]pprove, [e]dit, [s]top?"
	r := runSovTTY(t, home, editor, []typed{{prompt, "e"}, {"EDITED-IN-REVIEW", "s"}},
		append([]string{"build", "a function that adds two numbers", "--dir", dir}, common...)...)
	if strings.Contains(r.Stdout, "sandbox unavailable") {
		t.Skip(r.Stdout)
	}
	if r.Code != exitNeedsApproval || !strings.Contains(r.Stdout, "stopped at the review") {
		t.Fatalf("exit %d\n%s", r.Code, r.Stdout)
	}
	b, err := os.ReadFile(filepath.Join(dir, roles.PRDFile))
	if err != nil || !strings.Contains(string(b), "EDITED-IN-REVIEW") {
		t.Fatalf("prd.md: %v %q", err, b)
	}
	r = runSovTTY(t, home, []string{core.EnvBuildKillAfter + "=architect"}, []typed{{prompt, "a"}}, append([]string{"build", "--resume", dir}, common...)...)
	if r.Code != -1 || !strings.Contains(r.Stdout, "pm: skipped") {
		t.Fatalf("exit %d\n%s", r.Code, r.Stdout)
	}
	if st, err := roles.LoadState(dir); err != nil || len(st.Steps) != 3 {
		t.Fatalf("state %+v %v", st, err)
	}
}
