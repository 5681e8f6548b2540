package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/gguf"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/server/api"
)

// ndjson writes Ollama's stream: one JSON object a line. The status line
// goes out with the first, so an error before any token keeps its status.
type ndjson struct {
	w       http.ResponseWriter
	started bool
}

func (n *ndjson) send(v any) error {
	if !n.started {
		n.w.Header().Set("Content-Type", "application/x-ndjson")
		n.w.WriteHeader(http.StatusOK)
		n.started = true
	}
	if err := json.NewEncoder(n.w).Encode(v); err != nil {
		return err
	}
	http.NewResponseController(n.w).Flush()
	return nil
}

// ollamaOptions applies a request's options to t.
func (s *Server) ollamaOptions(t *task, o *api.OllamaOptions) error {
	if o == nil {
		o = &api.OllamaOptions{}
	}
	mt, err := s.maxTokens("num_predict", o.NumPredict)
	if err != nil {
		return err
	}
	if t.samp, err = s.sampling(o.Temperature, o.TopP, o.Seed, o.Stop); err != nil {
		return err
	}
	t.samp.MaxTokens = mt
	if o.TopK != nil {
		t.samp.TopK = max(*o.TopK, 0)
	}
	if o.MinP != nil {
		t.samp.MinP = float32(*o.MinP)
	}
	if o.RepeatPenalty != nil {
		t.samp.RepeatPenalty = float32(*o.RepeatPenalty)
	}
	if o.RepeatLastN != nil {
		t.samp.RepeatLastN = max(*o.RepeatLastN, 0)
	}
	if o.NumCtx != nil {
		if *o.NumCtx <= 0 {
			return badf("num_ctx must be positive")
		}
		t.numCtx = *o.NumCtx
	}
	return nil
}

// ollamaFormat applies format: "json" or a JSON Schema.
func ollamaFormat(t *task, f json.RawMessage) error {
	f = bytes.TrimSpace(f)
	switch {
	case len(f) == 0, string(f) == "null", string(f) == `""`:
		return nil
	case string(f) == `"json"`:
		t.anyJSON = true
		return nil
	case f[0] == '{':
		sc, err := compileSchema(f)
		t.schema = sc
		return err
	}
	return badf(`format: use "json" or a JSON Schema`)
}

func keepAlive(d *api.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	return &d.Duration
}

func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request) {
	var req api.OllamaChatRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	t := &task{api: "ollama.chat", model: req.Model, keep: keepAlive(req.KeepAlive), input: req}
	err := s.ollamaOptions(t, req.Options)
	if err == nil {
		t.msgs, err = ollamaMessages(req.Messages)
	}
	if err == nil {
		err = ollamaFormat(t, req.Format)
	}
	if err == nil && len(req.Tools) > 0 {
		if t.schema != nil || t.anyJSON {
			err = badf("tools and format cannot be combined")
		} else {
			t.tools, err = compileTools(req.Tools, model.ToolAuto)
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	msg := func(o outcome) api.OllamaMessage {
		m := api.OllamaMessage{Role: "assistant"}
		if o.reply != nil && o.reply.ToolCall != nil {
			m.ToolCalls = []api.OllamaToolCall{{Function: api.OllamaFunctionCall{Name: o.reply.ToolCall.Name, Arguments: o.reply.ToolCall.Arguments}}}
		} else {
			m.Content = replyContent(o)
		}
		return m
	}
	if req.Stream != nil && !*req.Stream {
		out, err := s.run(r.Context(), t, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, api.OllamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: msg(out),
			Done: true, DoneReason: ollamaDone(out), OllamaMetrics: ollamaMetrics(out)})
		return
	}
	nd := &ndjson{w: w}
	out, err := s.run(r.Context(), t, func(piece string) error {
		if t.tools != nil {
			return nil
		}
		return nd.send(api.OllamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.OllamaMessage{Role: "assistant", Content: piece}})
	})
	if err != nil {
		s.streamError(w, r, nd, err)
		return
	}
	if t.tools != nil {
		nd.send(api.OllamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: msg(out)})
	}
	nd.send(api.OllamaChatResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Message: api.OllamaMessage{Role: "assistant"},
		Done: true, DoneReason: ollamaDone(out), OllamaMetrics: ollamaMetrics(out)})
}

