package wallet

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The plain-text forms of the wallet's records (one line each) and reports
// (one line per row), so every front end shows the same thing. They carry
// data from chains, configs and callers as it is: a front end printing to a
// terminal sanitises them.

// String is the report as text: each asset's total, then its amount on
// every chain (FAILED with the error where a chain did not answer).
func (r BalanceReport) String() string {
	var b strings.Builder
	for _, t := range r.Totals {
		fmt.Fprintf(&b, "%-6s %s", t.Asset, t.Amount)
		if t.Partial {
			fmt.Fprintf(&b, "  (incomplete: %s failed)", strings.Join(t.Missing, ", "))
		}
		b.WriteByte('\n')
		for _, c := range r.Chains {
			if c.Asset == t.Asset && c.Status == "ok" {
				fmt.Fprintf(&b, "  %-10s %s\n", c.Network, c.Amount)
			} else if c.Asset == t.Asset {
				fmt.Fprintf(&b, "  %-10s FAILED: %s\n", c.Network, c.Error)
			}
		}
	}
	return b.String()
}

// String is the entry as one line: when, status, kind, what, where, hash
// and who asked.
func (e LedgerEntry) String() string {
	return fmt.Sprintf("%s %-9s %-8s %s %s to %s on %s (nonce %d) %s %s",
		shortTime(e.Time), e.Status, e.Kind, e.Amount, e.Asset, e.To, e.Network, e.Nonce, e.Hash, e.Caller)
}

// String is one line per transaction.
func (l Ledger) String() string { return lines(l, "no transactions yet") }

// String is one line per decision.
func (l AuditLog) String() string { return lines(l, "") }

// String is one line per grant.
func (l GrantList) String() string { return lines(l, "no grants") }

// lines is each item's line, or empty (when set) for no items.
func lines[T fmt.Stringer](items []T, empty string) string {
	if len(items) == 0 && empty != "" {
		return empty + "\n"
	}
	var b strings.Builder
	for _, it := range items {
		b.WriteString(it.String() + "\n")
	}
	return b.String()
}

// String is the decision as one line, with the reason for a refusal.
func (e AuditEntry) String() string {
	what := strings.TrimSpace(fmt.Sprintf("%s %s %s", e.Amount, e.Asset, e.Payee))
	if e.Kind == "policy" {
		what = "policy changed"
	}
	line := fmt.Sprintf("%4d %s %-9s %-14s %-12s %s", e.Seq, shortTime(e.Time), e.Decision, e.Caller, e.Kind, what)
	if e.Reason != "" && e.Kind != "policy" {
		line += " — " + e.Reason
	}
	return line
}

// String is the grant as one line: id, state, principal, who minted it
// and when.
func (g grantRecord) String() string {
	state := "active"
	if !g.Revoked.IsZero() {
		state = "revoked"
	}
	return fmt.Sprintf("%s %-8s %-20s by %-6s since %s", g.ID, state, g.Principal, g.MintedBy, g.Created.Format(time.RFC3339))
}

// Empty reports whether p limits no payment.
func (p Policy) Empty() bool {
	return len(p.Limits) == 0 && len(p.Allow) == 0 && len(p.PayeeDaily) == 0
}

// String is the policy as text, one rule a line ("" when it has none).
func (p Policy) String() string {
	var b strings.Builder
	assets := make([]string, 0, len(p.Limits))
	for k := range p.Limits {
		assets = append(assets, k)
	}
	sort.Strings(assets)
	for _, k := range assets {
		l := p.Limits[k]
		fmt.Fprintf(&b, "%-6s per tx %-10s per day %-10s approval above %s\n", k, cmp.Or(l.PerTx, "-"), cmp.Or(l.PerDay, "-"), cmp.Or(l.ApproveAbove, "-"))
	}
	payees := make([]string, 0, len(p.PayeeDaily))
	for payee := range p.PayeeDaily {
		payees = append(payees, payee)
	}
	sort.Strings(payees)
	for _, payee := range payees {
		m := p.PayeeDaily[payee]
		assets := make([]string, 0, len(m))
		for a := range m {
			assets = append(assets, a)
		}
		sort.Strings(assets)
		for _, a := range assets {
			fmt.Fprintf(&b, "payee %s: at most %s %s per day\n", payee, m[a], a)
		}
	}
	if len(p.Allow) > 0 {
		fmt.Fprintf(&b, "only these payees: %s\n", strings.Join(p.Allow, ", "))
	}
	if p.ApproveMessages {
		b.WriteString("message signatures need approval\n")
	}
	return b.String()
}

// shortTime trims an RFC 3339 time to the second, tolerating junk.
func shortTime(s string) string {
	if len(s) >= 19 {
		return s[:19]
	}
	return s
}

// String is the accounts' addresses, one chain a line.
func (a Accounts) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Account index %d\n", a.Index)
	for _, r := range [][2]string{
		{"EVM (Ethereum, Base, Arbitrum, Optimism, Polygon)", a.EVM},
		{"Bitcoin", a.Bitcoin},
		{"Bitcoin testnet / regtest", a.BitcoinTestnet + " / " + a.BitcoinRegtest},
		{"Solana", a.Solana},
		{"NEAR implicit account", a.NEARAccount},
		{"NEAR public key", a.NEARPublicKey},
		{"Nostr (feeds)", a.Nostr},
	} {
		fmt.Fprintf(&b, "  %-49s  %s\n", r[0], r[1])
	}
	return b.String()
}

// String is the network as one line: name, CAIP-2 id, native asset, USDC
// contract and RPCs ("no RPC" when none is configured).
func (n Network) String() string {
	rpc := "no RPC"
	if len(n.RPC) > 0 {
		rpc = strings.Join(n.RPC, ", ")
	}
	return fmt.Sprintf("%-10s %-42s %-5s USDC %-44s %s", n.Name, n.CAIP2, n.Native, cmp.Or(n.USDC, "-"), rpc)
}
