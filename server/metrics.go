package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// metrics are the counters /metrics shows in Prometheus' text format.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // endpoint, status code
	models   map[string]*modelStats
}

type modelStats struct {
	prompt, cached, generated uint64
	genSeconds                float64
	lastTPS                   float64
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]uint64{}, models: map[string]*modelStats{}}
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming working through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (m *metrics) count(endpoint string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		code := sw.code
		if code == 0 {
			code = 499 // the client went away before anything was written
		}
		m.mu.Lock()
		m.requests[[2]string{endpoint, strconv.Itoa(code)}]++
		m.mu.Unlock()
	})
}

func (m *metrics) generated(name string, prompt, cached, gen int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.models[name]
	if ms == nil {
		ms = &modelStats{}
		m.models[name] = ms
	}
	ms.prompt += uint64(prompt)
	ms.cached += uint64(cached)
	ms.generated += uint64(gen)
	ms.genSeconds += d.Seconds()
	if gen > 0 && d > 0 {
		ms.lastTPS = float64(gen) / d.Seconds()
	}
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	m := s.metrics
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP sov_requests_total HTTP requests by endpoint and status code.")
	fmt.Fprintln(w, "# TYPE sov_requests_total counter")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if a[0] != b[0] {
			return cmpStr(a[0], b[0])
		}
		return cmpStr(a[1], b[1])
	})
	for _, k := range keys {
		fmt.Fprintf(w, "sov_requests_total{endpoint=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	names := make([]string, 0, len(m.models))
	for n := range m.models {
		names = append(names, n)
	}
	slices.Sort(names)
	series := []struct {
		name, help, typ string
		val             func(*modelStats) string
	}{
		{"sov_prompt_tokens_total", "Prompt tokens decoded, by model.", "counter", func(ms *modelStats) string { return strconv.FormatUint(ms.prompt, 10) }},
		{"sov_cached_prompt_tokens_total", "Prompt tokens reused from a session's KV cache, by model.", "counter", func(ms *modelStats) string { return strconv.FormatUint(ms.cached, 10) }},
		{"sov_generated_tokens_total", "Tokens generated, by model.", "counter", func(ms *modelStats) string { return strconv.FormatUint(ms.generated, 10) }},
		{"sov_generation_seconds_total", "Time spent generating, by model.", "counter", func(ms *modelStats) string { return strconv.FormatFloat(ms.genSeconds, 'f', 6, 64) }},
		{"sov_tokens_per_second", "Generation speed of the last request, by model.", "gauge", func(ms *modelStats) string { return strconv.FormatFloat(ms.lastTPS, 'f', 3, 64) }},
	}
	for _, sr := range series {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", sr.name, sr.help, sr.name, sr.typ)
		for _, n := range names {
			fmt.Fprintf(w, "%s{model=%q} %s\n", sr.name, n, sr.val(m.models[n]))
		}
	}
	run := s.pool.snapshot()
	busy, sessions := 0, 0
	for _, r := range run {
		busy += r.busy
		sessions += r.sessions
	}
	fmt.Fprintf(w, "# HELP sov_queue_depth Requests waiting for a session.\n# TYPE sov_queue_depth gauge\nsov_queue_depth %d\n", s.pool.queued())
	fmt.Fprintf(w, "# HELP sov_models_loaded Engines loaded.\n# TYPE sov_models_loaded gauge\nsov_models_loaded %d\n", len(run))
	fmt.Fprintf(w, "# HELP sov_sessions Sessions of the loaded engines.\n# TYPE sov_sessions gauge\nsov_sessions %d\n", sessions)
	fmt.Fprintf(w, "# HELP sov_sessions_busy Sessions serving a request.\n# TYPE sov_sessions_busy gauge\nsov_sessions_busy %d\n", busy)
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
