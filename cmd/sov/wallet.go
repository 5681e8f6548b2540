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

	"github.com/sovos/sov/internal/boltfile"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/wallet"
)

// walletCommands returns the `sov wallet` command tree; every command's
// errors go through walletHint.
func walletCommands(a *app) []*cobra.Command {
	root := command("wallet", "Self-custodial multi-chain wallet (EVM, Bitcoin, Solana, NEAR)", nil, func(cmd *cobra.Command, _ []string) error { return cmd.Help() })
	root.PersistentFlags().String("passphrase-file", "", "read the wallet passphrase from this file (else $SOV_WALLET_PASSPHRASE, else a prompt)")
	root.AddCommand(walletNewCmd(a, false), walletNewCmd(a, true), walletAddressesCmd(a), walletRevealCmd(a), walletNetworksCmd(a),
		walletBalanceCmd(a), walletSendCmd(a), walletReplaceCmd(a, false), walletReplaceCmd(a, true), walletPayCmd(a),
		walletLedgerCmd(a), walletSignCmd(a), walletPolicyCmd(a), walletAuditCmd(a), walletGrantsCmd(a))
	return guard(walletHint, "the wallet failed unexpectedly (%v): wallet.db may be damaged (the seed is kept apart, in seed.sealed)", root)
}

// walletCmd is a wallet subcommand (nil args: none) run in the user's
// session.
func walletCmd(a *app, use, short string, args cobra.PositionalArgs, run func(cmd *cobra.Command, s *wallet.Session, args []string) error) *cobra.Command {
	return command(use, short, args, func(cmd *cobra.Command, args []string) error {
		s, err := walletSession(a, cmd)
		if err != nil {
			return err
		}
		return run(cmd, s, args)
	})
}

// walletView shows what show returns: JSON with --json, else its text form
// sanitised; beside an error only a partial result (chains that did not
// answer, a ledger that does not verify).
func walletView(a *app, use, short string, show func(cmd *cobra.Command, s *wallet.Session) (fmt.Stringer, error)) *cobra.Command {
	var asJSON bool
	c := walletCmd(a, use, short, nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		v, err := show(cmd, s)
		if err != nil && !errors.Is(err, wallet.ErrUnanswered) && !errors.Is(err, ledger.ErrDamaged) {
			return err
		}
		return cmp.Or(a.show(asJSON, v, nil), err)
	})
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// walletHint adds to a library error the command or flag that fixes it.
func walletHint(err error) error {
	var noRPC *wallet.NoRPCError
	var refused *wallet.RefusedError
	switch {
	case errors.As(err, &noRPC) && noRPC.Family == wallet.FamilyBitcoin:
		return fmt.Errorf("%w: add one with `sov wallet networks add %s --family bitcoin --rpc http://user:pass@host:port`", err, noRPC.Network)
	case errors.As(err, &noRPC):
		return fmt.Errorf("%w: add one with `sov wallet networks add %s --rpc URL`", err, noRPC.Network)
	case errors.As(err, &refused) && refused.Headless:
		return fmt.Errorf("%w (headless: run it in a terminal, where you approve by typing the wallet passphrase)", err)
	case errors.As(err, &refused) && refused.Rule == wallet.RuleAllowList:
		return fmt.Errorf("%w: allow the payee with `sov wallet policy --allow PAYEE`", err)
	case errors.As(err, &refused) && refused.Rule == wallet.RulePaid:
		return fmt.Errorf("%w: pass --again to pay it once more", err)
	case errors.As(err, &refused) && refused.Rule == wallet.RuleMaxFee:
		return fmt.Errorf("%w: wait for lower fees, or raise the cap with `sov wallet policy --asset ASSET --max-fee AMOUNT`", err)
	}
	return withFix(err,
		fix{wallet.ErrNoWallet, ": run `sov wallet init` or `sov wallet import`", false},
		fix{boltfile.ErrDamaged, ": the seed is kept apart in seed.sealed: move wallet.db aside and sov recreates it (limits and grants start empty: set them again with `sov wallet policy`)", false},
		fix{wallet.ErrWalletExists, ": pass --force to replace it (back up its mnemonic first with `sov wallet reveal`)", false},
		fix{wallet.ErrWrongPassphrase, ": try again", false},
		fix{wallet.ErrCorruptPolicy, ": reset it with `sov wallet policy --reset`", false},
		fix{wallet.ErrStaleAccounts, ": run `sov wallet addresses` once to refresh them", false},
		fix{wallet.ErrNotRecorded, ": check the ledger with `sov ledger verify` and the disk it is on", false},
		fix{wallet.ErrUnknownTransaction, ": see `sov wallet ledger`", false},
		fix{wallet.ErrNoNetworks, ": add one with `sov wallet networks add NAME --rpc URL`", false},
		fix{wallet.ErrUnanswered, ": they are shown as FAILED; check their RPCs with `sov wallet networks`", false},
		fix{new(*wallet.WordMismatchError), ": run `sov wallet init` again and copy the words carefully", false},
		fix{new(*wallet.UnreachableRPCError), ": pass --chain-id to add it offline", false},
		fix{new(*wallet.ChainIdentityError), ": check the RPC URL with `sov wallet networks` (a local chain that was reset can be added again under a new --caip2)", false},
		fix{wallet.ErrWordCount, ": pass --words 12 or --words 24", true},
		fix{wallet.ErrEditNeedsAsset, ": --per-tx, --per-day, --approve-above, --max-fee and --payee-daily need --asset (e.g. --asset USDC)", true},
		fix{new(*wallet.NetworkChoiceError), ": pick one with --chain NETWORK", true},
		fix{new(*wallet.UnknownNetworkError), ": see `sov wallet networks`", true},
		fix{wallet.ErrNoRecipient, ": pass --recipient APP", true},
		fix{wallet.ErrInvalidNetwork, ": pass --rpc URL", true},
		// the rest of a bad request is named in the message itself
		fix{wallet.ErrInvalidTransfer, "", true},
		fix{wallet.ErrInvalidEdit, "", true},
		fix{wallet.ErrInvalidMessage, "", true})
}

