package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// The benchmark's copy-heavy work: an answer that quotes a passage from its
// context, and a code edit that reproduces most of a file.
const (
	benchPassage = `The harbour of Vell lies at the mouth of a narrow fjord. In winter the water freezes along the shore, and the fishing boats are pulled up onto wooden slips until the ice breaks in March.

The town keeps a record of every ship that has entered the harbour since 1702. The record is written by hand in a series of leather-bound books, each covering about twenty years, and is kept in the cellar of the customs house, where the air stays cool and dry all year.

Visitors may read the books by appointment. The clerk brings one volume at a time to a table by the window and stays in the room while it is open; photographs are allowed, but not flash.`

	benchCode = `package inventory

import (
	"errors"
	"sort"
)

// Item is one line of stock.
type Item struct {
	Name     string
	Quantity int
	Price    float64
}

// ErrUnknown is returned for an item that is not in stock.
var ErrUnknown = errors.New("unknown item")

// Stock holds items by name.
type Stock struct {
	items map[string]Item
}

// NewStock returns an empty stock.
func NewStock() *Stock { return &Stock{items: map[string]Item{}} }

// Add adds quantity of an item, creating it when it is new.
func (s *Stock) Add(name string, quantity int, price float64) {
	it := s.items[name]
	it.Name = name
	it.Quantity += quantity
	it.Price = price
	s.items[name] = it
}

// Remove takes quantity of an item out of stock.
func (s *Stock) Remove(name string, quantity int) error {
	it, ok := s.items[name]
	if !ok {
		return ErrUnknown
	}
	it.Quantity -= quantity
	s.items[name] = it
	return nil
}

// Total is the value of everything in stock.
func (s *Stock) Total() float64 {
	var total float64
	for _, it := range s.items {
		total += float64(it.Quantity) * it.Price
	}
	return total
}

// Names lists the items in stock, sorted.
func (s *Stock) Names() []string {
	names := make([]string, 0, len(s.items))
	for n := range s.items {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
`
)

type draftWork struct {
	name string
	msgs []Message
	copy bool // copy-heavy (target >= 1.3x), else ordinary chat (target >= 0.97x)
}

func draftWorks() []draftWork {
	return []draftWork{
		{"quote a passage", []Message{
			{Role: RoleSystem, Content: "You answer questions about the text you are given, quoting it exactly."},
			{Role: RoleUser, Content: "Text:\n\n" + benchPassage + "\n\nWhere are the books kept, and how may visitors read them? Quote the second and third paragraphs of the text exactly."},
		}, true},
		{"code edit", []Message{
			{Role: RoleSystem, Content: "You are a careful Go programmer. Reply with the whole edited file only."},
			{Role: RoleUser, Content: "Rename the method Total to Value in this file and give me the whole file:\n\n" + benchCode},
		}, true},
		{"chat", []Message{{Role: RoleUser, Content: "Why is the sky blue? Answer in a short paragraph."}}, false},
		{"chat", []Message{{Role: RoleUser, Content: "Give me three ideas for a rainy weekend."}}, false},
	}
}

