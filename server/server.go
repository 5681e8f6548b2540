// Package server is sov serve's HTTP layer: a resident model pool behind
// OpenAI-compatible (/v1/...) and Ollama-compatible (/api/...) endpoints,
// with /health and /metrics.
//
// Models are named, never given as paths: a request names a model of the
// Catalog, which loads on first use and unloads after its keep-alive. Each
// loaded model is one engine with Config.Parallel KV sequences; a request
// takes the session whose history its messages continue, so a conversation
// decodes only its new tokens. The engine runs one generation at a time:
// sessions keep several conversations' caches warm, they do not decode in
// parallel. Requests beyond the sessions wait in a bounded queue; a full
// queue is answered 503 with Retry-After. Cancelling a request stops its
// generation.
//
// Requests reach the model and nothing else: no endpoint reads files, takes
// a path, or touches the vault, feeds or wallet. Every generation is
// recorded through Config.Record (digests only).
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sovos/sov/model"
)

// Defaults for the zero values of Config.
const (
	DefaultAddr      = "127.0.0.1:11435"
	DefaultKeepAlive = 5 * time.Minute
	DefaultQueue     = 16
	DefaultMaxTokens = 4096
	DefaultMaxBody   = 8 << 20
	DefaultMaxCtx    = 32768
	DefaultMaxLoaded = 2
	// DefaultConnWait bounds how long a new connection counts as a
	// request on its way (Server.ConnContext).
	DefaultConnWait = 3 * time.Millisecond
)

// Call is one generation, for the ledger: the request as received (only
// its digest is recorded), what was sent to the model and what it wrote.
type Call struct {
	API      string // "openai.chat", "ollama.generate", …
	Model    string
	Path     string
	Input    []byte
	Sampling model.Sampling
	Output   string
	Stats    model.Stats
	Err      error
}

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	Catalog   Catalog
	Parallel  int           // sessions per loaded model (0 = 1)
	Queue     int           // requests that may wait per model beyond Parallel (0 = DefaultQueue, <0 = none)
	KeepAlive time.Duration // a model stays loaded this long after its last request (0 = DefaultKeepAlive, <0 = forever)
	Context   int           // context size of a loaded model (0 = the model's, at most 4096)
	MaxCtx    int           // largest context a request may ask for (num_ctx)
	MaxLoaded int           // engines loaded at once
	MaxTokens int           // largest max_tokens, and the limit when a request sets none
	MaxBody   int64         // bytes of a request body
	ConnWait  time.Duration // how long a new connection counts as a request on its way (0 = DefaultConnWait)
	// APIKey, when set, must come with every request but /health as
	// "Authorization: Bearer KEY".
	APIKey string
	// LoopbackOnly refuses requests whose Host header is not a loopback
	// name, so a web page cannot reach the server through DNS rebinding.
	LoopbackOnly bool
	// Engine is how models are loaded (threads, GPU layers, …); Path,
	// ContextSize and Sessions are the server's.
	Engine model.Options
	// Sampling fills in what a request leaves out (temperature, top_p…).
	Sampling model.Sampling
	// Record writes a generation to the ledger. An error is logged; the
	// answer has been sent.
	Record func(ctx context.Context, c Call) error
	// Prepare runs beside each model's load, which waits for it: the app
	// computes the model file's digest there, which the first ledger
	// entry of the model needs. Left to that entry, the pass over the
	// whole file would take a core from the requests that generate then.
	// An error is logged; nil does nothing.
	Prepare func(path string) error
	// Version is sov's version, for /api/version and /health.
	Version string
	// Logf receives one-line notes (a call not recorded); nil drops them.
	Logf func(format string, args ...any)
	// Load loads an engine; nil is model.Load.
	Load func(context.Context, model.Options) (*model.Engine, error)

	// onToken, for tests, runs for each generated piece.
	onToken func(ctx context.Context)
}

// Server is the HTTP handler of sov serve. Build one with New.
type Server struct {
	cfg     Config
	pool    *pool
	mux     *http.ServeMux
	metrics *metrics
	started time.Time

	// Calls are recorded by one goroutine, after the answer: a ledger
	// append waits for fsync, which would otherwise add to every request.
	recMu   sync.RWMutex
	recs    chan recorded // nil once closed
	recDone chan struct{}
}

type recorded struct {
	ctx  context.Context
	call Call
}

