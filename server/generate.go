package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/sovos/sov/model"
)

// task is one generation, whichever API asked for it.
type task struct {
	api     string
	model   string
	numCtx  int // 0: the server's context size
	keep    *time.Duration
	msgs    []model.Message // a chat; nil for a plain-text prompt
	raw     string          // the plain-text prompt (completions, raw generate)
	samp    model.Sampling
	schema  *model.Schema // JSON valid for a schema
	anyJSON bool          // any JSON object (json_object, format "json")
	tools   *model.Toolset
	input   any // the request as received; its digest goes to the ledger
}

// outcome is what a generation produced.
type outcome struct {
	entry Entry
	text  string       // as the model wrote it (with tools, the raw JSON)
	reply *model.Reply // with tools
	stats model.Stats
	load  time.Duration // loading the model, when this request waited for it
	start time.Time
}

// finish is the OpenAI finish_reason (Ollama's done_reason) of o.
func (o outcome) finish() string {
	if o.reply != nil && o.reply.ToolCall != nil {
		return "tool_calls"
	}
	switch o.stats.StopReason {
	case model.StopMaxTokens, model.StopContext:
		return "length"
	}
	return "stop"
}

// jsonObjectGBNF is any JSON object, compact (no free whitespace, on which
// a small model can loop).
const jsonObjectGBNF = `root ::= object
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ( string ":" value ( "," string ":" value )* )? "}"
array ::= "[" ( value ( "," value )* )? "]"
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
`

// run takes a session of t's model, generates, records the call and gives
// the session back. fn (nil: none) receives the text as it comes.
func (s *Server) run(ctx context.Context, t *task, fn model.TokenFunc) (out outcome, err error) {
	out.start = time.Now()
	if t.numCtx < 0 || t.numCtx > s.cfg.MaxCtx {
		return out, badf("num_ctx %d is outside what the server allows (1 to %d)", t.numCtx, s.cfg.MaxCtx)
	}
	if out.entry, err = s.cfg.Catalog.Lookup(t.model); err != nil {
		return out, err
	}
	l, err := s.pool.acquire(ctx, out.entry, t.numCtx, t.keep, t.msgs)
	if err != nil {
		return out, err
	}
	if l.fresh {
		out.load = l.r.loadDur
	}
	hist := []model.Message{}
	defer func() { l.release(hist) }()
	sess := l.s.sess
	defer sess.Expect()() // other requests' prompts wait for this one's (briefly), to share a batch
	if withdraw, ok := ctx.Value(announceKey{}).(func()); ok {
		withdraw() // the session's announcement takes over
	}
	need, err := s.fits(sess, l.r.eng.ContextSize(), t)
	if err != nil {
		return out, err
	}
	var sb strings.Builder
	tok := func(piece string) error {
		sb.WriteString(piece)
		if s.cfg.onToken != nil {
			s.cfg.onToken(ctx)
		}
		if fn != nil {
			return fn(piece)
		}
		return nil
	}
	var st model.Stats
	switch {
	case t.msgs == nil:
		_, st, err = sess.Complete(ctx, t.raw, t.samp, tok)
	case t.tools != nil:
		var rep model.Reply
		rep, st, err = sess.Call(ctx, t.msgs, t.tools, t.samp, tok)
		if err == nil {
			out.reply = &rep
		}
	case t.schema != nil:
		_, st, err = sess.JSON(ctx, t.msgs, t.schema, t.samp, tok)
	case t.anyJSON:
		sp := t.samp
		sp.Grammar = jsonObjectGBNF
		_, st, err = sess.Chat(ctx, t.msgs, sp, tok)
		if err == nil && st.StopReason != model.StopEOG {
			err = &model.IncompleteError{What: "the JSON", StopReason: st.StopReason}
		} else if err == nil && !json.Valid([]byte(sb.String())) {
			err = errors.New("model output is not valid JSON")
		}
	default:
		_, st, err = sess.Chat(ctx, t.msgs, t.samp, tok)
	}
	out.text, out.stats = sb.String(), st
	// The engine slides a window over a conversation that outgrows the
	// context, dropping old messages; the server never does that silently.
	// (Tokenizing messages one by one can give a token or so more than
	// the rendered prompt, hence the slack.)
	if err == nil && t.msgs != nil && t.tools == nil && st.PromptTokens+st.CachedTokens+len(t.msgs) < need {
		err = &model.ContextError{Needed: need, Available: st.ContextSize}
	}
	if errors.Is(err, model.ErrIncomplete) {
		err = fmt.Errorf("%w: raise max_tokens (or num_predict), or give the schema's strings and arrays a maxLength/maxItems", err)
	}
	if err == nil && t.msgs != nil {
		hist = append(slices.Clone(t.msgs), model.Message{Role: model.RoleAssistant, Content: replyContent(out)})
	}
	s.metrics.generated(out.entry.Name, st.PromptTokens, st.CachedTokens, st.GeneratedTokens, st.GenDuration)
	s.record(ctx, t, out, err)
	return out, err
}

