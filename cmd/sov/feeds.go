package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/wallet"
)

// feedsCLI is what the feeds commands share: the app and the flags of the
// one command that runs.
type feedsCLI struct {
	*app
	passFile string
	json     bool
}

// feedsCommands returns the `sov feeds` command tree and `sov news`.
func feedsCommands(a *app) []*cobra.Command {
	c := &feedsCLI{app: a}
	root := vaultCmd("feeds", "Signed news feeds: trust store, sources, sync, publish", nil, func(cmd *cobra.Command, _ []string) error { return cmd.Help() })
	root.Long = `sov feeds keeps news items whose Nostr signatures (BIP-340) verify against
keys you trust. Sources: Nostr relays (wss://), HTTP event files (JSON array or
JSON Lines), IPFS CIDs via trustless gateways, CAR files, and RSS/Atom/JSON
Feed (stored as unverified unless minisign-signed by a trusted key).`
	root.PersistentFlags().StringVar(&c.passFile, "passphrase-file", "", "read the publishing key passphrase from this file (else $SOV_FEEDS_PASSPHRASE, else a prompt)")
	const damaged = "the feeds database is damaged (%v): move feeds.db aside and sync again"
	root.AddCommand(vaultGuard(feedsHint, damaged, c.keygenCmd(), c.trustCmd(), c.untrustCmd(), c.keysCmd(), c.addCmd(), c.sourcesCmd(),
		c.removeCmd(), c.syncCmd(), c.publishCmd(), c.lsCmd(), c.showCmd(), c.exportCmd(), c.importCmd(), c.serveCmd())...)
	return append([]*cobra.Command{root}, vaultGuard(feedsHint, damaged, c.newsCmd())...)
}

// feedsHint adds to a library error the command or flag that fixes it.
func feedsHint(_ *cobra.Command, err error) error {
	var notTrusted *feeds.NotTrustedError
	var mine *feeds.UntrustedPublisherError
	var listen *feeds.ListenError
	var failed *feeds.SyncFailedError
	switch {
	case errors.As(err, &notTrusted):
		return fmt.Errorf("%w (see sov feeds keys)", err)
	case errors.As(err, &mine):
		return fmt.Errorf("%w: run sov feeds trust %s --name me", err, mine.Npub)
	case errors.As(err, &listen):
		return fmt.Errorf("%w (pick another --addr)", err)
	case errors.As(err, &failed):
		return fmt.Errorf("%w: check the URLs above and retry", err)
	}
	return vaultFixFor([]vaultFix{
		{feeds.ErrNoName, `: add --name "Publisher"`, true},
		{feeds.ErrNoTitle, `: add --title "…"`, true},
		{feeds.ErrNoKey, ": create one with sov feeds keygen", false},
		{feeds.ErrEmptyPassphrase, ": set SOV_FEEDS_PASSPHRASE or use --passphrase-file", false},
		{feeds.ErrInUse, " (is sov feeds serve running?)", false},
		{feeds.ErrShortID, " (see sov feeds ls)", false},
		{feeds.ErrNoItem, " (see sov feeds ls --unverified)", false},
		{feeds.ErrNoSource, " (see sov feeds sources)", false},
		{feeds.ErrNoSources, ": add one with sov feeds add URL", false},
		{feeds.ErrNoGateway, ": add --gateway http://HOST:PORT", false},
		{feeds.ErrBadCID, ": copy it again from sov feeds serve or export", false},
		{feeds.ErrNoTrustedKeys, ": add one with sov feeds trust", false},
		{feeds.ErrNoManifest, ": make one with sov feeds export --car or sov feeds serve", false},
	}, err)
}

