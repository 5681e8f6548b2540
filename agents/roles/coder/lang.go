package coder

import (
	"errors"
	"fmt"
	"strings"
)

// Lang is a language the developer writes and the tester runs: one type
// for sov build and the HumanEval harness.
type Lang string

// Languages.
const (
	Python Lang = "python"
	Go     Lang = "go"
)

// ErrLang: a language neither writes.
var ErrLang = errors.New("unknown language (python or go)")

// ParseLang reads a language name ("" is Python).
func ParseLang(s string) (Lang, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "python", "py", "":
		return Python, nil
	case "go", "golang":
		return Go, nil
	}
	return "", fmt.Errorf("%w: %q", ErrLang, s)
}
