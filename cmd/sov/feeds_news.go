package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/feeds/digest"
)

// newsCmd is `sov news`: the local model's digest of verified items, ranked
// by the [feeds] interests, every citation checked against the window.
func (c *feedsCLI) newsCmd() *cobra.Command {
	var opt digest.Options
	var name string
	cmd := c.jsonFlag(vaultCmd("news [--since 24h] [--topics a,b] [--include-unverified]", "A digest of your verified news by your interests (local model)", nil, func(cmd *cobra.Command, _ []string) error {
		if opt.Since <= 0 {
			return usagef("--since must be positive, e.g. 24h")
		}
		cfg, err := feeds.LoadConfig(c.cfg)
		if err != nil {
			return err
		}
		opt.Interests, opt.Blocked = cfg.Interests, cfg.Blocked
		if name == "" {
			name = cfg.Model
		}
		m := vaultModel(c.app, name, "model") // loaded only when some item is left
		defer m.Close()
		// The store is open while listing, not while the model writes.
		list := func(o feeds.ListOptions) (items []feeds.Item, err error) {
			err = c.open(true, func(s *feeds.Store) error { items, err = s.List(o); return err })
			return items, err
		}
		d, err := digest.Run(cmd.Context(), list, m, opt)
		switch {
		case err != nil:
			return err
		case d.Items == 0:
			return vaultSay(c.stdout, nil, "No items in the last %s (%d hidden by blocked topics): run sov feeds sync, or widen --since/--topics.", opt.Since, d.Blocked)
		}
		return c.show(d, func() error { d.Render(c.stdout); return nil })
	}), "print the digest as JSON")
	cmd.Flags().DurationVar(&opt.Since, "since", 24*time.Hour, "window of items to digest")
	cmd.Flags().StringSliceVar(&opt.Topics, "topics", nil, "only items with these topics")
	cmd.Flags().BoolVar(&opt.Unverified, "include-unverified", false, "add unverified items (labelled as such)")
	cmd.Flags().IntVar(&opt.MaxStories, "max-stories", 4, "at most this many stories")
	cmd.Flags().IntVar(&opt.MaxItems, "max-items", 12, "at most this many items given to the model (ranked by interest)")
	cmd.Flags().StringVarP(&name, "model", "m", "", "model name or GGUF path (default: [feeds] model, then sov's default)")
	return cmd
}
