package main

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

func evalData(t *testing.T) string {
	data, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "data"))
	if _, err := os.Stat(filepath.Join(data, "humaneval")); err != nil {
		t.Skipf("no evaluation data at %s", data)
	}
	return data
}

func TestEvalHumanEvalCanonical(t *testing.T) {
	data := evalData(t)
	home := t.TempDir()
	// A problem set whose canonical solution is wrong: the harness's fault.
	broken := filepath.Join(home, "broken")
	writeGz(t, filepath.Join(broken, "humaneval", "HumanEval.jsonl.gz"),
		`{"task_id":"X/0","prompt":"def f():\n","entry_point":"f","canonical_solution":"    return 1\n","test":"def check(c):\n    assert c() == 2\n"}`+"\n")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"canonical python", []string{"--canonical", "--limit", "3", "--data", data}, exitOK, "python canonical solutions: 3/3 pass in the sandbox", ""},
		{"unknown language", []string{"--canonical", "--lang", "rust", "--data", data}, exitUsage, "", "unknown language (python or go)"},
		{"missing data", []string{"--canonical", "--data", filepath.Join(home, "nothing")}, exitError, "", "pass --data"},
		{"negative repair", []string{"--repair", "-1", "--data", data}, exitUsage, "", "must not be negative"},
		{"broken canonical stops a model run", []string{"--model", testtool.Model(t, testtool.Stories), "--data", broken}, exitRejected, "", "X/0: the canonical solution failed: exit 1\nsov: canonical solutions fail in the sandbox: 1 of 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runSov(t, home, nil, "", append([]string{"eval", "humaneval"}, tc.args...)...)
			if strings.Contains(r.Stderr, "sandbox unavailable") {
				t.Skip(r.Stderr)
			}
			if r.Code != tc.code || !strings.Contains(r.Stdout, tc.stdout) || !strings.Contains(r.Stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d\nstdout %q\nstderr %q", r.Code, tc.code, r.Stdout, r.Stderr)
			}
		})
	}
}

func writeGz(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEvalHumanEvalModel runs two problems with one repair round on
// stories260K: it writes no working code, so the test checks the report's
// shape and that the failures are counted, not the model.
func TestEvalHumanEvalModel(t *testing.T) {
	data, m := evalData(t), testtool.Model(t, testtool.Stories)
	home := t.TempDir()
	args := []string{"eval", "humaneval", "--limit", "2", "--repair", "1", "--max-tokens", "64", "--model", m, "--data", data}
	r := runSov(t, home, nil, "", append(args, "--json")...)
	if strings.Contains(r.Stderr, "sandbox unavailable") {
		t.Skip(r.Stderr)
	}
	if r.Code != exitOK {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	var rep struct {
		Lang            string
		Model           string
		Repairs, Total  int
		PassedFirst     int `json:"passed_first"`
		Passed          int
		PromptTokens    int `json:"prompt_tokens"`
		GeneratedTokens int `json:"generated_tokens"`
		Canonical       struct{ Total, Passed int }
		Problems        []struct {
			TaskID      string `json:"task_id"`
			FirstPassed bool   `json:"first_passed"`
			Passed      bool
			Attempts    []struct {
				Round           int
				Code            string
				Passed          bool
				Output          string
				GeneratedTokens int `json:"generated_tokens"`
			}
			Duration int64
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	if rep.Lang != "python" || rep.Model != filepath.Base(m) || rep.Repairs != 1 || rep.Total != 2 || rep.Canonical.Passed != 2 ||
		rep.PassedFirst != 0 || rep.Passed != 0 || rep.PromptTokens == 0 || rep.GeneratedTokens == 0 || len(rep.Problems) != 2 {
		t.Fatalf("report %+v", rep)
	}
	for i, p := range rep.Problems {
		if p.TaskID != []string{"HumanEval/0", "HumanEval/1"}[i] || p.Passed || len(p.Attempts) != 2 || p.Duration <= 0 {
			t.Errorf("problem %d: %+v", i, p)
		}
		for j, a := range p.Attempts {
			if a.Round != j || a.Passed || a.Output == "" || a.GeneratedTokens == 0 || !strings.HasPrefix(a.Code, "from typing import") {
				t.Errorf("%s attempt %d: %+v", p.TaskID, j, a)
			}
		}
	}
	// On a terminal's text: a line per problem, then the two figures.
	r = runSov(t, home, nil, "", args...)
	for _, want := range []string{"HumanEval/0: fail, 2 attempts, ", "HumanEval/1: fail, 2 attempts, ", "pass@1, first attempt:      0/2 (0.0%)", "pass@1, repair ≤ 1 rounds:  0/2 (0.0%)", "canonical solutions 2/2 pass"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
}
