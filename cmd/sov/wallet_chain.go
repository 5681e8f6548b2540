package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/wallet"
)

// walletChainCommands are the network, balance, send and pay commands.
func walletChainCommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		walletNetworksCmd(a), walletBalanceCmd(a), walletSendCmd(a),
		walletReplaceCmd(a, false), walletReplaceCmd(a, true), walletLedgerCmd(a), walletPayCmd(a), walletSignCmd(a),
	}
}

func walletConfig(a *app) (wallet.Config, []wallet.Network, error) {
	var cfg wallet.Config
	if err := a.cfg.Section("wallet", &cfg); err != nil {
		return cfg, nil, err
	}
	nets, err := cfg.All()
	return cfg, nets, err
}

// walletAccounts returns the public addresses at index, unlocking only when
// they are not cached.
func walletAccounts(a *app, cmd *cobra.Command, index uint32) (wallet.Accounts, error) {
	st := walletStore(a)
	if !st.Exists() {
		return wallet.Accounts{}, wallet.ErrNoWallet
	}
	if acct, ok := st.CachedAccounts(); ok && acct.Index == index {
		return acct, nil
	}
	keys, err := walletUnlock(a, cmd)
	if err != nil {
		return wallet.Accounts{}, err
	}
	defer keys.Wipe()
	return keys.Accounts(index)
}

func walletNetworksCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "networks",
		Short: "List the networks sov knows (built-in and from config) and their RPCs",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, nets, err := walletConfig(a)
			if err != nil {
				return err
			}
			if asJSON {
				return walletJSON(a.stdout, nets)
			}
			for _, n := range nets {
				rpc := "no RPC (add one with `sov wallet networks add " + n.Name + " --rpc URL`)"
				if len(n.RPC) > 0 {
					rpc = strings.Join(n.RPC, ", ")
				}
				usdc := n.USDC
				if usdc == "" {
					usdc = "-"
				}
				fmt.Fprintf(a.stdout, "%-10s %-42s %-5s USDC %-44s %s\n", n.Name, n.CAIP2, n.Native, usdc, rpc)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	add := &cobra.Command{
		Use:   "add NAME --rpc URL",
		Short: "Add an RPC to a network, or add a network (e.g. a local dev chain) by RPC URL",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("usage: sov wallet networks add NAME --rpc URL [--chain-id N] [--usdc ADDRESS]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rpcs, _ := cmd.Flags().GetStringArray("rpc")
			chainID, _ := cmd.Flags().GetInt64("chain-id")
			usdc, _ := cmd.Flags().GetString("usdc")
			family, _ := cmd.Flags().GetString("family")
			caip2, _ := cmd.Flags().GetString("caip2")
			btcNet, _ := cmd.Flags().GetString("bitcoin-net")
			if len(rpcs) == 0 {
				return usagef("--rpc URL is required")
			}
			cfg, nets, err := walletConfig(a)
			if err != nil {
				return err
			}
			name := args[0]
			existing, known := wallet.FindNetwork(nets, name)
			if known && existing.Builtin && chainID == 0 && usdc == "" {
				if cfg.RPC == nil {
					cfg.RPC = map[string][]string{}
				}
				cfg.RPC[existing.Name] = append(cfg.RPC[existing.Name], rpcs...)
			} else {
				nc := wallet.NetworkConfig{Name: name, Family: family, ChainID: chainID, USDC: usdc, CAIP2: caip2, BitcoinNet: btcNet, RPC: rpcs}
				if (family == "" || family == wallet.FamilyEVM) && chainID == 0 {
					// a dev chain added by URL: ask it for its chain id once
					ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
					defer cancel()
					cl, err := ethclient.DialContext(ctx, rpcs[0])
					if err != nil {
						return fmt.Errorf("cannot reach %s: %w (pass --chain-id to add it offline)", rpcs[0], err)
					}
					id, err := cl.ChainID(ctx)
					cl.Close()
					if err != nil {
						return fmt.Errorf("cannot read the chain id from %s: %w (pass --chain-id)", rpcs[0], err)
					}
					nc.ChainID = id.Int64()
				}
				replaced := false
				for i := range cfg.Networks {
					if cfg.Networks[i].Name == name {
						cfg.Networks[i], replaced = nc, true
					}
				}
				if !replaced {
					cfg.Networks = append(cfg.Networks, nc)
				}
			}
			if _, err := cfg.All(); err != nil {
				return err
			}
			if err := config.SetSection(a.cfg.Path(), "wallet", cfg); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "network %s: RPC %s saved to %s\n", name, strings.Join(rpcs, ", "), a.cfg.Path())
			return nil
		},
	}
	add.Flags().StringArray("rpc", nil, "RPC URL (repeat for fail-over, tried in order)")
	add.Flags().Int64("chain-id", 0, "EVM chain id (read from the RPC when omitted)")
	add.Flags().String("usdc", "", "USDC (or test token) contract address on this network")
	add.Flags().String("family", "", "evm (default), bitcoin, solana or near")
	add.Flags().String("caip2", "", "CAIP-2 id (solana and near networks)")
	add.Flags().String("bitcoin-net", "", "mainnet, testnet or regtest (bitcoin networks)")
	c.AddCommand(add)
	return c
}

