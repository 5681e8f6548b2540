package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/wallet"
)

// walletCommands returns the `sov wallet` command tree.
func walletCommands(a *app) []*cobra.Command {
	root := &cobra.Command{
		Use:   "wallet",
		Short: "Self-custodial multi-chain wallet (EVM, Bitcoin, Solana, NEAR)",
		Args:  walletArgs(0, ""),
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.PersistentFlags().String("passphrase-file", "", "read the wallet passphrase from this file (else $SOV_WALLET_PASSPHRASE, else a prompt)")
	root.AddCommand(walletNewCmd(a, false), walletNewCmd(a, true), walletAddressesCmd(a), walletRevealCmd(a), walletNetworksCmd(a),
		walletBalanceCmd(a), walletSendCmd(a), walletReplaceCmd(a, false), walletReplaceCmd(a, true), walletPayCmd(a),
		walletLedgerCmd(a), walletSignCmd(a), walletPolicyCmd(a), walletAuditCmd(a), walletGrantsCmd(a))
	return []*cobra.Command{root}
}

// walletCmd is a wallet subcommand (nil args: it takes none): run gets the
// user's session, and the library's typed errors it returns reach the user
// with the CLI's way out.
func walletCmd(a *app, use, short string, args cobra.PositionalArgs, run func(cmd *cobra.Command, s *wallet.Session, args []string) error) *cobra.Command {
	if args == nil {
		args = walletArgs(0, "")
	}
	return &cobra.Command{Use: use, Short: short, Args: args, RunE: func(cmd *cobra.Command, args []string) error {
		s, err := walletSession(a, cmd)
		if err != nil {
			return err
		}
		return walletHint(run(cmd, s, args))
	}}
}

// walletArgs wants n positional arguments, showing usage otherwise.
func walletArgs(n int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case n == 0 && len(args) > 0:
			return usagef("unexpected argument %q (see sov %s --help)", args[0], cmd.CommandPath()[4:])
		case len(args) != n:
			return usagef("usage: sov wallet %s", usage)
		}
		return nil
	}
}

// walletFixes is the CLI's way out of the library's sentinel errors.
var walletFixes = []struct {
	err error
	fix string
}{
	{wallet.ErrNoWallet, "run `sov wallet init` or `sov wallet import`"},
	{wallet.ErrWalletExists, "pass --force to replace it (back up its mnemonic first with `sov wallet reveal`)"},
	{wallet.ErrWrongPassphrase, "try again"},
	{wallet.ErrCorruptPolicy, "reset it with `sov wallet policy --reset`"},
	{wallet.ErrStaleAccounts, "run `sov wallet addresses` once to refresh them"},
	{wallet.ErrAuditDamaged, "see `sov wallet audit --verify`"},
	{wallet.ErrUnknownTransaction, "see `sov wallet ledger`"},
	{wallet.ErrNoNetworks, "add one with `sov wallet networks add NAME --rpc URL`"},
	{wallet.ErrUnanswered, "they are shown as FAILED; check their RPCs with `sov wallet networks`"},
}