// open opens the feeds store for one command and closes it after fn.
func (c *feedsCLI) open(readOnly bool, fn func(*feeds.Store) error) error {
	cfg, err := feeds.LoadConfig(c.cfg)
	if err != nil {
		return err
	}
	s, err := feeds.Open(c.paths.Sub("feeds"), feeds.Options{ReadOnly: readOnly, Config: cfg})
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

func (c *feedsCLI) pass(confirm bool) func() ([]byte, error) {
	return vaultSecret(c.app, &c.passFile, "passphrase-file", "publishing key passphrase", "SOV_FEEDS_PASSPHRASE", confirm)
}

// show prints v as JSON with --json, else with render.
func (c *feedsCLI) show(v any, render func() error) error {
	if c.json {
		return vaultJSON(c.stdout, "  ", v)
	}
	return render()
}

func (c *feedsCLI) jsonFlag(cmd *cobra.Command, help string) *cobra.Command {
	cmd.Flags().BoolVar(&c.json, "json", false, help)
	return cmd
}

// walletKey is the wallet's NIP-06 key (m/44'/1237'/0'/0/0).
func (c *feedsCLI) walletKey(file *string) ([]byte, error) {
	pw, err := vaultSecret(c.app, file, "wallet-passphrase-file", "wallet passphrase", "SOV_WALLET_PASSPHRASE", false)()
	if err != nil {
		return nil, err
	}
	keys, err := wallet.OpenStore(c.paths.Sub("wallet")).Unlock(pw)
	seal.Wipe(pw)
	if err != nil {
		return nil, fmt.Errorf("unlock wallet: %w", err)
	}
	defer keys.Wipe()
	kp, err := keys.NostrKey(0)
	if err != nil {
		return nil, err
	}
	return kp.Private.Serialize(), nil
}

func (c *feedsCLI) keygenCmd() *cobra.Command {
	var name, walletFile string
	var fromWallet bool
	cmd := vaultCmd("keygen", "Create your publishing key (sealed with a passphrase) and trust it", nil, func(cmd *cobra.Command, _ []string) error {
		var secret []byte // nil: a new random key
		if fromWallet {
			var err error
			if secret, err = c.walletKey(&walletFile); err != nil {
				return err
			}
			defer seal.Wipe(secret)
		}
		return c.open(false, func(s *feeds.Store) error {
			pub, err := s.CreateKey(name, secret, c.pass(true))
			return vaultSay(c.stdout, err, "npub: %s\nhex:  %s", nostr.Npub(pub), pub)
		})
	})
	cmd.Flags().StringVar(&name, "name", "me", "publisher name others see in your own listings")
	cmd.Flags().BoolVar(&fromWallet, "from-wallet", false, "use the wallet's Nostr key (NIP-06, m/44'/1237'/0'/0/0) instead of a new random key")
	cmd.Flags().StringVar(&walletFile, "wallet-passphrase-file", "", "wallet passphrase file for --from-wallet (else $SOV_WALLET_PASSPHRASE, else a prompt)")
	return cmd
}

func (c *feedsCLI) trustCmd() *cobra.Command {
	var name, ident string
	var topics []string
	cmd := vaultCmd("trust npub1…|HEX|MINISIGN-KEY --name NAME [--topics a,b]", "Trust a publisher's key",
		vaultArgs(1, 1, "one key (npub1…, 64 hex characters, or a minisign RW… key)"), func(cmd *cobra.Command, args []string) error {
			return c.open(false, func(s *feeds.Store) error {
				tk, err := s.Trust(args[0], name, topics)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "trusted %s (%s)\n", termtext.Clean(tk.Name), tk.Display())
				if ident == "" || tk.Type != "nostr" {
					return nil
				}
				// NIP-05 is a hint, never proof: a failed look-up keeps the trust.
				if err := s.CheckNIP05(cmd.Context(), nil, tk.Key, ident); err != nil {
					return fmt.Errorf("key trusted, but no NIP-05 hint: %w", err)
				}
				return vaultSay(c.stdout, nil, "NIP-05 hint: %s lists this key (a hint, not proof)", ident)
			})
		})
	cmd.Flags().StringVar(&name, "name", "", "publisher name (required)")
	cmd.Flags().StringVar(&ident, "nip05", "", "look up name@domain (NIP-05) and show it next to the key as a hint")
	cmd.Flags().StringSliceVar(&topics, "topics", nil, "topics this publisher covers")
	return cmd
}

func (c *feedsCLI) untrustCmd() *cobra.Command {
	return vaultCmd("untrust KEY", "Stop trusting a key (its items stop counting as verified)", vaultArgs(1, 1, "the key to untrust"), func(cmd *cobra.Command, args []string) error {
		return c.open(false, func(s *feeds.Store) error { return vaultSay(c.stdout, s.Untrust(args[0]), "untrusted %s", args[0]) })
	})
}