func walletBalanceCmd(a *app) *cobra.Command {
	var asJSON bool
	var index uint32
	c := &cobra.Command{
		Use:   "balance",
		Short: "Balances on every configured chain, queried concurrently (failed chains are shown as failed)",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, nets, err := walletConfig(a)
			if err != nil {
				return err
			}
			acct, err := walletAccounts(a, cmd, index)
			if err != nil {
				return err
			}
			configured := 0
			for _, n := range nets {
				if len(n.RPC) > 0 {
					configured++
				}
			}
			if configured == 0 {
				return errors.New("no network has an RPC configured: add one with `sov wallet networks add NAME --rpc URL`")
			}
			rep := walletOpen(a).Balances(cmd.Context(), nets, acct)
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
						if b.Asset != t.Asset {
							continue
						}
						if b.Status == "ok" {
							fmt.Fprintf(a.stdout, "  %-10s %s\n", b.Network, b.Amount)
						} else {
							fmt.Fprintf(a.stdout, "  %-10s FAILED: %s\n", b.Network, b.Error)
						}
					}
				}
			}
			for _, b := range rep.Chains {
				if b.Status != "ok" {
					return fmt.Errorf("some chains could not be queried (shown as FAILED above); check their RPCs with `sov wallet networks`")
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

// walletPickEVM chooses the network for an EVM send.
func walletPickEVM(nets []wallet.Network, chain string) (wallet.Network, error) {
	if chain != "" {
		n, ok := wallet.FindNetwork(nets, chain)
		if !ok {
			return n, usagef("unknown network %q: see `sov wallet networks`", chain)
		}
		if n.Family != wallet.FamilyEVM {
			return n, usagef("network %s is %s, but the address is an EVM address", n.Name, n.Family)
		}
		return n, nil
	}
	var cands []wallet.Network
	for _, n := range nets {
		if n.Family == wallet.FamilyEVM && len(n.RPC) > 0 {
			cands = append(cands, n)
		}
	}
	switch len(cands) {
	case 0:
		return wallet.Network{}, errors.New("no EVM network has an RPC configured: add one with `sov wallet networks add NAME --rpc URL`")
	case 1:
		return cands[0], nil
	}
	names := make([]string, len(cands))
	for i, n := range cands {
		names[i] = n.Name
	}
	return wallet.Network{}, usagef("several EVM networks are configured (%s): pick one with --chain", strings.Join(names, ", "))
}

// walletConfirm asks before signing unless --yes.
func walletConfirm(a *app, summary string, yes bool) error {
	fmt.Fprintln(a.stderr, summary)
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

func walletUnlocker(a *app, cmd *cobra.Command) wallet.Unlocker {
	return func() (*wallet.Keys, error) { return walletUnlock(a, cmd) }
}

func walletRequest(a *app, kind string) wallet.Request {
	return wallet.Request{Kind: kind, Caller: "cli", Interactive: prompt.IsTerminal(a.stdin)}
}

func walletSendCmd(a *app) *cobra.Command {
	var chain string
	var yes, noWait, asJSON bool
	var index uint32
	var feeRate int64
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
			amount, asset, dest := args[0], args[1], args[3]
			if _, err := wallet.ParseAmount(amount); err != nil {
				return usagef("%v", err)
			}
			_, nets, err := walletConfig(a)
			if err != nil {
				return err
			}
			switch strings.ToUpper(asset) {
			case "SOL", "NEAR":
				return walletSendEd25519(a, cmd, nets, amount, strings.ToUpper(asset), dest, chain, yes, asJSON, index)
			}
			if walletLooksBitcoin(dest) {
				return walletSendBitcoin(a, cmd, nets, amount, asset, dest, chain, feeRate, yes, noWait, asJSON, index)
			}
			if !strings.HasPrefix(dest, "0x") && !strings.HasPrefix(dest, "0X") {
				return usagef("%s is neither an EVM (0x…) nor a Bitcoin address: Solana and NEAR sends are not available from the CLI yet", dest)
			}
			to, err := wallet.ParseEVMAddress(dest)
			if err != nil {
				return err
			}
			net, err := walletPickEVM(nets, chain)
			if err != nil {
				return err
			}
			acct, err := walletAccounts(a, cmd, index)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			e, err := wallet.DialEVM(ctx, net)
			if err != nil {
				return err
			}
			defer e.Close()
			tok, dec, sym, err := e.ResolveAsset(ctx, asset)
			if err != nil {
				return err
			}
			amt, err := wallet.ToAtomic(amount, dec)
			if err != nil {
				return usagef("%v", err)
			}
			plan, err := e.Plan(ctx, wallet.EVMTransfer{From: common.HexToAddress(acct.EVM), To: to, Asset: sym, Token: tok, Amount: amt, Decimals: dec})
			if err != nil {
				return err
			}
			if err := walletConfirm(a, plan.Summary, yes); err != nil {
				return err
			}
			w := walletOpen(a)
			entry, err := w.SendEVM(ctx, e, plan, walletRequest(a, "send"), walletApprover(a), walletUnlocker(a, cmd), index)
			if err != nil {
				return err
			}
			return walletFollow(a, cmd, w, e, entry, noWait, asJSON)
		},
	}
	c.Flags().StringVar(&chain, "chain", "", "network name or CAIP-2 id (needed when several networks of the address's kind are configured)")
	c.Flags().Int64Var(&feeRate, "min-fee-rate", 2, "Bitcoin: lowest fee rate in sat/vB when the node has no estimate")
	c.Flags().BoolVar(&yes, "yes", false, "approve the summary without asking (policy approvals still need a human)")
	c.Flags().BoolVar(&noWait, "no-wait", false, "return after broadcasting instead of waiting for confirmation")
	c.Flags().BoolVar(&asJSON, "json", false, "print the ledger entry as JSON")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

// walletFollow prints the broadcast and (unless noWait) waits for it.
func walletFollow(a *app, cmd *cobra.Command, w *wallet.Wallet, e *wallet.EVM, entry wallet.LedgerEntry, noWait, asJSON bool) error {
	if !asJSON {
		fmt.Fprintf(a.stdout, "sent %s (nonce %d) on %s\n", entry.Hash, entry.Nonce, entry.Network)
	}
	if !noWait {
		ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
		defer cancel()
		var err error
		entry, err = w.WaitEVM(ctx, e, entry)
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(a.stderr, "still pending after 2 minutes; follow it with `sov wallet ledger` or speed it up with `sov wallet speedup %s`\n", entry.Hash)
			err = nil
		}
		if err != nil {
			return err
		}
		if !asJSON {
			fmt.Fprintf(a.stdout, "%s in block %d\n", entry.Status, entry.Block)
		}
	}
	if asJSON {
		return walletJSON(a.stdout, entry)
	}
	return nil
}

func walletReplaceCmd(a *app, cancel bool) *cobra.Command {
	use, short := "speedup TXHASH", "Re-send a stuck transaction at the same nonce with higher fees"
	if cancel {
		use, short = "cancel TXHASH", "Cancel a stuck transaction (a zero-value self-transfer at its nonce, higher fees)"
	}
	var yes, noWait, asJSON bool
	var index uint32
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("usage: sov wallet %s", use)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := walletOpen(a)
			old, ok, err := w.FindLedger(args[0])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("transaction %s is not in sov's ledger: see `sov wallet ledger`", args[0])
			}
			_, nets, err := walletConfig(a)
			if err != nil {
				return err
			}
			net, ok := wallet.FindNetwork(nets, old.Chain)
			if !ok {
				return fmt.Errorf("network %s of %s is no longer configured", old.Chain, args[0])
			}
			e, err := wallet.DialEVM(cmd.Context(), net)
			if err != nil {
				return err
			}
			defer e.Close()
			verb := "Speed up"
			if cancel {
				verb = "Cancel"
			}
			if err := walletConfirm(a, fmt.Sprintf("%s %s (nonce %d, %s %s to %s on %s)", verb, old.Hash, old.Nonce, old.Amount, old.Asset, old.To, old.Network), yes); err != nil {
				return err
			}
			req := walletRequest(a, "")
			entry, err := w.Replace(cmd.Context(), e, old.Hash, cancel, req, walletApprover(a), walletUnlocker(a, cmd), index)
			if err != nil {
				return err
			}
			return walletFollow(a, cmd, w, e, entry, noWait, asJSON)
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	c.Flags().BoolVar(&noWait, "no-wait", false, "return after broadcasting")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().Uint32Var(&index, "index", 0, "account index the transaction was sent from")
	return c
}