func walletHint(err error) error {
	var (
		noRPC   *wallet.NoRPCError
		refused *wallet.RefusedError
		unreach *wallet.UnreachableRPCError
	)
	for _, f := range walletFixes {
		if errors.Is(err, f.err) {
			return fmt.Errorf("%w: %s", err, f.fix)
		}
	}
	switch {
	case errors.Is(err, prompt.ErrNoSecret):
		return fmt.Errorf("%w, or pass --passphrase-file FILE", err)
	case errors.Is(err, wallet.ErrEditNeedsAsset):
		return usagef("--per-tx, --per-day, --approve-above and --payee-daily need --asset (e.g. --asset USDC)")
	case errors.As(err, &noRPC) && noRPC.Family == wallet.FamilyBitcoin:
		return fmt.Errorf("%w: add one with `sov wallet networks add %s --family bitcoin --rpc http://user:pass@host:port`", err, noRPC.Network)
	case errors.As(err, &noRPC):
		return fmt.Errorf("%w: add one with `sov wallet networks add %s --rpc URL`", err, noRPC.Network)
	case errors.As(err, new(*wallet.NetworkChoiceError)):
		return usagef("%v: pick one with --chain NETWORK", err)
	case errors.As(err, new(*wallet.UnknownNetworkError)):
		return usagef("%v: see `sov wallet networks`", err)
	case errors.As(err, &unreach):
		return fmt.Errorf("%w (pass --chain-id to add it offline)", err)
	case errors.As(err, &refused) && refused.Headless:
		return fmt.Errorf("%w (headless: approve it in a terminal, or raise the threshold with `sov wallet policy`)", err)
	case errors.As(err, &refused) && refused.Rule == wallet.RuleAllowList:
		return fmt.Errorf("%w: allow the payee with `sov wallet policy --allow PAYEE`", err)
	case errors.Is(err, wallet.ErrNoRecipient):
		return usagef("%v: pass --recipient APP", err)
	case errors.Is(err, wallet.ErrInvalidTransfer), errors.Is(err, wallet.ErrInvalidEdit), errors.Is(err, wallet.ErrInvalidMessage):
		return usagef("%v", err)
	}
	return err
}

// walletSession is the user's session for this command: the terminal
// approves when there is one, otherwise nobody can; the passphrase is read
// only when a request needs the keys.
func walletSession(a *app, cmd *cobra.Command) (*wallet.Session, error) {
	nets, err := wallet.LoadNetworks(a.cfg)
	if err != nil {
		return nil, err
	}
	w := wallet.New(a.paths.Sub("wallet"))
	approve := func(_ context.Context, summary, why string) (bool, error) {
		return walletAsk(a, fmt.Sprintf("%s\nApproval needed: %s.\nApprove?", termtext.Clean(summary), termtext.Clean(why)))
	}
	return w.NewSession(wallet.SessionConfig{Caller: "cli", Approver: approve, Interactive: prompt.IsTerminal(a.stdin), Networks: nets,
		Unlock: w.Store().Unlocker(walletPassphrase(a, cmd, false))}), nil
}

// walletPassphrase reads the wallet passphrase (file > env > TTY) when the
// wallet asks for it.
func walletPassphrase(a *app, cmd *cobra.Command, confirm bool) wallet.Passphrase {
	return func() ([]byte, error) {
		file, _ := cmd.Flags().GetString("passphrase-file")
		p, err := prompt.Secret(prompt.Source{Env: "SOV_WALLET_PASSPHRASE", File: file, Prompt: "Wallet passphrase: ", Confirm: confirm,
			Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr})
		if err != nil {
			return nil, fmt.Errorf("wallet passphrase: %w", err)
		}
		return p, nil
	}
}

// walletAsk asks a yes/no question on the terminal; no is the default.
func walletAsk(a *app, question string) (bool, error) {
	fmt.Fprint(a.stderr, question+" [y/N] ")
	ans, err := prompt.Line(a.stdin)
	return strings.EqualFold(ans, "y") || strings.EqualFold(ans, "yes"), err
}

// walletNewCmd is init (a fresh mnemonic, shown once and checked) or import
// (the user's own); either is sealed under a new passphrase.
func walletNewCmd(a *app, imported bool) *cobra.Command {
	var words int
	var force, noConfirm bool
	var bip39File string
	use, short, done := "init", "Create a new wallet: a fresh mnemonic shown once, then sealed under your passphrase", "created"
	if imported {
		use, short, done = "import", "Import an existing BIP39 mnemonic (from a no-echo prompt, or stdin when piped)", "imported"
	}
	c := walletCmd(a, use, short, nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		if s.Wallet().Store().Exists() && !force {
			return wallet.ErrWalletExists
		}
		pass := walletPassphrase(a, cmd, true)
		var m string
		var err error
		if imported {
			m, err = walletReadMnemonic(a)
		} else if p, perr := pass(); perr != nil {
			return perr
		} else {
			// asked before the words are shown, so a mistyped passphrase
			// does not waste words already written down
			defer clear(p)
			pass = func() ([]byte, error) { return p, nil }
			m, err = walletNewMnemonic(a, words, !noConfirm)
		}
		if err != nil {
			return err
		}
		var bip39Pass []byte
		if bip39File != "" {
			if bip39Pass, err = prompt.Secret(prompt.Source{File: bip39File}); err != nil {
				return fmt.Errorf("BIP39 passphrase: %w", err)
			}
			defer clear(bip39Pass)
		}
		acct, err := s.Wallet().Store().CreateWith(m, string(bip39Pass), pass, force)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Wallet %s. EVM %s, Bitcoin %s, Solana %s\n", done, acct.EVM, acct.Bitcoin, acct.Solana)
		return nil
	})
	c.Flags().BoolVar(&force, "force", false, "replace an existing wallet")
	if imported {
		c.Flags().StringVar(&bip39File, "bip39-passphrase-file", "", "optional BIP39 passphrase (the \"25th word\") read from this file")
	} else {
		c.Flags().IntVar(&words, "words", 24, "mnemonic length (12 or 24)")
		c.Flags().BoolVar(&noConfirm, "no-confirm", false, "skip the word check (scripts; you must still back the words up)")
	}
	return c
}

