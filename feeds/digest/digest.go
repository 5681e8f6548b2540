// Package digest turns a window of stored news items into a digest with
// the local model: stories, summaries, citations and viewpoints.
//
// The model only fills in a JSON structure constrained by a schema (so any
// model, however small, yields it); everything that matters for trust is
// checked here in Go: every citation must name an item of the window, or
// it is dropped and counted. Item text is given to the model as quoted
// data with an instruction to ignore instructions inside it.
package digest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/sovos/sov/assets"

	"github.com/sovos/sov/feeds"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// Generator is the part of *model.Engine the digest uses.
type Generator interface {
	JSON(ctx context.Context, msgs []model.Message, schema *model.Schema, s model.Sampling, fn model.TokenFunc) ([]byte, model.Stats, error)
}

// Options shape one digest.
type Options struct {
	Interests  map[string]float64 // topic weights from [feeds] interests
	Blocked    []string           // topics never shown
	Topics     []string           // when set, only items with one of these topics
	MaxItems   int                // items given to the model (default 12)
	MaxStories int                // default 4
	Now        time.Time
	// Since is the window Run digests (0 = every stored item); Unverified
	// adds unverified items, labelled as such.
	Since      time.Duration
	Unverified bool
}

// Citation points at one item of the window.
type Citation struct {
	ID        string    `json:"id"`
	Publisher string    `json:"publisher"`
	Date      time.Time `json:"date"`
	Verified  bool      `json:"verified"`
}

// String renders [Publisher, date, id prefix].
func (c Citation) String() string {
	p := c.Publisher
	if !c.Verified {
		p += " (unverified)"
	}
	return fmt.Sprintf("[%s, %s, %s]", p, c.Date.Format("2006-01-02"), c.ID[:8])
}

// Viewpoint is one publisher's take, shown side by side with others.
type Viewpoint struct {
	Publisher string   `json:"publisher"`
	View      string   `json:"view"`
	Citation  Citation `json:"citation"`
}

// Story is a group of items about one thing.
type Story struct {
	Headline   string      `json:"headline"`
	Topic      string      `json:"topic,omitempty"`
	Summary    string      `json:"summary"`
	Citations  []Citation  `json:"citations"`
	Viewpoints []Viewpoint `json:"viewpoints,omitempty"`
	Score      float64     `json:"score"`
}

// Digest is the result.
type Digest struct {
	Stories          []Story `json:"stories"`
	Items            int     `json:"items"`             // items in the window given to the model
	Blocked          int     `json:"blocked"`           // items left out for a blocked topic
	DroppedCitations int     `json:"dropped_citations"` // citations to anything outside the window
	DroppedStories   int     `json:"dropped_stories"`   // stories left without a valid citation
}