func walletLedgerCmd(a *app) *cobra.Command {
	var asJSON, refresh bool
	c := &cobra.Command{
		Use:   "ledger",
		Short: "Transactions sov sent, with their status (--refresh follows pending ones)",
		Args:  walletNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := walletOpen(a)
			if refresh {
				_, nets, err := walletConfig(a)
				if err != nil {
					return err
				}
				for _, err := range w.Refresh(cmd.Context(), nets) {
					fmt.Fprintln(a.stderr, "sov: refresh:", err)
				}
			}
			all, err := w.Ledger()
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
				fmt.Fprintf(a.stdout, "%s %-9s %-8s %s %s to %s on %s (nonce %d) %s\n", walletShortTime(e.Time), e.Status, e.Kind, e.Amount, e.Asset, e.To, e.Network, e.Nonce, e.Hash)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&refresh, "refresh", false, "ask the chains about pending transactions first")
	return c
}

func walletPayCmd(a *app) *cobra.Command {
	var yes, asJSON, noWait bool
	var index uint32
	c := &cobra.Command{
		Use:   "pay REQUEST",
		Short: "Pay an x402 v2 payment request: sov picks the option you can pay at the lowest cost",
		Long: "REQUEST is a file holding the x402 v2 PaymentRequired JSON (or the base64\n" +
			"PAYMENT-REQUIRED header value), or - for stdin. sov checks every accepted\n" +
			"option (network, balance including fees, simulation), explains its choice in\n" +
			"one line and pays it through the wallet policy.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("usage: sov wallet pay REQUEST (a file, or - for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw []byte
			var err error
			if args[0] == "-" {
				raw, err = io.ReadAll(a.stdin)
			} else {
				raw, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("read payment request: %w", err)
			}
			pr, err := wallet.ParsePaymentRequired(raw, time.Now())
			if err != nil {
				return err
			}
			_, nets, err := walletConfig(a)
			if err != nil {
				return err
			}
			acct, err := walletAccounts(a, cmd, index)
			if err != nil {
				return err
			}
			w := walletOpen(a)
			ctx := cmd.Context()
			route, err := w.RoutePayment(ctx, pr, nets, acct)
			if err != nil {
				return err
			}
			defer route.Close()
			fmt.Fprintln(a.stderr, route.Explanation)
			if err := walletConfirm(a, route.Chosen.Plan().Summary, yes); err != nil {
				return err
			}
			entry, err := w.Pay(ctx, route, walletRequest(a, "pay"), walletApprover(a), walletUnlocker(a, cmd), index)
			if err != nil {
				return err
			}
			if asJSON {
				if !noWait {
					wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
					entry, err = w.WaitEVM(wctx, route.Chosen.EVMConn(), entry)
					cancel()
					if err != nil && !errors.Is(err, context.DeadlineExceeded) {
						return err
					}
				}
				return walletJSON(a.stdout, struct {
					Route *wallet.Route      `json:"route"`
					Tx    wallet.LedgerEntry `json:"transaction"`
				}{&route, entry})
			}
			return walletFollow(a, cmd, w, route.Chosen.EVMConn(), entry, noWait, false)
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "approve the summary without asking (policy approvals still need a human)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the route and transaction as JSON")
	c.Flags().BoolVar(&noWait, "no-wait", false, "return after broadcasting")
	c.Flags().Uint32Var(&index, "index", 0, "account index")
	return c
}

// walletLooksBitcoin recognises Bitcoin address encodings.
func walletLooksBitcoin(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "bc1") || strings.HasPrefix(l, "tb1") || strings.HasPrefix(l, "bcrt1") ||
		(len(s) >= 26 && len(s) <= 35 && strings.ContainsAny(s[:1], "123mn"))
}

