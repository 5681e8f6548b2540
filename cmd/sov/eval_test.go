package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvalHumanEvalCanonical(t *testing.T) {
	data, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "data"))
	if _, err := os.Stat(filepath.Join(data, "humaneval")); err != nil {
		t.Skipf("no evaluation data at %s", data)
	}
	home := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"canonical python", []string{"--canonical", "--limit", "3", "--data", data}, exitOK, "python canonical solutions: 3/3 pass in the sandbox", ""},
		{"model run not built", []string{"--limit", "3", "--data", data}, exitUsage, "", "add --canonical"},
		{"unknown language", []string{"--canonical", "--lang", "rust", "--data", data}, exitUsage, "", "want python or go"},
		{"missing data", []string{"--canonical", "--data", filepath.Join(home, "nothing")}, exitError, "", "pass --data"},
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
