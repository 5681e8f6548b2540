package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/wallet"
)

// walletCommands returns the `sov wallet` command tree.
func walletCommands(a *app) []*cobra.Command {
	root := &cobra.Command{
		Use:   "wallet",
		Short: "Self-custodial multi-chain wallet (EVM, Bitcoin, Solana, NEAR)",
		Args:  walletNoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.PersistentFlags().String("passphrase-file", "", "read the wallet passphrase from this file (else $SOV_WALLET_PASSPHRASE, else a prompt)")
	root.AddCommand(walletInitCmd(a), walletImportCmd(a), walletAddressesCmd(a), walletRevealCmd(a), walletPolicyCmd(a), walletAuditCmd(a))
	root.AddCommand(walletChainCommands(a)...)
	walletHints(root)
	return []*cobra.Command{root}
}

func walletNoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q (see sov %s --help)", args[0], cmd.CommandPath()[4:])
	}
	return nil
}

// walletHints wraps every wallet command so the library's typed errors
// reach the user with the CLI's own way out.
func walletHints(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error { return walletHint(run(cmd, args)) }
	}
	for _, sub := range c.Commands() {
		walletHints(sub)
	}
}

func walletHint(err error) error {
	var (
		noRPC   *wallet.NoRPCError
		choice  *wallet.NetworkChoiceError
		unknown *wallet.UnknownNetworkError
		refused *wallet.RefusedError
		unreach *wallet.UnreachableRPCError
	)
	addRPC := "add one with `sov wallet networks add NAME --rpc URL`"
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wallet.ErrNoWallet):
		return fmt.Errorf("%w: run `sov wallet init` or `sov wallet import`", err)
	case errors.Is(err, wallet.ErrWalletExists):
		return fmt.Errorf("%w: pass --force to replace it (back up its mnemonic first with `sov wallet reveal`)", err)
	case errors.Is(err, wallet.ErrWrongPassphrase):
		return fmt.Errorf("%w: try again", err)
	case errors.Is(err, wallet.ErrCorruptPolicy):
		return fmt.Errorf("%w: reset it with `sov wallet policy --reset`", err)
	case errors.Is(err, wallet.ErrStaleAccounts):
		return fmt.Errorf("%w: run `sov wallet addresses` once to refresh them", err)
	case errors.Is(err, wallet.ErrAuditDamaged):
		return fmt.Errorf("%w: see `sov wallet audit --verify`", err)
	case errors.Is(err, wallet.ErrEditNeedsAsset):
		return usagef("--per-tx, --per-day, --approve-above and --payee-daily need --asset (e.g. --asset USDC)")
	case errors.As(err, &noRPC) && noRPC.Family == wallet.FamilyBitcoin:
		return fmt.Errorf("%w: add one with `sov wallet networks add %s --family bitcoin --rpc http://user:pass@host:port`", err, noRPC.Network)
	case errors.As(err, &noRPC):
		return fmt.Errorf("%w: add one with `sov wallet networks add %s --rpc URL`", err, noRPC.Network)
	case errors.As(err, &choice) && len(choice.Configured) == 0:
		return fmt.Errorf("%w: %s", err, addRPC)
	case errors.As(err, &choice):
		return usagef("%v: pick one with --chain NETWORK", err)
	case errors.As(err, &unknown):
		return usagef("%v: see `sov wallet networks`", err)
	case errors.As(err, &unreach):
		return fmt.Errorf("%w (pass --chain-id to add it offline)", err)
	case errors.As(err, &refused) && refused.Headless:
		return fmt.Errorf("%w (headless: approve it in a terminal, or raise the threshold with `sov wallet policy`)", err)
	case errors.As(err, &refused) && strings.Contains(refused.Reason, "allow list"):
		return fmt.Errorf("%w: allow the payee with `sov wallet policy --allow PAYEE`", err)
	case errors.Is(err, wallet.ErrInvalidTransfer), errors.Is(err, wallet.ErrInvalidEdit):
		return usagef("%v", err)
	}
	return err
}

func walletOpen(a *app) *wallet.Wallet { return wallet.New(a.paths.Sub("wallet")) }

func walletStore(a *app) *wallet.Store { return walletOpen(a).Store() }