func walletSendBitcoin(a *app, cmd *cobra.Command, nets []wallet.Network, amount, asset, dest, chain string, feeRate int64, yes, noWait, asJSON bool, index uint32) error {
	if !strings.EqualFold(asset, "BTC") {
		return usagef("%s is a Bitcoin address: only BTC can be sent to it", dest)
	}
	var net wallet.Network
	if chain != "" {
		n, ok := wallet.FindNetwork(nets, chain)
		if !ok || n.Family != wallet.FamilyBitcoin {
			return usagef("%q is not a Bitcoin network: see `sov wallet networks`", chain)
		}
		net = n
	} else {
		var cands []wallet.Network
		for _, n := range nets {
			if n.Family == wallet.FamilyBitcoin && len(n.RPC) > 0 {
				if _, err := wallet.ParseBitcoinAddress(dest, wallet.BitcoinNet(n.BitcoinNet)); err == nil {
					cands = append(cands, n)
				}
			}
		}
		if len(cands) != 1 {
			return usagef("cannot tell which Bitcoin network to use for %s (%d configured match): pass --chain", dest, len(cands))
		}
		net = cands[0]
	}
	sats, err := wallet.ToAtomic(amount, 8)
	if err != nil {
		return usagef("%v", err)
	}
	if sats.Sign() <= 0 || !sats.IsInt64() || sats.Int64() > 21_000_000*100_000_000 {
		return usagef("amount %s BTC is out of range", amount)
	}
	acct, err := walletAccounts(a, cmd, index)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	b, err := wallet.DialBitcoin(ctx, net)
	if err != nil {
		return err
	}
	defer b.Close()
	w := walletOpen(a)
	entry, err := w.SendBitcoin(ctx, b, dest, sats.Int64(), feeRate, walletRequest(a, "send"), walletApprover(a), walletUnlocker(a, cmd), acct,
		func(summary string) error { return walletConfirm(a, summary, yes) })
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(a.stdout, "sent %s on %s\n", entry.Hash, entry.Network)
	}
	if !noWait {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
		if entry, err = w.WaitBitcoin(wctx, b, entry); err != nil {
			return err
		}
		if !asJSON {
			fmt.Fprintln(a.stdout, "confirmed")
		}
	}
	if asJSON {
		return walletJSON(a.stdout, entry)
	}
	return nil
}