// walletReadMnemonic reads the user's mnemonic, without echo on a terminal
// or as one line of piped stdin, and checks it.
func walletReadMnemonic(a *app) (string, error) {
	var m string
	if prompt.IsTerminal(a.stdin) {
		b, err := prompt.Secret(prompt.Source{Prompt: "Mnemonic (input hidden): ", Stdin: a.stdin, Stderr: a.stderr})
		if err != nil {
			return "", fmt.Errorf("read mnemonic: %w", err)
		}
		defer clear(b)
		m = string(b)
	} else if line, err := prompt.Line(bufio.NewReader(a.stdin)); err == nil && line != "" {
		m = line
	} else {
		return "", errors.New("no mnemonic on stdin: pipe the words in, or run in a terminal to be prompted")
	}
	if err := wallet.ValidateMnemonic(m); err != nil {
		return "", fmt.Errorf("%w (nothing was saved)", err)
	}
	return m, nil
}

// walletNewMnemonic makes a mnemonic of words words, shows it once and,
// when check, asks for three of its words back.
func walletNewMnemonic(a *app, words int, check bool) (string, error) {
	if words != 12 && words != 24 {
		return "", usagef("--words must be 12 or 24")
	}
	m, err := wallet.NewMnemonic(words)
	if err != nil {
		return "", err
	}
	fmt.Fprint(a.stdout, "Write these words down, in order, and keep them offline. They are shown only once:\n\n")
	for i, w := range strings.Fields(m) {
		fmt.Fprintf(a.stdout, "%2d. %s\n", i+1, w)
	}
	fmt.Fprintln(a.stdout)
	if !check {
		return m, nil
	}
	br := bufio.NewReader(a.stdin)
	err = wallet.ConfirmMnemonic(m, 3, func(pos int) (string, error) {
		fmt.Fprintf(a.stderr, "Confirm word #%d: ", pos)
		return prompt.Line(br)
	})
	if err != nil {
		return "", fmt.Errorf("%w: nothing was saved; run `sov wallet init` again and copy the words carefully", err)
	}
	return m, nil
}

func walletAddressesCmd(a *app) *cobra.Command {
	var asJSON bool
	var index uint32
	c := walletCmd(a, "addresses", "Show this wallet's addresses on every chain", nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		acct, err := s.Accounts(index)
		if err != nil {
			return err
		}
		return walletShow(a, asJSON, acct)
	})
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

func walletRevealCmd(a *app) *cobra.Command {
	return walletCmd(a, "reveal", "Show the mnemonic (needs the wallet passphrase)", nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		m, bip39Pass, err := s.Wallet().Store().RevealWith(walletPassphrase(a, cmd, false))
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, m)
		if bip39Pass != "" {
			fmt.Fprintln(a.stderr, "(this wallet also uses a BIP39 passphrase, not shown)")
		}
		return nil
	})
}

