package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// FeedsList is feeds.list: recent verified items of the feeds the user
// follows. Feed items are written by others, so the result is tainted.
type FeedsList struct{}

const (
	defaultFeedHours = 24
	maxFeedHours     = 24 * 30
	defaultFeedLimit = 10
	maxFeedLimit     = 50
	maxItemChars     = 2000 // per item body
)

func (FeedsList) Spec() model.Tool {
	return spec("feeds.list", fmt.Sprintf(`{"type":"object","properties":{
"hours":{"type":"integer","minimum":1,"maximum":%d},
"topic":{"type":"string","maxLength":64},
"limit":{"type":"integer","minimum":1,"maximum":%d},
"content":{"type":"boolean"}},
"additionalProperties":false}`, maxFeedHours, maxFeedLimit))
}

func (FeedsList) Level() Level { return Outside }

// feedItem is an item as the result shows it: what it says, who signed it
// and where it is, every string cleaned.
type feedItem struct {
	Publisher string    `json:"publisher"`
	Title     string    `json:"title"`
	Summary   string    `json:"summary,omitempty"`
	Topics    []string  `json:"topics,omitempty"`
	Created   time.Time `json:"created"`
	URL       string    `json:"url,omitempty"`
	Content   string    `json:"content,omitempty"`
	Truncated bool      `json:"truncated,omitempty"`
}

func (FeedsList) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Hours   int    `json:"hours"`
		Topic   string `json:"topic"`
		Limit   int    `json:"limit"`
		Content bool   `json:"content"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	var err error
	if a.Hours, err = feedHours(a.Hours); err != nil {
		return Result{}, err
	}
	if a.Limit < 0 || a.Limit > maxFeedLimit {
		return Result{}, fmt.Errorf("%w: limit must be 1 to %d", ErrBadArguments, maxFeedLimit)
	}
	if a.Limit == 0 {
		a.Limit = defaultFeedLimit
	}
	topic := strings.ToLower(strings.TrimSpace(a.Topic))
	if env == nil || env.Feeds == nil {
		return Result{}, fmt.Errorf("feeds.list: the run has no feeds: %w", ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	// verified items only: an unverified one is not from whom it claims
	items, err := env.Feeds(feeds.ListOptions{Within: time.Duration(a.Hours) * time.Hour, Content: a.Content})
	if err != nil {
		return Result{}, fmt.Errorf("feeds.list: %w", err)
	}
	out := []feedItem{}
	for _, it := range items {
		if !it.Verified || topic != "" && !slices.Contains(it.Topics, topic) {
			continue
		}
		fi := feedItem{
			Publisher: termtext.Clean(it.Publisher), Title: termtext.Clean(it.Title), Summary: termtext.Clean(it.Summary),
			Created: it.Created, URL: termtext.Clean(it.URL),
		}
		for _, t := range it.Topics {
			fi.Topics = append(fi.Topics, termtext.Clean(t))
		}
		if a.Content {
			fi.Content = termtext.Clean(it.Content)
			if r := []rune(fi.Content); len(r) > maxItemChars {
				fi.Content, fi.Truncated = string(r[:maxItemChars]), true
			}
		}
		out = append(out, fi)
		if len(out) == a.Limit {
			break
		}
	}
	return Result{Text: jsonText(out), Source: "feeds", Tainted: true}, nil
}

// feedHours is the window of a feeds tool's hours argument: 0 is the
// default, more than maxFeedHours is refused.
func feedHours(h int) (int, error) {
	switch {
	case h < 0 || h > maxFeedHours:
		return 0, fmt.Errorf("%w: hours must be 1 to %d", ErrBadArguments, maxFeedHours)
	case h == 0:
		return defaultFeedHours, nil
	}
	return h, nil
}