// replyContent is the assistant's message as the client sends it back
// next turn: the answer, or the call in the engine's own form.
func replyContent(o outcome) string {
	if o.reply == nil {
		return o.text
	}
	if c := o.reply.ToolCall; c != nil {
		return toolCallJSON(c.Name, c.Arguments)
	}
	return o.reply.Answer
}

// toolCallJSON is a tool call as the engine's grammar writes it, which is
// how an assistant's earlier call is put back into the conversation.
func toolCallJSON(name string, args json.RawMessage) string {
	n, _ := json.Marshal(name)
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	return `{"tool":` + string(n) + `,"arguments":` + string(args) + `}`
}

// fits refuses a prompt that does not fit the context, before anything
// is decoded, and returns the fewest tokens the chat can take: its
// messages' own tokens (the template adds some).
func (s *Server) fits(sess *model.Session, nctx int, t *task) (int, error) {
	if t.msgs == nil {
		toks, err := sess.Tokenize(t.raw, true)
		if err != nil {
			return 0, err
		}
		if len(toks) == 0 {
			return 0, badf("the prompt is empty")
		}
		if len(toks) >= nctx {
			return 0, &model.ContextError{Needed: len(toks), Available: nctx}
		}
		return len(toks), nil
	}
	n := 0
	for _, m := range t.msgs {
		toks, err := sess.Tokenize(m.Content, false)
		if err != nil {
			return 0, err
		}
		n += len(toks)
	}
	reserve := min(256, nctx/4)
	if t.samp.MaxTokens > 0 {
		reserve = min(reserve, t.samp.MaxTokens)
	}
	if n > nctx-reserve {
		return 0, &model.ContextError{Needed: n, Available: nctx, Reserved: reserve}
	}
	return n, nil
}

// record writes the call to the ledger, by digest only.
func (s *Server) record(ctx context.Context, t *task, o outcome, err error) {
	if s.cfg.Record == nil {
		return
	}
	input, merr := json.Marshal(map[string]any{"api": t.api, "request": t.input})
	if merr != nil {
		input = []byte(t.api)
	}
	c := Call{API: t.api, Model: o.entry.Name, Path: o.entry.Path, Input: input, Sampling: t.samp, Output: o.text, Stats: o.stats, Err: err}
	s.enqueueRecord(context.WithoutCancel(ctx), c)
}

// maxTokens checks a request's token limit against the cap; none set is
// the cap.
func (s *Server) maxTokens(field string, v *int) (int, error) {
	if v == nil || *v == 0 {
		return s.cfg.MaxTokens, nil
	}
	if *v < 0 {
		if field == "num_predict" { // Ollama: -1 is "until done", which the cap bounds
			return s.cfg.MaxTokens, nil
		}
		return 0, badf("%s must be positive", field)
	}
	if *v > s.cfg.MaxTokens {
		return 0, badf("%s %d is above this server's cap of %d", field, *v, s.cfg.MaxTokens)
	}
	return *v, nil
}

