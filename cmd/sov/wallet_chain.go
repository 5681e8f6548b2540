package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/wallet"
)

// walletChainCommands are the network, balance, send, pay, sign and grant
// commands.
func walletChainCommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		walletNetworksCmd(a), walletBalanceCmd(a), walletSendCmd(a), walletReplaceCmd(a, false), walletReplaceCmd(a, true),
		walletLedgerCmd(a), walletPayCmd(a), walletSignCmd(a), walletGrantsCmd(a),
	}
}

func sanitize(s string) string { return termtext.Clean(s) }

func walletArgs(n int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("usage: sov wallet %s", usage)
		}
		return nil
	}
}

func walletNetworksCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "networks",
		Short: "List the networks sov knows (built-in and from config) and their RPCs",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := walletSession(a, cmd)
			if err != nil {
				return err
			}
			if asJSON {
				return walletJSON(a.stdout, s.Networks())
			}
			for _, n := range s.Networks() {
				rpc := "no RPC (add one with `sov wallet networks add " + n.Name + " --rpc URL`)"
				if len(n.RPC) > 0 {
					rpc = strings.Join(n.RPC, ", ")
				}
				fmt.Fprintf(a.stdout, "%-10s %-42s %-5s USDC %-44s %s\n", n.Name, n.CAIP2, n.Native, cmpOr(n.USDC, "-"), rpc)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var nc wallet.NetworkConfig
	add := &cobra.Command{
		Use:   "add NAME --rpc URL",
		Short: "Add an RPC to a network, or add a network (e.g. a local dev chain) by RPC URL",
		Args:  walletArgs(1, "networks add NAME --rpc URL [--chain-id N] [--usdc ADDRESS]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(nc.RPC) == 0 {
				return usagef("--rpc URL is required")
			}
			var cfg wallet.Config
			if err := a.cfg.Section("wallet", &cfg); err != nil {
				return err
			}
			nc.Name = args[0]
			if err := cfg.AddRPC(cmd.Context(), nc); err != nil {
				return err
			}
			if err := config.SetSection(a.cfg.Path(), "wallet", cfg); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "network %s: RPC %s saved to %s\n", nc.Name, strings.Join(nc.RPC, ", "), a.cfg.Path())
			return nil
		},
	}
	f := add.Flags()
	f.StringArrayVar(&nc.RPC, "rpc", nil, "RPC URL (repeat for fail-over, tried in order)")
	f.Int64Var(&nc.ChainID, "chain-id", 0, "EVM chain id (read from the RPC when omitted)")
	f.StringVar(&nc.USDC, "usdc", "", "USDC (or test token) contract address on this network")
	f.StringVar(&nc.Family, "family", "", "evm (default), bitcoin, solana or near")
	f.StringVar(&nc.CAIP2, "caip2", "", "CAIP-2 id (solana and near networks)")
	f.StringVar(&nc.BitcoinNet, "bitcoin-net", "", "mainnet, testnet or regtest (bitcoin networks)")
	c.AddCommand(add)
	return c
}

func cmpOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