// Select filters and ranks the window: blocked topics out, --topics
// applied, then by interest weight and recency, capped at MaxItems.
func Select(items []feeds.Item, opt Options) (kept []feeds.Item, blocked int) {
	block := map[string]bool{}
	for _, b := range opt.Blocked {
		block[strings.ToLower(strings.TrimSpace(b))] = true
	}
	want := map[string]bool{}
	for _, t := range opt.Topics {
		want[strings.ToLower(strings.TrimSpace(t))] = true
	}
	for _, it := range items {
		bad, match := false, len(want) == 0
		for _, t := range it.Topics {
			bad = bad || block[t]
			match = match || want[t]
		}
		if bad {
			blocked++
			continue
		}
		if match {
			kept = append(kept, it)
		}
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	score := func(it feeds.Item) float64 {
		s := interest(it.Topics, opt.Interests)
		age := now.Sub(it.Created).Hours()
		return s + 1/(1+math.Max(age, 0)/24)
	}
	sort.SliceStable(kept, func(i, j int) bool { return score(kept[i]) > score(kept[j]) })
	max := opt.MaxItems
	if max <= 0 {
		max = 12
	}
	if len(kept) > max {
		kept = kept[:max]
	}
	return kept, blocked
}

func interest(topics []string, w map[string]float64) float64 {
	s := 0.0
	for _, t := range topics {
		s += w[t]
	}
	return s
}

// reply is what the schema makes the model write.
type reply struct {
	Stories []struct {
		Headline   string   `json:"headline"`
		Summary    string   `json:"summary"`
		Citations  []string `json:"citations"`
		Viewpoints []struct {
			Ref  string `json:"ref"`
			View string `json:"view"`
		} `json:"viewpoints"`
	} `json:"stories"`
}

// Schema builds the JSON Schema for a window whose items are cited by refs.
// Citations are constrained to the refs, and strings are bounded so a small
// context always fits the answer.
func Schema(refs []string, maxStories int) []byte {
	str := func(max int) map[string]any {
		return map[string]any{"type": "string", "minLength": 1, "maxLength": max}
	}
	ref := map[string]any{"type": "string", "enum": refs}
	s := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"stories": map[string]any{
				"type": "array", "minItems": 1, "maxItems": maxStories,
				"items": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"headline":  str(60),
						"summary":   str(200),
						"citations": map[string]any{"type": "array", "minItems": 1, "maxItems": 4, "items": ref},
						"viewpoints": map[string]any{"type": "array", "maxItems": 3, "items": map[string]any{
							"type":       "object",
							"properties": map[string]any{"ref": ref, "view": str(100)},
							"required":   []string{"ref", "view"},
						}},
					},
					"required": []string{"headline", "summary", "citations", "viewpoints"},
				},
			},
		},
		"required": []string{"stories"},
	}
	b, _ := json.Marshal(s)
	return b
}

// refsFor gives each item a short unique reference (an id prefix).
func refsFor(items []feeds.Item) []string {
	n := 8
	for {
		seen := map[string]bool{}
		ok := true
		refs := make([]string, len(items))
		for i, it := range items {
			r := it.ID
			if len(r) > n {
				r = r[:n]
			}
			if seen[r] {
				ok = false
			}
			seen[r] = true
			refs[i] = r
		}
		if ok || n >= 64 {
			return refs
		}
		n += 4
	}
}

// systemPrompt is the digest's system prompt (assets/prompts/news-digest.md).
var systemPrompt = assets.Prompt("news-digest")

// Build asks the model for the digest of items (already selected) and
// checks every citation.
func Build(ctx context.Context, gen Generator, items []feeds.Item, opt Options) (*Digest, error) {
	d := &Digest{Items: len(items)}
	if len(items) == 0 {
		return d, nil
	}
	maxStories := opt.MaxStories
	if maxStories <= 0 {
		maxStories = 4
	}
	maxStories = min(maxStories, len(items))
	refs := refsFor(items)
	byRef := map[string]feeds.Item{}
	var b strings.Builder
	for i, it := range items {
		byRef[refs[i]] = it
		fmt.Fprintf(&b, "<item ref=%q publisher=%q date=%q topics=%q>\n%s\n%s\n</item>\n", refs[i], it.Publisher,
			it.Created.Format("2006-01-02"), strings.Join(it.Topics, ","), clip(it.Title, 120), clip(firstNonEmpty(it.Summary, it.Content), 300))
	}
	schema, err := model.CompileSchema(Schema(refs, maxStories))
	if err != nil {
		return nil, fmt.Errorf("digest schema: %w", err)
	}
	msgs := []model.Message{
		{Role: model.RoleSystem, Content: systemPrompt},
		{Role: model.RoleUser, Content: "News items:\n" + b.String() + "\nWrite the digest as JSON."},
	}
	out, _, err := gen.JSON(ctx, msgs, schema, model.Sampling{MaxTokens: 1500}, nil)
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	if err := d.fill(out, byRef, opt.Interests); err != nil {
		return nil, err
	}
	return d, nil
}

// ListFunc lists stored items, as feeds.Store.List does.
type ListFunc func(feeds.ListOptions) ([]feeds.Item, error)

