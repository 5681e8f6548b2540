package server

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/model"
)

// sov's own endpoint: the one sov run and the shell use. It takes a
// generate.Request as sov run builds it (a GBNF grammar, a schema or tools
// included), so a generation through the server runs exactly as it would
// in-process, and streams the engine's own text (with tools, the raw call
// as the model writes it), its Stats and typed errors back.

// RunPath is the endpoint's path.
const RunPath = "/sov/run"

// RunRequest is POST RunPath.
type RunRequest struct {
	// Model names a model of the catalog; Path instead asks for the model
	// whose file that is, which is served only if the catalog has it (no
	// request loads a file the operator did not offer).
	Model  string `json:"model,omitempty"`
	Path   string `json:"path,omitempty"`
	NumCtx int    `json:"num_ctx,omitempty"` // 0: the server's context size
	// Messages are a whole chat (the shell's); empty: Request's system
	// prompt and prompt.
	Messages []model.Message  `json:"messages,omitempty"`
	Request  generate.Request `json:"request"`
	// Check only asks whether the model is served: nothing is generated
	// or loaded.
	Check bool `json:"check,omitempty"`
}

// runEvent is one NDJSON line of the reply: "token", then "done" or
// "error".
type runEvent struct {
	Type  string       `json:"type"`
	Text  string       `json:"text,omitempty"`
	Stats *model.Stats `json:"stats,omitempty"`
	Reply *model.Reply `json:"reply,omitempty"`
	Error *wireError   `json:"error,omitempty"`
}

// wireError carries an error with enough to rebuild its type on the
// client, so callers' errors.Is/As (and the hints they add) work the same
// whether the generation ran here or there.
type wireError struct {
	Message    string `json:"message"`
	Kind       string `json:"kind,omitempty"`
	Needed     int    `json:"needed,omitempty"`
	Available  int    `json:"available,omitempty"`
	Reserved   int    `json:"reserved,omitempty"`
	What       string `json:"what,omitempty"`
	StopReason string `json:"stop_reason,omitempty"`
}

// ErrNotServed: the server does not offer the requested model (the client
// then loads it itself).
var ErrNotServed = errors.New("the server does not serve that model")

// ErrBeyondLimits: the request asks for more than the server gives any
// client (max_tokens above its cap, a larger context): the client loads
// the model itself rather than get a different answer.
var ErrBeyondLimits = errors.New("the request is beyond the server's limits")

// limitError is a request beyond the server's limits: 422, so that the
// client can tell it from a bad request.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// ErrUnauthorized: the server refused the client's API key (or its lack).
var ErrUnauthorized = errors.New("the server refused the API key")

// EnableRun adds RunPath to s's endpoints. (It lives apart from routes()
// while server.go is being edited elsewhere; it belongs there.)
func (s *Server) EnableRun() {
	s.mux.Handle("POST "+RunPath, s.metrics.count("sov.run", s.announced(s.sovRun)))
}

func (s *Server) sovRun(w http.ResponseWriter, r *http.Request) {
	var req RunRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Check {
		name, err := s.servedName(req.Model, req.Path)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"model": name})
		return
	}
	t, err := s.runTask(&req)
	var lim *limitError
	if errors.As(err, &lim) {
		writeError(w, r, http.StatusUnprocessableEntity, err)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	nd := &ndjson{w: w}
	out, err := s.run(r.Context(), t, func(piece string) error {
		return nd.send(runEvent{Type: "token", Text: piece})
	})
	switch {
	case errors.Is(err, context.Canceled): // the client is gone
	case err != nil && !nd.started && errors.Is(err, ErrUnknownModel):
		s.fail(w, r, err)
	case err != nil:
		nd.send(runEvent{Type: "error", Error: toWire(err)})
	default:
		nd.send(runEvent{Type: "done", Stats: &out.stats, Reply: out.reply})
	}
}

