package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

// benchStore makes a session of n messages with Markdown answers.
func benchStore(b *testing.B, n int) (*conversation.Store, string) {
	b.Helper()
	st, err := conversation.Open(b.TempDir(), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	m, err := st.Create("tiny", "")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		msg := conversation.Message{Role: "user", Content: fmt.Sprintf("question %d: what about item %d?", i, i)}
		if i%2 == 1 {
			msg = conversation.Message{Role: "assistant", Complete: true, Content: fmt.Sprintf(
				"Answer %d with **bold**, `code` and a list:\n\n- first point\n- second point\n\n```go\nfmt.Println(%d)\n```\n", i, i)}
		}
		if _, err := st.Append(m.ID, msg); err != nil {
			b.Fatal(err)
		}
	}
	return st, m.ID
}

// cpuTime is this process's user+system CPU time: on a shared machine the
// wall-clock median also counts time spent waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// reportMedian adds the median of samples as a metric, as the targets are
// stated for medians.
func reportMedian(b *testing.B, samples []time.Duration, unit string) {
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	med := samples[len(samples)/2]
	b.ReportMetric(float64(med.Microseconds())/1000, unit)
	b.ReportMetric(16/(float64(med.Microseconds())/1000), "x-under-16ms")
}

// BenchmarkTUIOpen5000 opens a 5,000-message session and draws the first
// frame (the 16 ms frame budget is the reference).
func BenchmarkTUIOpen5000(b *testing.B) {
	st, id := benchStore(b, 5000)
	var samples []time.Duration
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		a := newTestApp(b, Options{Engine: newFake("x"), Store: st, SessionID: id}, 120, 40)
		_ = a.View()
		samples = append(samples, time.Since(start))
	}
	reportMedian(b, samples, "ms-median-open")
}

// BenchmarkTUIKeypressFrame5000 measures one keypress through Update and
// View with a 5,000-message session on screen, alternating typing and
// scrolling so cached and fresh renders are both measured.
func BenchmarkTUIKeypressFrame5000(b *testing.B) {
	st, id := benchStore(b, 5000)
	a := newTestApp(b, Options{Engine: newFake("x"), Store: st, SessionID: id}, 120, 40)
	keys := []tea.Msg{
		tea.KeyPressMsg{Code: 'a', Text: "a"},
		tea.KeyPressMsg{Code: tea.KeyPgUp},
		tea.KeyPressMsg{Code: 'b', Text: "b"},
		tea.KeyPressMsg{Code: tea.KeyBackspace},
	}
	var samples []time.Duration
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() { reportCPU(b, cpu0) }()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		a.Update(keys[i%len(keys)])
		_ = a.View()
		samples = append(samples, time.Since(start))
		if i%200 == 199 {
			a.chat.offset = 0 // do not scroll past the top forever
		}
	}
	reportMedian(b, samples, "ms-median-frame")
}

// BenchmarkTUIStreamFrame measures a frame while a long answer streams.
func BenchmarkTUIStreamFrame(b *testing.B) {
	a := newTestApp(b, Options{Engine: newFake("x")}, 120, 40)
	it := &item{kind: kindAssistant, streaming: true}
	a.chat.add(it)
	para := strings.Repeat("word ", 60) + "\n"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%20 == 0 {
			it.msg.Content += para
		}
		it.msg.Content += "x"
		_ = a.View()
	}
}

// BenchmarkTUIStreamOverheadInProcess streams the same answer from one
// real engine alternately through a bare callback (the reference, what
// `sov run` does) and through the shell's path (stream goroutine, chunk
// messages, Update and View per frame); app/plain is the median of the
// per-pair tokens/s ratios (target ≥ 0.95).
func BenchmarkTUIStreamOverheadInProcess(b *testing.B) {
	eng, err := model.Load(context.Background(), model.Options{Path: testtool.Model(b, testtool.Stories), Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	s := model.Sampling{MaxTokens: 600, IgnoreEOG: true}
	msgs := []model.Message{{Role: model.RoleUser, Content: "Once upon a time"}}
	plainOnce := func() float64 {
		_, st, err := eng.Chat(context.Background(), msgs, s, func(string) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		return st.GenTPS()
	}
	appOnce := func() float64 {
		a := newTestApp(b, Options{Engine: eng, Sampling: s}, 100, 30)
		typeText(a, "Once upon a time")
		_, cmd := a.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
		for cmd != nil {
			_, cmd = a.Update(cmd())
			_ = a.View()
		}
		return a.lastTPS
	}
	var ratios []float64
	for i := 0; i < b.N; i++ {
		var p, q float64
		if i%2 == 0 {
			p, q = plainOnce(), appOnce()
		} else {
			q, p = appOnce(), plainOnce()
		}
		ratios = append(ratios, q/p)
	}
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "app/plain")
}
