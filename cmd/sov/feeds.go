package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/feeds/nostr"
	"github.com/sovos/sov/internal/paths"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/seal"
	"github.com/sovos/sov/wallet"
)

// feedsCommands returns the `sov feeds` command tree and `sov news`.
func feedsCommands(a *app) []*cobra.Command {
	root := &cobra.Command{
		Use:   "feeds",
		Short: "Signed news feeds: trust store, sources, sync, publish",
		Long: `sov feeds keeps news items whose Nostr signatures (BIP-340) verify against
keys you trust. Sources: Nostr relays (wss://), HTTP event files (JSON array or
JSON Lines), IPFS CIDs via trustless gateways, CAR files, and RSS/Atom/JSON
Feed (stored as unverified unless minisign-signed by a trusted key).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.PersistentFlags().String("passphrase-file", "", "read the publishing key passphrase from this file (else $SOV_FEEDS_PASSPHRASE, else a prompt)")
	root.AddCommand(
		feedsKeygenCmd(a), feedsTrustCmd(a), feedsUntrustCmd(a), feedsKeysCmd(a),
		feedsAddCmd(a), feedsSourcesCmd(a), feedsRemoveCmd(a), feedsSyncCmd(a),
		feedsPublishCmd(a), feedsLsCmd(a), feedsShowCmd(a),
		feedsExportCmd(a), feedsImportCmd(a), feedsServeCmd(a),
	)
	return []*cobra.Command{root, newsCmd(a)}
}

func feedsDir(a *app) (string, error) {
	dir := a.paths.Sub("feeds")
	if err := paths.Ensure(dir); err != nil {
		return "", err
	}
	return dir, nil
}

func feedsConfig(a *app) (feeds.Config, error) { return feeds.LoadConfig(a.cfg) }

func feedsOpen(a *app, readOnly bool) (*feeds.Store, error) {
	dir, err := feedsDir(a)
	if err != nil {
		return nil, err
	}
	cfg, err := feedsConfig(a)
	if err != nil {
		return nil, err
	}
	return feeds.Open(dir, feeds.Options{ReadOnly: readOnly, MaxFuture: cfg.MaxFutureDuration()})
}

func feedsArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("sov %s needs %s (see sov %s --help)", cmd.CommandPath()[4:], what, cmd.CommandPath()[4:])
		}
		return nil
	}
}

func feedsPassphrase(a *app, cmd *cobra.Command, confirm bool) ([]byte, error) {
	file, _ := cmd.Flags().GetString("passphrase-file")
	pw, err := prompt.Secret(prompt.Source{Env: "SOV_FEEDS_PASSPHRASE", File: file, Prompt: "Publishing key passphrase: ",
		Confirm: confirm, Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr})
	if errors.Is(err, prompt.ErrNoSecret) {
		return nil, fmt.Errorf("no passphrase: set SOV_FEEDS_PASSPHRASE or use --passphrase-file")
	}
	return pw, err
}

func feedsKeygenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create your publishing key (sealed with a passphrase) and trust it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := feedsDir(a)
			if err != nil {
				return err
			}
			var secret []byte
			if fw, _ := cmd.Flags().GetBool("from-wallet"); fw {
				// The wallet's NIP-06 key (m/44'/1237'/0'/0/0), so one
				// mnemonic backs up the publishing identity too.
				wfile, _ := cmd.Flags().GetString("wallet-passphrase-file")
				wpw, err := prompt.Secret(prompt.Source{Env: "SOV_WALLET_PASSPHRASE", File: wfile, Prompt: "Wallet passphrase: ",
					Getenv: a.getenv, Stdin: a.stdin, Stderr: a.stderr})
				if err != nil {
					return fmt.Errorf("wallet passphrase: %w (set SOV_WALLET_PASSPHRASE or use --wallet-passphrase-file)", err)
				}
				keys, err := wallet.OpenStore(a.paths.Sub("wallet")).Unlock(wpw)
				seal.Wipe(wpw)
				if err != nil {
					return fmt.Errorf("unlock wallet: %w", err)
				}
				kp, err := keys.NostrKey(0)
				keys.Wipe()
				if err != nil {
					return err
				}
				secret = kp.Private.Serialize()
				defer seal.Wipe(secret)
			}
			pw, err := feedsPassphrase(a, cmd, true)
			if err != nil {
				return err
			}
			defer seal.Wipe(pw)
			kdf, err := seal.DefaultKDF()
			if err != nil {
				return err
			}
			var pub string
			if secret != nil {
				pub, err = feeds.KeygenFrom(dir, secret, pw, kdf)
			} else {
				pub, err = feeds.Keygen(dir, pw, kdf)
			}
			if err != nil {
				return err
			}
			name, _ := cmd.Flags().GetString("name")
			return withFeeds(a, false, func(s *feeds.Store) error {
				if _, err := s.Trust(pub, name, nil); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "npub: %s\nhex:  %s\n", nostr.Npub(pub), pub)
				return nil
			})
		},
	}
	cmd.Flags().String("name", "me", "publisher name others see in your own listings")
	cmd.Flags().Bool("from-wallet", false, "use the wallet's Nostr key (NIP-06, m/44'/1237'/0'/0/0) instead of a new random key")
	cmd.Flags().String("wallet-passphrase-file", "", "wallet passphrase file for --from-wallet (else $SOV_WALLET_PASSPHRASE, else a prompt)")
	return cmd
}

func feedsTrustCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trust npub1…|HEX|MINISIGN-KEY --name NAME [--topics a,b]",
		Short: "Trust a publisher's key",
		Args:  feedsArgs(1, "one key (npub1…, 64 hex characters, or a minisign RW… key)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _ := cmd.Flags().GetString("name")
			topics, _ := cmd.Flags().GetStringSlice("topics")
			if strings.TrimSpace(name) == "" {
				return usagef("a trusted key needs a name: add --name \"Publisher\"")
			}
			return withFeeds(a, false, func(s *feeds.Store) error {
				tk, err := s.Trust(args[0], name, topics)
				if err != nil {
					return err
				}
				shown := tk.Key
				if tk.Type == "nostr" {
					shown = nostr.Npub(tk.Key)
				}
				fmt.Fprintf(a.stdout, "trusted %s (%s)\n", tk.Name, shown)
				// NIP-05 is a hint shown next to the key, never proof; a failed
				// look-up does not undo the trust the user gave.
				if ident, _ := cmd.Flags().GetString("nip05"); ident != "" && tk.Type == "nostr" {
					ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
					defer cancel()
					if err := feeds.NIP05Check(ctx, nil, ident, tk.Key); err != nil {
						return fmt.Errorf("key trusted, but no NIP-05 hint: %w", err)
					}
					if err := s.SetNIP05(tk.Key, ident); err != nil {
						return err
					}
					fmt.Fprintf(a.stdout, "NIP-05 hint: %s lists this key (a hint, not proof)\n", ident)
				}
				return nil
			})
		},
	}
	cmd.Flags().String("name", "", "publisher name (required)")
	cmd.Flags().String("nip05", "", "look up name@domain (NIP-05) and show it next to the key as a hint")
	cmd.Flags().StringSlice("topics", nil, "topics this publisher covers")
	return cmd
}

func feedsUntrustCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "untrust KEY",
		Short: "Stop trusting a key (its items stop counting as verified)",
		Args:  feedsArgs(1, "the key to untrust"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFeeds(a, false, func(s *feeds.Store) error {
				if err := s.Untrust(args[0]); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "untrusted", args[0])
				return nil
			})
		},
	}
}

func feedsKeysCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List trusted keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFeeds(a, true, func(s *feeds.Store) error {
				keys, err := s.Keys()
				if err != nil {
					return err
				}
				if j, _ := cmd.Flags().GetBool("json"); j {
					return feedsJSON(a.stdout, keys)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKEY\tTOPICS\tNIP-05 (hint)")
				for _, k := range keys {
					shown := k.Key
					if k.Type == "nostr" {
						shown = nostr.Npub(k.Key)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, shown, strings.Join(k.Topics, ","), k.NIP05)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().Bool("json", false, "print JSON")
	return cmd
}

func feedsAddCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add URL|ipfs://CID|FILE.car",
		Short: "Add a source: wss:// relay, http(s) events file or RSS/Atom/JSON feed, ipfs://CID, CAR file",
		Args:  feedsArgs(1, "one source URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			gws, _ := cmd.Flags().GetStringSlice("gateway")
			cfg, err := feedsConfig(a)
			if err != nil {
				return err
			}
			if len(gws) == 0 {
				gws = cfg.Gateways
			}
			return withFeeds(a, false, func(s *feeds.Store) error {
				src, err := s.AddSource(feeds.Source{URL: args[0], Gateway: gws})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "added %s source %s\n", src.Type, src.URL)
				return nil
			})
		},
	}
	cmd.Flags().StringSlice("gateway", nil, "trustless gateway(s) for ipfs:// sources (default: [feeds] gateways)")
	return cmd
}

func feedsSourcesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "sources",
		Short: "List sources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withFeeds(a, true, func(s *feeds.Store) error {
				srcs, err := s.Sources()
				if err != nil {
					return err
				}
				for _, src := range srcs {
					fmt.Fprintf(a.stdout, "%-6s %s\n", src.Type, src.URL)
				}
				return nil
			})
		},
	}
}

func feedsRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "remove URL",
		Short: "Remove a source",
		Args:  feedsArgs(1, "the source URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFeeds(a, false, func(s *feeds.Store) error {
				return s.RemoveSource(args[0])
			})
		},
	}
}

func feedsSyncCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Fetch all sources concurrently and verify what they send",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			timeout, _ := cmd.Flags().GetDuration("timeout")
			return withFeeds(a, false, func(s *feeds.Store) error {
				res, err := s.Sync(cmd.Context(), feeds.FetchOptions{Timeout: timeout})
				if err != nil && len(res) == 0 {
					return err
				}
				if j, _ := cmd.Flags().GetBool("json"); j {
					type row struct {
						Source string       `json:"source"`
						Type   string       `json:"type"`
						Counts feeds.Counts `json:"counts"`
						Error  string       `json:"error,omitempty"`
					}
					var rows []row
					for _, r := range res {
						rw := row{Source: r.Source.URL, Type: r.Source.Type, Counts: r.Counts}
						if r.Err != nil {
							rw.Error = r.Err.Error()
						}
						rows = append(rows, rw)
					}
					if err := feedsJSON(a.stdout, rows); err != nil {
						return err
					}
				}
				failed := 0
				var total feeds.Counts
				for _, r := range res {
					total.Add(r.Counts)
					if j, _ := cmd.Flags().GetBool("json"); !j {
						fmt.Fprintf(a.stdout, "%s: %s\n", r.Source.URL, r.Counts)
						for _, e := range r.Counts.Errors {
							fmt.Fprintf(a.stdout, "  %s\n", e)
						}
					}
					if r.Err != nil {
						failed++
						fmt.Fprintf(a.stderr, "sov: %s: %v\n", r.Source.URL, r.Err)
					}
				}
				if err != nil {
					return err
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d sources failed (items they sent before failing were verified and kept): check the URLs above and retry", failed, len(res))
				}
				return nil
			})
		},
	}
	cmd.Flags().Bool("json", false, "print per-source counts as JSON")
	cmd.Flags().Duration("timeout", 60*time.Second, "per-source time limit")
	return cmd
}

func feedsPublishCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publish ARTICLE.md --title TITLE [--summary S] [--topic T]",
		Short: "Sign an article (NIP-23, kind 30023), store it and send it to relays/files",
		Args:  feedsArgs(1, "the article's Markdown file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			title, _ := cmd.Flags().GetString("title")
			summary, _ := cmd.Flags().GetString("summary")
			topics, _ := cmd.Flags().GetStringSlice("topic")
			slug, _ := cmd.Flags().GetString("slug")
			relays, _ := cmd.Flags().GetStringSlice("relay")
			eventsFile, _ := cmd.Flags().GetString("events-file")
			carFile, _ := cmd.Flags().GetString("car")
			if strings.TrimSpace(title) == "" {
				return usagef("an article needs a title: add --title \"…\"")
			}
			body, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read article: %w", err)
			}
			cfg, err := feedsConfig(a)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("relay") {
				relays = cfg.Relays
			}
			if eventsFile == "" {
				eventsFile = cfg.EventsFile
			}
			dir, err := feedsDir(a)
			if err != nil {
				return err
			}
			if _, err := feeds.PublicKey(dir); err != nil {
				return err
			}
			pw, err := feedsPassphrase(a, cmd, false)
			if err != nil {
				return err
			}
			sk, err := feeds.UnlockKey(dir, pw)
			seal.Wipe(pw)
			if err != nil {
				return err
			}
			ev, err := feeds.NewArticle(sk, feeds.Article{Title: title, Summary: summary, Topics: topics, Slug: slug, Body: string(body)}, time.Now())
			if err != nil {
				return err
			}
			return withFeeds(a, false, func(s *feeds.Store) error {
				rep, err := s.Publish(cmd.Context(), ev, feeds.PublishTargets{Relays: relays, EventsFile: eventsFile, CARFile: carFile})
				c, _ := feeds.EventCID(ev.ID)
				fmt.Fprintf(a.stdout, "published %s\ncid: %s\n", ev.ID, c)
				for _, t := range rep.Targets {
					fmt.Fprintf(a.stdout, "sent to %s\n", t)
				}
				if err != nil {
					return fmt.Errorf("stored locally, but: %w", err)
				}
				return nil
			})
		},
	}
	cmd.Flags().String("title", "", "article title (required)")
	cmd.Flags().String("summary", "", "one-line summary")
	cmd.Flags().StringSlice("topic", nil, "topic tag (repeat or comma-separate)")
	cmd.Flags().String("slug", "", "identifier (d tag); republishing the same slug replaces the article")
	cmd.Flags().StringSlice("relay", nil, "relay(s) to send to (default: [feeds] relays)")
	cmd.Flags().String("events-file", "", "append the event to this JSON Lines file (default: [feeds] events_file)")
	cmd.Flags().String("car", "", "rewrite this CAR file with all your articles")
	return cmd
}

func feedsLsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List stored items (verified only unless --unverified)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unv, _ := cmd.Flags().GetBool("unverified")
			since, _ := cmd.Flags().GetDuration("since")
			return withFeeds(a, true, func(s *feeds.Store) error {
				opt := feeds.ListOptions{Unverified: unv}
				if since > 0 {
					opt.Since = time.Now().Add(-since)
				}
				items, err := s.List(opt)
				if err != nil {
					return err
				}
				if j, _ := cmd.Flags().GetBool("json"); j {
					if items == nil {
						items = []feeds.Item{}
					}
					return feedsJSON(a.stdout, items)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPUBLISHER\tKIND\tTITLE\tCREATED\tCID\tVERIFIED")
				for _, it := range items {
					v := "yes"
					if !it.Verified {
						v = "UNVERIFIED"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID[:12], feedsClip(it.Publisher, 20), feedsKind(it.Kind),
						feedsClip(it.Title, 40), it.Created.Format("2006-01-02 15:04"), it.CID, v)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().Bool("json", false, "print JSON")
	cmd.Flags().Bool("unverified", false, "include unverified items (RSS/Atom/JSON Feed, untrusted keys), labelled")
	cmd.Flags().Duration("since", 0, "only items newer than this (e.g. 24h)")
	return cmd
}

func feedsKind(k int) string {
	switch k {
	case nostr.KindArticle:
		return "article"
	case nostr.KindShortNote:
		return "note"
	case -1:
		return "feed"
	}
	return fmt.Sprint(k)
}

func feedsClip(s string, n int) string {
	r := []rune(strings.ReplaceAll(s, "\t", " "))
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}

func feedsShowCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one item (id or unique prefix)",
		Args:  feedsArgs(1, "an item id or prefix"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withFeeds(a, true, func(s *feeds.Store) error {
				it, ev, err := s.Get(args[0])
				if err != nil {
					return err
				}
				if j, _ := cmd.Flags().GetBool("json"); j {
					return feedsJSON(a.stdout, struct {
						Item  feeds.Item   `json:"item"`
						Event *nostr.Event `json:"event,omitempty"`
					}{it, ev})
				}
				v := "verified (signature checked, key trusted)"
				if !it.Verified {
					v = "UNVERIFIED"
				}
				fmt.Fprintf(a.stdout, "%s\nby %s · %s · %s · %s\nid:  %s\ncid: %s\n", it.Title, it.Publisher, feedsKind(it.Kind),
					it.Created.Format(time.RFC3339), v, it.ID, it.CID)
				if it.BodyCID != "" {
					fmt.Fprintf(a.stdout, "body cid: %s\n", it.BodyCID)
				}
				if it.PubKey != "" {
					fmt.Fprintf(a.stdout, "key: %s\n", nostr.Npub(it.PubKey))
				}
				if it.URL != "" {
					fmt.Fprintf(a.stdout, "url: %s\n", it.URL)
				}
				if len(it.Topics) > 0 {
					fmt.Fprintf(a.stdout, "topics: %s\n", strings.Join(it.Topics, ", "))
				}
				fmt.Fprintf(a.stdout, "\n%s\n", it.Content)
				return nil
			})
		},
	}
	cmd.Flags().Bool("json", false, "print JSON")
	return cmd
}

func feedsExportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export --car FILE [--author KEY]",
		Short: "Write stored signed events (and article bodies) to a CAR file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("car")
			author, _ := cmd.Flags().GetString("author")
			if out == "" {
				return usagef("give the output file with --car FILE")
			}
			return withFeeds(a, false, func(s *feeds.Store) error {
				evs, err := s.Events()
				if err != nil {
					return err
				}
				if author != "" {
					hexKey, err := nostr.ParsePublicKey(author)
					if err != nil {
						return usagef("--author: %v", err)
					}
					var keep []*nostr.Event
					for _, e := range evs {
						if e.PubKey == hexKey {
							keep = append(keep, e)
						}
					}
					evs = keep
				}
				if evs == nil {
					evs = []*nostr.Event{}
				}
				root, n, err := s.WriteCARFile(cmd.Context(), out, evs)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "exported %d events to %s\nroot: ipfs://%s\n", n, out, root)
				return nil
			})
		},
	}
	cmd.Flags().String("car", "", "output CAR file")
	cmd.Flags().String("author", "", "only events by this key")
	return cmd
}

func feedsImportCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.car",
		Short: "Import a CAR file: every block re-hashed, every event verified",
		Args:  feedsArgs(1, "a CAR file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open CAR: %w", err)
			}
			defer f.Close()
			return withFeeds(a, false, func(s *feeds.Store) error {
				c, err := s.ImportCAR(cmd.Context(), args[0], f)
				fmt.Fprintf(a.stdout, "%s: %s\n", args[0], c)
				for _, e := range c.Errors {
					fmt.Fprintf(a.stdout, "  %s\n", e)
				}
				return err
			})
		},
	}
}

func feedsServeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:PORT]",
		Short: "Serve stored events: trustless IPFS gateway (/ipfs/), /events.jsonl, /manifest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, _ := cmd.Flags().GetString("addr")
			return withFeeds(a, false, func(s *feeds.Store) error {
				return s.Serve(cmd.Context(), addr, func(si feeds.ServeInfo) {
					fmt.Fprintf(a.stdout, "serving %d events on http://%s\nevents: http://%s/events.jsonl\nmanifest: ipfs://%s\n",
						si.Events, si.Addr, si.Addr, si.Manifest)
					if f, ok := a.stdout.(*os.File); ok {
						f.Sync()
					}
				})
			})
		},
	}
	cmd.Flags().String("addr", "127.0.0.1:8089", "listen address (loopback by default; nothing leaves the device unless you choose)")
	return cmd
}

func feedsJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// withFeeds opens the feeds store for one command and closes it after fn.
func withFeeds(a *app, readOnly bool, fn func(*feeds.Store) error) error {
	s, err := feedsOpen(a, readOnly)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}
