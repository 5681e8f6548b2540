package main

// `sov brand init|serve|announce` (the brand side) and `sov brands
// ls|ask` (the user side): paid, signed answers over x402.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/agents/mcpserve"
	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/brand"
	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/wallet"
)

func brandCommands(a *app) []*cobra.Command {
	b := &cobra.Command{Use: "brand", Short: "Run sov as a brand: paid, signed answers from your knowledge", Args: nargs(0, 0, "")}
	b.PersistentFlags().String("passphrase-file", "", "read the wallet passphrase from this file (else $SOV_WALLET_PASSPHRASE, else a prompt)")
	b.AddCommand(brandInitCmd(a), brandServeCmd(a), brandAnnounceCmd(a))
	u := &cobra.Command{Use: "brands", Short: "Brands you trust: list them, ask them and pay per answer", Args: nargs(0, 0, "")}
	u.PersistentFlags().String("passphrase-file", "", "read the wallet passphrase from this file (else $SOV_WALLET_PASSPHRASE, else a prompt)")
	u.PersistentFlags().StringSlice("from", nil, "read announcements from this file, http(s) URL or relay (default: your feeds sources)")
	u.AddCommand(brandsLsCmd(a), brandsAskCmd(a), brandsSessionCmd(a), brandsSessionsCmd(a))
	return guard(brandHint, "sov brand failed (%v)", b, u)
}

func brandInitCmd(a *app) *cobra.Command {
	var p brand.Profile
	var network, price string
	var force bool
	c := command("init", "Write the brand profile ($SOV_HOME/brand/profile.toml)", nil, func(cmd *cobra.Command, _ []string) error {
		err := a.BrandInit(&p, network, price, force)
		var bad *brand.ProfileError
		switch {
		case errors.Is(err, core.ErrNoUSDCNetwork):
			return usagef("network %q is not a configured EVM network with a USDC token (sov wallet networks ls)", network)
		case errors.As(err, &bad):
			return usagef("%w (check --name, --pay-to, --price, --token-name, --token-version)", err)
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("%w: --force replaces it", err)
		case err != nil:
			return err
		}
		return a.say(nil, "wrote %s", a.BrandProfilePath())
	})
	p.Pay = []brand.Pay{{Decimals: 6}}
	f := c.Flags()
	f.StringVar(&p.Name, "name", "", "the brand's name")
	f.StringVar(&p.Description, "description", "", "one line about the brand")
	f.StringVar(&p.Collection, "collection", "", "the vault collection the brand answers from (empty: the model alone)")
	f.StringVar(&p.Model, "model", "", "the model that answers (name or GGUF path; default: sov's default model)")
	f.StringVar(&p.Endpoint, "endpoint", "http://127.0.0.1:8402", "the URL announced")
	f.StringVar(&price, "price", "0.01", "price of brand.ask in USDC")
	f.StringVar(&network, "network", "base", "the wallet network paid on")
	f.StringVar(&p.Pay[0].PayTo, "pay-to", "", "the address payments go to")
	f.StringVar(&p.Pay[0].TokenName, "token-name", "USD Coin", "the token's EIP-712 domain name")
	f.StringVar(&p.Pay[0].TokenVersion, "token-version", "2", "the token's EIP-712 domain version")
	f.BoolVar(&force, "force", false, "replace an existing profile")
	return c
}

