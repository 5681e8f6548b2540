package model

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkLlamaMultiTurn runs a 20-turn conversation and reports how many
// tokens the engine decoded against the tokens in the final context, and
// time to first token on turn 20 against turn 1 (target <= 1.5x). Time to
// first token is measured from the Chat call to the first streamed token.
// Turn 1 is timed again right after turn 20, from an empty cache, and the
// ratio uses that side-by-side figure: the machine's speed drifts over the
// seconds a conversation takes.
func BenchmarkLlamaMultiTurn(b *testing.B) {
	path := os.Getenv("SOV_BENCH_MODEL")
	if path == "" {
		path = testModelPath(b)
	}
	// Five conversations, each on a fresh engine; the median ratio is
	// reported.
	var ratios []float64
	var line string
	for run := 0; run < 5; run++ {
		r, l := multiTurn(b, path)
		ratios = append(ratios, r)
		if run == 0 {
			line = l
		}
	}
	all := fmt.Sprint(ratios)
	slices.Sort(ratios)
	r := ratios[len(ratios)/2]
	verdict := "MET"
	if r > 1.5 {
		verdict = "NOT MET"
	}
	fmt.Printf("%-34s %s; TTFT turn 20 / turn 1: median %.2f of %s (target <= 1.5) %s\n",
		"multi-turn (20 turns)", line, r, all, verdict)
	b.ReportMetric(r, "ttft20/ttft1")
}

func multiTurn(b *testing.B, path string) (float64, string) {
	e, err := Load(context.Background(), Options{Path: path, ContextSize: 4096, Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	msgs := []Message{{Role: RoleSystem, Content: "You are a helpful assistant who answers briefly."}}
	s := Sampling{MaxTokens: 16, IgnoreEOG: true}
	var decoded int
	var ttft []time.Duration
	var newToks []int
	var last Stats
	chat := func(msgs []Message) (string, Stats, time.Duration) {
		var first time.Duration
		t0 := time.Now()
		reply, st, err := e.Chat(context.Background(), msgs, s, func(string) error {
			if first == 0 {
				first = time.Since(t0)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return reply, st, first
	}
	for turn := 1; turn <= 20; turn++ {
		msgs = append(msgs, Message{Role: RoleUser, Content: fmt.Sprintf("Question number %d: tell me one more thing about the weather today.", turn)})
		reply, st, first := chat(msgs)
		decoded += st.PromptTokens + st.GeneratedTokens
		ttft = append(ttft, first)
		newToks = append(newToks, st.PromptTokens)
		msgs = append(msgs, Message{Role: RoleAssistant, Content: reply})
		last = st
	}
	e.mu.Lock()
	e.resetCache()
	e.mu.Unlock()
	_, _, again := chat(msgs[:2])
	line := fmt.Sprintf("decoded %d tokens for a final context of %d; TTFT turn 1 %.1f ms (%d new tokens; %.1f ms again after turn 20), turn 20 %.1f ms (%d new tokens)",
		decoded, last.ContextUsed, ms(ttft[0]), newToks[0], ms(again), ms(ttft[19]), newToks[19])
	return float64(ttft[19]) / float64(again), line
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
