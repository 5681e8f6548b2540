package model

import (
	"os"
	"regexp"
	"testing"
)

func TestLlamaCommitMatchesBuildScript(t *testing.T) {
	b, err := os.ReadFile("../scripts/llama-build.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PIN=([0-9a-f]{40})$`).FindSubmatch(b)
	if m == nil || string(m[1]) != LlamaCommit {
		t.Fatalf("scripts/llama-build.sh pins %q, model.LlamaCommit is %s: change both", m, LlamaCommit)
	}
}
