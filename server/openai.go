package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/sovos/sov/model"
	"github.com/sovos/sov/server/api"
)

// sse writes a Server-Sent Events stream; the status line goes out with
// the first event, so an error before any token still gets its status.
type sse struct {
	w       http.ResponseWriter
	started bool
}

func (e *sse) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return e.raw(b)
}

// finish ends a stream: the last chunk, the usage chunk when the client
// asked for it, then [DONE].
func (e *sse) finish(last any, o *api.StreamOptions, usage any) {
	e.send(last)
	if o != nil && o.IncludeUsage {
		e.send(usage)
	}
	e.raw([]byte("[DONE]"))
}

// streamFailed reports err: as the API's error response before the stream
// started, as an error event after (a client that went away is told
// nothing).
func (s *Server) streamFailed(w http.ResponseWriter, r *http.Request, ev *sse, err error) {
	if !ev.started {
		s.fail(w, r, err)
	} else if statusOf(err) != 0 {
		ev.send(map[string]any{"error": map[string]any{"message": err.Error(), "type": "server_error"}})
	}
}

func (e *sse) raw(b []byte) error {
	if !e.started {
		h := e.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		e.w.WriteHeader(http.StatusOK)
		e.started = true
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", b); err != nil {
		return err
	}
	http.NewResponseController(e.w).Flush()
	return nil
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func ptr[T any](v T) *T { return &v }

// openaiMessages converts a request's messages. An assistant's tool calls
// go back in the engine's own form, one message each, and a tool's result
// is named after the call it answers.
func openaiMessages(in []api.ChatMessage) ([]model.Message, error) {
	if len(in) == 0 {
		return nil, badf("messages: at least one message is needed")
	}
	names := map[string]string{}
	out := make([]model.Message, 0, len(in))
	for i, m := range in {
		switch m.Role {
		case "system", "developer":
			out = append(out, model.Message{Role: model.RoleSystem, Content: string(m.Content)})
		case "user":
			out = append(out, model.Message{Role: model.RoleUser, Content: string(m.Content)})
		case "assistant":
			if len(m.ToolCalls) == 0 {
				out = append(out, model.Message{Role: model.RoleAssistant, Content: string(m.Content)})
			}
			for _, c := range m.ToolCalls {
				names[c.ID] = c.Function.Name
				args := json.RawMessage(c.Function.Arguments)
				if len(args) > 0 && !json.Valid(args) {
					return nil, badf("messages[%d]: the arguments of tool call %q are not JSON", i, c.ID)
				}
				out = append(out, model.Message{Role: model.RoleAssistant, Content: toolCallJSON(c.Function.Name, args)})
			}
		case "tool":
			name := names[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			out = append(out, model.Message{Role: model.RoleTool, Name: name, Content: string(m.Content)})
		default:
			return nil, badf("messages[%d]: unknown role %q (system, user, assistant or tool)", i, m.Role)
		}
	}
	return out, nil
}

// toolChoice reads tool_choice: "auto", "none", "required", or
// {"type":"function","function":{"name":…}}.
func toolChoice(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return model.ToolAuto, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none", "required":
			return s, nil
		}
		return "", badf("tool_choice %q: use auto, none, required or a function", s)
	}
	var f struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.Function.Name == "" {
		return "", badf(`tool_choice: use auto, none, required or {"type":"function","function":{"name":…}}`)
	}
	return f.Function.Name, nil
}

