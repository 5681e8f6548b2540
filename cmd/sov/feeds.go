package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/feeds/digest"
	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/boltfile"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/wallet"
)

// feedsCLI is what the feeds commands share: the app and the flags of the
// one command that runs.
type feedsCLI struct {
	*app
	json bool
}

// feedsCommands returns the `sov feeds` command tree and `sov news`.
func feedsCommands(a *app) []*cobra.Command {
	c := &feedsCLI{app: a}
	root := command("feeds", "Signed news feeds: trust store, sources, sync, publish", nil, func(cmd *cobra.Command, _ []string) error { return cmd.Help() })
	root.Long = `sov feeds keeps news items whose Nostr signatures (BIP-340) verify against
keys you trust. Sources: Nostr relays (wss://), HTTP event files (JSON array or
JSON Lines), IPFS CIDs via trustless gateways, CAR files, and RSS/Atom/JSON
Feed (stored as unverified unless minisign-signed by a trusted key).
sync and import exit 3 when any item was rejected (reasons in the summary).`
	root.PersistentFlags().String("passphrase-file", "", "read the publishing key passphrase from this file (else $SOV_FEEDS_PASSPHRASE, else a prompt)")
	root.AddCommand(c.keygenCmd(), c.trustCmd(), c.untrustCmd(), c.keysCmd(), c.addCmd(), c.sourcesCmd(),
		c.removeCmd(), c.syncCmd(), c.publishCmd(), c.lsCmd(), c.showCmd(), c.exportCmd(), c.importCmd(), c.serveCmd())
	return guard(feedsHint, "the feeds database is damaged (%v): move feeds.db aside and sync again", root, c.newsCmd())
}

// feedsHint adds to a library error the command or flag that fixes it.
func feedsHint(err error) error {
	var mine *feeds.UntrustedPublisherError
	if errors.As(err, &mine) {
		return fmt.Errorf("%w: run sov feeds trust %s --name me", err, mine.Npub)
	}
	return withFix(err,
		fix{new(*feeds.NotTrustedError), " (see sov feeds keys)", false},
		fix{boltfile.ErrDamaged, ": move feeds.db aside, re-add your sources and trusted keys (sov feeds add, sov feeds trust) and sync again", false},
		fix{new(*feeds.ListenError), " (pick another --addr)", false},
		fix{new(*feeds.SyncFailedError), ": check the URLs above and retry", false},
		fix{feeds.ErrNoName, `: add --name "Publisher"`, true},
		fix{feeds.ErrNoTitle, `: add --title "…"`, true},
		fix{feeds.ErrNoKey, ": create one with sov feeds keygen", false},
		fix{feeds.ErrEmptyPassphrase, ": set SOV_FEEDS_PASSPHRASE or use --passphrase-file", false},
		fix{feeds.ErrInUse, " (is sov feeds serve running?)", false},
		fix{feeds.ErrShortID, " (see sov feeds ls)", false},
		fix{feeds.ErrNoItem, " (see sov feeds ls --unverified)", false},
		fix{feeds.ErrNoSource, " (see sov feeds sources)", false},
		fix{feeds.ErrNoSources, ": add one with sov feeds add URL", false},
		fix{feeds.ErrNoGateway, ": add --gateway http://HOST:PORT", false},
		fix{feeds.ErrBadCID, ": copy it again from sov feeds serve or export", false},
		fix{feeds.ErrNoTrustedKeys, ": add one with sov feeds trust", false},
		fix{feeds.ErrNoManifest, ": make one with sov feeds export --car or sov feeds serve", false},
		fix{feeds.ErrBadAuthor, " (check --author)", true})
}

// open opens the feeds store for one command and closes it after fn.
func (c *feedsCLI) open(readOnly bool, fn func(*feeds.Store) error) error {
	return feeds.With(c.Paths.Sub("feeds"), c.Config, readOnly, fn)
}

// storeCmd is a command run on the feeds store, open (read-only with ro)
// while run runs.
func (c *feedsCLI) storeCmd(use, short string, args cobra.PositionalArgs, ro bool, run func(*cobra.Command, *feeds.Store, []string) error) *cobra.Command {
	return command(use, short, args, func(cmd *cobra.Command, args []string) error {
		return c.open(ro, func(s *feeds.Store) error { return run(cmd, s, args) })
	})
}