// sampling fills a Sampling from a request's optional settings over the
// server's defaults.
func (s *Server) sampling(temp, topP *float64, seed *int64, stop []string) (model.Sampling, error) {
	sp := s.cfg.Sampling
	if temp != nil {
		if *temp < 0 || *temp > 2 {
			return sp, badf("temperature %g is outside 0 to 2", *temp)
		}
		sp.Temperature = float32(*temp)
	}
	if topP != nil {
		if *topP < 0 || *topP > 1 {
			return sp, badf("top_p %g is outside 0 to 1", *topP)
		}
		sp.TopP = float32(*topP)
	}
	switch {
	case seed != nil && *seed >= 0:
		sp.Seed = uint32(*seed)
	case sp.Temperature > 0: // no seed (or -1): a fresh one, as sov run does
		sp.Seed = rand.Uint32()
	}
	if len(stop) > 4 {
		return sp, badf("stop: at most 4 sequences")
	}
	for _, st := range stop {
		if st == "" {
			return sp, badf("stop: an empty sequence")
		}
	}
	sp.Stop = stop
	return sp, nil
}

// compileFormat turns a JSON Schema into the task's constraint, naming
// what the converter does not support.
func compileSchema(schema json.RawMessage) (*model.Schema, error) {
	sc, err := model.CompileSchema(schema)
	if err != nil {
		return nil, badf("the JSON Schema cannot be used: %v", err)
	}
	return sc, nil
}

// maxEmbedInputs bounds the texts of one embeddings request.
const maxEmbedInputs = 1024

// embedLimit is the longest text the engine embeds whole (model's
// embedCtxMax, or the model's training context when smaller); it cuts
// longer ones.
const embedLimit = 2048

// embed returns the embeddings of inputs on the model called name, and
// how many tokens they had. A text the engine would cut is refused unless
// truncate is set.
func (s *Server) embed(ctx context.Context, apiName, name string, inputs []string, truncate bool, keep *time.Duration, input any) ([][]float32, int, outcome, error) {
	out := outcome{start: time.Now()}
	if len(inputs) == 0 {
		return nil, 0, out, badf("input: give at least one text")
	}
	if len(inputs) > maxEmbedInputs {
		return nil, 0, out, badf("input: at most %d texts per request", maxEmbedInputs)
	}
	var err error
	if out.entry, err = s.cfg.Catalog.Lookup(name); err != nil {
		return nil, 0, out, err
	}
	l, err := s.pool.acquire(ctx, out.entry, 0, keep, nil)
	if err != nil {
		return nil, 0, out, err
	}
	defer l.release(nil)
	if l.fresh {
		out.load = l.r.loadDur
	}
	limit := embedLimit
	if n := l.s.sess.Info().ContextTrain; n > 0 {
		limit = min(limit, n)
	}
	ntok := 0
	for i, in := range inputs {
		toks, err := l.s.sess.Tokenize(in, true)
		if err != nil {
			return nil, 0, out, err
		}
		if len(toks) > limit && !truncate {
			return nil, 0, out, badf("input %d is %d tokens; this model embeds at most %d", i, len(toks), limit)
		}
		ntok += min(len(toks), limit)
	}
	vecs, err := l.s.sess.Embed(ctx, inputs)
	if err == nil && len(vecs) != len(inputs) {
		err = fmt.Errorf("the engine returned %d embeddings for %d texts", len(vecs), len(inputs))
	}
	if b, merr := json.Marshal(vecs); merr == nil {
		out.text = string(b)
	}
	out.stats.PromptTokens = ntok
	s.record(ctx, &task{api: apiName, input: input}, out, err)
	return vecs, ntok, out, err
}