func walletNetworksCmd(a *app) *cobra.Command {
	var asJSON bool
	c := walletCmd(a, "networks", "List the networks sov knows (built-in and from config) and their RPCs", nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		if asJSON {
			return writeJSON(a.stdout, s.Networks())
		}
		for _, n := range s.Networks() {
			line := n.String()
			if len(n.RPC) == 0 {
				line += " (add one with `sov wallet networks add " + n.Name + " --rpc URL`)"
			}
			fmt.Fprintln(a.stdout, termtext.Clean(line))
		}
		return nil
	})
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var nc wallet.NetworkConfig
	add := walletCmd(a, "add NAME --rpc URL", "Add an RPC to a network, or add a network (e.g. a local dev chain) by RPC URL", walletArgs(1, "networks add NAME --rpc URL [--chain-id N] [--usdc ADDRESS]"), func(cmd *cobra.Command, _ *wallet.Session, args []string) error {
		if len(nc.RPC) == 0 {
			return usagef("--rpc URL is required")
		}
		nc.Name = args[0]
		if err := wallet.SaveRPC(cmd.Context(), a.cfg, nc); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "network %s: RPC %s saved to %s\n", nc.Name, strings.Join(nc.RPC, ", "), a.cfg.Path())
		return nil
	})
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

func walletBalanceCmd(a *app) *cobra.Command {
	var asJSON bool
	var index uint32
	c := walletCmd(a, "balance", "Balances on every configured chain, queried concurrently (failed chains are shown as failed)", nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		rep, err := s.Balances(cmd.Context(), index)
		if err != nil && !errors.Is(err, wallet.ErrUnanswered) {
			return err
		}
		if perr := walletShow(a, asJSON, rep); perr != nil {
			return perr
		}
		return err // the chains that failed, shown as FAILED
	})
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
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

// walletExecute shows p's summary and asks (unless --yes), executes p,
// follows it unless --no-wait, and prints the outcome; --json prints the
// ledger entry, or what view makes of it.
func walletExecute(a *app, cmd *cobra.Command, s *wallet.Session, p *wallet.Plan, f walletFlags, view func(wallet.LedgerEntry) any) error {
	fmt.Fprintln(a.stderr, termtext.Clean(p.Summary()))
	if !f.yes && !prompt.IsTerminal(a.stdin) {
		return errors.New("not confirmed: stdin is not a terminal, so pass --yes to approve this summary (nothing was signed)")
	}
	if !f.yes {
		if ok, err := walletAsk(a, "Sign and send?"); err != nil || !ok {
			return cmp.Or(err, errors.New("cancelled: nothing was signed"))
		}
	}
	entry, err := s.Execute(cmd.Context(), p)
	if err == nil && !f.asJSON {
		fmt.Fprintf(a.stdout, "sent %s on %s\n", entry.Hash, entry.Network)
	}
	if err == nil && !f.noWait {
		entry, err = s.Follow(cmd.Context(), entry)
		switch {
		case errors.As(err, new(*wallet.PendingError)):
			fmt.Fprintf(a.stderr, "%v; follow it with `sov wallet ledger --refresh`\n", err)
			err = nil
		case err != nil || f.asJSON: // nothing more to say here
		case entry.Block > 0:
			fmt.Fprintf(a.stdout, "%s in block %d\n", entry.Status, entry.Block)
		default:
			fmt.Fprintln(a.stdout, entry.Status)
		}
	}
	if err != nil || !f.asJSON {
		return err
	}
	if view != nil {
		return writeJSON(a.stdout, view(entry))
	}
	return writeJSON(a.stdout, entry)
}