// walletSession is the user's session on the wallet: keys are unlocked
// only when needed; a person at the terminal approves by typing the wallet
// passphrase there (never from the environment or a file), else nobody.
func walletSession(a *app, cmd *cobra.Command) (*wallet.Session, error) {
	return a.WalletSession(cmd.Context(), "cli", walletApprover(a), prompt.IsTerminal(a.stdin), walletPassphrase(a, cmd, false))
}

// walletApprover asks the person at the terminal to approve a payment by
// typing the wallet passphrase.
func walletApprover(a *app) wallet.Approver {
	return func(_ context.Context, summary, why string) ([]byte, error) {
		fmt.Fprintf(a.stderr, "%s\nApproval needed: %s.\n", termtext.Clean(summary), termtext.Clean(why))
		p, err := prompt.Secret(prompt.Source{Prompt: "Type the wallet passphrase to approve (Enter declines): ", Stdin: a.stdin, Stderr: a.stderr})
		if errors.Is(err, prompt.ErrNoSecret) {
			return nil, nil // nothing typed: declined
		}
		return p, err
	}
}

// walletPassphrase reads the wallet passphrase (file > env > TTY) on demand.
func walletPassphrase(a *app, cmd *cobra.Command, confirm bool) wallet.Passphrase {
	return a.secret(cmd, "passphrase-file", "wallet passphrase", "SOV_WALLET_PASSPHRASE", confirm)
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
	var c wallet.Creation
	var noConfirm bool
	var bip39File string
	use, short, done := "init", "Create a new wallet: a fresh mnemonic shown once, then sealed under your passphrase", "created"
	if imported {
		use, short, done = "import", "Import an existing BIP39 mnemonic (from a no-echo prompt, or stdin when piped)", "imported"
	}
	cmd := walletCmd(a, use, short, nil, func(cmd *cobra.Command, s *wallet.Session, _ []string) error {
		if imported {
			c.Import = func() (string, error) { return walletReadMnemonic(a) }
		}
		if bip39File != "" {
			c.BIP39 = func() ([]byte, error) { return prompt.Secret(prompt.Source{File: bip39File}) }
		}
		c.Pass = walletPassphrase(a, cmd, true)
		c.Show = func(words wallet.MnemonicWords) error {
			_, err := fmt.Fprintf(a.stdout, "Write these words down, in order, and keep them offline. They are shown only once:\n\n%s\n", words)
			return err
		}
		if !noConfirm {
			br := bufio.NewReader(a.stdin)
			c.Confirm = func(pos int) (string, error) {
				fmt.Fprintf(a.stderr, "Confirm word #%d: ", pos)
				return prompt.Line(br)
			}
		}
		acct, err := s.Wallet().Store().Init(c)
		return a.say(err, "Wallet %s. EVM %s, Bitcoin %s, Solana %s", done, acct.EVM, acct.Bitcoin, acct.Solana)
	})
	cmd.Flags().BoolVar(&c.Overwrite, "force", false, "replace an existing wallet")
	if imported {
		cmd.Flags().StringVar(&bip39File, "bip39-passphrase-file", "", "optional BIP39 passphrase (the \"25th word\") read from this file")
	} else {
		cmd.Flags().IntVar(&c.Words, "words", 24, "mnemonic length (12 or 24)")
		cmd.Flags().BoolVar(&noConfirm, "no-confirm", false, "skip the word check (scripts; you must still back the words up)")
	}
	return cmd
}

