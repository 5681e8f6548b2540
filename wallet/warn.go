package wallet

import (
	"strings"

	"github.com/sovos/sov/wallet/internal/evm"
)

// Warnings are mistakes and attacks a valid address can hide: sending to
// the EVM zero address or to a token's own contract loses the funds, and a
// recipient that shares its first and last 4 characters with an address
// the wallet already knows (a past payee, its own account, an allow-list
// entry) but differs in between is the mark of address poisoning. A plan
// with warnings shows them in its summary, records them in the ledger, and
// always needs a person's approval: a headless caller is refused.

// Warnings are the plan's warnings, also part of its summary.
func (p *Plan) Warnings() []string { return append([]string(nil), p.warnings...) }

// warn adds the warnings for p's recipient to p and its summary.
func (w *Wallet) warn(p *Plan) {
	if p.net.Family == FamilyEVM {
		to := evm.HexToAddress(p.to)
		if to == (EVMAddress{}) {
			p.warnings = append(p.warnings, "the recipient is the zero address: anything sent there is lost")
		}
		if p.evmPlan != nil && p.evmPlan.Token != nil && *p.evmPlan.Token == to {
			p.warnings = append(p.warnings, "the recipient is the "+p.asset+" token contract itself: tokens sent there are lost")
		}
	}
	if like := lookalike(p.to, w.knownAddresses()); like != "" {
		p.warnings = append(p.warnings, "the recipient "+p.to+" looks like "+like+" (same first and last 4 characters) but is a different address: check every character (address poisoning)")
	}
	for _, x := range p.warnings {
		p.summary += "; WARNING: " + x
	}
}

// knownAddresses are the addresses the wallet has sent from or to, and its
// allow-list.
func (w *Wallet) knownAddresses() []string {
	var out []string
	if l, err := w.Ledger(); err == nil {
		for _, e := range l {
			out = append(out, e.To, e.From)
		}
	}
	if p, err := w.LoadPolicy(); err == nil {
		out = append(out, p.Allow...)
	}
	return out
}

// lookalike returns the first of known that shares to's first and last 4
// characters (after any 0x) but is a different address.
func lookalike(to string, known []string) string {
	body := func(s string) string {
		if foldable(s) {
			s = strings.ToLower(s)
		}
		return strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	}
	t := body(to)
	if len(t) < 9 {
		return ""
	}
	for _, k := range known {
		b := body(k)
		if len(b) == len(t) && b[:4] == t[:4] && b[len(b)-4:] == t[len(t)-4:] && !SamePayee(k, to) {
			return k
		}
	}
	return ""
}
