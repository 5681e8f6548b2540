package dao

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

// The delegate's eval: 40 labelled proposals (testdata/eval/proposals.jsonl)
// judged by one policy (testdata/eval/policy.toml), each with the decision
// a careful reader of the policy makes: a choice (Choice.String) or "" for
// no vote. Kinds: rule (deterministic rules settle it: must be 100%),
// model, offtopic (the policy says nothing: no vote) and adversarial (the
// text tries to steer the delegate). Figures for the models come from
// SOV_DAO_EVAL=1 go test ./agents/dao -run TestEvalModels -v.

type evalCase struct {
	Kind     string     `json:"kind"`
	Title    string     `json:"title"`
	Body     string     `json:"body"`
	Type     VotingType `json:"type"`
	Choices  []string   `json:"choices"`
	Governor bool       `json:"governor"`
	Expect   string     `json:"expect"`
}

func loadEval(t *testing.T) (*Policy, []evalCase) {
	t.Helper()
	p, err := LoadPolicy("testdata/eval/policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/eval/proposals.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cs []evalCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c evalCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if len(cs) < 40 {
		t.Fatalf("%d labelled proposals", len(cs))
	}
	return p, cs
}

func (c evalCase) proposal(i int) Proposal {
	pr := prop(c.Title, c.Body, c.Type, c.Choices...)
	pr.ID = fmt.Sprintf("0xeval%02d", i)
	if c.Governor {
		pr.Source, pr.Space = SourceGovernor, "eip155:31337:0x00000000000000000000000000000000000000aa"
	}
	return pr
}

// outcome is what the decision votes: its choice, or "" for none.
func outcome(d Decision) string {
	if d.Choice == nil || (d.Action != Cast && d.Action != Draft) {
		return ""
	}
	return d.Choice.String()
}

// TestEvalRuleCases: every case labelled "rule" is settled by the
// deterministic rules, as labelled, with no model at all.
func TestEvalRuleCases(t *testing.T) {
	p, cs := loadEval(t)
	n := 0
	for i, c := range cs {
		if c.Kind != "rule" {
			continue
		}
		n++
		pr := c.proposal(i)
		d, ok := Triage(p, pr, t0)
		if !ok {
			t.Errorf("%q: left to the model", c.Title)
			continue
		}
		if got := outcome(Settle(p, pr, d)); got != c.Expect {
			t.Errorf("%q: %q, labelled %q (%+v)", c.Title, got, c.Expect, d)
		}
	}
	t.Logf("%d rule cases", n)
}

func TestEvalModels(t *testing.T) {
	if os.Getenv("SOV_DAO_EVAL") != "1" {
		t.Skip("figures, not a check: set SOV_DAO_EVAL=1")
	}
	p, cs := loadEval(t)
	for _, m := range []testtool.TestModel{testtool.Chat, testtool.ChatLarge} {
		t.Run(m.String(), func(t *testing.T) {
			eng, err := model.Load(context.Background(), model.Options{Path: testtool.Model(t, m), ContextSize: 4096})
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close()
			agree, abstain := map[string]int{}, map[string]int{}
			total := map[string]int{}
			var misses []string
			for i, c := range cs {
				pr := c.proposal(i)
				d, ok := Triage(p, pr, t0)
				if !ok {
					if d, _, err = (&Decider{Policy: p, Model: eng}).Decide(context.Background(), pr, t0); err != nil {
						t.Fatalf("%q: %v", c.Title, err)
					}
				}
				d = Settle(p, pr, d)
				if d.Choice != nil {
					if err := d.Choice.Validate(pr); err != nil {
						t.Fatalf("%q: invalid choice: %v", c.Title, err)
					}
				}
				got := outcome(d)
				total[c.Kind]++
				if got == "" {
					abstain[c.Kind]++
				}
				if got == c.Expect {
					agree[c.Kind]++
				} else {
					misses = append(misses, fmt.Sprintf("%s %q: %q (%s by %s: %s), labelled %q", c.Kind, c.Title, got, d.Action, d.By, d.Why, c.Expect))
				}
				if c.Kind == "rule" && got != c.Expect {
					t.Errorf("rule case %q: %q, labelled %q", c.Title, got, c.Expect)
				}
			}
			var all, allAgree, allAbstain int
			var b strings.Builder
			for _, k := range []string{"rule", "model", "offtopic", "adversarial"} {
				fmt.Fprintf(&b, "  %-11s %2d/%2d agree, %2d no vote\n", k, agree[k], total[k], abstain[k])
				all, allAgree, allAbstain = all+total[k], allAgree+agree[k], allAbstain+abstain[k]
			}
			t.Logf("%s: %d/%d agree (%.0f%%), no vote in %d (%.0f%%)\n%s  misses:\n    %s", m, allAgree, all, 100*float64(allAgree)/float64(all),
				allAbstain, 100*float64(allAbstain)/float64(all), b.String(), strings.Join(misses, "\n    "))
		})
	}
}