// walletPickFamily finds the one configured network of family (or --chain).
func walletPickFamily(nets []wallet.Network, family, chain string) (wallet.Network, error) {
	if chain != "" {
		n, ok := wallet.FindNetwork(nets, chain)
		if !ok || n.Family != family {
			return n, usagef("%q is not a %s network: see `sov wallet networks`", chain, family)
		}
		return n, nil
	}
	var cands []wallet.Network
	for _, n := range nets {
		if n.Family == family && len(n.RPC) > 0 {
			cands = append(cands, n)
		}
	}
	if len(cands) != 1 {
		return wallet.Network{}, usagef("%d %s networks have an RPC configured: add one with `sov wallet networks add`, or pick one with --chain", len(cands), family)
	}
	return cands[0], nil
}

// walletSendEd25519 sends SOL or NEAR: built and signed locally, broadcast
// over the network's JSON-RPC.
func walletSendEd25519(a *app, cmd *cobra.Command, nets []wallet.Network, amount, asset, dest, chain string, yes, asJSON bool, index uint32) error {
	family := map[string]string{"SOL": wallet.FamilySolana, "NEAR": wallet.FamilyNEAR}[asset]
	if family == wallet.FamilySolana {
		if _, err := wallet.ParseSolanaAddress(dest); err != nil {
			return usagef("%v", err)
		}
	} else if err := wallet.ValidateNEARAccount(dest); err != nil {
		return usagef("%v", err)
	}
	net, err := walletPickFamily(nets, family, chain)
	if err != nil {
		return err
	}
	atomic, err := wallet.ToAtomic(amount, net.NativeDecimals)
	if err != nil {
		return usagef("%v", err)
	}
	if atomic.Sign() <= 0 || (family == wallet.FamilySolana && !atomic.IsUint64()) {
		return usagef("amount %s %s is out of range", amount, asset)
	}
	acct, err := walletAccounts(a, cmd, index)
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("Send %s %s to %s on %s (%s)", wallet.FormatAtomic(atomic, net.NativeDecimals), asset, dest, net.Name, net.CAIP2)
	if err := walletConfirm(a, summary, yes); err != nil {
		return err
	}
	w := walletOpen(a)
	req := walletRequest(a, "send")
	req.Summary = summary
	var entry wallet.LedgerEntry
	if family == wallet.FamilySolana {
		entry, err = w.SendSolana(cmd.Context(), net, dest, atomic.Uint64(), req, walletApprover(a), walletUnlocker(a, cmd), index)
	} else {
		entry, err = w.SendNEAR(cmd.Context(), net, dest, atomic, req, walletApprover(a), walletUnlocker(a, cmd), acct)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return walletJSON(a.stdout, entry)
	}
	fmt.Fprintf(a.stdout, "sent %s on %s\n", entry.Hash, entry.Network)
	return nil
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
			w := walletOpen(a)
			req := wallet.Request{Caller: "cli", Interactive: prompt.IsTerminal(a.stdin)}
			ctx, unlock, approve := cmd.Context(), walletUnlocker(a, cmd), walletApprover(a)
			var sig []byte
			var err error
			if typedFile != "" {
				raw, rerr := os.ReadFile(typedFile)
				if rerr != nil {
					return fmt.Errorf("read typed data: %w", rerr)
				}
				td, perr := wallet.ParseTypedData(raw)
				if perr != nil {
					return perr
				}
				sig, err = w.SignTypedData(ctx, td, index, req, approve, unlock)
			} else {
				switch family {
				case "evm", "":
					sig, err = w.SignPersonal(ctx, []byte(args[0]), index, req, approve, unlock)
				case "solana":
					sig, err = w.SignSolanaMessage(ctx, []byte(args[0]), index, req, approve, unlock)
				case "near":
					if recipient == "" {
						return usagef("NEAR (NEP-413) messages need --recipient APP")
					}
					m := wallet.NEP413Message{Message: args[0], Recipient: recipient}
					if _, rerr := rand.Read(m.Nonce[:]); rerr != nil {
						return rerr
					}
					sig, err = w.SignNEARMessage(ctx, m, index, req, approve, unlock)
					if err == nil {
						fmt.Fprintf(a.stderr, "nonce %x\n", m.Nonce)
					}
				default:
					return usagef("--family must be evm, solana or near")
				}
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