func walletSendCmd(a *app) *cobra.Command {
	var f walletFlags
	var t wallet.Transfer
	args := func(cmd *cobra.Command, args []string) error {
		if len(args) != 4 || !strings.EqualFold(args[2], "to") {
			return usagef("usage: sov wallet send AMOUNT ASSET to ADDRESS [--chain NETWORK] [--yes]")
		}
		return nil
	}
	c := walletCmd(a, "send AMOUNT ASSET to ADDRESS", "Send ETH/USDC (EVM), BTC, SOL or NEAR: checked, fee-estimated and summarised before signing", args, func(cmd *cobra.Command, s *wallet.Session, args []string) error {
		t.Amount, t.Asset, t.To, t.Account = args[0], args[1], args[3], f.index
		p, err := s.Plan(cmd.Context(), t)
		if err != nil {
			return err
		}
		defer p.Close()
		return walletExecute(a, cmd, s, p, f, nil)
	})
	c.Example = `  sov wallet send 0.01 ETH to 0xAbc… --chain base
  sov wallet send 5 USDC to 0xAbc…
  sov wallet send 0.001 BTC to bc1q…
  sov wallet send 1 SOL to HAgk…   |   sov wallet send 2 NEAR to bob.near`
	c.Flags().StringVar(&t.Network, "chain", "", "network name or CAIP-2 id (needed when several networks of the address's kind are configured)")
	c.Flags().Int64Var(&t.MinFeeRate, "min-fee-rate", 2, "Bitcoin: lowest fee rate in sat/vB when the node has no estimate")
	f.add(c, "approve the summary without asking (policy approvals still need a human)")
	return c
}

// walletReplaceCmd is speedup or cancel.
func walletReplaceCmd(a *app, cancel bool) *cobra.Command {
	use, short := "speedup TXHASH", "Re-send a stuck transaction at the same nonce with higher fees"
	if cancel {
		use, short = "cancel TXHASH", "Cancel a stuck transaction (a zero-value self-transfer at its nonce, higher fees)"
	}
	var f walletFlags
	c := walletCmd(a, use, short, walletArgs(1, use), func(cmd *cobra.Command, s *wallet.Session, args []string) error {
		p, err := s.PlanReplace(cmd.Context(), args[0], cancel, f.index)
		if err != nil {
			return err
		}
		defer p.Close()
		return walletExecute(a, cmd, s, p, f, nil)
	})
	f.add(c, "do not ask for confirmation")
	c.Flag("index").Usage = "account index the transaction was sent from"
	return c
}

func walletLedgerCmd(a *app) *cobra.Command {
	var asJSON, refresh bool
	c := walletCmd(a, "ledger", "Transactions sov sent, with their status (--refresh follows pending ones)", nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		if refresh {
			for _, err := range s.Wallet().Refresh(cmd.Context(), s.Networks()) {
				fmt.Fprintln(a.stderr, "sov: refresh:", termtext.Clean(err.Error()))
			}
		}
		all, err := s.Wallet().Ledger()
		if err != nil {
			return err
		}
		return walletShow(a, asJSON, all)
	})
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&refresh, "refresh", false, "ask the chains about pending transactions first")
	return c
}

func walletPayCmd(a *app) *cobra.Command {
	var f walletFlags
	c := walletCmd(a, "pay REQUEST", "Pay an x402 v2 payment request: sov picks the option you can pay at the lowest cost", walletArgs(1, "pay REQUEST (a file, or - for stdin)"), func(cmd *cobra.Command, s *wallet.Session, args []string) error {
		raw, err := walletReadArg(a, args[0])
		if err != nil {
			return fmt.Errorf("read payment request: %w", err)
		}
		route, err := s.RouteRequest(cmd.Context(), raw, f.index)
		if err != nil {
			return err
		}
		defer route.Close()
		fmt.Fprintln(a.stderr, termtext.Clean(route.Explanation))
		p, err := route.Plan()
		if err != nil {
			return err
		}
		return walletExecute(a, cmd, s, p, f, func(tx wallet.LedgerEntry) any { return wallet.Payment{Route: &route, Tx: tx} })
	})
	c.Long = "REQUEST is a file holding the x402 v2 PaymentRequired JSON (or the base64\n" +
		"PAYMENT-REQUIRED header value), or - for stdin. sov checks every accepted\n" +
		"option (network, balance including fees, simulation), explains its choice in\n" +
		"one line and pays it through the wallet policy."
	f.add(c, "approve the summary without asking (policy approvals still need a human)")
	return c
}

// walletReadArg reads the file name, or stdin for "-".
func walletReadArg(a *app, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(a.stdin)
	}
	return os.ReadFile(name)
}