// New checks cfg and returns the server; models load on first use.
func New(cfg Config) (*Server, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("server: no model catalog")
	}
	if cfg.Parallel < 0 || cfg.Context < 0 || cfg.MaxTokens < 0 {
		return nil, errors.New("server: parallel, context and max tokens cannot be negative")
	}
	cfg.Parallel = max(cfg.Parallel, 1)
	switch {
	case cfg.Queue == 0:
		cfg.Queue = DefaultQueue
	case cfg.Queue < 0:
		cfg.Queue = 0
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.MaxCtx == 0 {
		cfg.MaxCtx = DefaultMaxCtx
	}
	if cfg.MaxLoaded <= 0 {
		cfg.MaxLoaded = DefaultMaxLoaded
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.ConnWait <= 0 {
		cfg.ConnWait = DefaultConnWait
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Load == nil {
		cfg.Load = model.Load
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), metrics: newMetrics(), started: time.Now()}
	s.pool = newPool(&s.cfg, cfg.Load)
	s.routes()
	if cfg.Record != nil {
		s.recs, s.recDone = make(chan recorded, 256), make(chan struct{})
		go s.recorder(s.recs)
	}
	return s, nil
}

func (s *Server) routes() {
	h := func(pattern, endpoint string, f http.HandlerFunc) {
		s.mux.Handle(pattern, s.metrics.count(endpoint, f))
	}
	h("GET /health", "health", s.health)
	h("GET /metrics", "metrics", s.serveMetrics)
	h("GET /v1/models", "openai.models", s.openaiModels)
	h("GET /v1/models/{id...}", "openai.model", s.openaiModel)
	h("POST /v1/chat/completions", "openai.chat", s.announced(s.openaiChat))
	h("POST /v1/completions", "openai.completions", s.announced(s.openaiCompletions))
	h("POST /v1/embeddings", "openai.embeddings", s.openaiEmbeddings)
	h("GET /api/version", "ollama.version", s.ollamaVersion)
	h("GET /api/tags", "ollama.tags", s.ollamaTags)
	h("POST /api/show", "ollama.show", s.ollamaShow)
	h("GET /api/ps", "ollama.ps", s.ollamaPS)
	h("POST /api/chat", "ollama.chat", s.announced(s.ollamaChat))
	h("POST /api/generate", "ollama.generate", s.announced(s.ollamaGenerate))
	h("POST /api/embed", "ollama.embed", s.ollamaEmbed)
	h("/", "other", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			fmt.Fprintln(w, "sov is running")
			return
		}
		writeError(w, r, http.StatusNotFound, fmt.Errorf("no endpoint %s %s", r.Method, r.URL.Path))
	})
}

// announceKey holds, in a generation request's context, the func that
// withdraws its announcement (pool.announce).
type announceKey struct{}

// announced announces a generation request to the loaded models from the
// moment it arrives until it takes its session (see Server.run) or ends:
// requests that arrive together then share their first batch. It takes
// over from its connection's announcement (ConnContext).
func (s *Server) announced(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		withdraw := s.pool.announce()
		defer withdraw()
		connDone(r)
		f(w, r.WithContext(context.WithValue(r.Context(), announceKey{}, withdraw)))
	}
}

// connKey holds, in a connection's context, the func that withdraws the
// connection's announcement (ConnContext).
type connKey struct{}

// ConnContext is for http.Server.ConnContext: it announces each new
// connection to the loaded models as a request on its way. Clients that
// send at once open their connections at once, but a request's handler
// runs only once its headers are read: traced with four clients, all four
// connections were accepted within 60 µs and the first request's prompt
// reached the engine half a millisecond later, while the other three
// handlers started 0.7 to 1.7 ms after their accept. That prompt was then
// decoded alone and the others waited for it. The announcement ends when
// the connection's first generation request announces itself, its first
// request proves to be a GET, or after Config.ConnWait: a connection that
// sends nothing, or no generation request, holds an idle model's prompt
// back at most that long (a request on a kept-alive connection is
// announced by its handler only).
func (s *Server) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	withdraw := s.pool.announce()
	t := time.AfterFunc(s.cfg.ConnWait, withdraw)
	return context.WithValue(ctx, connKey{}, func() {
		t.Stop()
		withdraw()
	})
}

// connDone ends r's connection's announcement (ConnContext), if any.
func connDone(r *http.Request) {
	if done, ok := r.Context().Value(connKey{}).(func()); ok {
		done()
	}
}

// ServeHTTP implements http.Handler: the Host and key checks and the body
// size cap, then the endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		connDone(r) // no generation comes on it yet (a health check, a listing)
	}
	if s.cfg.LoopbackOnly && !loopbackHost(r.Host) {
		writeError(w, r, http.StatusForbidden, fmt.Errorf("host %q is not a loopback address; the server only answers requests to localhost", r.Host))
		return
	}
	if s.cfg.APIKey != "" && r.URL.Path != "/health" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sov"`)
		writeError(w, r, http.StatusUnauthorized, errors.New("missing or wrong API key: send Authorization: Bearer KEY"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	defer func() {
		// No panic reaches a client as a dropped connection, nor stops
		// the server; the status goes out unless a stream had started.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logf("internal error serving %s %s: %v", r.Method, r.URL.Path, v)
			writeError(w, r, http.StatusInternalServerError, fmt.Errorf("internal error: %v", v))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		got = r.Header.Get("X-Api-Key")
	}
	return got != "" && constantTimeEqual(got, s.cfg.APIKey)
}

func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v byte
	for i := range len(a) {
		v |= a[i] ^ b[i]
	}
	return v == 0
}

