package wallet

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
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

// String is one line per entry.
func (l AuditLog) String() string { return lines(l, "no wallet entries in the ledger yet") }

// MnemonicWords is a mnemonic's words, in order.
type MnemonicWords []string

// String is the words numbered, one a line, for writing down.
func (m MnemonicWords) String() string {
	var b strings.Builder
	for i, w := range m {
		fmt.Fprintf(&b, "%2d. %s\n", i+1, w)
	}
	return b.String()
}

// NetworkList is a network table.
type NetworkList []Network

// String is one line per network.
func (l NetworkList) String() string { return lines(l, "no networks") }

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

// String is the entry as one line: number, time, kind, action, who asked,
// whether it is signed, what it is about and, for a refusal, the rule and
// why. A migrated entry shows its own time from the old log.
func (e AuditEntry) String() string {
	field := func(k string) string { s, _ := e.Fields[k].(string); return s }
	when := e.Time.UTC().Format("2006-01-02T15:04:05")
	if e.Fields["migrated"] == true {
		when = shortTime(field("old_time"))
	}
	signed := "-"
	if e.Signed {
		signed = "signed"
	}
	var what string
	switch e.Action {
	case "policy-changed":
		what = "policy sha256 " + short(field("policy_sha256"))
	case "grant-minted", "grant-revoked":
		what = fmt.Sprintf("grant %s for %s", field("grant"), field("grant_principal"))
	case "audit-migrated":
		what = fmt.Sprintf("%v entries of the old audit log, kept as %s", e.Fields["entries"], field("kept"))
		if n, ok := e.Fields["first_line_not_migrated"]; ok {
			what += fmt.Sprintf("; not migrated from line %v: %s", n, field("problem"))
		}
	default:
		what = strings.Join(strings.Fields(field("request")+" "+field("amount")+" "+field("asset")), " ")
		for _, p := range [][2]string{{"to", "payee"}, {"on", "network"}, {"tx", "tx"}, {"reservation", "reservation"}} {
			if v := field(p[1]); v != "" {
				what += " " + p[0] + " " + v
			}
		}
		// typed data: what it is and, for a vote, what was voted
		for _, p := range [][2]string{{"", "typed"}, {"proposal", "typed_proposal"}, {"choice", "typed_choice"}, {"alias", "typed_alias"}, {"until", "typed_deadline"}} {
			if v := field(p[1]); v != "" {
				what += strings.TrimRight(" "+p[0], " ") + " " + v
			}
		}
		if field("typed_unlimited") == "true" {
			what += " UNLIMITED"
		}
		if m := field("message_sha256"); m != "" {
			what += " message sha256 " + short(m) + "…"
		}
	}
	line := fmt.Sprintf("%5d %s %-10s %-14s %-14s %-6s %s", e.Seq, when, e.Kind, e.Action, e.Principal, signed, strings.TrimSpace(what))
	if rule := field("rule"); rule != "" {
		line += " — " + rule + ": " + field("reason")
	} else if reason := field("reason"); reason != "" {
		line += " — " + reason
	}
	if e.Fields["migrated"] == true {
		line += " (migrated)"
	}
	return line
}

// String is the report as text: the wallet's entries and how they are
// authenticated, each problem, and the ledger's totals.
func (r AuditReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "wallet: %d entries in the ledger", r.Entries)
	if r.Migrated > 0 {
		fmt.Fprintf(&b, " (%d moved from the old audit log)", r.Migrated)
	}
	fmt.Fprintf(&b, ": %d signed, %d covered by a later signature, %d not yet signed\n", r.Signed, r.Covered, r.Unsigned)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %v\n", p)
	}
	if r.Unsigned > 0 && len(r.Problems) == 0 {
		fmt.Fprintf(&b, "the last %d are not authenticated yet: the next payment, or a checkpoint, signs them\n", r.Unsigned)
	}
	l := r.Ledger
	key := "no key yet"
	if l.KeyID != "" {
		key = "key " + short(l.KeyID) + "…"
	}
	state := "chain, signatures and checkpoints intact"
	if n := len(l.Problems); n > 0 {
		state = fmt.Sprintf("%d entries do not verify, %d of them the wallet's or unreadable", n, len(r.Problems))
	}
	fmt.Fprintf(&b, "ledger: %d entries (%s): %s; root %s\n", l.Entries, key, state, l.Root)
	return b.String()
}

// short is the first 12 characters of a digest.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
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

// String is the policy as text, one rule a line.
func (p Policy) String() string {
	var b strings.Builder
	if p.Empty() {
		b.WriteString("no limits set: every payment is allowed\n")
	}
	for _, k := range slices.Sorted(maps.Keys(p.Limits)) {
		l := p.Limits[k]
		fmt.Fprintf(&b, "%-6s per tx %-10s per day %-10s approval above %s", k, cmp.Or(l.PerTx, "-"), cmp.Or(l.PerDay, "-"), cmp.Or(l.ApproveAbove, "-"))
		if l.MaxFee != "" {
			fmt.Fprintf(&b, "  network fee at most %s per transaction", l.MaxFee)
		}
		b.WriteString("\n")
	}
	for _, payee := range slices.Sorted(maps.Keys(p.PayeeDaily)) {
		m := p.PayeeDaily[payee]
		for _, a := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, "payee %s: at most %s %s per day\n", payee, m[a], a)
		}
	}
	if len(p.Allow) > 0 {
		fmt.Fprintf(&b, "only these payees: %s\n", strings.Join(p.Allow, ", "))
	}
	if p.ApproveMessages {
		b.WriteString("message signatures need approval\n")
	}
	for _, c := range p.AllowCalls {
		fmt.Fprintf(&b, "contract call allowed without approval: %s\n", c)
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
	if a.Cached {
		b.WriteString("(cached: read without the passphrase, so not verified; every unlock checks them against the seed)\n")
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