func brandServeCmd(a *app) *cobra.Command {
	var addr string
	var public bool
	var account uint32
	c := command("serve", "Serve brand.ask, priced with x402, on loopback (POST /ask, /tools/TOOL)", nil, func(cmd *cobra.Command, _ []string) error {
		ln, err := mcpserve.Listen(addr)
		if errors.Is(err, mcpserve.ErrNotLoopback) && public {
			a.warnf("serving on %s: anyone who can reach it can ask (and pay)", addr)
			ln, err = net.Listen("tcp", addr)
		}
		if err != nil {
			return err
		}
		defer ln.Close()
		ctx := cmd.Context()
		o := core.BrandServeOptions{Wallet: walletPassphrase(a, cmd, false), Account: account,
			Vault: a.secret(cmd, "", "vault passphrase", "SOV_VAULT_PASSPHRASE", false),
			Log:   func(s string) { fmt.Fprintln(a.stderr, "sov: brand:", termtext.Clean(s)) }}
		return a.BrandServe(ctx, o, func(s *brand.Server) error {
			fmt.Fprintf(a.stderr, "sov: serving the brand at http://%s (MCP at /mcp, plain HTTP at POST /ask); answers signed by ed25519 key %s\n",
				ln.Addr(), base64.StdEncoding.EncodeToString(s.PublicKey()))
			return s.Serve(ctx, ln)
		})
	})
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8402", "listen address (loopback unless --public)")
	c.Flags().BoolVar(&public, "public", false, "allow a non-loopback --addr")
	c.Flags().Uint32Var(&account, "index", 0, "the wallet account that settles payments (pays the gas)")
	return c
}

func brandAnnounceCmd(a *app) *cobra.Command {
	var endpoint, out string
	c := command("announce", "Publish the brand's signed announcement (Nostr) through your feeds relays and events file", nil, func(cmd *cobra.Command, _ []string) error {
		ev, sent, err := a.BrandAnnounce(cmd.Context(), endpoint, out, walletPassphrase(a, cmd, false),
			a.secret(cmd, "", "publishing key passphrase", "SOV_FEEDS_PASSPHRASE", false))
		if ev != nil {
			a.say(nil, "announced the brand (event %s) to: %s", ev.ID, strings.Join(sent, ", "))
		}
		return err
	})
	c.Flags().StringVar(&endpoint, "endpoint", "", "the URL to announce (default: the profile's)")
	c.Flags().StringVar(&out, "out", "", "also append the event to this JSON Lines file")
	return c
}

func brandsLsCmd(a *app) *cobra.Command {
	var asJSON bool
	return jsonFlag(&asJSON, command("ls", "Brands announced by keys you trust (sov feeds trust)", nil, func(cmd *cobra.Command, _ []string) error {
		from, _ := cmd.Flags().GetStringSlice("from")
		d, err := a.Brands(cmd.Context(), from)
		if err != nil && len(d.Trusted) == 0 {
			return err
		}
		if err != nil {
			a.warnf("%v", err)
		}
		return a.show(asJSON, d, func(w io.Writer) {
			for _, b := range d.Trusted {
				fmt.Fprintf(w, "%s\t%s\tbrand.ask %s\t%s\n", b.Name, b.Endpoint, b.Prices[brand.ToolAsk], b.Npub)
			}
			if d.Untrusted > 0 {
				fmt.Fprintf(w, "(%d announcements from keys you do not trust: not shown, never called)\n", d.Untrusted)
			}
		})
	}), "print the directory as JSON")
}

func brandsAskCmd(a *app) *cobra.Command {
	var max string
	var asJSON, viaMCP bool
	c := command("ask BRAND QUESTION...", "Ask a trusted brand (from a prepaid session, else paying with x402 within --max-price), check its signature", nargs(2, -1, "a brand and a question"), func(cmd *cobra.Command, args []string) error {
		d, s, err := a.brandsToPay(cmd)
		if err != nil {
			return err
		}
		_, res, e, err := a.BrandAsk(cmd.Context(), s, d, args[0], strings.Join(args[1:], " "), max, viaMCP)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(a.stdout, res)
		}
		if !res.Verified {
			a.warnf("UNVERIFIED answer: %s", res.Problem)
		}
		fmt.Fprintln(a.stdout, termtext.Clean(res.Answer.Answer))
		sig := map[bool]string{true: "verified", false: "NOT verified"}[res.Verified]
		if res.Answer.Session != "" {
			left := "?"
			if res.Answer.Remaining != nil {
				left = fmt.Sprint(*res.Answer.Remaining)
			}
			fmt.Fprintf(a.stderr, "sov: from prepaid session %.8s (%s answers left); signature %s; ledger entry %d\n", termtext.Clean(res.Answer.Session), left, sig, e.Seq)
			return nil
		}
		fmt.Fprintf(a.stderr, "sov: paid %s (transaction %s on %s); signature %s; ledger entry %d\n", termtext.Clean(res.Payment.Amount),
			termtext.Clean(res.Settlement.Transaction), termtext.Clean(res.Settlement.Network), sig, e.Seq)
		return nil
	})
	c.Flags().StringVar(&max, "max-price", "", "the most to pay for the answer, in units of the asset (e.g. 0.01)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.Flags().BoolVar(&viaMCP, "mcp", false, "ask over the brand's MCP endpoint (x402's MCP transport) instead of plain HTTP")
	return c
}

