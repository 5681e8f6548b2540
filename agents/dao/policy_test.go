package dao

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPolicyTemplateLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dao", "policy.toml")
	if err := NewPolicyFile(path); err != nil {
		t.Fatal(err)
	}
	if err := NewPolicyFile(path); !errors.Is(err, ErrPolicyExists) {
		t.Fatalf("second new: %v", err)
	}
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Default != "draft" || p.ReviewWindow.Duration != 24*time.Hour || p.MinConfidence != 0.6 || len(p.Issues) != 2 || len(p.RedLines) != 1 || len(p.AutoCast) != 1 || !p.AutoCast[0].IsExact() {
		t.Fatalf("%+v", p)
	}
	if got := strings.Join(p.ClauseIDs(), ","); got != "public-goods-grants,treasury-over-1m,no-token-mint" {
		t.Fatal(got)
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "none.toml")); !errors.Is(err, ErrNoPolicy) {
		t.Fatal(err)
	}
}

func TestPolicyErrorsNameLineAndField(t *testing.T) {
	issue := "[[issues]]\nid = \"a\"\nstance = \"for\"\nabout = \"x\"\n"
	for _, tc := range []struct {
		name, file  string
		line        int
		field, want string
	}{
		{"syntax", "default = \n", 1, "default", "expected"},
		{"unknown top-level", "colour = \"red\"\n", 1, "colour", "unknown field"},
		{"unknown in an issue", issue + "[[issues]]\nid = \"b\"\nstance = \"for\"\nabout = \"y\"\nweight = 3\n", 9, "issues[1].weight", "unknown field"},
		{"type", "review_window = 24\n", 1, "review_window", "duration"},
		{"bad default", "default = \"vote\"\n", 1, "default", `"draft" or "abstain"`},
		{"bad window", "review_window = \"soon\"\n", 1, "review_window", "duration"},
		{"confidence range", "min_confidence = 1.5\n", 1, "min_confidence", "between 0 and 1"},
		{"bad stance", "[[issues]]\nid = \"a\"\nstance = \"maybe\"\nabout = \"x\"\n", 3, "issues[0].stance", "for"},
		{"no about", "[[issues]]\nid = \"a\"\nstance = \"for\"\n", 1, "issues[0].about", "about"},
		{"bad id", "[[issues]]\nid = \"A B\"\nstance = \"for\"\nabout = \"x\"\n", 2, "issues[0].id", "lower-case"},
		{"reserved id", "[[issues]]\nid = \"none\"\nstance = \"for\"\nabout = \"x\"\n", 2, "issues[0].id", "reserved"},
		{"duplicate id", issue + "[[red_lines]]\nid = \"a\"\nabout = \"z\"\n", 6, "red_lines[0].id", "already the id"},
		{"short match", "[[issues]]\nid = \"a\"\nstance = \"for\"\nabout = \"x\"\nmatch = [\"ok\", \"no\"]\n", 5, "issues[0].match[0]", "3 letters"},
		{"auto-cast unknown issue", issue + "[[auto_cast]]\nissues = [\"a\", \"zzz\"]\n", 6, "auto_cast[0].issues[1]", `"zzz" is not an issue`},
		{"auto-cast no issues", "[[auto_cast]]\nid = \"r\"\n", 1, "auto_cast[0].issues", "name the issue"},
		{"bad governor", "governors = [\"0xabc\"]\n", 1, "governors[0]", "eip155:CHAIN_ID:0xADDRESS"},
		{"bad hub", "[snapshot]\nhub = \"ftp://x\"\n", 2, "snapshot.hub", "http(s) URL"},
		{"bad space", "[snapshot]\nspaces = [\"ok.eth\", \"\\u001b[31m\"]\n", 2, "snapshot.spaces[1]", "not a Snapshot space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy("p.toml", []byte(tc.file))
			var pe *PolicyError
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not a *PolicyError", err)
			}
			if pe.Line != tc.line || pe.Field != tc.field || !strings.Contains(pe.Error(), tc.want) {
				t.Fatalf("got line %d field %q: %v; want line %d field %q containing %q", pe.Line, pe.Field, err, tc.line, tc.field, tc.want)
			}
			if strings.ContainsRune(pe.Error(), 0x1b) {
				t.Fatal("an escape reached the message")
			}
		})
	}
}

func TestPolicyTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	os.WriteFile(path, []byte(strings.Repeat("# x\n", maxPolicySize/4+10)), 0o600)
	if _, err := LoadPolicy(path); err == nil || !strings.Contains(err.Error(), "KiB") {
		t.Fatal(err)
	}
}