// walletPassphrase reads the wallet passphrase (file > env > TTY).
func walletPassphrase(a *app, cmd *cobra.Command, confirm bool) ([]byte, error) {
	file, _ := cmd.Flags().GetString("passphrase-file")
	p, err := prompt.Secret(prompt.Source{
		Env: "SOV_WALLET_PASSPHRASE", File: file, Prompt: "Wallet passphrase: ", Confirm: confirm,
		Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr,
	})
	if err != nil {
		return nil, fmt.Errorf("wallet passphrase: %w", err)
	}
	return p, nil
}

// walletUnlock opens the store with the user's passphrase.
func walletUnlock(a *app, cmd *cobra.Command) (*wallet.Keys, error) {
	st := walletStore(a)
	if !st.Exists() {
		return nil, wallet.ErrNoWallet
	}
	pass, err := walletPassphrase(a, cmd, false)
	if err != nil {
		return nil, err
	}
	defer wipeBytes(pass)
	return st.Unlock(pass)
}

// walletSession is the user's session for this command: the terminal
// approves when there is one, otherwise nobody can.
func walletSession(a *app, cmd *cobra.Command) (*wallet.Session, error) {
	var cfg wallet.Config
	if err := a.cfg.Section("wallet", &cfg); err != nil {
		return nil, err
	}
	nets, err := cfg.All()
	if err != nil {
		return nil, err
	}
	return walletOpen(a).NewSession(wallet.SessionConfig{
		Caller: "cli", Approver: walletApprover(a), Interactive: prompt.IsTerminal(a.stdin), Networks: nets,
		Unlock: func() (*wallet.Keys, error) { return walletUnlock(a, cmd) },
	}), nil
}

// walletApprover asks on the terminal.
func walletApprover(a *app) wallet.Approver {
	return func(_ context.Context, summary, why string) (bool, error) {
		fmt.Fprintf(a.stderr, "%s\nApproval needed: %s.\nApprove? [y/N] ", sanitize(summary), sanitize(why))
		ans, err := prompt.Line(a.stdin)
		if err != nil {
			return false, err
		}
		return strings.EqualFold(ans, "y") || strings.EqualFold(ans, "yes"), nil
	}
}

func wipeBytes(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

func walletInitCmd(a *app) *cobra.Command {
	var words int
	var force, noConfirm bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a new wallet: a fresh mnemonic shown once, then sealed under your passphrase",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st := walletStore(a)
			if st.Exists() && !force {
				return wallet.ErrWalletExists
			}
			if words != 12 && words != 24 {
				return usagef("--words must be 12 or 24")
			}
			pass, err := walletPassphrase(a, cmd, true)
			if err != nil {
				return err
			}
			defer wipeBytes(pass)
			m, err := wallet.NewMnemonic(words)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "Write these words down, in order, and keep them offline. They are shown only once:")
			fmt.Fprintln(a.stdout)
			for i, w := range strings.Fields(m) {
				fmt.Fprintf(a.stdout, "%2d. %s\n", i+1, w)
			}
			fmt.Fprintln(a.stdout)
			if !noConfirm {
				if err := walletConfirmWords(a, m); err != nil {
					return err
				}
			}
			acct, err := st.Create(m, "", pass, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Wallet created. EVM %s, Bitcoin %s, Solana %s\n", acct.EVM, acct.Bitcoin, acct.Solana)
			return nil
		},
	}
	c.Flags().IntVar(&words, "words", 24, "mnemonic length (12 or 24)")
	c.Flags().BoolVar(&force, "force", false, "replace an existing wallet")
	c.Flags().BoolVar(&noConfirm, "no-confirm", false, "skip the word check (scripts; you must still back the words up)")
	return c
}

// walletConfirmWords asks for three random words of m.
func walletConfirmWords(a *app, m string) error {
	words := strings.Fields(m)
	br := bufio.NewReader(a.stdin)
	seen := map[int]bool{}
	for len(seen) < 3 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
		if err != nil {
			return err
		}
		i := int(n.Int64())
		if seen[i] {
			continue
		}
		seen[i] = true
		fmt.Fprintf(a.stderr, "Confirm word #%d: ", i+1)
		got, err := prompt.Line(br)
		if err != nil {
			return fmt.Errorf("word check: %w (nothing was saved; run `sov wallet init` again)", err)
		}
		if wallet.NormalizeMnemonic(got) != words[i] {
			return fmt.Errorf("word #%d does not match: nothing was saved; run `sov wallet init` again and copy the words carefully", i+1)
		}
	}
	return nil
}

