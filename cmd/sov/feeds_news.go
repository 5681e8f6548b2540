package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/feeds/digest"
	"github.com/sovos/sov/model"
)

// newsCmd is `sov news`: the local model's digest of verified items, ranked
// by the [feeds] interests, every citation checked against the window.
func newsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "news [--since 24h] [--topics a,b] [--include-unverified]",
		Short: "A digest of your verified news by your interests (local model)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			since, _ := cmd.Flags().GetDuration("since")
			topics, _ := cmd.Flags().GetStringSlice("topics")
			unv, _ := cmd.Flags().GetBool("include-unverified")
			maxStories, _ := cmd.Flags().GetInt("max-stories")
			maxItems, _ := cmd.Flags().GetInt("max-items")
			modelFlag, _ := cmd.Flags().GetString("model")
			if since <= 0 {
				return usagef("--since must be positive, e.g. 24h")
			}
			cfg, err := feedsConfig(a)
			if err != nil {
				return err
			}
			s, err := feedsOpen(a, true)
			if err != nil {
				return err
			}
			all, err := s.List(feeds.ListOptions{Unverified: unv, Since: time.Now().Add(-since), Content: true})
			s.Close()
			if err != nil {
				return err
			}
			opt := digest.Options{Interests: cfg.Interests, Blocked: cfg.Blocked, Topics: topics, MaxItems: maxItems, MaxStories: maxStories}
			items, blocked := digest.Select(all, opt)
			if len(items) == 0 {
				fmt.Fprintf(a.stdout, "No items in the last %s (%d hidden by blocked topics): run sov feeds sync, or widen --since/--topics.\n", since, blocked)
				return nil
			}
			if modelFlag == "" {
				modelFlag = cfg.Model
			}
			path, err := resolveModelPath(a, modelFlag)
			if err != nil {
				return err
			}
			eng, err := model.Load(cmd.Context(), model.Options{Path: path})
			if err != nil {
				return fmt.Errorf("load model: %w", err)
			}
			defer eng.Close()
			d, err := digest.Build(cmd.Context(), eng, items, opt)
			if err != nil {
				return err
			}
			d.Blocked = blocked
			if j, _ := cmd.Flags().GetBool("json"); j {
				return feedsJSON(a.stdout, d)
			}
			d.Render(a.stdout)
			return nil
		},
	}
	cmd.Flags().Duration("since", 24*time.Hour, "window of items to digest")
	cmd.Flags().StringSlice("topics", nil, "only items with these topics")
	cmd.Flags().Bool("include-unverified", false, "add unverified items (labelled as such)")
	cmd.Flags().Int("max-stories", 4, "at most this many stories")
	cmd.Flags().Int("max-items", 12, "at most this many items given to the model (ranked by interest)")
	cmd.Flags().StringP("model", "m", "", "model name or GGUF path (default: [feeds] model, then sov's default)")
	cmd.Flags().Bool("json", false, "print the digest as JSON")
	return cmd
}
