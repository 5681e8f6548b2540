package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/wallet"
)

// walletExtraCommands are the policy, audit, network and payment commands.
func walletExtraCommands(a *app) []*cobra.Command {
	cmds := []*cobra.Command{walletPolicyCmd(a), walletAuditCmd(a)}
	return append(cmds, walletChainCommands(a)...)
}

func walletOpen(a *app) *wallet.Wallet { return wallet.New(a.paths.Sub("wallet")) }

// walletApprover asks on the terminal; nil when no human is present.
func walletApprover(a *app) wallet.Approver {
	if !prompt.IsTerminal(a.stdin) {
		return nil
	}
	return func(_ context.Context, summary, why string) (bool, error) {
		fmt.Fprintf(a.stderr, "%s\nApproval needed: %s.\nApprove? [y/N] ", summary, why)
		ans, err := prompt.Line(a.stdin)
		if err != nil {
			return false, err
		}
		return strings.EqualFold(ans, "y") || strings.EqualFold(ans, "yes"), nil
	}
}

func walletPolicyCmd(a *app) *cobra.Command {
	var asset, perTx, perDay, approveAbove string
	var allow, disallow, payeeDaily []string
	var reset, asJSON, approveMsgs, noApproveMsgs bool
	c := &cobra.Command{
		Use:   "policy",
		Short: "Show or change spending limits, allow-listed payees and the approval threshold",
		Example: `  sov wallet policy --asset USDC --per-tx 20 --per-day 100 --approve-above 10
  sov wallet policy --allow 0xPayee… --asset USDC --payee-daily 0xPayee…=5
  sov wallet policy --asset ETH --per-day none`,
		Args: walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := walletOpen(a)
			p, err := w.LoadPolicy()
			if err != nil {
				return err
			}
			changed := false
			if reset {
				p, changed = wallet.Policy{}, true
			}
			if (perTx != "" || perDay != "" || approveAbove != "" || len(payeeDaily) > 0) && asset == "" {
				return usagef("--per-tx, --per-day, --approve-above and --payee-daily need --asset (e.g. --asset USDC)")
			}
			if asset != "" {
				asset = strings.ToUpper(asset)
				if p.Limits == nil {
					p.Limits = map[string]wallet.Limit{}
				}
				l := p.Limits[asset]
				for _, f := range []struct {
					v   string
					dst *string
				}{{perTx, &l.PerTx}, {perDay, &l.PerDay}, {approveAbove, &l.ApproveAbove}} {
					switch f.v {
					case "":
					case "none":
						*f.dst, changed = "", true
					default:
						if _, err := wallet.ParseAmount(f.v); err != nil {
							return usagef("%v", err)
						}
						*f.dst, changed = f.v, true
					}
				}
				p.Limits[asset] = l
				for _, pd := range payeeDaily {
					payee, amt, ok := strings.Cut(pd, "=")
					if !ok {
						return usagef("--payee-daily wants PAYEE=AMOUNT, got %q", pd)
					}
					if _, err := wallet.ParseAmount(amt); err != nil {
						return usagef("%v", err)
					}
					if p.PayeeDaily == nil {
						p.PayeeDaily = map[string]map[string]string{}
					}
					if p.PayeeDaily[payee] == nil {
						p.PayeeDaily[payee] = map[string]string{}
					}
					p.PayeeDaily[payee][asset], changed = amt, true
				}
			}
			for _, x := range allow {
				p.Allow, changed = append(p.Allow, x), true
			}
			for _, x := range disallow {
				out := p.Allow[:0]
				for _, y := range p.Allow {
					if !strings.EqualFold(x, y) {
						out = append(out, y)
					}
				}
				p.Allow, changed = out, true
			}
			if approveMsgs || noApproveMsgs {
				p.ApproveMessages, changed = approveMsgs, true
			}
			if changed {
				if err := w.SetPolicy(p, "cli"); err != nil {
					return err
				}
			}
			if asJSON {
				return walletJSON(a.stdout, p)
			}
			walletPrintPolicy(a, p)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&asset, "asset", "", "asset the limits apply to (ETH, USDC, BTC, SOL, NEAR…)")
	f.StringVar(&perTx, "per-tx", "", "largest single payment (\"none\" removes)")
	f.StringVar(&perDay, "per-day", "", "most per UTC day (\"none\" removes)")
	f.StringVar(&approveAbove, "approve-above", "", "ask a human above this amount (\"none\" removes)")
	f.StringArrayVar(&payeeDaily, "payee-daily", nil, "PAYEE=AMOUNT daily cap for one payee")
	f.StringArrayVar(&allow, "allow", nil, "allow-list a payee (once any is listed, only listed payees can be paid)")
	f.StringArrayVar(&disallow, "disallow", nil, "remove a payee from the allow list")
	f.BoolVar(&approveMsgs, "approve-messages", false, "require approval for message and typed-data signatures")
	f.BoolVar(&noApproveMsgs, "no-approve-messages", false, "do not require approval for message signatures")
	f.BoolVar(&reset, "reset", false, "remove every limit")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func walletPrintPolicy(a *app, p wallet.Policy) {
	w := a.stdout
	if len(p.Limits) == 0 && len(p.Allow) == 0 && len(p.PayeeDaily) == 0 {
		fmt.Fprintln(w, "No limits set: every signature is allowed. Set some with `sov wallet policy --asset USDC --per-day 100`.")
	}
	assets := make([]string, 0, len(p.Limits))
	for k := range p.Limits {
		assets = append(assets, k)
	}
	sort.Strings(assets)
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, k := range assets {
		l := p.Limits[k]
		fmt.Fprintf(w, "%-6s per tx %-10s per day %-10s approval above %s\n", k, dash(l.PerTx), dash(l.PerDay), dash(l.ApproveAbove))
	}
	for payee, m := range p.PayeeDaily {
		for asset, v := range m {
			fmt.Fprintf(w, "payee %s: at most %s %s per day\n", payee, v, asset)
		}
	}
	if len(p.Allow) > 0 {
		fmt.Fprintf(w, "only these payees: %s\n", strings.Join(p.Allow, ", "))
	}
	if p.ApproveMessages {
		fmt.Fprintln(w, "message signatures need approval")
	}
}

func walletAuditCmd(a *app) *cobra.Command {
	var verify, asJSON bool
	c := &cobra.Command{
		Use:   "audit",
		Short: "Show the hash-chained log of every policy decision (--verify checks it)",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := walletOpen(a)
			if verify {
				rep, err := w.VerifyAudit()
				if err != nil {
					return err
				}
				if asJSON {
					if err := walletJSON(a.stdout, rep); err != nil {
						return err
					}
				}
				if !rep.OK {
					return fmt.Errorf("audit log is damaged at line %d: %s — keep a copy for investigation; new decisions will not verify past it", rep.Line, rep.Problem)
				}
				if !asJSON {
					fmt.Fprintf(a.stdout, "audit log OK: %d entries, hash chain intact\n", rep.Entries)
				}
				return nil
			}
			entries, err := wallet.ReadAudit(w.Dir())
			if err != nil {
				return err
			}
			if asJSON {
				return walletJSON(a.stdout, entries)
			}
			for _, e := range entries {
				what := strings.TrimSpace(fmt.Sprintf("%s %s %s", e.Amount, e.Asset, e.Payee))
				if e.Kind == "policy" {
					what = "policy changed"
				}
				line := fmt.Sprintf("%4d %s %-9s %-14s %-12s %s", e.Seq, walletShortTime(e.Time), e.Decision, e.Caller, e.Kind, what)
				if e.Reason != "" && e.Kind != "policy" {
					line += " — " + e.Reason
				}
				fmt.Fprintln(a.stdout, line)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&verify, "verify", false, "check the hash chain")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// walletShortTime trims an RFC 3339 time to the second, tolerating junk.
func walletShortTime(s string) string {
	if len(s) >= 19 {
		return s[:19]
	}
	return s
}