// pass reads the publishing key's passphrase (--passphrase-file of cmd).
func (c *feedsCLI) pass(cmd *cobra.Command, confirm bool) func() ([]byte, error) {
	return c.secret(cmd, "passphrase-file", "publishing key passphrase", "SOV_FEEDS_PASSPHRASE", confirm)
}

func (c *feedsCLI) keygenCmd() *cobra.Command {
	var name string
	var fromWallet bool
	cmd := c.storeCmd("keygen", "Create your publishing key (sealed with a passphrase) and trust it", nil, false, func(cmd *cobra.Command, s *feeds.Store, _ []string) error {
		var w func() ([]byte, error) // nil: a new random key
		if fromWallet {
			pass := c.secret(cmd, "wallet-passphrase-file", "wallet passphrase", "SOV_WALLET_PASSPHRASE", false)
			w = func() ([]byte, error) { return wallet.OpenStore(c.Paths.Sub("wallet")).NostrSecretWith(pass) }
		}
		pub, err := s.CreateKeyFrom(name, w, c.pass(cmd, true))
		return c.say(err, "npub: %s\nhex:  %s", nostr.Npub(pub), pub)
	})
	cmd.Flags().StringVar(&name, "name", "me", "publisher name others see in your own listings")
	cmd.Flags().BoolVar(&fromWallet, "from-wallet", false, "use the wallet's Nostr key (NIP-06, m/44'/1237'/0'/0/0) instead of a new random key")
	cmd.Flags().String("wallet-passphrase-file", "", "wallet passphrase file for --from-wallet (else $SOV_WALLET_PASSPHRASE, else a prompt)")
	return cmd
}

func (c *feedsCLI) trustCmd() *cobra.Command {
	var name, ident string
	var topics []string
	cmd := c.storeCmd("trust npub1…|HEX|MINISIGN-KEY --name NAME [--topics a,b]", "Trust a publisher's key",
		nargs(1, 1, "one key (npub1…, 64 hex characters, or a minisign RW… key)"), false, func(cmd *cobra.Command, s *feeds.Store, args []string) error {
			tk, err := s.Trust(args[0], name, topics)
			if err := c.say(err, "trusted %s (%s)", termtext.Clean(tk.Name), tk.Display()); err != nil || ident == "" || tk.Type != "nostr" {
				return err
			}
			// NIP-05 is a hint, never proof: a failed look-up keeps the trust.
			if err := s.CheckNIP05(cmd.Context(), nil, tk.Key, ident); err != nil {
				return fmt.Errorf("key trusted, but no NIP-05 hint: %w", err)
			}
			return c.say(nil, "NIP-05 hint: %s lists this key (a hint, not proof)", ident)
		})
	cmd.Flags().StringVar(&name, "name", "", "publisher name (required)")
	cmd.Flags().StringVar(&ident, "nip05", "", "look up name@domain (NIP-05) and show it next to the key as a hint")
	cmd.Flags().StringSliceVar(&topics, "topics", nil, "topics this publisher covers")
	return cmd
}

func (c *feedsCLI) untrustCmd() *cobra.Command {
	return c.storeCmd("untrust KEY", "Stop trusting a key (its items stop counting as verified)", nargs(1, 1, "the key to untrust"), false, func(_ *cobra.Command, s *feeds.Store, args []string) error {
		return c.say(s.Untrust(args[0]), "untrusted %s", args[0])
	})
}

func (c *feedsCLI) keysCmd() *cobra.Command {
	return jsonFlag(&c.json, c.storeCmd("keys", "List trusted keys", nil, true, func(_ *cobra.Command, s *feeds.Store, _ []string) error {
		keys, err := s.Keys()
		if err != nil {
			return err
		}
		return c.show(c.json, keys, func(w io.Writer) { feeds.RenderKeys(w, keys) })
	}), "print JSON")
}