// runTask checks req as generate.Prepare does for sov run, and makes it a
// task on the model it names.
func (s *Server) runTask(req *RunRequest) (*task, error) {
	name, err := s.servedName(req.Model, req.Path)
	if err != nil {
		return nil, err
	}
	g := req.Request
	if _, err := generate.Prepare(g); err != nil {
		return nil, badf("%v", err)
	}
	// In-process, no token limit runs until the context is full: the cap
	// must not cut sooner, or the answer would differ.
	nctx := cmp.Or(req.NumCtx, s.cfg.Context, 4096)
	switch mt := g.Sampling.MaxTokens; {
	case req.NumCtx < 0:
		return nil, badf("num_ctx must not be negative")
	case req.NumCtx > s.cfg.MaxCtx:
		return nil, &limitError{fmt.Sprintf("a context of %d tokens is above this server's %d", req.NumCtx, s.cfg.MaxCtx)}
	case mt > s.cfg.MaxTokens:
		return nil, &limitError{fmt.Sprintf("max_tokens %d is above this server's cap of %d", mt, s.cfg.MaxTokens)}
	case mt == 0 && nctx > s.cfg.MaxTokens:
		return nil, &limitError{fmt.Sprintf("no token limit with a context of %d tokens: this server caps answers at %d", nctx, s.cfg.MaxTokens)}
	case mt == 0:
		g.Sampling.MaxTokens = s.cfg.MaxTokens
	}
	msgs := req.Messages
	if len(msgs) == 0 {
		if g.System != "" {
			msgs = append(msgs, model.Message{Role: model.RoleSystem, Content: g.System})
		}
		msgs = append(msgs, model.Message{Role: model.RoleUser, Content: g.Prompt})
	}
	// The input recorded (by digest) is the request without the path: a
	// file name says nothing about the call.
	in := *req
	in.Path = ""
	t := &task{api: "sov.run", model: name, numCtx: req.NumCtx, msgs: msgs, samp: g.Sampling, input: in}
	if len(g.Schema) > 0 { // Prepare compiled these already; they cannot fail now
		if t.schema, err = model.CompileSchema(g.Schema); err != nil {
			return nil, badf("schema: %v", err)
		}
	}
	if len(g.Tools) > 0 {
		if t.tools, err = model.ParseTools(g.Tools, g.ToolChoice); err != nil {
			return nil, badf("tools: %v", err)
		}
	}
	return t, nil
}

// servedName is the catalog's name for the model called name or kept at
// path.
func (s *Server) servedName(name, path string) (string, error) {
	if path == "" {
		e, err := s.cfg.Catalog.Lookup(name)
		return e.Name, err
	}
	es, err := s.cfg.Catalog.List()
	if err != nil {
		return "", err
	}
	want, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnknownModel, ErrNotServed)
	}
	for _, e := range es {
		if filepath.Clean(e.Path) == filepath.Clean(path) {
			return e.Name, nil
		}
		if fi, err := os.Stat(e.Path); err == nil && os.SameFile(fi, want) {
			return e.Name, nil
		}
	}
	return "", fmt.Errorf("%w: %w", ErrUnknownModel, ErrNotServed)
}

func toWire(err error) *wireError {
	w := &wireError{Message: err.Error()}
	var ce *model.ContextError
	var ie *model.IncompleteError
	switch {
	case errors.As(err, &ce):
		w.Kind, w.Needed, w.Available, w.Reserved = "context", ce.Needed, ce.Available, ce.Reserved
	case errors.As(err, &ie):
		w.Kind, w.What, w.StopReason = "incomplete", ie.What, ie.StopReason
	case errors.Is(err, model.ErrPromptTooLong):
		w.Kind = "prompt_too_long"
	case errors.Is(err, model.ErrBadGrammar):
		w.Kind = "bad_grammar"
	case errors.Is(err, model.ErrUnknownTool):
		w.Kind = "unknown_tool"
	case errors.Is(err, model.ErrDamaged):
		w.Kind = "damaged"
	case errors.Is(err, ErrBusy):
		w.Kind = "busy"
	case errors.Is(err, ErrClosed):
		w.Kind = "closed"
	}
	return w
}