// compileTools compiles a request's tools for choice.
func compileTools(tools []api.Tool, choice string) (*model.Toolset, error) {
	mt := make([]model.Tool, 0, len(tools))
	for i, t := range tools {
		if t.Type != "" && t.Type != "function" {
			return nil, badf("tools[%d]: type %q: only function tools are supported", i, t.Type)
		}
		mt = append(mt, model.Tool{Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	ts, err := model.CompileTools(mt, choice)
	if err != nil {
		return nil, badf("tools: %v", err)
	}
	return ts, nil
}

func (s *Server) openaiChatTask(req *api.ChatRequest) (*task, error) {
	if req.N != nil && *req.N != 1 {
		return nil, badf("n: only 1 choice per request is supported")
	}
	msgs, err := openaiMessages(req.Messages)
	if err != nil {
		return nil, err
	}
	field, limit := "max_tokens", req.MaxTokens
	if req.MaxCompletionTokens != nil {
		field, limit = "max_completion_tokens", req.MaxCompletionTokens
	}
	mt, err := s.maxTokens(field, limit)
	if err != nil {
		return nil, err
	}
	sp, err := s.sampling(req.Temperature, req.TopP, req.Seed, req.Stop)
	if err != nil {
		return nil, err
	}
	sp.MaxTokens = mt
	t := &task{api: "openai.chat", model: req.Model, msgs: msgs, samp: sp, input: req}
	if f := req.ResponseFormat; f != nil {
		switch f.Type {
		case "", "text":
		case "json_object":
			t.anyJSON = true
		case "json_schema":
			if f.JSONSchema == nil || len(f.JSONSchema.Schema) == 0 {
				return nil, badf("response_format: json_schema needs json_schema.schema")
			}
			if t.schema, err = compileSchema(f.JSONSchema.Schema); err != nil {
				return nil, err
			}
		default:
			return nil, badf("response_format type %q: use text, json_object or json_schema", f.Type)
		}
	}
	choice, err := toolChoice(req.ToolChoice)
	if err != nil {
		return nil, err
	}
	switch {
	case len(req.Tools) == 0 && choice != model.ToolAuto && choice != model.ToolNone:
		return nil, badf("tool_choice %q needs tools", choice)
	case len(req.Tools) > 0 && choice != model.ToolNone:
		if t.schema != nil || t.anyJSON {
			return nil, badf("tools and a JSON response_format cannot be combined")
		}
		if t.tools, err = compileTools(req.Tools, choice); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func usage(st model.Stats) *api.Usage {
	p := st.PromptTokens + st.CachedTokens
	return &api.Usage{PromptTokens: p, CompletionTokens: st.GeneratedTokens, TotalTokens: p + st.GeneratedTokens,
		PromptTokensDetails: &api.PromptTokensDetails{CachedTokens: st.CachedTokens}}
}

// openaiToolCalls is the reply's call as OpenAI writes it, or nil.
func openaiToolCalls(o outcome, id string, index *int) []api.ToolCall {
	if o.reply == nil || o.reply.ToolCall == nil {
		return nil
	}
	c := o.reply.ToolCall
	return []api.ToolCall{{Index: index, ID: id, Type: "function", Function: api.FunctionCall{Name: c.Name, Arguments: string(c.Arguments)}}}
}

func (s *Server) openaiChat(w http.ResponseWriter, r *http.Request) {
	var req api.ChatRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.openaiChatTask(&req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, created := newID("chatcmpl-"), time.Now().Unix()
	chunk := func(d *api.Delta, finish *string) api.ChatCompletion {
		return api.ChatCompletion{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			Choices: []api.Choice{{Delta: d, FinishReason: finish}}}
	}
	if !req.Stream {
		out, err := s.run(r.Context(), t, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		msg := &api.OutMessage{Role: "assistant"}
		if calls := openaiToolCalls(out, newID("call_"), nil); calls != nil {
			msg.ToolCalls = calls
		} else {
			msg.Content = ptr(replyContent(out))
		}
		writeJSON(w, http.StatusOK, api.ChatCompletion{ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			Choices: []api.Choice{{Message: msg, FinishReason: ptr(out.finish())}}, Usage: usage(out.stats)})
		return
	}
	ev := &sse{w: w}
	role := "assistant"
	delta := func(d api.Delta) error {
		d.Role, role = role, ""
		return ev.send(chunk(&d, nil))
	}
	fn := func(piece string) error {
		if t.tools != nil { // the raw JSON is not the reply; the call or answer follows
			return nil
		}
		return delta(api.Delta{Content: ptr(piece)})
	}
	out, err := s.run(r.Context(), t, fn)
	if err != nil {
		s.streamFailed(w, r, ev, err)
		return
	}
	if t.tools != nil {
		if calls := openaiToolCalls(out, newID("call_"), ptr(0)); calls != nil {
			// The name first, then the arguments, as OpenAI streams them.
			head := calls[0]
			head.Function.Arguments = ""
			delta(api.Delta{ToolCalls: []api.ToolCall{head}})
			delta(api.Delta{ToolCalls: []api.ToolCall{{Index: ptr(0), Function: api.FunctionCall{Arguments: calls[0].Function.Arguments}}}})
		} else {
			delta(api.Delta{Content: ptr(out.reply.Answer)})
		}
	} else if role != "" {
		delta(api.Delta{Content: ptr("")})
	}
	ev.finish(chunk(&api.Delta{}, ptr(out.finish())), req.StreamOptions,
		api.ChatCompletion{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model, Choices: []api.Choice{}, Usage: usage(out.stats)})
}

func (s *Server) openaiCompletions(w http.ResponseWriter, r *http.Request) {
	var req api.CompletionRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(req.Prompt) != 1 {
		s.fail(w, r, badf("prompt: give one prompt (a string)"))
		return
	}
	if req.N != nil && *req.N != 1 {
		s.fail(w, r, badf("n: only 1 choice per request is supported"))
		return
	}
	mt, err := s.maxTokens("max_tokens", req.MaxTokens)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sp, err := s.sampling(req.Temperature, req.TopP, req.Seed, req.Stop)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sp.MaxTokens = mt
	t := &task{api: "openai.completions", model: req.Model, raw: req.Prompt[0], samp: sp, input: req}
	id, created := newID("cmpl-"), time.Now().Unix()
	chunk := func(text string, finish *string) api.Completion {
		return api.Completion{ID: id, Object: "text_completion", Created: created, Model: req.Model,
			Choices: []api.CompletionChoice{{Text: text, FinishReason: finish}}}
	}
	if !req.Stream {
		out, err := s.run(r.Context(), t, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		c := chunk(out.text, ptr(out.finish()))
		c.Usage = usage(out.stats)
		writeJSON(w, http.StatusOK, c)
		return
	}
	ev := &sse{w: w}
	out, err := s.run(r.Context(), t, func(piece string) error { return ev.send(chunk(piece, nil)) })
	if err != nil {
		s.streamFailed(w, r, ev, err)
		return
	}
	ev.finish(chunk("", ptr(out.finish())), req.StreamOptions,
		api.Completion{ID: id, Object: "text_completion", Created: created, Model: req.Model, Choices: []api.CompletionChoice{}, Usage: usage(out.stats)})
}

func (s *Server) openaiEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req api.EmbeddingRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		s.fail(w, r, badf("encoding_format %q: use float or base64", req.EncodingFormat))
		return
	}
	vecs, ntok, _, err := s.embed(r.Context(), "openai.embeddings", req.Model, req.Input, false, nil, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Dimensions != nil && *req.Dimensions != len(vecs[0]) {
		s.fail(w, r, badf("dimensions: this model's embeddings have %d", len(vecs[0])))
		return
	}
	out := api.EmbeddingList{Object: "list", Model: req.Model, Usage: api.Usage{PromptTokens: ntok, TotalTokens: ntok}}
	for i, v := range vecs {
		var e any = v
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, x := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
			}
			e = base64.StdEncoding.EncodeToString(b)
		}
		out.Data = append(out.Data, api.Embedding{Object: "embedding", Index: i, Embedding: e})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) openaiModels(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Catalog.List()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := api.ModelList{Object: "list", Data: []api.ModelObject{}}
	for _, e := range list {
		out.Data = append(out.Data, api.ModelObject{ID: e.Name, Object: "model", Created: e.Modified.Unix(), OwnedBy: "sov"})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) openaiModel(w http.ResponseWriter, r *http.Request) {
	e, err := s.cfg.Catalog.Lookup(r.PathValue("id"))
	if err != nil || r.PathValue("id") == "" {
		s.fail(w, r, fmt.Errorf("%w: %q", ErrUnknownModel, r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, api.ModelObject{ID: e.Name, Object: "model", Created: e.Modified.Unix(), OwnedBy: "sov"})
}
