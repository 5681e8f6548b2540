package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/feeds/digest"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// FeedsDigest is feeds.digest: the news digest (feeds/digest) of recent
// verified items, written by the run's model, every citation checked.
// Its content is from outside: the result is tainted.
type FeedsDigest struct{}

func (FeedsDigest) Spec() model.Tool {
	return spec("feeds.digest", fmt.Sprintf(`{"type":"object","properties":{
"hours":{"type":"integer","minimum":1,"maximum":%d},
"topic":{"type":"string","maxLength":64},
"stories":{"type":"integer","minimum":1,"maximum":8}},
"additionalProperties":false}`, maxFeedHours))
}

func (FeedsDigest) Level() Level { return Outside }

func (FeedsDigest) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Hours   int    `json:"hours"`
		Topic   string `json:"topic"`
		Stories int    `json:"stories"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	var err error
	if a.Hours, err = feedHours(a.Hours); err != nil {
		return Result{}, err
	}
	if a.Stories < 0 || a.Stories > 8 {
		return Result{}, fmt.Errorf("%w: stories must be 1 to 8", ErrBadArguments)
	}
	if env == nil || env.Feeds == nil {
		return Result{}, fmt.Errorf("feeds.digest: the run has no feeds: %w", ErrUnavailable)
	}
	if env.Model == nil {
		return Result{}, fmt.Errorf("feeds.digest: the run has no model for tools: %w", ErrUnavailable)
	}
	opt := digest.Options{Since: time.Duration(a.Hours) * time.Hour, MaxStories: a.Stories}
	if t := strings.ToLower(strings.TrimSpace(a.Topic)); t != "" {
		opt.Topics = []string{t}
	}
	// verified items only, whatever the store is asked
	verified := func(o feeds.ListOptions) ([]feeds.Item, error) {
		o.Unverified = false
		items, err := env.Feeds(o)
		return slices.DeleteFunc(items, func(it feeds.Item) bool { return !it.Verified }), err
	}
	d, err := digest.Run(ctx, verified, env.Model, opt)
	if err != nil {
		return Result{}, fmt.Errorf("feeds.digest: %w", err)
	}
	type story struct {
		Headline  string   `json:"headline"`
		Summary   string   `json:"summary"`
		Citations []string `json:"citations"`
	}
	out := struct {
		Stories []story `json:"stories"`
		Items   int     `json:"items"`
	}{Stories: []story{}, Items: d.Items}
	for _, s := range d.Stories {
		st := story{Headline: termtext.Clean(s.Headline), Summary: termtext.Clean(s.Summary)}
		for _, c := range s.Citations {
			st.Citations = append(st.Citations, termtext.Clean(c.String()))
		}
		out.Stories = append(out.Stories, st)
	}
	return Result{Text: jsonText(out), Source: "feeds", Tainted: true}, nil
}