func (c *feedsCLI) addCmd() *cobra.Command {
	var src feeds.Source
	cmd := c.storeCmd("add URL|ipfs://CID|FILE.car", "Add a source: wss:// relay, http(s) events file or RSS/Atom/JSON feed, ipfs://CID, CAR file",
		nargs(1, 1, "one source URL"), false, func(_ *cobra.Command, s *feeds.Store, args []string) error {
			src.URL = args[0]
			added, err := s.AddSource(src)
			return c.say(err, "added %s source %s", added.Type, added.URL)
		})
	cmd.Flags().StringSliceVar(&src.Gateway, "gateway", nil, "trustless gateway(s) for ipfs:// sources (default: [feeds] gateways)")
	return cmd
}

func (c *feedsCLI) sourcesCmd() *cobra.Command {
	return c.storeCmd("sources", "List sources", nil, true, func(_ *cobra.Command, s *feeds.Store, _ []string) error {
		srcs, err := s.Sources()
		feeds.RenderSources(c.stdout, srcs)
		return err
	})
}

func (c *feedsCLI) removeCmd() *cobra.Command {
	return c.storeCmd("remove URL", "Remove a source", nargs(1, 1, "the source URL"), false, func(_ *cobra.Command, s *feeds.Store, args []string) error {
		return s.RemoveSource(args[0])
	})
}

func (c *feedsCLI) syncCmd() *cobra.Command {
	var o feeds.FetchOptions
	cmd := jsonFlag(&c.json, c.storeCmd("sync", "Fetch all sources concurrently and verify what they send", nil, false, func(cmd *cobra.Command, s *feeds.Store, _ []string) error {
		res, err := s.Sync(cmd.Context(), o)
		if err != nil && len(res) == 0 {
			return err
		}
		serr := c.show(c.json, res, func(w io.Writer) { feeds.RenderSync(w, res) })
		for _, r := range res {
			if r.Err != nil {
				fmt.Fprintf(c.stderr, "sov: %s: %v\n", termtext.Clean(r.Source.URL), feedsHint(r.Err))
			}
		}
		return cmp.Or(err, serr, feeds.SyncErr(res))
	}), "print per-source counts as JSON")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 60*time.Second, "per-source time limit")
	return cmd
}