func (c *feedsCLI) keysCmd() *cobra.Command {
	return c.jsonFlag(vaultCmd("keys", "List trusted keys", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(true, func(s *feeds.Store) error {
			keys, err := s.Keys()
			if err != nil {
				return err
			}
			return c.show(keys, func() error { return feeds.RenderKeys(c.stdout, keys) })
		})
	}), "print JSON")
}

func (c *feedsCLI) addCmd() *cobra.Command {
	var src feeds.Source
	cmd := vaultCmd("add URL|ipfs://CID|FILE.car", "Add a source: wss:// relay, http(s) events file or RSS/Atom/JSON feed, ipfs://CID, CAR file",
		vaultArgs(1, 1, "one source URL"), func(cmd *cobra.Command, args []string) error {
			return c.open(false, func(s *feeds.Store) error {
				src.URL = args[0]
				added, err := s.AddSource(src)
				return vaultSay(c.stdout, err, "added %s source %s", added.Type, added.URL)
			})
		})
	cmd.Flags().StringSliceVar(&src.Gateway, "gateway", nil, "trustless gateway(s) for ipfs:// sources (default: [feeds] gateways)")
	return cmd
}

func (c *feedsCLI) sourcesCmd() *cobra.Command {
	return vaultCmd("sources", "List sources", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(true, func(s *feeds.Store) error {
			srcs, err := s.Sources()
			for _, src := range srcs {
				fmt.Fprintf(c.stdout, "%-6s %s\n", src.Type, termtext.Clean(src.URL))
			}
			return err
		})
	})
}

func (c *feedsCLI) removeCmd() *cobra.Command {
	return vaultCmd("remove URL", "Remove a source", vaultArgs(1, 1, "the source URL"), func(cmd *cobra.Command, args []string) error {
		return c.open(false, func(s *feeds.Store) error { return s.RemoveSource(args[0]) })
	})
}

func (c *feedsCLI) syncCmd() *cobra.Command {
	var o feeds.FetchOptions
	cmd := c.jsonFlag(vaultCmd("sync", "Fetch all sources concurrently and verify what they send", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(false, func(s *feeds.Store) error {
			res, err := s.Sync(cmd.Context(), o)
			if err != nil && len(res) == 0 {
				return err
			}
			if serr := c.show(res, func() error { feeds.RenderSync(c.stdout, res); return nil }); err == nil {
				err = serr
			}
			for _, r := range res {
				if r.Err != nil {
					fmt.Fprintf(c.stderr, "sov: %s: %v\n", termtext.Clean(r.Source.URL), feedsHint(cmd, r.Err))
				}
			}
			if err != nil {
				return err
			}
			return feeds.SyncErr(res)
		})
	}), "print per-source counts as JSON")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 60*time.Second, "per-source time limit")
	return cmd
}

func (c *feedsCLI) publishCmd() *cobra.Command {
	var art feeds.Article
	var to feeds.PublishTargets
	cmd := vaultCmd("publish ARTICLE.md --title TITLE [--summary S] [--topic T]", "Sign an article (NIP-23, kind 30023), store it and send it to relays/files",
		vaultArgs(1, 1, "the article's Markdown file"), func(cmd *cobra.Command, args []string) error {
			return c.open(false, func(s *feeds.Store) error {
				ev, rep, err := s.PublishFile(cmd.Context(), args[0], art, c.pass(false), to)
				if ev != nil {
					cid, _ := feeds.EventCID(ev.ID)
					fmt.Fprintf(c.stdout, "published %s\ncid: %s\n", ev.ID, cid)
				}
				for _, t := range rep.Targets {
					fmt.Fprintf(c.stdout, "sent to %s\n", t)
				}
				return err
			})
		})
	cmd.Flags().StringVar(&art.Title, "title", "", "article title (required)")
	cmd.Flags().StringVar(&art.Summary, "summary", "", "one-line summary")
	cmd.Flags().StringSliceVar(&art.Topics, "topic", nil, "topic tag (repeat or comma-separate)")
	cmd.Flags().StringVar(&art.Slug, "slug", "", "identifier (d tag); republishing the same slug replaces the article")
	cmd.Flags().StringSliceVar(&to.Relays, "relay", nil, "relay(s) to send to (default: [feeds] relays)")
	cmd.Flags().StringVar(&to.EventsFile, "events-file", "", "append the event to this JSON Lines file (default: [feeds] events_file)")
	cmd.Flags().StringVar(&to.CARFile, "car", "", "rewrite this CAR file with all your articles")
	return cmd
}