func walletImportCmd(a *app) *cobra.Command {
	var force bool
	var bip39File string
	c := &cobra.Command{
		Use:   "import",
		Short: "Import an existing BIP39 mnemonic (from a no-echo prompt, or stdin when piped)",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st := walletStore(a)
			if st.Exists() && !force {
				return wallet.ErrWalletExists
			}
			m, err := walletReadMnemonic(a)
			if err != nil {
				return err
			}
			if err := wallet.ValidateMnemonic(m); err != nil {
				return fmt.Errorf("%w (nothing was saved)", err)
			}
			bip39Pass := ""
			if bip39File != "" {
				b, err := os.ReadFile(bip39File)
				if err != nil {
					return fmt.Errorf("read BIP39 passphrase file: %w", err)
				}
				bip39Pass = strings.TrimRight(string(b), "\r\n")
			}
			pass, err := walletPassphrase(a, cmd, true)
			if err != nil {
				return err
			}
			defer wipeBytes(pass)
			acct, err := st.Create(m, bip39Pass, pass, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Wallet imported. EVM %s, Bitcoin %s, Solana %s\n", acct.EVM, acct.Bitcoin, acct.Solana)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "replace an existing wallet")
	c.Flags().StringVar(&bip39File, "bip39-passphrase-file", "", "optional BIP39 passphrase (the \"25th word\") read from this file")
	return c
}

func walletReadMnemonic(a *app) (string, error) {
	if term.IsTerminal(int(a.stdin.Fd())) {
		fmt.Fprint(a.stderr, "Mnemonic (input hidden): ")
		b, err := term.ReadPassword(int(a.stdin.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read mnemonic: %w", err)
		}
		defer wipeBytes(b)
		return string(b), nil
	}
	line, err := prompt.Line(bufio.NewReader(a.stdin))
	if err != nil || line == "" {
		return "", errors.New("no mnemonic on stdin: pipe the words in, or run in a terminal to be prompted")
	}
	return line, nil
}

func walletAddressesCmd(a *app) *cobra.Command {
	var asJSON bool
	var index uint32
	c := &cobra.Command{
		Use:   "addresses",
		Short: "Show this wallet's addresses on every chain",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := walletSession(a, cmd)
			if err != nil {
				return err
			}
			acct, err := s.Accounts(index)
			if err != nil {
				return err
			}
			if asJSON {
				return walletJSON(a.stdout, acct)
			}
			w := a.stdout
			fmt.Fprintf(w, "Account index %d\n", acct.Index)
			fmt.Fprintf(w, "  EVM (Ethereum, Base, Arbitrum, Optimism, Polygon)  %s\n", acct.EVM)
			fmt.Fprintf(w, "  Bitcoin                                            %s\n", acct.Bitcoin)
			fmt.Fprintf(w, "  Bitcoin testnet / regtest                          %s / %s\n", acct.BitcoinTestnet, acct.BitcoinRegtest)
			fmt.Fprintf(w, "  Solana                                             %s\n", acct.Solana)
			fmt.Fprintf(w, "  NEAR implicit account                              %s\n", acct.NEARAccount)
			fmt.Fprintf(w, "  NEAR public key                                    %s\n", acct.NEARPublicKey)
			fmt.Fprintf(w, "  Nostr (feeds)                                      %s\n", acct.Nostr)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

func walletRevealCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "reveal",
		Short: "Show the mnemonic (needs the wallet passphrase)",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st := walletStore(a)
			if !st.Exists() {
				return wallet.ErrNoWallet
			}
			pass, err := walletPassphrase(a, cmd, false)
			if err != nil {
				return err
			}
			defer wipeBytes(pass)
			m, bp, err := st.Reveal(pass)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, m)
			if bp != "" {
				fmt.Fprintln(a.stderr, "(this wallet also uses a BIP39 passphrase, not shown)")
			}
			return nil
		},
	}
}

func walletJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