// BenchmarkLlamaDraft compares greedy generation with prompt-lookup drafting
// (the default) and without it (Sampling.NoDraft), on SmolLM2 and the 125M
// bench model (SOV_BENCH_MODEL): tokens/s side by side, their ratio (target
// >= 1.3 on copy-heavy work, >= 0.97 on ordinary chat), and how many outputs
// differ. The machine is shared, so the two sides run back to back,
// alternating which goes first (each from an empty cache), draftRounds
// times, and the median of the pairs' ratios is reported.
func BenchmarkLlamaDraft(b *testing.B) {
	models := map[string]string{}
	if p, err := testtool.ModelPath(testtool.Chat); err == nil {
		models["SmolLM2-135M Q4_1"] = p
	}
	if p := os.Getenv("SOV_BENCH_MODEL"); p != "" {
		models["synth 125M Q8_0"] = p
	}
	// SOV_BENCH_DRAFT_MODEL=TARGET:DRAFT compares drafting with a draft
	// model against none, instead.
	target, draft, _ := strings.Cut(os.Getenv("SOV_BENCH_DRAFT_MODEL"), ":")
	if draft != "" {
		models = map[string]string{"draft model": target}
	}
	if len(models) == 0 {
		b.Skip("no model: needs SmolLM2 (make deps) or SOV_BENCH_MODEL")
	}
	threads := 2
	if n, err := strconv.Atoi(os.Getenv("SOV_BENCH_THREADS")); err == nil && n > 0 {
		threads = n
	}
	rounds := draftRounds
	if n, err := strconv.Atoi(os.Getenv("SOV_BENCH_DRAFT_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	for _, name := range []string{"SmolLM2-135M Q4_1", "synth 125M Q8_0", "draft model"} {
		path, ok := models[name]
		if !ok {
			continue
		}
		how, o := "prompt-lookup drafting", Options{Path: path, ContextSize: 2048, Threads: threads}
		// SOV_BENCH_DRAFT_SESSIONS=N: an engine of N sessions, where the
		// reply generates alone in the batch loop.
		if n, err := strconv.Atoi(os.Getenv("SOV_BENCH_DRAFT_SESSIONS")); err == nil && n > 1 && name != "draft model" {
			o.Sessions = n
			how = fmt.Sprintf("prompt-lookup drafting, %d sessions", n)
		}
		if name == "draft model" {
			o.DraftModel = draft
			how, name = "draft-model drafting", filepath.Base(target)+" drafted by "+filepath.Base(draft)
		}
		e, err := Load(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		// The synthetic model has random weights and no chat template: its
		// replies are not answers, and it rarely stops, so it runs to the
		// token limit.
		s := Sampling{MaxTokens: 256}
		if !e.Info().HasTemplate {
			s.IgnoreEOG, s.MaxTokens = true, 160
		}
		for _, w := range draftWorks() {
			var on, off, ratios []float64
			differ, accepted, drafted, gen := 0, 0, 0, 0
			for i := range rounds {
				var outOn, outOff string
				var tpsOn, tpsOff float64
				testtool.Alternate(i, func() {
					var st Stats
					outOn, st = draftRun(b, e, w.msgs, s, false)
					tpsOn = st.GenTPS()
					accepted, drafted, gen = accepted+st.DraftAccepted, drafted+st.Drafted, gen+st.GeneratedTokens
				}, func() {
					var st Stats
					outOff, st = draftRun(b, e, w.msgs, s, true)
					tpsOff = st.GenTPS()
				})
				on, off, ratios = append(on, tpsOn), append(off, tpsOff), append(ratios, tpsOn/tpsOff)
				if outOn != outOff {
					differ++
				}
			}
			r := median(ratios)
			target, verdict := 1.3, "MET"
			if !w.copy {
				target = 0.97
			}
			if r < target {
				verdict = "NOT MET"
			}
			fmt.Printf("%-34s %s, %s: %.1f tokens/s with drafting, %.1f without (medians of %d, alternating); paired ratio median %.2f (min %.2f, max %.2f; target >= %.2f) %s; %d of %d outputs differ; %d of %d drafted tokens accepted (%d%% of %d generated); k drafted rows add %.2f + %.2f k to a one-token step (as the engine estimates)\n",
				how, name, w.name, median(on), median(off), rounds, r, slices.Min(ratios), slices.Max(ratios), target, verdict, differ, rounds, accepted, drafted, 100*accepted/max(gen, 1), gen, e.draftCost(0), e.draftCost(1)-e.draftCost(0))
			b.ReportMetric(r, strings.ReplaceAll(w.name, " ", "-")+"-ratio")
		}
		e.Close()
	}
}

// draftRounds is how many times each side of BenchmarkLlamaDraft runs.
const draftRounds = 5

func draftRun(b *testing.B, e *Engine, msgs []Message, s Sampling, noDraft bool) (string, Stats) {
	e.mu.Lock()
	e.resetCache()
	e.resetDraft()
	e.mu.Unlock()
	s.NoDraft = noDraft
	var out string
	var st Stats
	var err error
	if e.Info().HasTemplate {
		out, st, err = e.Chat(context.Background(), msgs, s, nil)
	} else {
		out, st, err = e.Complete(context.Background(), renderPlain(msgs), s, nil)
	}
	if err != nil {
		b.Fatal(err)
	}
	return out, st
}