// Stop unloads the model called name (at once, or when its requests end)
// and reports whether it was loaded.
func (s *Server) Stop(name string) bool { return s.pool.stop(name) }

// Close unloads every model and waits for the calls still to be
// recorded. Call it after the HTTP server has shut down.
func (s *Server) Close() error {
	s.pool.close()
	s.recMu.Lock()
	recs := s.recs
	s.recs = nil
	s.recMu.Unlock()
	if recs != nil {
		close(recs)
		<-s.recDone
	}
	return nil
}

func (s *Server) recorder(recs <-chan recorded) {
	defer close(s.recDone)
	for r := range recs {
		s.writeRecord(r.ctx, r.call)
	}
}

// enqueueRecord hands c to the recorder; when its queue is full (the
// ledger is slower than requests) the request records it itself, so
// nothing is dropped and the queue stays bounded.
func (s *Server) enqueueRecord(ctx context.Context, c Call) {
	s.recMu.RLock()
	defer s.recMu.RUnlock()
	if s.recs != nil {
		select {
		case s.recs <- recorded{ctx, c}:
			return
		default:
		}
	}
	s.writeRecord(ctx, c)
}

func (s *Server) writeRecord(ctx context.Context, c Call) {
	if err := s.cfg.Record(ctx, c); err != nil {
		s.logf("a call was not recorded in the ledger: %v", err)
	}
}

// ErrKeyRequired: the address is not loopback-only and no API key is set.
var ErrKeyRequired = errors.New("an API key is required to listen beyond loopback")

// CheckBind says whether addr (host:port) binds loopback only, and refuses
// any other address without an API key.
func CheckBind(addr, key string) (loopback bool, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %w", addr, err)
	}
	loopback = loopbackHost(host)
	if !loopback && key == "" {
		return false, fmt.Errorf("%w (%s)", ErrKeyRequired, addr)
	}
	return loopback, nil
}

// loopbackHost: localhost, or an IP address (with or without a port) on
// the loopback network.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": s.cfg.Version, "uptime_seconds": int(time.Since(s.started).Seconds())})
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// ollamaPath says whether r is an Ollama endpoint, whose errors are
// {"error": "..."}; OpenAI's are {"error": {"message": ...}}.
func ollamaPath(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

func writeError(w http.ResponseWriter, r *http.Request, code int, err error) {
	msg := err.Error()
	if ollamaPath(r) {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	typ := "invalid_request_error"
	switch {
	case code == http.StatusUnauthorized:
		typ = "authentication_error"
	case code == http.StatusNotFound:
		typ = "not_found_error"
	case code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests:
		typ = "server_busy"
	case code >= 500:
		typ = "server_error"
	}
	writeJSON(w, code, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

// badRequest is a request the server cannot use: 400.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error { return &badRequest{fmt.Sprintf(format, args...)} }

// fail answers err with its status code. A cancelled request gets nothing:
// its client is gone.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code == 0 {
		return
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, r, code, err)
}

// statusOf maps an error to its HTTP status; 0 for a cancelled request.
func statusOf(err error) int {
	var bad *badRequest
	var maxBytes *http.MaxBytesError
	switch {
	case errors.Is(err, context.Canceled):
		return 0
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &bad), errors.Is(err, model.ErrPromptTooLong), errors.Is(err, model.ErrIncomplete),
		errors.Is(err, model.ErrBadGrammar), errors.Is(err, model.ErrUnknownTool):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownModel):
		return http.StatusNotFound
	case errors.Is(err, ErrBusy), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// decode reads a JSON body into v, refusing unknown trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var maxBytes *http.MaxBytesError
		if errors.As(err, &maxBytes) {
			return fmt.Errorf("request body is over %d bytes: %w", maxBytes.Limit, err)
		}
		return badf("request body is not valid JSON for this endpoint: %v", err)
	}
	return nil
}

// Preload loads the model called name now, as a request would, so the
// first request does not wait for it.
func (s *Server) Preload(ctx context.Context, name string) error {
	e, err := s.cfg.Catalog.Lookup(name)
	if err != nil {
		return err
	}
	l, err := s.pool.acquire(ctx, e, 0, nil, nil)
	if err != nil {
		return err
	}
	l.release(nil)
	return nil
}