func (s *Server) streamError(w http.ResponseWriter, r *http.Request, nd *ndjson, err error) {
	if !nd.started {
		s.fail(w, r, err)
	} else if statusOf(err) != 0 {
		nd.send(api.OllamaError{Error: err.Error()})
	}
}

// ollamaMessages converts a request's messages (see openaiMessages).
func ollamaMessages(in []api.OllamaMessage) ([]model.Message, error) {
	if len(in) == 0 {
		return nil, badf("messages: at least one message is needed")
	}
	out := make([]model.Message, 0, len(in))
	for i, m := range in {
		if len(m.Images) > 0 {
			return nil, badf("messages[%d]: images are not supported", i)
		}
		switch m.Role {
		case "system", "user":
			out = append(out, model.Message{Role: m.Role, Content: m.Content})
		case "assistant":
			if len(m.ToolCalls) == 0 {
				out = append(out, model.Message{Role: model.RoleAssistant, Content: m.Content})
			}
			for _, c := range m.ToolCalls {
				if len(c.Function.Arguments) > 0 && !json.Valid(c.Function.Arguments) {
					return nil, badf("messages[%d]: tool call arguments are not JSON", i)
				}
				var compact bytes.Buffer
				json.Compact(&compact, c.Function.Arguments)
				out = append(out, model.Message{Role: model.RoleAssistant, Content: toolCallJSON(c.Function.Name, compact.Bytes())})
			}
		case "tool":
			out = append(out, model.Message{Role: model.RoleTool, Name: m.ToolName, Content: m.Content})
		default:
			return nil, badf("messages[%d]: unknown role %q (system, user, assistant or tool)", i, m.Role)
		}
	}
	return out, nil
}

func ollamaDone(o outcome) string {
	if o.finish() == "length" {
		return "length"
	}
	return "stop"
}

func ollamaMetrics(o outcome) api.OllamaMetrics {
	st := o.stats
	return api.OllamaMetrics{TotalDuration: int64(time.Since(o.start)), LoadDuration: int64(o.load),
		PromptEvalCount: st.PromptTokens + st.CachedTokens, PromptEvalDuration: int64(st.PromptDuration),
		EvalCount: st.GeneratedTokens, EvalDuration: int64(st.GenDuration)}
}

func (s *Server) ollamaGenerate(w http.ResponseWriter, r *http.Request) {
	var req api.OllamaGenerateRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Images) > 0 {
		s.fail(w, r, badf("images are not supported"))
		return
	}
	if req.Prompt == "" && req.System == "" {
		s.loadOrUnload(w, r, req.Model, keepAlive(req.KeepAlive))
		return
	}
	t := &task{api: "ollama.generate", model: req.Model, keep: keepAlive(req.KeepAlive), input: req}
	err := s.ollamaOptions(t, req.Options)
	if err == nil {
		err = ollamaFormat(t, req.Format)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case req.Raw && (t.schema != nil || t.anyJSON):
		s.fail(w, r, badf("format needs a chat prompt, not raw"))
		return
	case req.Raw:
		t.raw = req.Prompt
	default:
		if req.System != "" {
			t.msgs = append(t.msgs, model.Message{Role: model.RoleSystem, Content: req.System})
		}
		t.msgs = append(t.msgs, model.Message{Role: model.RoleUser, Content: req.Prompt})
	}
	if req.Stream != nil && !*req.Stream {
		out, err := s.run(r.Context(), t, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, api.OllamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Response: out.text,
			Done: true, DoneReason: ollamaDone(out), OllamaMetrics: ollamaMetrics(out)})
		return
	}
	nd := &ndjson{w: w}
	out, err := s.run(r.Context(), t, func(piece string) error {
		return nd.send(api.OllamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Response: piece})
	})
	if err != nil {
		s.streamError(w, r, nd, err)
		return
	}
	nd.send(api.OllamaGenerateResponse{Model: req.Model, CreatedAt: time.Now().UTC(), Done: true, DoneReason: ollamaDone(out), OllamaMetrics: ollamaMetrics(out)})
}

