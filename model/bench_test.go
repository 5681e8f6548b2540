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
// time to first token on turn 20 against turn 1 (target <= 1.5x).
func BenchmarkLlamaMultiTurn(b *testing.B) {
	path := os.Getenv("SOV_BENCH_MODEL")
	if path == "" {
		path = testModelPath(b)
	}
	// Three conversations, each on a fresh engine; the median ratio is
	// reported because a shared machine's speed drifts.
	var ratios []float64
	var line string
	for run := 0; run < 3; run++ {
		r, l := multiTurn(b, path)
		ratios = append(ratios, r)
		if run == 0 {
			line = l
		}
	}
	slices.Sort(ratios)
	r := ratios[1]
	verdict := "MET"
	if r > 1.5 {
		verdict = "NOT MET"
	}
	fmt.Printf("%-34s %s; TTFT turn 20 / turn 1: median %.2f of %.2f %.2f %.2f (target <= 1.5) %s\n",
		"multi-turn (20 turns)", line, r, ratios[0], ratios[1], ratios[2], verdict)
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
	for turn := 1; turn <= 20; turn++ {
		msgs = append(msgs, Message{Role: RoleUser, Content: fmt.Sprintf("Question number %d: tell me one more thing about the weather today.", turn)})
		reply, st, err := e.Chat(context.Background(), msgs, s, nil)
		if err != nil {
			b.Fatal(err)
		}
		decoded += st.PromptTokens + st.GeneratedTokens
		ttft = append(ttft, st.PromptDuration)
		newToks = append(newToks, st.PromptTokens)
		msgs = append(msgs, Message{Role: RoleAssistant, Content: reply})
		last = st
	}
	line := fmt.Sprintf("decoded %d tokens for a final context of %d; TTFT turn 1 %.1f ms (%d new tokens), turn 20 %.1f ms (%d new tokens)",
		decoded, last.ContextUsed, ms(ttft[0]), newToks[0], ms(ttft[19]), newToks[19])
	return float64(ttft[19]) / float64(ttft[0]), line
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