// Run is a whole digest: the items of the window listed, selected and
// ranked, then built with gen. With no item left gen is never called (a
// model loaded on first use is not loaded) and the digest has Items 0;
// Blocked counts the items left out for a blocked topic either way.
func Run(ctx context.Context, list ListFunc, gen Generator, opt Options) (*Digest, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	lo := feeds.ListOptions{Unverified: opt.Unverified, Content: true}
	if opt.Since > 0 {
		lo.Since = opt.Now.Add(-opt.Since)
	}
	all, err := list(lo)
	if err != nil {
		return nil, err
	}
	items, blocked := Select(all, opt)
	d, err := Build(ctx, gen, items, opt)
	if err != nil {
		return nil, err
	}
	d.Blocked = blocked
	return d, nil
}

// fill parses the model's JSON and keeps only what checks out.
func (d *Digest) fill(out []byte, byRef map[string]feeds.Item, weights map[string]float64) error {
	var r reply
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("digest: model output is not the expected JSON: %v", err)
	}
	cite := func(ref string) (Citation, bool) {
		it, ok := byRef[ref]
		if !ok {
			d.DroppedCitations++
			return Citation{}, false
		}
		return Citation{ID: it.ID, Publisher: it.PublisherLabel(), Date: it.Created, Verified: it.Verified}, true
	}
	for _, rs := range r.Stories {
		st := Story{Headline: oneLine(rs.Headline), Summary: oneLine(rs.Summary)}
		seen := map[string]bool{}
		topicCount := map[string]int{}
		for _, ref := range rs.Citations {
			c, ok := cite(ref)
			if !ok || seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			st.Citations = append(st.Citations, c)
			for _, t := range byRef[ref].Topics {
				topicCount[t]++
				st.Score += weights[t]
			}
		}
		pubs := map[string]bool{}
		var vps []Viewpoint
		for _, v := range rs.Viewpoints {
			c, ok := cite(v.Ref)
			if !ok {
				continue
			}
			vps = append(vps, Viewpoint{Publisher: c.Publisher, View: oneLine(v.View), Citation: c})
			pubs[c.Publisher] = true
		}
		// Viewpoints are only shown when different publishers are
		// compared; a single one is just part of the summary.
		if len(pubs) >= 2 {
			st.Viewpoints = vps
		}
		if len(st.Citations) == 0 {
			d.DroppedStories++
			continue
		}
		best := 0
		for t, n := range topicCount {
			if n > best || n == best && t < st.Topic {
				st.Topic, best = t, n
			}
		}
		d.Stories = append(d.Stories, st)
	}
	sort.SliceStable(d.Stories, func(i, j int) bool { return d.Stories[i].Score > d.Stories[j].Score })
	return nil
}

// Render prints the digest as plain text. Headlines, summaries and names
// come from feeds and the model: control characters are dropped, so the
// text is safe on a terminal.
func (d *Digest) Render(w io.Writer) {
	var b strings.Builder
	d.render(&b)
	io.WriteString(w, termtext.Clean(b.String()))
}

func (d *Digest) render(w io.Writer) {
	if len(d.Stories) == 0 {
		fmt.Fprintf(w, "No stories (%d items in the window).\n", d.Items)
	}
	for i, st := range d.Stories {
		topic := ""
		if st.Topic != "" {
			topic = "  [" + st.Topic + "]"
		}
		fmt.Fprintf(w, "%d. %s%s\n   %s", i+1, st.Headline, topic, st.Summary)
		for _, c := range st.Citations {
			fmt.Fprintf(w, " %s", c)
		}
		fmt.Fprintln(w)
		if len(st.Viewpoints) > 0 {
			fmt.Fprintln(w, "   Viewpoints:")
			for _, v := range st.Viewpoints {
				fmt.Fprintf(w, "     %-16s %s %s\n", clip(v.Publisher, 16)+":", v.View, v.Citation)
			}
		}
	}
	fmt.Fprintf(w, "\n%d stories from %d items", len(d.Stories), d.Items)
	if d.Blocked > 0 {
		fmt.Fprintf(w, "; %d items hidden by blocked topics", d.Blocked)
	}
	if d.DroppedCitations > 0 {
		fmt.Fprintf(w, "; %d citations to items outside the window dropped", d.DroppedCitations)
	}
	fmt.Fprintln(w)
}

func clip(s string, n int) string {
	s = oneLine(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func firstNonEmpty(a ...string) string {
	for _, s := range a {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