// loadOrUnload is /api/generate without a prompt: Ollama's way to load a
// model, or with keep_alive 0 to unload it (what sov stop sends).
func (s *Server) loadOrUnload(w http.ResponseWriter, r *http.Request, name string, keep *time.Duration) {
	e, err := s.cfg.Catalog.Lookup(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reason := "load"
	if keep != nil && *keep == 0 {
		reason = "unload"
		if !s.Stop(e.Name) {
			s.fail(w, r, fmt.Errorf("%w: %s is not loaded", ErrUnknownModel, e.Name))
			return
		}
	} else {
		l, err := s.pool.acquire(r.Context(), e, 0, keep, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		l.release(nil)
	}
	writeJSON(w, http.StatusOK, api.OllamaGenerateResponse{Model: name, CreatedAt: time.Now().UTC(), Done: true, DoneReason: reason})
}

func (s *Server) ollamaEmbed(w http.ResponseWriter, r *http.Request) {
	var req api.OllamaEmbedRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	// Ollama cuts an over-long input unless truncate is false.
	truncate := req.Truncate == nil || *req.Truncate
	vecs, ntok, out, err := s.embed(r.Context(), "ollama.embed", req.Model, req.Input, truncate, keepAlive(req.KeepAlive), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.OllamaEmbedResponse{Model: req.Model, Embeddings: vecs, TotalDuration: int64(time.Since(out.start)),
		LoadDuration: int64(out.load), PromptEvalCount: ntok})
}

func (s *Server) ollamaVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.OllamaVersion{Version: s.cfg.Version})
}

// details reads a model file's header for the listings.
func details(path string) (api.OllamaDetails, *gguf.File) {
	d := api.OllamaDetails{Format: "gguf"}
	f, err := gguf.Read(path)
	if err != nil {
		return d, nil
	}
	d.Family = f.Architecture()
	d.Families = []string{d.Family}
	d.ParameterSize = store.FormatParams(f.ParameterCount())
	d.QuantizationLevel = f.Quantization()
	return d, f
}

func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Catalog.List()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := api.OllamaTags{Models: []api.OllamaModel{}}
	for _, e := range list {
		d, _ := details(e.Path)
		out.Models = append(out.Models, api.OllamaModel{Name: e.Name, Model: e.Name, ModifiedAt: e.Modified, Size: e.Size, Digest: e.SHA256, Details: d})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) ollamaShow(w http.ResponseWriter, r *http.Request) {
	var req api.OllamaShowRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	e, err := s.cfg.Catalog.Lookup(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, f := details(e.Path)
	if f == nil {
		s.fail(w, r, fmt.Errorf("cannot read the model file of %s", e.Name))
		return
	}
	info := map[string]any{}
	for k, v := range f.JSONMetadata() {
		// The vocabulary's arrays are long and say nothing a client uses.
		if !strings.HasPrefix(k, "tokenizer.ggml.") && k != "tokenizer.chat_template" {
			info[k] = v
		}
	}
	// What a load gives: --ctx, else the engine's default (the model's
	// training context, at most 4096).
	ctx := min(int(f.ContextLength()), 4096)
	if s.cfg.Context > 0 {
		ctx = s.cfg.Context
	}
	writeJSON(w, http.StatusOK, api.OllamaShowResponse{
		Modelfile:    "# sov serves " + e.Name + "\nFROM " + e.Name + "\n",
		Parameters:   fmt.Sprintf("num_ctx %d", ctx),
		Template:     f.ChatTemplate(),
		Details:      d,
		ModelInfo:    info,
		Capabilities: []string{"completion", "tools", "embedding"},
		ModifiedAt:   e.Modified,
	})
}

func (s *Server) ollamaPS(w http.ResponseWriter, r *http.Request) {
	out := api.OllamaPS{Models: []api.OllamaRunning{}}
	for _, m := range s.pool.snapshot() {
		d, _ := details(m.entry.Path)
		out.Models = append(out.Models, api.OllamaRunning{Name: m.entry.Name, Model: m.entry.Name, Size: m.entry.Size, Digest: m.entry.SHA256,
			Details: d, ExpiresAt: m.expires, ContextLength: m.ctx, Sessions: m.sessions, Busy: m.busy, Queued: m.queue, DraftModel: m.draft})
	}
	writeJSON(w, http.StatusOK, out)
}