func brandsSessionCmd(a *app) *cobra.Command {
	var max string
	var n int
	var asJSON bool
	c := command("session BRAND", "Buy N answers from a trusted brand with one payment; sov brands ask then uses them", nargs(1, 1, "a brand"), func(cmd *cobra.Command, args []string) error {
		d, s, err := a.brandsToPay(cmd)
		if err != nil {
			return err
		}
		_, res, e, err := a.BrandOpenSession(cmd.Context(), s, d, args[0], n, max)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(a.stdout, res)
		}
		if !res.Verified {
			return fmt.Errorf("paid %s (transaction %s) but the session is UNVERIFIED and will not be used: %s (ledger entry %d)",
				termtext.Clean(res.Payment.Amount), termtext.Clean(res.Settlement.Transaction), termtext.Clean(res.Problem), e.Seq)
		}
		fmt.Fprintf(a.stdout, "session %s: %d answers, paid %s (transaction %s on %s); ledger entry %d\n", termtext.Clean(res.Receipt.Session),
			res.Receipt.Answers, termtext.Clean(res.Payment.Amount), termtext.Clean(res.Settlement.Transaction), termtext.Clean(res.Settlement.Network), e.Seq)
		return nil
	})
	c.Flags().IntVar(&n, "answers", 10, fmt.Sprintf("how many answers to buy (2 to %d)", brand.MaxSessionAnswers))
	c.Flags().StringVar(&max, "max-price", "", "the most to pay per answer, in units of the asset (e.g. 0.01)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

func brandsSessionsCmd(a *app) *cobra.Command {
	var asJSON bool
	return jsonFlag(&asJSON, command("sessions", "Your prepaid sessions with brands and the answers left", nil, func(cmd *cobra.Command, _ []string) error {
		es, err := a.BrandSessions()
		if err != nil {
			return err
		}
		return a.show(asJSON, es, func(w io.Writer) {
			for _, e := range es {
				fmt.Fprintf(w, "%s\t%s\t%d of %d left\t%s\n", termtext.Clean(e.Brand), termtext.Clean(e.Receipt.Session), e.Left, e.Receipt.Answers, termtext.Clean(e.Receipt.Transaction))
			}
		})
	}), "print the sessions as JSON")
}

// brandsToPay is the trusted brands (from --from or the feeds sources)
// and the wallet session that pays them.
func (a *app) brandsToPay(cmd *cobra.Command) (brand.Directory, *wallet.Session, error) {
	from, _ := cmd.Flags().GetStringSlice("from")
	d, err := a.Brands(cmd.Context(), from)
	if err != nil && len(d.Trusted) == 0 {
		return d, nil, err
	}
	s, err := walletSession(a, cmd)
	return d, s, err
}

// brandHint adds the CLI's way out to the errors of sov brand and brands.
func brandHint(err error) error {
	return withFix(err,
		fix{brand.ErrNoProfile, ": run sov brand init", false},
		fix{new(*brand.ProfileError), " (edit the profile, or sov brand init --force)", false},
		fix{mcpserve.ErrNotLoopback, " (--addr takes 127.0.0.1:PORT; --public allows another address)", true},
		fix{brand.ErrSessionSize, " (--answers)", true},
		fix{brand.ErrUnknownBrand, " (sov brands ls lists them; sov feeds trust NPUB trusts a brand's key)", false},
		fix{wallet.ErrAboveMax, ": nothing was paid; raise --max-price to pay it", false},
		fix{feeds.ErrNoKey, ": run sov feeds keygen", false})
}