func walletBalanceCmd(a *app) *cobra.Command {
	var asJSON bool
	var index uint32
	c := &cobra.Command{
		Use:   "balance",
		Short: "Balances on every configured chain, queried concurrently (failed chains are shown as failed)",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := walletSession(a, cmd)
			if err != nil {
				return err
			}
			if !slicesAny(s.Networks(), func(n wallet.Network) bool { return len(n.RPC) > 0 }) {
				return errors.New("no network has an RPC configured: add one with `sov wallet networks add NAME --rpc URL`")
			}
			acct, err := s.Accounts(index)
			if err != nil {
				return err
			}
			rep := s.Wallet().Balances(cmd.Context(), s.Networks(), acct)
			if asJSON {
				if err := walletJSON(a.stdout, rep); err != nil {
					return err
				}
			} else {
				for _, t := range rep.Totals {
					line := fmt.Sprintf("%-6s %s", t.Asset, t.Amount)
					if t.Partial {
						line += fmt.Sprintf("  (incomplete: %s failed)", strings.Join(t.Missing, ", "))
					}
					fmt.Fprintln(a.stdout, line)
					for _, b := range rep.Chains {
						if b.Asset == t.Asset && b.Status == "ok" {
							fmt.Fprintf(a.stdout, "  %-10s %s\n", b.Network, b.Amount)
						} else if b.Asset == t.Asset {
							fmt.Fprintf(a.stdout, "  %-10s FAILED: %s\n", b.Network, sanitize(b.Error))
						}
					}
				}
			}
			if slicesAny(rep.Chains, func(b wallet.Balance) bool { return b.Status != "ok" }) {
				return errors.New("some chains could not be queried (shown as FAILED above); check their RPCs with `sov wallet networks`")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

func slicesAny[T any](xs []T, f func(T) bool) bool {
	for _, x := range xs {
		if f(x) {
			return true
		}
	}
	return false
}

// walletConfirm shows the summary and asks before signing unless --yes.
func walletConfirm(a *app, summary string, yes bool) error {
	fmt.Fprintln(a.stderr, sanitize(summary))
	if yes {
		return nil
	}
	if !prompt.IsTerminal(a.stdin) {
		return errors.New("not confirmed: stdin is not a terminal, so pass --yes to approve this summary (nothing was signed)")
	}
	fmt.Fprint(a.stderr, "Sign and send? [y/N] ")
	ans, err := prompt.Line(a.stdin)
	if err != nil {
		return err
	}
	if !strings.EqualFold(ans, "y") && !strings.EqualFold(ans, "yes") {
		return errors.New("cancelled: nothing was signed")
	}
	return nil
}

// walletFlags are the flags every sending command shares.
type walletFlags struct {
	yes, noWait, asJSON bool
	index               uint32
}

func (f *walletFlags) add(c *cobra.Command, yesHelp string) {
	c.Flags().BoolVar(&f.yes, "yes", false, yesHelp)
	c.Flags().BoolVar(&f.noWait, "no-wait", false, "return after broadcasting instead of waiting for confirmation")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print the ledger entry as JSON")
	c.Flags().Uint32Var(&f.index, "index", 0, "account index")
}

// walletExecute confirms p with the user, executes it and follows it.
func walletExecute(a *app, ctx context.Context, s *wallet.Session, p *wallet.Plan, f walletFlags) (wallet.LedgerEntry, error) {
	if err := walletConfirm(a, p.Summary(), f.yes); err != nil {
		return wallet.LedgerEntry{}, err
	}
	entry, err := s.Execute(ctx, p)
	if err != nil {
		return entry, err
	}
	return walletFollow(a, ctx, s, entry, f)
}

// walletFollow prints the broadcast and (unless --no-wait) waits for it.
func walletFollow(a *app, ctx context.Context, s *wallet.Session, entry wallet.LedgerEntry, f walletFlags) (wallet.LedgerEntry, error) {
	if !f.asJSON {
		fmt.Fprintf(a.stdout, "sent %s on %s\n", entry.Hash, entry.Network)
	}
	if f.noWait || entry.Status != "pending" {
		return entry, nil
	}
	wait := 2 * time.Minute
	if strings.HasPrefix(entry.Chain, "bip122:") {
		wait = 30 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	got, err := s.Wait(wctx, entry)
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(a.stderr, "still pending after %s; follow it with `sov wallet ledger --refresh`\n", wait)
		return entry, nil
	}
	if err == nil && !f.asJSON && got.Block > 0 {
		fmt.Fprintf(a.stdout, "%s in block %d\n", got.Status, got.Block)
	} else if err == nil && !f.asJSON {
		fmt.Fprintln(a.stdout, got.Status)
	}
	return got, err
}

func walletSendCmd(a *app) *cobra.Command {
	var f walletFlags
	var t wallet.Transfer
	c := &cobra.Command{
		Use:   "send AMOUNT ASSET to ADDRESS",
		Short: "Send ETH/USDC (EVM), BTC, SOL or NEAR: checked, fee-estimated and summarised before signing",
		Example: `  sov wallet send 0.01 ETH to 0xAbc… --chain base
  sov wallet send 5 USDC to 0xAbc…
  sov wallet send 0.001 BTC to bc1q…
  sov wallet send 1 SOL to HAgk…   |   sov wallet send 2 NEAR to bob.near`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 4 || !strings.EqualFold(args[2], "to") {
				return usagef("usage: sov wallet send AMOUNT ASSET to ADDRESS [--chain NETWORK] [--yes]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			t.Amount, t.Asset, t.To, t.Account = args[0], args[1], args[3], f.index
			s, err := walletSession(a, cmd)
			if err != nil {
				return err
			}
			p, err := s.Plan(cmd.Context(), t)
			if err != nil {
				return err
			}
			defer p.Close()
			entry, err := walletExecute(a, cmd.Context(), s, p, f)
			if err == nil && f.asJSON {
				return walletJSON(a.stdout, entry)
			}
			return err
		},
	}
	c.Flags().StringVar(&t.Network, "chain", "", "network name or CAIP-2 id (needed when several networks of the address's kind are configured)")
	c.Flags().Int64Var(&t.MinFeeRate, "min-fee-rate", 2, "Bitcoin: lowest fee rate in sat/vB when the node has no estimate")
	f.add(c, "approve the summary without asking (policy approvals still need a human)")
	return c
}

func walletReplaceCmd(a *app, cancel bool) *cobra.Command {
	use, short, verb := "speedup TXHASH", "Re-send a stuck transaction at the same nonce with higher fees", "Speed up"
	if cancel {
		use, short, verb = "cancel TXHASH", "Cancel a stuck transaction (a zero-value self-transfer at its nonce, higher fees)", "Cancel"
	}
	var f walletFlags
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  walletArgs(1, use),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := walletSession(a, cmd)
			if err != nil {
				return err
			}
			old, ok, err := s.Wallet().FindLedger(args[0])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("transaction %s is not in sov's ledger: see `sov wallet ledger`", args[0])
			}
			if err := walletConfirm(a, fmt.Sprintf("%s %s (nonce %d, %s %s to %s on %s)", verb, old.Hash, old.Nonce, old.Amount, old.Asset, old.To, old.Network), f.yes); err != nil {
				return err
			}
			entry, err := s.Replace(cmd.Context(), old.Hash, cancel, f.index)
			if err == nil {
				entry, err = walletFollow(a, cmd.Context(), s, entry, f)
			}
			if err == nil && f.asJSON {
				return walletJSON(a.stdout, entry)
			}
			return err
		},
	}
	f.add(c, "do not ask for confirmation")
	c.Flag("index").Usage = "account index the transaction was sent from"
	return c
}

func walletLedgerCmd(a *app) *cobra.Command {
	var asJSON, refresh bool
	c := &cobra.Command{
		Use:   "ledger",
		Short: "Transactions sov sent, with their status (--refresh follows pending ones)",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := walletSession(a, cmd)
			if err != nil {
				return err
			}
			if refresh {
				for _, err := range s.Wallet().Refresh(cmd.Context(), s.Networks()) {
					fmt.Fprintln(a.stderr, "sov: refresh:", sanitize(err.Error()))
				}
			}
			all, err := s.Wallet().Ledger()
			if err != nil {
				return err
			}
			if asJSON {
				return walletJSON(a.stdout, all)
			}
			if len(all) == 0 {
				fmt.Fprintln(a.stdout, "no transactions yet")
			}
			for _, e := range all {
				fmt.Fprintf(a.stdout, "%s %-9s %-8s %s %s to %s on %s (nonce %d) %s %s\n", walletShortTime(e.Time), e.Status, e.Kind, e.Amount, e.Asset, e.To, e.Network, e.Nonce, e.Hash, e.Caller)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&refresh, "refresh", false, "ask the chains about pending transactions first")
	return c
}

func walletPayCmd(a *app) *cobra.Command {
	var f walletFlags
	c := &cobra.Command{
		Use:   "pay REQUEST",
		Short: "Pay an x402 v2 payment request: sov picks the option you can pay at the lowest cost",
		Long: "REQUEST is a file holding the x402 v2 PaymentRequired JSON (or the base64\n" +
			"PAYMENT-REQUIRED header value), or - for stdin. sov checks every accepted\n" +
			"option (network, balance including fees, simulation), explains its choice in\n" +
			"one line and pays it through the wallet policy.",
		Args: walletArgs(1, "pay REQUEST (a file, or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := readFileOrStdin(a.stdin, args[0])
			if err != nil {
				return fmt.Errorf("read payment request: %w", err)
			}
			pr, err := wallet.ParsePaymentRequired(raw, time.Now())
			if err != nil {
				return err
			}
			s, err := walletSession(a, cmd)
			if err != nil {
				return err
			}
			route, err := s.RoutePayment(cmd.Context(), pr, f.index)
			if err != nil {
				return err
			}
			defer route.Close()
			fmt.Fprintln(a.stderr, sanitize(route.Explanation))
			p, err := route.Plan()
			if err != nil {
				return err
			}
			entry, err := walletExecute(a, cmd.Context(), s, p, f)
			if err == nil && f.asJSON {
				return walletJSON(a.stdout, struct {
					Route *wallet.Route      `json:"route"`
					Tx    wallet.LedgerEntry `json:"transaction"`
				}{&route, entry})
			}
			return err
		},
	}
	f.add(c, "approve the summary without asking (policy approvals still need a human)")
	return c
}

func readFileOrStdin(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

func walletSignCmd(a *app) *cobra.Command {
	var family, recipient, typedFile string
	var index uint32
	c := &cobra.Command{
		Use:   "sign MESSAGE | sign --typed-data FILE",
		Short: "Sign a message (EIP-191, Solana, NEAR NEP-413) or EIP-712 typed data, through the policy",
		Args: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (typedFile != "") {
				return usagef("usage: sov wallet sign MESSAGE [--family evm|solana|near] or sov wallet sign --typed-data FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := walletSession(a, cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var sig []byte
			switch {
			case typedFile != "":
				raw, rerr := os.ReadFile(typedFile)
				if rerr != nil {
					return fmt.Errorf("read typed data: %w", rerr)
				}
				td, perr := wallet.ParseTypedData(raw)
				if perr != nil {
					return perr
				}
				sig, err = s.SignTypedData(ctx, td, index)
			case family == "evm" || family == "":
				sig, err = s.SignPersonal(ctx, []byte(args[0]), index)
			case family == "solana":
				sig, err = s.SignSolanaMessage(ctx, []byte(args[0]), index)
			case family == "near" && recipient == "":
				return usagef("NEAR (NEP-413) messages need --recipient APP")
			case family == "near":
				m := wallet.NEP413Message{Message: args[0], Recipient: recipient}
				if _, rerr := rand.Read(m.Nonce[:]); rerr != nil {
					return rerr
				}
				if sig, err = s.SignNEARMessage(ctx, m, index); err == nil {
					fmt.Fprintf(a.stderr, "nonce %x\n", m.Nonce)
				}
			default:
				return usagef("--family must be evm, solana or near")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "0x%x\n", sig)
			return nil
		},
	}
	c.Flags().StringVar(&family, "family", "evm", "key to sign with: evm, solana or near")
	c.Flags().StringVar(&recipient, "recipient", "", "NEP-413 recipient (near)")
	c.Flags().StringVar(&typedFile, "typed-data", "", "EIP-712 typed data JSON file (eth_signTypedData_v4)")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

func walletGrantsCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "grants",
		Short: "Spending grants your sessions gave agents and clients (revoke one with `sov wallet grants revoke ID`)",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			gs, err := walletOpen(a).Grants()
			if err != nil {
				return err
			}
			if asJSON {
				return walletJSON(a.stdout, gs)
			}
			if len(gs) == 0 {
				fmt.Fprintln(a.stdout, "no grants")
			}
			for _, g := range gs {
				state := "active"
				if !g.Revoked.IsZero() {
					state = "revoked"
				}
				fmt.Fprintf(a.stdout, "%s %-8s %-20s by %-6s since %s\n", g.ID, state, sanitize(g.Principal), g.MintedBy, g.Created.Format(time.RFC3339))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.AddCommand(&cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a grant: every later payment under it is refused, in every process",
		Args:  walletArgs(1, "grants revoke ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := walletOpen(a).RevokeGrant(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "grant %s revoked\n", args[0])
			return nil
		},
	})
	return c
}

func walletPolicyCmd(a *app) *cobra.Command {
	var e wallet.PolicyEdit
	var asJSON, approveMsgs, noApproveMsgs bool
	c := &cobra.Command{
		Use:   "policy",
		Short: "Show or change spending limits, allow-listed payees and the approval threshold",
		Example: `  sov wallet policy --asset USDC --per-tx 20 --per-day 100 --approve-above 10
  sov wallet policy --allow 0xPayee… --asset USDC --payee-daily 0xPayee…=5
  sov wallet policy --asset ETH --per-day none`,
		Args: walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if approveMsgs || noApproveMsgs {
				e.ApproveMessages = &approveMsgs
			}
			p, err := walletOpen(a).EditPolicy(e, "cli")
			if err != nil {
				return err
			}
			if asJSON {
				return walletJSON(a.stdout, p)
			}
			walletPrintPolicy(a, p)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&e.Asset, "asset", "", "asset the limits apply to (ETH, USDC, BTC, SOL, NEAR…)")
	f.StringVar(&e.PerTx, "per-tx", "", "largest single payment (\"none\" removes)")
	f.StringVar(&e.PerDay, "per-day", "", "most per UTC day (\"none\" removes)")
	f.StringVar(&e.ApproveAbove, "approve-above", "", "ask a human above this amount (\"none\" removes)")
	f.StringArrayVar(&e.PayeeDaily, "payee-daily", nil, "PAYEE=AMOUNT daily cap for one payee")
	f.StringArrayVar(&e.Allow, "allow", nil, "allow-list a payee (once any is listed, only listed payees can be paid)")
	f.StringArrayVar(&e.Disallow, "disallow", nil, "remove a payee from the allow list")
	f.BoolVar(&approveMsgs, "approve-messages", false, "require approval for message and typed-data signatures")
	f.BoolVar(&noApproveMsgs, "no-approve-messages", false, "do not require approval for message signatures")
	f.BoolVar(&e.Reset, "reset", false, "remove every limit")
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
	for _, k := range assets {
		l := p.Limits[k]
		fmt.Fprintf(w, "%-6s per tx %-10s per day %-10s approval above %s\n", k, cmpOr(l.PerTx, "-"), cmpOr(l.PerDay, "-"), cmpOr(l.ApproveAbove, "-"))
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
				line := fmt.Sprintf("%4d %s %-9s %-14s %-12s %s", e.Seq, walletShortTime(e.Time), e.Decision, sanitize(e.Caller), e.Kind, sanitize(what))
				if e.Reason != "" && e.Kind != "policy" {
					line += " — " + sanitize(e.Reason)
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