// remoteError is an error the server reported, matching the sentinel of
// its kind.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func (w *wireError) err() error {
	switch w.Kind {
	case "context":
		return &model.ContextError{Needed: w.Needed, Available: w.Available, Reserved: w.Reserved}
	case "incomplete":
		return &model.IncompleteError{What: w.What, StopReason: w.StopReason}
	}
	kind := map[string]error{"prompt_too_long": model.ErrPromptTooLong, "bad_grammar": model.ErrBadGrammar,
		"unknown_tool": model.ErrUnknownTool, "damaged": model.ErrDamaged, "busy": ErrBusy, "closed": ErrClosed}[w.Kind]
	return &remoteError{msg: w.Message, kind: kind}
}

// Run generates on the server as generate.Prepared.Run does in-process,
// passing the text to fn (nil: none) as it streams. The Result has the
// request, the messages sent, the text, the reply (with tools) and the
// engine's Stats; its errors match the engine's (model.ErrPromptTooLong,
// *model.IncompleteError, …). A model the server does not offer gives
// ErrNotServed; a server that is gone, or goes away mid-answer, gives
// ErrNotRunning. The server records the call in its ledger.
func (c *Client) Run(ctx context.Context, req RunRequest, fn model.TokenFunc) (generate.Result, error) {
	res := generate.Result{Request: req.Request, Messages: req.Messages}
	if len(res.Messages) == 0 {
		if req.Request.System != "" {
			res.Messages = append(res.Messages, model.Message{Role: model.RoleSystem, Content: req.Request.System})
		}
		res.Messages = append(res.Messages, model.Message{Role: model.RoleUser, Content: req.Request.Prompt})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the generation when fn fails or the caller is done
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+RunPath, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("%w (%s): %v", ErrNotRunning, c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, statusError(resp)
	}
	var text strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev runEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return res, fmt.Errorf("the server sent a line that is not an event: %w", err)
		}
		switch ev.Type {
		case "token":
			text.WriteString(ev.Text)
			res.Text = text.String()
			if fn != nil {
				if err := fn(ev.Text); err != nil {
					return res, err
				}
			}
		case "done", "error":
			res.Text = text.String()
			if ev.Stats != nil {
				res.Stats = *ev.Stats
			}
			if req.Request.Tools != nil && ev.Type == "done" {
				res.Reply = ev.Reply
				if res.Reply == nil {
					res.Reply = &model.Reply{}
				}
			}
			if ev.Type == "error" {
				if ev.Error == nil {
					return res, errors.New("the server reported an error without saying which")
				}
				return res, ev.Error.err()
			}
			return res, nil
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	err = sc.Err()
	if err == nil {
		err = errors.New("the stream ended before the answer did")
	}
	return res, fmt.Errorf("%w (%s went away mid-answer): %v", ErrNotRunning, c.Base, err)
}

// Serves says whether the server offers the model whose file is path: nil,
// ErrNotServed, or ErrNotRunning.
func (c *Client) Serves(ctx context.Context, path string) error {
	err := c.do(ctx, http.MethodPost, RunPath, RunRequest{Path: path, Check: true}, nil)
	var st *StatusError
	if errors.As(err, &st) && st.Code == http.StatusNotFound {
		return fmt.Errorf("%w: %s", ErrNotServed, st.Message)
	}
	return err
}

// statusError reads a refusal; a 404 for the model is ErrNotServed.
func statusError(resp *http.Response) error {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	b := new(bytes.Buffer)
	b.ReadFrom(http.MaxBytesReader(nil, resp.Body, 1<<20))
	msg := strings.TrimSpace(b.String())
	if json.Unmarshal(b.Bytes(), &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotServed, msg)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", ErrUnauthorized, msg)
	case http.StatusUnprocessableEntity:
		return fmt.Errorf("%w: %s", ErrBeyondLimits, msg)
	}
	return &StatusError{Code: resp.StatusCode, Message: msg}
}