func (c *feedsCLI) publishCmd() *cobra.Command {
	var art feeds.Article
	var to feeds.PublishTargets
	cmd := c.storeCmd("publish ARTICLE.md --title TITLE [--summary S] [--topic T]", "Sign an article (NIP-23, kind 30023), store it and send it to relays/files",
		nargs(1, 1, "the article's Markdown file"), false, func(cmd *cobra.Command, s *feeds.Store, args []string) error {
			_, rep, err := s.PublishFile(cmd.Context(), args[0], art, c.pass(cmd, false), to)
			rep.Write(c.stdout)
			return err
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
	cmd := jsonFlag(&c.json, c.storeCmd("ls", "List stored items (verified only unless --unverified)", nil, true, func(_ *cobra.Command, s *feeds.Store, _ []string) error {
		items, err := s.List(o)
		if err != nil {
			return err
		}
		return c.show(c.json, items, func(w io.Writer) { feeds.RenderItems(w, items) })
	}), "print JSON")
	cmd.Flags().BoolVar(&o.Unverified, "unverified", false, "include unverified items (RSS/Atom/JSON Feed, untrusted keys), labelled")
	cmd.Flags().DurationVar(&o.Within, "since", 0, "only items newer than this (e.g. 24h)")
	return cmd
}

func (c *feedsCLI) showCmd() *cobra.Command {
	return jsonFlag(&c.json, c.storeCmd("show ID", "Show one item (id or unique prefix)", nargs(1, 1, "an item id or prefix"), true, func(_ *cobra.Command, s *feeds.Store, args []string) error {
		it, ev, err := s.Get(args[0])
		if err != nil {
			return err
		}
		return c.show(c.json, feeds.ItemEvent{Item: it, Event: ev}, it.Render)
	}), "print JSON")
}

func (c *feedsCLI) exportCmd() *cobra.Command {
	var out, author string
	cmd := command("export --car FILE [--author KEY]", "Write stored signed events (and article bodies) to a CAR file", nil, func(cmd *cobra.Command, _ []string) error {
		if out == "" {
			return usagef("give the output file with --car FILE")
		}
		return c.open(false, func(s *feeds.Store) error {
			root, n, err := s.ExportCARFile(cmd.Context(), out, author)
			return c.say(err, "exported %d events to %s\nroot: ipfs://%s", n, out, root)
		})
	})
	cmd.Flags().StringVar(&out, "car", "", "output CAR file")
	cmd.Flags().StringVar(&author, "author", "", "only events by this key")
	return cmd
}

func (c *feedsCLI) importCmd() *cobra.Command {
	return c.storeCmd("import FILE.car", "Import a CAR file: every block re-hashed, every event verified", nargs(1, 1, "a CAR file"), false, func(cmd *cobra.Command, s *feeds.Store, args []string) error {
		f, err := os.Open(args[0])
		if err != nil {
			return fmt.Errorf("open CAR: %w", err)
		}
		defer f.Close()
		counts, err := s.ImportCAR(cmd.Context(), args[0], f)
		feeds.RenderCounts(c.stdout, args[0], counts)
		return cmp.Or(err, counts.Err())
	})
}

func (c *feedsCLI) serveCmd() *cobra.Command {
	var addr string
	cmd := command("serve [--addr 127.0.0.1:PORT]", "Serve stored events: trustless IPFS gateway (/ipfs/), /events.jsonl, /manifest", nil, func(cmd *cobra.Command, _ []string) error {
		return feeds.ServeDir(cmd.Context(), c.Paths.Sub("feeds"), c.Config, addr, func(si feeds.ServeInfo) {
			if si.Exposed() {
				fmt.Fprintf(c.stderr, "sov: warning: serving to the network: anyone who can reach %s can read your feeds\n", si.Addr)
			}
			fmt.Fprintf(c.stdout, "serving %d events on http://%s\nevents: http://%s/events.jsonl\nmanifest: ipfs://%s\n", si.Events, si.Addr, si.Addr, si.Manifest)
		})
	})
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8089", "listen address (loopback by default; nothing leaves the device unless you choose)")
	return cmd
}

// newsCmd is `sov news`: the local model's digest of verified items, ranked
// by the [feeds] interests, every citation checked against the window.
func (c *feedsCLI) newsCmd() *cobra.Command {
	var opt digest.Options
	var name string
	cmd := jsonFlag(&c.json, command("news [--since 24h] [--topics a,b] [--include-unverified]", "A digest of your verified news by your interests (local model)", nil, func(cmd *cobra.Command, _ []string) error {
		if opt.Since <= 0 {
			return usagef("--since must be positive, e.g. 24h")
		}
		cfg, err := feeds.LoadConfig(c.Config)
		if err != nil {
			return err
		}
		opt.Interests, opt.Blocked = cfg.Interests, cfg.Blocked
		m := c.lazyModel(cmp.Or(name, cfg.Model), "model") // loaded only when some item is left
		defer m.Close()
		d, err := digest.Run(cmd.Context(), feeds.Lister(c.Paths.Sub("feeds"), c.Config), m, opt)
		switch {
		case err != nil:
			return err
		case d.Items == 0:
			return c.say(nil, "No items in the last %s (%d hidden by blocked topics): run sov feeds sync, or widen --since/--topics.", opt.Since, d.Blocked)
		}
		return c.show(c.json, d, d.Render)
	}), "print the digest as JSON")
	cmd.Flags().DurationVar(&opt.Since, "since", 24*time.Hour, "window of items to digest")
	cmd.Flags().StringSliceVar(&opt.Topics, "topics", nil, "only items with these topics")
	cmd.Flags().BoolVar(&opt.Unverified, "include-unverified", false, "add unverified items (labelled as such)")
	cmd.Flags().IntVar(&opt.MaxStories, "max-stories", 4, "at most this many stories")
	cmd.Flags().IntVar(&opt.MaxItems, "max-items", 12, "at most this many items given to the model (ranked by interest)")
	cmd.Flags().StringVarP(&name, "model", "m", "", "model name or GGUF path (default: [feeds] model, then sov's default)")
	return cmd
}
