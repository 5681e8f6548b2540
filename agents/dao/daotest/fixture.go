package daotest

import (
	"strings"
	"time"
)

// PolicySpec says how a test's policy file differs from the shared one:
// a grants issue (auto-cast), a treasury issue (with an unless) and a
// mint red line, following sov.eth.
type PolicySpec struct {
	Hub string // the Snapshot hub's GraphQL URL
	// Thresholds sets min_confidence: 0.6 for the policy, 0.8 for the
	// auto-cast rule; without it both are the parser's defaults.
	Thresholds bool
	Governors  []string // CAIP-10 Governor contracts followed
	// Issues are more [[issues]] tables, after the shared two and before
	// the red lines, so clause order is the file's order.
	Issues string
}

// Policy is the policy file spec describes. Its auto-cast rule is the last
// table, so a test may append keys to that rule.
func Policy(spec PolicySpec) string {
	var b strings.Builder
	b.WriteString("\ndefault = \"draft\"\nreview_window = \"24h\"\n")
	if spec.Thresholds {
		b.WriteString("min_confidence = 0.6\n")
	}
	if len(spec.Governors) > 0 {
		b.WriteString("governors = [\"" + strings.Join(spec.Governors, `", "`) + "\"]\n")
	}
	b.WriteString(`
[snapshot]
hub = "` + spec.Hub + `"
spaces = ["sov.eth"]

[[issues]]
id = "public-goods-grants"
stance = "for"
about = "Grants that fund open-source software as public goods"
match = ["public goods grant"]

[[issues]]
id = "treasury-over-1m"
stance = "against"
about = "Spending more than 1 million dollars from the treasury"
unless = "an independent audit is linked"
`)
	if spec.Issues != "" {
		b.WriteString("\n" + strings.Trim(spec.Issues, "\n") + "\n")
	}
	b.WriteString(`
[[red_lines]]
id = "no-token-mint"
about = "Minting new governance tokens"
match = ["mint new tokens"]

[[auto_cast]]
id = "grants"
issues = ["public-goods-grants"]
`)
	if spec.Thresholds {
		b.WriteString("min_confidence = 0.8\n")
	}
	return b.String()
}

// ActiveProposal is a For/Against/Abstain proposal in sov.eth, open for
// the last hour and until end from now.
func ActiveProposal(id, title, body string, end time.Duration) Proposal {
	now := time.Now()
	return Proposal{ID: id, Title: title, Body: body, Choices: []string{"For", "Against", "Abstain"}, Type: "basic",
		Start: now.Add(-time.Hour).Unix(), End: now.Add(end).Unix(), Snapshot: "123", State: "active", Author: "0xabc", Space: Space{ID: "sov.eth"}}
}