// walletReadMnemonic reads the mnemonic: no echo on a terminal, else all of
// stdin.
func walletReadMnemonic(a *app) (string, error) {
	if prompt.IsTerminal(a.stdin) {
		b, err := prompt.Secret(prompt.Source{Prompt: "Mnemonic (input hidden): ", Stdin: a.stdin, Stderr: a.stderr})
		defer clear(b)
		return string(b), err
	}
	m, err := wallet.ReadMnemonic(a.stdin)
	if errors.Is(err, wallet.ErrNoMnemonic) {
		return "", errors.New("no mnemonic on stdin: pipe the words in, or run in a terminal to be prompted")
	}
	return m, err
}

func walletAddressesCmd(a *app) *cobra.Command {
	var index uint32
	c := walletView(a, "addresses", "Show this wallet's addresses on every chain", func(_ *cobra.Command, s *wallet.Session) (fmt.Stringer, error) {
		return s.Accounts(index)
	})
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
	c := walletView(a, "networks", "List the networks sov knows (built-in and from config) and their RPCs (add one with `sov wallet networks add NAME --rpc URL`)", func(_ *cobra.Command, s *wallet.Session) (fmt.Stringer, error) {
		return s.Networks(), nil
	})
	var nc wallet.NetworkConfig
	add := walletCmd(a, "add NAME --rpc URL", "Add an RPC to a network, or add a network (e.g. a local dev chain) by RPC URL", nargs(1, 1, "the network NAME"), func(cmd *cobra.Command, _ *wallet.Session, args []string) error {
		nc.Name = args[0]
		return a.say(wallet.SaveRPC(cmd.Context(), a.Config, nc), "network %s: RPC %s saved to %s", nc.Name, strings.Join(nc.RPC, ", "), a.Config.Path())
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
	var index uint32
	c := walletView(a, "balance", "Balances on every configured chain, queried concurrently (failed chains are shown as failed)", func(cmd *cobra.Command, s *wallet.Session) (fmt.Stringer, error) {
		return s.Balances(cmd.Context(), index)
	})
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

// walletSending plans a transaction, has its summary confirmed (or --yes),
// executes and follows it (unless --no-wait); --json prints it (or view's).
func walletSending(a *app, use, short, yesHelp string, args cobra.PositionalArgs, plan func(cmd *cobra.Command, s *wallet.Session, args []string, index uint32) (*wallet.Plan, func(wallet.LedgerEntry) any, error)) *cobra.Command {
	var yes, noWait, asJSON bool
	var index uint32
	c := walletCmd(a, use, short, args, func(cmd *cobra.Command, s *wallet.Session, args []string) error {
		p, view, err := plan(cmd, s, args, index)
		if err != nil {
			return err
		}
		defer p.Close()
		fmt.Fprintln(a.stderr, termtext.Clean(p.Summary()))
		if !yes && !prompt.IsTerminal(a.stdin) {
			return errors.New("not confirmed: stdin is not a terminal, so pass --yes to approve this summary (nothing was signed)")
		}
		if !yes {
			if ok, err := walletAsk(a, "Sign and send?"); err != nil || !ok {
				return cmp.Or(err, errors.New("cancelled: nothing was signed"))
			}
		}
		entry, err := s.Execute(cmd.Context(), p)
		if err == nil && !asJSON {
			a.say(nil, "sent %s on %s", entry.Hash, entry.Network) // the hash is an RPC reply
		}
		if err == nil && !noWait {
			entry, err = s.Follow(cmd.Context(), entry)
			switch {
			case errors.As(err, new(*wallet.PendingError)):
				fmt.Fprintf(a.stderr, "%s; follow it with `sov wallet ledger --refresh`\n", termtext.Clean(err.Error()))
				err = nil
			case err != nil || asJSON: // nothing more to say here
			case entry.Block > 0:
				a.say(nil, "%s in block %d", entry.Status, entry.Block)
			default:
				a.say(nil, "%s", entry.Status)
			}
		}
		switch {
		case err != nil || !asJSON:
			return err
		case view != nil:
			return writeJSON(a.stdout, view(entry))
		}
		return writeJSON(a.stdout, entry)
	})
	c.Flags().BoolVar(&yes, "yes", false, yesHelp)
	c.Flags().BoolVar(&noWait, "no-wait", false, "return after broadcasting instead of waiting for confirmation")
	c.Flags().BoolVar(&asJSON, "json", false, "print the transaction as JSON")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

func walletSendCmd(a *app) *cobra.Command {
	var t wallet.Transfer
	args := func(cmd *cobra.Command, args []string) error {
		if len(args) != 4 || !strings.EqualFold(args[2], "to") {
			return usagef("usage: sov wallet send AMOUNT ASSET to ADDRESS [--chain NETWORK] [--yes]")
		}
		return nil
	}
	c := walletSending(a, "send AMOUNT ASSET to ADDRESS", "Send ETH/USDC (EVM), BTC, SOL or NEAR: checked, fee-estimated and summarised before signing",
		"approve the summary without asking (policy approvals still need a human)", args, func(cmd *cobra.Command, s *wallet.Session, args []string, index uint32) (*wallet.Plan, func(wallet.LedgerEntry) any, error) {
			t.Amount, t.Asset, t.To, t.Account = args[0], args[1], args[3], index
			p, err := s.Plan(cmd.Context(), t)
			return p, nil, err
		})
	c.Example = `  sov wallet send 0.01 ETH to 0xAbc… --chain base
  sov wallet send 5 USDC to 0xAbc…
  sov wallet send 0.001 BTC to bc1q…
  sov wallet send 1 SOL to HAgk…   |   sov wallet send 2 NEAR to bob.near`
	c.Flags().StringVar(&t.Network, "chain", "", "network name or CAIP-2 id (needed when several networks of the address's kind are configured)")
	c.Flags().Int64Var(&t.MinFeeRate, "min-fee-rate", 2, "Bitcoin: lowest fee rate in sat/vB when the node has no estimate")
	return c
}

// walletReplaceCmd is speedup or cancel.
func walletReplaceCmd(a *app, cancel bool) *cobra.Command {
	use, short := "speedup TXHASH", "Re-send a stuck transaction with higher fees (EVM: at its nonce; Bitcoin: a BIP125 replacement)"
	if cancel {
		use, short = "cancel TXHASH", "Cancel a stuck transaction at higher fees (EVM: a zero-value self-transfer at its nonce; Bitcoin: its inputs back to you)"
	}
	c := walletSending(a, use, short, "do not ask for confirmation", nargs(1, 1, "the transaction hash"), func(cmd *cobra.Command, s *wallet.Session, args []string, index uint32) (*wallet.Plan, func(wallet.LedgerEntry) any, error) {
		p, err := s.PlanReplace(cmd.Context(), args[0], cancel, index)
		return p, nil, err
	})
	c.Flag("index").Usage = "account index the transaction was sent from"
	return c
}

func walletLedgerCmd(a *app) *cobra.Command {
	var refresh bool
	c := walletView(a, "ledger", "Transactions sov sent, with their status (--refresh follows pending ones)", func(cmd *cobra.Command, s *wallet.Session) (fmt.Stringer, error) {
		if refresh {
			for _, err := range s.Wallet().Refresh(cmd.Context(), s.Networks()) {
				fmt.Fprintln(a.stderr, "sov: refresh:", termtext.Clean(err.Error()))
			}
		}
		return s.Wallet().Ledger()
	})
	c.Flags().BoolVar(&refresh, "refresh", false, "ask the chains about pending transactions first")
	return c
}

func walletPayCmd(a *app) *cobra.Command {
	var again, x402 bool
	var max string
	c := walletSending(a, "pay REQUEST", "Pay an x402 v2 payment request: sov picks the option you can pay at the lowest cost",
		"approve the summary without asking (policy approvals still need a human)", nargs(1, 1, "a payment request (a file, or - for stdin)"),
		func(cmd *cobra.Command, s *wallet.Session, args []string, index uint32) (*wallet.Plan, func(wallet.LedgerEntry) any, error) {
			raw, err := walletReadArg(a, args[0])
			if err != nil {
				return nil, nil, fmt.Errorf("read payment request: %w", err)
			}
			p, route, err := s.PlanPayment(cmd.Context(), raw, index)
			if err != nil {
				return nil, nil, err
			}
			fmt.Fprintln(a.stderr, termtext.Clean(route.Explanation))
			if again {
				p.PayAgain()
			}
			return p, func(tx wallet.LedgerEntry) any { return wallet.Payment{Route: route, Tx: tx} }, nil
		})
	c.Long = "REQUEST is a file holding the x402 v2 PaymentRequired JSON (or the base64\n" +
		"PAYMENT-REQUIRED header value), or - for stdin. sov checks every accepted\n" +
		"option (network, balance including fees, simulation), explains its choice in\n" +
		"one line and pays it through the wallet policy. A request is paid once: paying\n" +
		"it again is refused, naming the first payment, unless --again is passed."
	c.Flags().BoolVar(&again, "again", false, "pay a request that was paid already")
	c.Flags().BoolVar(&x402, "x402", false, "sign an x402 payment (an EIP-3009 authorization the payee's facilitator settles) and print its PAYMENT-SIGNATURE value instead of sending a transfer")
	c.Flags().StringVar(&max, "max", "", "with --x402: the most to pay, in units of the asset (e.g. 0.05)")
	send := c.RunE
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if !x402 {
			return send(cmd, args)
		}
		return walletPayX402(a, cmd, args[0], wallet.X402Options{Max: max, Again: again})
	}
	return c
}

// walletPayX402 signs an x402 payment for the request in file and prints
// its PAYMENT-SIGNATURE value (--json: the payment).
func walletPayX402(a *app, cmd *cobra.Command, file string, o wallet.X402Options) error {
	raw, err := walletReadArg(a, file)
	if err != nil {
		return fmt.Errorf("read payment request: %w", err)
	}
	s, err := walletSession(a, cmd)
	if err != nil {
		return err
	}
	o.Account, _ = cmd.Flags().GetUint32("index")
	p, err := s.PayX402(cmd.Context(), raw, o)
	if errors.Is(err, wallet.ErrAboveMax) {
		return fmt.Errorf("%w: nothing was signed; raise --max to pay it", err)
	}
	if err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return writeJSON(a.stdout, p)
	}
	fmt.Fprintf(a.stderr, "signed an x402 authorization of %s on %s\n", termtext.Clean(p.Amount), termtext.Clean(p.Network))
	fmt.Fprintln(a.stdout, p.Header)
	return nil
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
	c := walletCmd(a, "sign (MESSAGE | --typed-data FILE)", "Sign a message (EIP-191, Solana, NEAR NEP-413) or EIP-712 typed data, through the policy", cobra.ArbitraryArgs, func(cmd *cobra.Command, s *wallet.Session, args []string) error {
		var err error
		if len(args) > 1 || (len(args) == 1) == (typedFile != "") {
			return usagef("usage: sov wallet sign MESSAGE [--family evm|solana|near] or sov wallet sign --typed-data FILE")
		} else if typedFile == "" {
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
	c := walletView(a, "grants", "Spending grants your sessions gave agents and clients (revoke one with `sov wallet grants revoke ID`)", func(_ *cobra.Command, s *wallet.Session) (fmt.Stringer, error) {
		return s.Wallet().Grants()
	})
	c.AddCommand(walletCmd(a, "revoke ID", "Revoke a grant: every later payment under it is refused, in every process", nargs(1, 1, "the grant ID"), func(_ *cobra.Command, s *wallet.Session, args []string) error {
		return a.say(s.RevokeGrant(args[0]), "grant %s revoked", args[0])
	}))
	return c
}

func walletPolicyCmd(a *app) *cobra.Command {
	var e wallet.PolicyEdit
	c := walletView(a, "policy", "Show or change spending limits, allow-listed payees and the approval threshold", func(cmd *cobra.Command, s *wallet.Session) (fmt.Stringer, error) {
		return s.EditPolicy(cmd.Context(), e)
	})
	c.Long = "A change is shown before and after, and needs the wallet passphrase typed at this\nterminal: not from the environment or a file, so nothing the policy limits can change it."
	c.Example = `  sov wallet policy --asset USDC --per-tx 20 --per-day 100 --approve-above 10
  sov wallet policy --allow 0xPayee… --asset USDC --payee-daily 0xPayee…=5
  sov wallet policy --asset ETH --per-day none
  sov wallet policy --allow-call base:0xGovernor…:0x7b3c71d3`
	f := c.Flags()
	f.StringVar(&e.Asset, "asset", "", "asset the limits apply to (ETH, USDC, BTC, SOL, NEAR…)")
	f.StringVar(&e.PerTx, "per-tx", "", "largest single payment (\"none\" removes)")
	f.StringVar(&e.PerDay, "per-day", "", "most per UTC day (\"none\" removes)")
	f.StringVar(&e.ApproveAbove, "approve-above", "", "ask a human above this amount (\"none\" removes)")
	f.StringVar(&e.MaxFee, "max-fee", "", "largest network fee per transaction, for a native asset (\"none\": the default cap)")
	f.StringArrayVar(&e.PayeeDaily, "payee-daily", nil, "PAYEE=AMOUNT daily cap for one payee")
	f.StringArrayVar(&e.Allow, "allow", nil, "allow-list a payee (once any is listed, only listed payees can be paid)")
	f.StringArrayVar(&e.Disallow, "disallow", nil, "remove a payee from the allow list")
	f.StringArrayVar(&e.AllowCall, "allow-call", nil, "NETWORK:0xCONTRACT:0xSELECTOR: make this contract call without asking (every other call needs the passphrase typed)")
	f.StringArrayVar(&e.DisallowCall, "disallow-call", nil, "NETWORK:0xCONTRACT:0xSELECTOR: ask again before this contract call")
	f.BoolVar(&e.ApproveMessages, "approve-messages", false, "require approval for message and typed-data signatures")
	f.BoolVar(&e.NoApproveMessages, "no-approve-messages", false, "do not require approval for message signatures")
	f.BoolVar(&e.Reset, "reset", false, "remove every limit")
	return c
}

func walletAuditCmd(a *app) *cobra.Command {
	var verify bool
	c := walletView(a, "audit", "The wallet's entries in the ledger: every policy decision, payment, signature, policy change and grant (--verify checks them)", func(cmd *cobra.Command, s *wallet.Session) (fmt.Stringer, error) {
		if !verify {
			return s.Wallet().Audit()
		}
		rep, err := s.Wallet().VerifyAudit(cmd.Context())
		return rep, cmp.Or(err, rep.Err())
	})
	c.Flags().BoolVar(&verify, "verify", false, "run the ledger's verification (chain, signatures, checkpoints) and report the wallet's part; `sov ledger checkpoint` signs what is not signed yet")
	return c
}
