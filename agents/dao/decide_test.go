package dao

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/agents/dao/daotest"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

// testPolicy is the shared test policy with two issues that disagree on
// a fee-switch rebate.
var testPolicy = daotest.Policy(daotest.PolicySpec{
	Hub:        "http://127.0.0.1:1/graphql",
	Thresholds: true,
	Governors:  []string{"eip155:31337:0x00000000000000000000000000000000000000aa"},
	Issues: `
[[issues]]
id = "fee-switch"
stance = "against"
about = "Turning on protocol fees"
match = ["fee switch"]

[[issues]]
id = "fee-rebates"
stance = "for"
about = "Fee rebates for users"
match = ["fee switch rebate"]
`,
})

func mustPolicy(t testing.TB, extra string) *Policy {
	t.Helper()
	p, err := ParsePolicy("policy.toml", []byte(testPolicy+extra))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func prop(title, body string, typ VotingType, choices ...string) Proposal {
	return Proposal{Source: SourceSnapshot, Space: "sov.eth", ID: "0x01", Title: title, Body: body, Type: typ, Choices: choices,
		Start: t0.Add(-time.Hour), End: t0.Add(48 * time.Hour), State: "active"}
}

var forAgainst = []string{"For", "Against", "Abstain"}

func TestTriage(t *testing.T) {
	p := mustPolicy(t, "")
	other := prop("x", "", Basic, forAgainst...)
	other.Space = "other.eth"
	closed := prop("Public goods grant", "", Basic, forAgainst...)
	closed.End = t0.Add(-time.Minute)
	notYet := prop("Public goods grant", "", Basic, forAgainst...)
	notYet.Start = t0.Add(time.Hour)
	pending := prop("Public goods grant", "", Basic, forAgainst...)
	pending.State = "pending"
	gov := prop("Public goods grant round", "", Governor)
	gov.Source, gov.Space = SourceGovernor, "eip155:31337:0x00000000000000000000000000000000000000aa"
	shutter := prop("Public goods grant", "", Basic, forAgainst...)
	shutter.Privacy = "shutter"
	for _, tc := range []struct {
		name    string
		p       Proposal
		decided bool
		action  Action
		choice  string // Choice.String; "" none
		clauses string
	}{
		{"not followed", other, true, Skip, "", ""},
		{"unknown type", prop("x", "", "copeland", "a"), true, Skip, "", ""},
		{"closed", closed, true, Skip, "", ""},
		{"not opened", notYet, true, Skip, "", ""},
		{"pending", pending, true, Skip, "", ""},
		{"shielded voting", shutter, true, Skip, "", ""},
		{"red line in the body", prop("Treasury ops", "We will mint new tokens.", Basic, forAgainst...), true, "", "2", "no-token-mint"},
		{"red line hidden by zero-width characters", prop("Ops", "we will mi\u200bnt new\u200d tokens", SingleChoice, "Yes", "No"), true, "", "2", "no-token-mint"},
		{"red line with no Against", prop("Mint new tokens", "", Approval, "a", "b"), true, Abstain, "", "no-token-mint"},
		{"exact stance, For/Against", prop("A public goods grant for docs", "", Basic, forAgainst...), true, "", "1", "public-goods-grants"},
		{"exact stance, Yes/No", prop("Public  Goods Grant: tooling", "", SingleChoice, "No", "Yes"), true, "", "2", "public-goods-grants"},
		{"exact stance on a Governor", gov, true, "", "For", "public-goods-grants"},
		{"stance with unless: the model", prop("Spend 2M from the treasury", "", Basic, forAgainst...), false, "", "", ""},
		{"issues disagree: the model", prop("Fee switch rebate", "", Basic, forAgainst...), false, "", "", ""},
		{"stance not among the options: the model", prop("Public goods grant", "", SingleChoice, "Option A", "Option B"), false, "", "", ""},
		{"approval: the model", prop("Public goods grant", "", Approval, "a", "b"), false, "", "", ""},
		{"nothing matches: the model", prop("Rename the forum", "", Basic, forAgainst...), false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := Triage(p, tc.p, t0)
			if ok != tc.decided || d.Action != tc.action || strings.Join(d.Clauses, ",") != tc.clauses {
				t.Fatalf("got %v %+v", ok, d)
			}
			got := ""
			if d.Choice != nil {
				got = d.Choice.String()
			}
			if got != tc.choice {
				t.Fatalf("choice %q, want %q", got, tc.choice)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	p := mustPolicy(t, "")
	pAbstain := mustPolicy(t, "")
	pAbstain.Default = "abstain"
	grant := prop("Public goods grant: docs", "", Basic, forAgainst...)
	other := prop("Rename the forum", "", Basic, forAgainst...)
	gov := prop("Public goods grant round", "", Governor)
	gov.Source, gov.Space = SourceGovernor, "eip155:31337:0x00000000000000000000000000000000000000aa"
	c := func(typ VotingType, i int) *Choice { return &Choice{Type: typ, Index: i} }
	for _, tc := range []struct {
		name   string
		p      *Policy
		pr     Proposal
		d      Decision
		action Action
		why    string
	}{
		{"rule, auto-cast", p, grant, Decision{By: "rule", Choice: c(Basic, 1), Confidence: 1, Clauses: []string{"public-goods-grants"}}, Cast, "auto_cast grants"},
		{"model, confident, exact", p, grant, Decision{By: "model", Choice: c(Basic, 1), Confidence: 0.9, Clauses: []string{"public-goods-grants"}}, Cast, "auto_cast grants"},
		{"model below the rule's confidence", p, grant, Decision{By: "model", Choice: c(Basic, 1), Confidence: 0.7, Clauses: []string{"public-goods-grants"}}, Draft, "no auto_cast"},
		{"model cites an issue the title does not match", p, other, Decision{By: "model", Choice: c(Basic, 1), Confidence: 1, Clauses: []string{"public-goods-grants"}}, Draft, "title matches none"},
		{"below the policy's confidence", p, grant, Decision{By: "model", Choice: c(Basic, 1), Confidence: 0.5, Clauses: []string{"public-goods-grants"}}, Abstain, "confidence 0.50"},
		{"no clause", p, grant, Decision{By: "model", Choice: c(Basic, 1), Confidence: 1}, Abstain, "no policy clause"},
		{"For citing a red line", p, grant, Decision{By: "model", Choice: c(Basic, 1), Confidence: 1, Clauses: []string{"no-token-mint"}}, Abstain, "red line"},
		{"invalid choice", p, grant, Decision{By: "model", Choice: c(Basic, 7), Confidence: 1, Clauses: []string{"public-goods-grants"}}, Abstain, "invalid choice"},
		{"no choice", p, grant, Decision{By: "model", Confidence: 1, Clauses: []string{"public-goods-grants"}}, Abstain, "no choice"},
		{"Governor not named by the rule", p, gov, Decision{By: "rule", Choice: c(Governor, 1), Confidence: 1, Clauses: []string{"public-goods-grants"}}, Draft, "no auto_cast"},
		{"default abstain", pAbstain, other, Decision{By: "model", Choice: c(Basic, 2), Confidence: 0.9, Clauses: []string{"fee-switch"}}, Abstain, "no auto_cast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Settle(tc.p, tc.pr, tc.d)
			if d.Action != tc.action || !strings.Contains(d.Why, tc.why) {
				t.Fatalf("got %s (%s), want %s (%s)", d.Action, d.Why, tc.action, tc.why)
			}
			if d.Action == Cast && !d.NotBefore.Equal(tc.pr.End.Add(-24*time.Hour)) {
				t.Fatalf("not before %v", d.NotBefore)
			}
		})
	}
	// A Governor named by the rule is cast.
	pg := mustPolicy(t, "governors = [\"eip155:31337:0x00000000000000000000000000000000000000aa\"]\n")
	if d := Settle(pg, gov, Decision{By: "rule", Choice: c(Governor, 1), Confidence: 1, Clauses: []string{"public-goods-grants"}}); d.Action != Cast {
		t.Fatalf("named Governor: %+v", d)
	}
}

func TestParseAnswerRefusesWhatIsNotAValidDecision(t *testing.T) {
	p := mustPolicy(t, "")
	for _, tc := range []struct {
		name string
		pr   Proposal
		out  string
		ok   bool
	}{
		{"single", prop("x", "", SingleChoice, "a", "b"), `{"policy_clauses":["fee-switch"],"rationale":"r","choice":2,"confidence":90}`, true},
		{"single out of range", prop("x", "", SingleChoice, "a", "b"), `{"policy_clauses":[],"rationale":"r","choice":3,"confidence":90}`, false},
		{"single zero", prop("x", "", SingleChoice, "a", "b"), `{"policy_clauses":[],"rationale":"r","choice":0,"confidence":90}`, false},
		{"none", prop("x", "", SingleChoice, "a", "b"), `{"policy_clauses":["none"],"rationale":"r","choice":1,"confidence":0}`, true},
		{"unknown clause", prop("x", "", SingleChoice, "a", "b"), `{"policy_clauses":["vote-for-everything"],"rationale":"r","choice":1,"confidence":90}`, false},
		{"confidence over 100", prop("x", "", SingleChoice, "a", "b"), `{"policy_clauses":[],"rationale":"r","choice":1,"confidence":101}`, false},
		{"approval", prop("x", "", Approval, "a", "b", "c"), `{"policy_clauses":[],"rationale":"r","choice":[1,3],"confidence":50}`, true},
		{"approval repeat", prop("x", "", Approval, "a", "b", "c"), `{"policy_clauses":[],"rationale":"r","choice":[1,1],"confidence":50}`, false},
		{"approval empty", prop("x", "", Approval, "a", "b", "c"), `{"policy_clauses":[],"rationale":"r","choice":[],"confidence":50}`, false},
		{"ranked", prop("x", "", RankedChoice, "a", "b", "c"), `{"policy_clauses":[],"rationale":"r","choice":[3,1,2],"confidence":50}`, true},
		{"ranked missing one", prop("x", "", RankedChoice, "a", "b", "c"), `{"policy_clauses":[],"rationale":"r","choice":[3,1],"confidence":50}`, false},
		{"ranked twice", prop("x", "", RankedChoice, "a", "b", "c"), `{"policy_clauses":[],"rationale":"r","choice":[3,1,1],"confidence":50}`, false},
		{"weighted", prop("x", "", Weighted, "a", "b"), `{"policy_clauses":[],"rationale":"r","choice":[{"choice":1,"weight":3},{"choice":2,"weight":1}],"confidence":50}`, true},
		{"weighted out of range", prop("x", "", Weighted, "a", "b"), `{"policy_clauses":[],"rationale":"r","choice":[{"choice":5,"weight":3}],"confidence":50}`, false},
		{"quadratic zero weight", prop("x", "", Quadratic, "a", "b"), `{"policy_clauses":[],"rationale":"r","choice":[{"choice":1,"weight":0}],"confidence":50}`, false},
		{"governor", prop("x", "", Governor), `{"policy_clauses":[],"rationale":"r","choice":2,"confidence":50}`, true},
		{"governor 3", prop("x", "", Governor), `{"policy_clauses":[],"rationale":"r","choice":3,"confidence":50}`, false},
		{"not JSON", prop("x", "", Basic, forAgainst...), `For!`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, _, err := ParseAnswer(p, tc.pr, []byte(tc.out))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
			if err != nil && !errors.Is(err, ErrModelAnswer) {
				t.Fatalf("%v is not ErrModelAnswer", err)
			}
		})
	}
}

// allTypes is one proposal of every voting type.
func allTypes() []Proposal {
	return []Proposal{
		prop("Fund a public goods grant for docs", "A grant of 10k for documentation.", SingleChoice, "Fund it", "Do not fund", "Abstain"),
		prop("Fund a public goods grant for docs", "A grant of 10k for documentation.", Basic, forAgainst...),
		prop("Pick grantees", "Choose any number.", Approval, "Docs", "Tests", "Design", "Outreach"),
		prop("Rank the designs", "Rank them all.", RankedChoice, "Red", "Green", "Blue"),
		prop("Split the budget", "Weights.", Weighted, "Docs", "Tests", "Design"),
		prop("Split the grants", "Quadratic.", Quadratic, "Docs", "Tests"),
		func() Proposal {
			g := prop("Turn on the fee switch", "Governor proposal.", Governor)
			g.Source, g.Space = SourceGovernor, "eip155:31337:0x00000000000000000000000000000000000000aa"
			return g
		}(),
	}
}

// TestDecisionSchemaCompilesForEveryVotingType: the grammar exists for
// each type and the clause ids are the policy's, as an enum.
func TestDecisionSchemaCompilesForEveryVotingType(t *testing.T) {
	p := mustPolicy(t, "")
	for _, pr := range allTypes() {
		s, err := DecisionSchema(p, pr)
		if err != nil {
			t.Fatalf("%s: %v", pr.Type, err)
		}
		if _, err := model.CompileSchema(s); err != nil {
			t.Fatalf("%s: %v\n%s", pr.Type, err, s)
		}
		if !strings.Contains(string(s), `"enum":["public-goods-grants","treasury-over-1m","fee-switch","fee-rebates","no-token-mint","none"]`) {
			t.Fatalf("%s: clause enum missing: %s", pr.Type, s)
		}
	}
}

// decideEveryType runs the decider on every voting type with a real model:
// whatever the model writes, the decision is a valid choice or an
// abstention saying why, never an invalid choice.
func decideEveryType(t *testing.T, m testtool.TestModel) {
	path := testtool.Model(t, m)
	eng, err := model.Load(context.Background(), model.Options{Path: path, ContextSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	p := mustPolicy(t, "")
	valid, abstained := 0, 0
	for _, pr := range allTypes() {
		d, msgs, err := (&Decider{Policy: p, Model: eng}).Decide(context.Background(), pr, t0)
		if err != nil {
			t.Fatalf("%s: %v", pr.Type, err)
		}
		if len(msgs) != 2 || !strings.Contains(msgs[1].Content, "PROPOSAL-") {
			t.Fatalf("%s: the proposal is not fenced: %+v", pr.Type, msgs)
		}
		if d.Choice == nil {
			if d.Action != Abstain || d.Why == "" {
				t.Fatalf("%s: no choice and no abstention: %+v", pr.Type, d)
			}
			abstained++
			t.Logf("%s: abstained: %s", pr.Type, d.Why)
			continue
		}
		if err := d.Choice.Validate(pr); err != nil {
			t.Fatalf("%s: an invalid choice came through: %v", pr.Type, err)
		}
		valid++
		t.Logf("%s: %s clauses=%v confidence=%.2f", pr.Type, d.Choice, d.Clauses, d.Confidence)
	}
	t.Logf("%s: %d valid choices, %d abstained", m, valid, abstained)
}

func TestDecisionGrammarStories(t *testing.T) { decideEveryType(t, testtool.Stories) }
func TestDecisionGrammarSmolLM2(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	decideEveryType(t, testtool.Chat)
}

func TestSafeIDKeepsHubTextOutOfTheLedger(t *testing.T) {
	for in, plain := range map[string]bool{"0xabc123": true, "bafy-1.2:x_y": true, "\x1b[31mvote for me": false, "": false, strings.Repeat("a", 101): false} {
		got := safeID(in)
		if (got == in) != plain || !plain && !strings.HasPrefix(got, "sha256:") {
			t.Errorf("safeID(%q) = %q", in, got)
		}
	}
}
