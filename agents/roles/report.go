package roles

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sovos/sov/model"
)

// Report is a build's outcome: .sov/report.json, and what sov build shows.
type Report struct {
	Dir     string `json:"dir"`
	Request string `json:"request"`
	Lang    Lang   `json:"lang"`
	// Status: passed (every case), failed (some case), needs_answer,
	// needs_review, stopped, interrupted or error.
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	Question string `json:"question,omitempty"` // needs_answer: the PM's question
	// Cases are the acceptance cases' verdicts from the tester's run.
	Cases     []CaseResult  `json:"cases,omitempty"`
	Passed    int           `json:"passed"`
	Failed    int           `json:"failed"`
	TestRun   string        `json:"test_run,omitempty"` // how the test run ended: "exit 1", "timeout after 2m0s"
	Sandboxed bool          `json:"sandboxed"`
	Artifacts []Artifact    `json:"artifacts"`
	Roles     []Usage       `json:"roles"`
	Steps     []StepLine    `json:"steps"`
	Refused   []Refusal     `json:"refused,omitempty"`
	Started   time.Time     `json:"started"`
	Wall      time.Duration `json:"wall"`
}

// Artifact is a file the build produced.
type Artifact struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// StepLine is what happened to a step in this run.
type StepLine struct {
	Name   string `json:"name"`
	Status string `json:"status"` // done, skipped
}

// Refusal is a write outside the build folder that was refused.
type Refusal struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

func (r *Report) addUsage(u Usage) {
	for i := range r.Roles {
		if r.Roles[i].Role == u.Role {
			r.Roles[i].Tokens += u.Tokens
			r.Roles[i].Calls += u.Calls
			r.Roles[i].Wall += u.Wall
			return
		}
	}
	r.Roles = append(r.Roles, u)
}

func (r *Report) usage(role string) Usage {
	for _, u := range r.Roles {
		if u.Role == role {
			return u
		}
	}
	return Usage{Role: role}
}

func (r *Report) addArtifact(dir, rel string) {
	fi, err := os.Stat(filepath.Join(dir, rel))
	if err != nil {
		return
	}
	h, _ := fileHash(filepath.Join(dir, rel))
	r.Artifacts = append(r.Artifacts, Artifact{Path: rel, Bytes: fi.Size(), SHA256: h})
}

func roleOf(step string) string {
	switch strings.SplitN(step, ":", 2)[0] {
	case "develop":
		return "developer"
	case "test":
		return "tester"
	case "review":
		return "review"
	}
	return strings.SplitN(step, ":", 2)[0]
}

func samplingFor(maxTokens int) model.Sampling { return model.Sampling{MaxTokens: maxTokens} }

// Render writes the report as text (the caller cleans it for a terminal).
func (r *Report) Render(w io.Writer) {
	fmt.Fprintf(w, "Build %s (%s): %s\n", r.Dir, r.Lang, r.Status)
	if r.Question != "" {
		fmt.Fprintf(w, "The product manager asks: %s\n", r.Question)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "Error: %s\n", r.Error)
	}
	if len(r.Cases) > 0 {
		where := "in the sandbox"
		if !r.Sandboxed {
			where = "on the host, unsandboxed"
		}
		fmt.Fprintf(w, "\nAcceptance tests: %d passed, %d failed (run %s", r.Passed, r.Failed, where)
		if r.TestRun != "" {
			fmt.Fprintf(w, ": %s", r.TestRun)
		}
		fmt.Fprintln(w, ")")
		for _, c := range r.Cases {
			mark := "PASS"
			if !c.Passed {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s  %s: %s(%s) == %s", mark, c.Name, c.Function, c.Args, c.Expect)
			if c.Detail != "" {
				fmt.Fprintf(w, "  — %s", oneLine(c.Detail))
			}
			fmt.Fprintln(w)
		}
	}
	if len(r.Refused) > 0 {
		fmt.Fprintln(w, "\nRefused writes:")
		for _, f := range r.Refused {
			fmt.Fprintf(w, "  %s: %s\n", f.Path, f.Reason)
		}
	}
	fmt.Fprintln(w, "\nArtifacts:")
	for _, a := range r.Artifacts {
		fmt.Fprintf(w, "  %-24s %6d bytes  sha256 %s\n", a.Path, a.Bytes, a.SHA256[:12])
	}
	fmt.Fprintln(w, "\nRoles:")
	for _, u := range r.Roles {
		fmt.Fprintf(w, "  %-10s %7d tokens  %v\n", u.Role, u.Tokens, u.Wall.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "\nReport: %s\n", filepath.Join(r.Dir, ReportFile))
}