func walletSignCmd(a *app) *cobra.Command {
	var m wallet.Message
	var typedFile string
	var index uint32
	args := func(cmd *cobra.Command, args []string) error {
		if (len(args) == 1) == (typedFile != "") {
			return usagef("usage: sov wallet sign MESSAGE [--family evm|solana|near] or sov wallet sign --typed-data FILE")
		}
		return nil
	}
	c := walletCmd(a, "sign MESSAGE | sign --typed-data FILE", "Sign a message (EIP-191, Solana, NEAR NEP-413) or EIP-712 typed data, through the policy", args, func(cmd *cobra.Command, s *wallet.Session, args []string) error {
		var err error
		if typedFile == "" {
			m.Text = args[0]
		} else if m.TypedData, err = walletReadArg(a, typedFile); err != nil {
			return fmt.Errorf("read typed data: %w", err)
		}
		sig, err := s.SignMessage(cmd.Context(), m, index)
		if err != nil {
			return err
		}
		if sig.Nonce != nil {
			fmt.Fprintf(a.stderr, "nonce %x\n", sig.Nonce)
		}
		fmt.Fprintf(a.stdout, "0x%x\n", sig.Sig)
		return nil
	})
	c.Flags().StringVar(&m.Family, "family", "evm", "key to sign with: evm, solana or near")
	c.Flags().StringVar(&m.Recipient, "recipient", "", "NEP-413 recipient (near)")
	c.Flags().StringVar(&typedFile, "typed-data", "", "EIP-712 typed data JSON file (eth_signTypedData_v4)")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

func walletGrantsCmd(a *app) *cobra.Command {
	var asJSON bool
	c := walletCmd(a, "grants", "Spending grants your sessions gave agents and clients (revoke one with `sov wallet grants revoke ID`)", nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		gs, err := s.Wallet().Grants()
		if err != nil {
			return err
		}
		return walletShow(a, asJSON, gs)
	})
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.AddCommand(walletCmd(a, "revoke ID", "Revoke a grant: every later payment under it is refused, in every process", walletArgs(1, "grants revoke ID"), func(cmd *cobra.Command, s *wallet.Session, args []string) error {
		if err := s.Wallet().RevokeGrant(args[0]); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "grant %s revoked\n", args[0])
		return nil
	}))
	return c
}

func walletPolicyCmd(a *app) *cobra.Command {
	var e wallet.PolicyEdit
	var asJSON, approveMsgs, noApproveMsgs bool
	c := walletCmd(a, "policy", "Show or change spending limits, allow-listed payees and the approval threshold", nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		if approveMsgs || noApproveMsgs {
			e.ApproveMessages = &approveMsgs
		}
		p, err := s.Wallet().EditPolicy(e, "cli")
		if err != nil {
			return err
		}
		if p.Empty() && !asJSON {
			fmt.Fprintln(a.stdout, "No limits set: every signature is allowed. Set some with `sov wallet policy --asset USDC --per-day 100`.")
		}
		return walletShow(a, asJSON, p)
	})
	c.Example = `  sov wallet policy --asset USDC --per-tx 20 --per-day 100 --approve-above 10
  sov wallet policy --allow 0xPayee… --asset USDC --payee-daily 0xPayee…=5
  sov wallet policy --asset ETH --per-day none`
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

func walletAuditCmd(a *app) *cobra.Command {
	var verify, asJSON bool
	c := walletCmd(a, "audit", "Show the hash-chained log of every policy decision (--verify checks it)", nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		if !verify {
			entries, err := wallet.ReadAudit(s.Wallet().Dir())
			if err != nil {
				return err
			}
			return walletShow(a, asJSON, entries)
		}
		rep, err := s.Wallet().VerifyAudit()
		if err != nil {
			return err
		}
		if err := walletShow(a, asJSON, rep); err != nil {
			return err
		}
		return rep.Err()
	})
	c.Flags().BoolVar(&verify, "verify", false, "check the hash chain")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// walletShow prints v as JSON, or its text form sanitised.
func walletShow(a *app, asJSON bool, v fmt.Stringer) error {
	if asJSON {
		return writeJSON(a.stdout, v)
	}
	fmt.Fprint(a.stdout, termtext.Clean(v.String()))
	return nil
}