func (c *feedsCLI) lsCmd() *cobra.Command {
	var o feeds.ListOptions
	var since time.Duration
	cmd := c.jsonFlag(vaultCmd("ls", "List stored items (verified only unless --unverified)", nil, func(cmd *cobra.Command, _ []string) error {
		if since > 0 {
			o.Since = time.Now().Add(-since)
		}
		return c.open(true, func(s *feeds.Store) error {
			items, err := s.List(o)
			if err != nil {
				return err
			}
			items = append([]feeds.Item{}, items...) // JSON [] rather than null
			return c.show(items, func() error { return feeds.RenderItems(c.stdout, items) })
		})
	}), "print JSON")
	cmd.Flags().BoolVar(&o.Unverified, "unverified", false, "include unverified items (RSS/Atom/JSON Feed, untrusted keys), labelled")
	cmd.Flags().DurationVar(&since, "since", 0, "only items newer than this (e.g. 24h)")
	return cmd
}

func (c *feedsCLI) showCmd() *cobra.Command {
	return c.jsonFlag(vaultCmd("show ID", "Show one item (id or unique prefix)", vaultArgs(1, 1, "an item id or prefix"), func(cmd *cobra.Command, args []string) error {
		return c.open(true, func(s *feeds.Store) error {
			it, ev, err := s.Get(args[0])
			if err != nil {
				return err
			}
			return c.show(struct {
				Item  feeds.Item   `json:"item"`
				Event *nostr.Event `json:"event,omitempty"`
			}{it, ev}, func() error { it.Render(c.stdout); return nil })
		})
	}), "print JSON")
}

func (c *feedsCLI) exportCmd() *cobra.Command {
	var out, author string
	cmd := vaultCmd("export --car FILE [--author KEY]", "Write stored signed events (and article bodies) to a CAR file", nil, func(cmd *cobra.Command, _ []string) error {
		if out == "" {
			return usagef("give the output file with --car FILE")
		}
		if _, err := nostr.ParsePublicKey(author); author != "" && err != nil {
			return usagef("--author: %v", err)
		}
		return c.open(false, func(s *feeds.Store) error {
			evs, err := s.EventsBy(author)
			if err != nil {
				return err
			}
			root, n, err := s.WriteCARFile(cmd.Context(), out, evs)
			return vaultSay(c.stdout, err, "exported %d events to %s\nroot: ipfs://%s", n, out, root)
		})
	})
	cmd.Flags().StringVar(&out, "car", "", "output CAR file")
	cmd.Flags().StringVar(&author, "author", "", "only events by this key")
	return cmd
}

func (c *feedsCLI) importCmd() *cobra.Command {
	return vaultCmd("import FILE.car", "Import a CAR file: every block re-hashed, every event verified", vaultArgs(1, 1, "a CAR file"), func(cmd *cobra.Command, args []string) error {
		f, err := os.Open(args[0])
		if err != nil {
			return fmt.Errorf("open CAR: %w", err)
		}
		defer f.Close()
		return c.open(false, func(s *feeds.Store) error {
			counts, err := s.ImportCAR(cmd.Context(), args[0], f)
			feeds.RenderCounts(c.stdout, args[0], counts)
			return err
		})
	})
}

func (c *feedsCLI) serveCmd() *cobra.Command {
	var addr string
	cmd := vaultCmd("serve [--addr 127.0.0.1:PORT]", "Serve stored events: trustless IPFS gateway (/ipfs/), /events.jsonl, /manifest", nil, func(cmd *cobra.Command, _ []string) error {
		return c.open(false, func(s *feeds.Store) error {
			return s.Serve(cmd.Context(), addr, func(si feeds.ServeInfo) {
				fmt.Fprintf(c.stdout, "serving %d events on http://%s\nevents: http://%s/events.jsonl\nmanifest: ipfs://%s\n", si.Events, si.Addr, si.Addr, si.Manifest)
				if f, ok := c.stdout.(*os.File); ok {
					f.Sync()
				}
			})
		})
	})
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8089", "listen address (loopback by default; nothing leaves the device unless you choose)")
	return cmd
}
