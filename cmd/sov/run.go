package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/model"
)

// addRunFlags registers the generation flags on cmd; `sov run` and the root
// command (for its non-TTY fallback) share them.
func addRunFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringP("model", "m", "", "model name or GGUF path (default: SOV_MODEL, the configured default, or the only installed model)")
	f.String("system", "", "system prompt")
	f.Float32("temp", 0.8, "sampling temperature (0 = greedy)")
	f.Float32("top-p", 0.95, "nucleus sampling threshold (1 = off)")
	f.Int("top-k", 40, "top-k sampling (0 = off)")
	f.Float32("min-p", 0.05, "min-p sampling (0 = off)")
	f.Float32("repeat-penalty", 1.0, "repetition penalty (1 = off)")
	f.Int64("seed", -1, "sampling seed (-1 = random)")
	f.Int("max-tokens", 0, "stop after this many tokens (0 = until the model stops or the context is full)")
	f.Int("ctx", 0, "context size in tokens (0 = the model's, at most 4096)")
	f.Int("threads", 0, "CPU threads (0 = all cores)")
	f.Int("gpu-layers", -1, "layers to offload to the GPU (-1 = auto, 0 = CPU only)")
	f.String("flash-attn", "", "flash attention: on, off or auto (default: off on CPU, auto with a GPU)")
	f.String("schema", "", "JSON Schema file: the output is JSON valid for it")
	f.String("grammar", "", "GBNF grammar file constraining the output")
	f.String("tools", "", "JSON file with tools ([{name, description, parameters}]): the output is one tool call or an answer")
	f.String("tool-choice", "", "with --tools: auto (default), required, none, or a tool's name")
	f.StringArray("stop", nil, "stop when this text appears (repeatable)")
	f.Bool("json", false, "write JSON Lines events (token, done, error) instead of text")
	f.Bool("verbose", false, "show llama.cpp's log on stderr")
	f.Bool("prompt-cache", false, "keep the KV state of a long --system prompt on disk (unencrypted) and restore it next time instead of decoding it")
	f.Bool("ignore-eos", false, "keep generating past the end-of-text token (for benchmarks)")
}

// runParams is what the run flags say.
type runParams struct {
	modelFlag   string
	system      string
	sampling    model.Sampling
	ctxSize     int
	threads     int
	gpuLayers   int
	flashAttn   string
	schemaFile  string
	grammar     string
	toolsFile   string
	toolChoice  string
	jsonOut     bool
	verbose     bool
	promptCache bool
}

func readRunFlags(cmd *cobra.Command) (runParams, error) {
	f := cmd.Flags()
	var p runParams
	var err error
	get := func(fn func() error) {
		if err == nil {
			err = fn()
		}
	}
	get(func() (e error) { p.modelFlag, e = f.GetString("model"); return })
	get(func() (e error) { p.system, e = f.GetString("system"); return })
	get(func() (e error) { p.sampling.Temperature, e = f.GetFloat32("temp"); return })
	get(func() (e error) { p.sampling.TopP, e = f.GetFloat32("top-p"); return })
	get(func() (e error) { p.sampling.TopK, e = f.GetInt("top-k"); return })
	get(func() (e error) { p.sampling.MinP, e = f.GetFloat32("min-p"); return })
	get(func() (e error) { p.sampling.RepeatPenalty, e = f.GetFloat32("repeat-penalty"); return })
	get(func() (e error) { p.sampling.MaxTokens, e = f.GetInt("max-tokens"); return })
	get(func() (e error) { p.sampling.Stop, e = f.GetStringArray("stop"); return })
	get(func() (e error) { p.ctxSize, e = f.GetInt("ctx"); return })
	get(func() (e error) { p.threads, e = f.GetInt("threads"); return })
	get(func() (e error) { p.gpuLayers, e = f.GetInt("gpu-layers"); return })
	get(func() (e error) { p.flashAttn, e = f.GetString("flash-attn"); return })
	get(func() (e error) { p.schemaFile, e = f.GetString("schema"); return })
	get(func() (e error) { p.toolsFile, e = f.GetString("tools"); return })
	get(func() (e error) { p.toolChoice, e = f.GetString("tool-choice"); return })
	get(func() (e error) { p.jsonOut, e = f.GetBool("json"); return })
	get(func() (e error) { p.verbose, e = f.GetBool("verbose"); return })
	get(func() (e error) { p.promptCache, e = f.GetBool("prompt-cache"); return })
	get(func() (e error) { p.sampling.IgnoreEOG, e = f.GetBool("ignore-eos"); return })
	var seed int64
	get(func() (e error) { seed, e = f.GetInt64("seed"); return })
	var grammarFile string
	get(func() (e error) { grammarFile, e = f.GetString("grammar"); return })
	if err != nil {
		return p, usageError{err}
	}
	switch {
	case p.sampling.Temperature < 0:
		return p, usagef("--temp must be 0 or more")
	case p.sampling.TopP < 0 || p.sampling.TopP > 1:
		return p, usagef("--top-p must be between 0 and 1")
	case p.sampling.TopK < 0 || p.sampling.MaxTokens < 0 || p.ctxSize < 0 || p.threads < 0:
		return p, usagef("--top-k, --max-tokens, --ctx and --threads must not be negative")
	case p.flashAttn != "" && p.flashAttn != "on" && p.flashAttn != "off" && p.flashAttn != "auto":
		return p, usagef("--flash-attn must be on, off or auto")
	case p.schemaFile != "" && grammarFile != "":
		return p, usagef("--schema and --grammar cannot be combined: the schema is turned into a grammar")
	case p.toolsFile != "" && (p.schemaFile != "" || grammarFile != ""):
		return p, usagef("--tools cannot be combined with --schema or --grammar: the tools are turned into a grammar")
	case p.toolChoice != "" && p.toolsFile == "":
		return p, usagef("--tool-choice needs --tools")
	}
	if seed < 0 {
		p.sampling.Seed = rand.Uint32()
	} else {
		p.sampling.Seed = uint32(seed)
	}
	if grammarFile != "" {
		b, err := os.ReadFile(grammarFile)
		if err != nil {
			return p, usagef("read --grammar: %v", err)
		}
		p.grammar = string(b)
		p.sampling.Grammar = p.grammar
	}
	return p, nil
}

func newRunCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run [PROMPT…]",
		Short: "Generate once from a prompt (arguments or stdin) and stream the answer to stdout",
		Long: `Generate once, headless, for scripts and pipes.

The prompt is the arguments joined by spaces, or stdin when there are none.
Tokens stream to stdout as they come; --json writes JSON Lines events
({"type":"token","text":…}, {"type":"done",…}, {"type":"error",…}).
Exit codes: 0 success, 1 runtime error, 2 usage error, 130 interrupted.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runHeadless(cmd, args)
		},
	}
	addRunFlags(cmd)
	return cmd
}

// runHeadless is `sov run`: the prompt comes from args or stdin and tokens
// stream to stdout. The shell calls it when stdin or stdout is not a TTY.
func (a *app) runHeadless(cmd *cobra.Command, args []string) error {
	p, err := readRunFlags(cmd)
	if err != nil {
		return err
	}
	text := strings.Join(args, " ")
	if text == "" {
		if prompt.IsTerminal(a.stdin) {
			return usagef("no prompt: give it as arguments (sov run \"…\") or on stdin")
		}
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return fmt.Errorf("read prompt from stdin: %w", err)
		}
		text = strings.TrimRight(string(b), "\n")
	}
	if strings.TrimSpace(text) == "" {
		return usagef("the prompt is empty")
	}
	out := newEventWriter(a.stdout, p.jsonOut)
	err = a.generateOnce(cmd.Context(), p, text, out)
	if err != nil && !errors.Is(err, context.Canceled) {
		out.error(err)
	}
	return err
}

func (a *app) generateOnce(ctx context.Context, p runParams, text string, out *eventWriter) error {
	var schema *model.Schema
	if p.schemaFile != "" {
		b, err := os.ReadFile(p.schemaFile)
		if err != nil {
			return usagef("read --schema: %v", err)
		}
		schema, err = model.CompileSchema(b)
		if err != nil {
			return usageError{err}
		}
	}
	var tools *model.Toolset
	if p.toolsFile != "" {
		b, err := os.ReadFile(p.toolsFile)
		if err != nil {
			return usagef("read --tools: %v", err)
		}
		if tools, err = model.ParseTools(b, p.toolChoice); err != nil {
			return usagef("--tools %s: %v", p.toolsFile, err)
		}
	}
	path, err := a.resolveModel(p.modelFlag)
	if err != nil {
		return err
	}
	opts := model.Options{Path: path, ContextSize: p.ctxSize, Threads: p.threads, GPULayers: p.gpuLayers, FlashAttn: p.flashAttn, TrimMemory: true,
		Warn: func(msg string) { fmt.Fprintln(a.stderr, "sov: warning:", msg) }}
	if p.promptCache {
		opts.PromptCache = a.paths.Sub("kvcache")
	}
	if p.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	eng, err := model.Load(ctx, opts)
	if err != nil {
		return err
	}
	defer eng.Close()
	if w := eng.Info().TemplateWarning; w != "" {
		fmt.Fprintln(a.stderr, "sov: warning:", w)
	}
	var msgs []model.Message
	if p.system != "" {
		msgs = append(msgs, model.Message{Role: model.RoleSystem, Content: p.system})
	}
	msgs = append(msgs, model.Message{Role: model.RoleUser, Content: text})
	var st model.Stats
	switch {
	case tools != nil:
		// The raw JSON streams as the model writes it; done carries the
		// parsed, validated call.
		var r model.Reply
		r, st, err = eng.Call(ctx, msgs, tools, p.sampling, out.token)
		out.reply = &r
	case schema != nil:
		_, st, err = eng.JSON(ctx, msgs, schema, p.sampling, out.token)
	default:
		_, st, err = eng.Chat(ctx, msgs, p.sampling, out.token)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return runHint(err)
	}
	out.done(st)
	return err
}

// runHint adds what to change on the command line to the engine's errors,
// which name no flag.
func runHint(err error) error {
	switch {
	case errors.Is(err, model.ErrPromptTooLong):
		return fmt.Errorf("%w: shorten it or raise --ctx", err)
	case errors.Is(err, model.ErrIncomplete):
		return fmt.Errorf("%w: raise --max-tokens or --ctx", err)
	}
	return err
}

// resolveModel picks the model: --model > SOV_MODEL > configured default >
// the only installed model.
func (a *app) resolveModel(flag string) (string, error) {
	return resolveModelPath(a, flag)
}

// eventWriter writes either plain streamed text or JSON Lines events.
type eventWriter struct {
	w      io.Writer
	json   bool
	enc    *json.Encoder
	wrote  bool
	lastNL bool
	reply  *model.Reply // with --tools: what the done event reports
}

func newEventWriter(w io.Writer, jsonOut bool) *eventWriter {
	return &eventWriter{w: w, json: jsonOut, enc: json.NewEncoder(w)}
}

func (e *eventWriter) token(s string) error {
	if s == "" {
		return nil
	}
	e.wrote = true
	e.lastNL = strings.HasSuffix(s, "\n")
	if e.json {
		return e.enc.Encode(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{"token", s})
	}
	_, err := io.WriteString(e.w, s)
	return err
}

func (e *eventWriter) done(st model.Stats) {
	if !e.json {
		if e.wrote && !e.lastNL {
			io.WriteString(e.w, "\n")
		}
		return
	}
	ev := struct {
		Type          string          `json:"type"`
		PromptTokens  int             `json:"prompt_tokens"`
		GenTokens     int             `json:"generated_tokens"`
		PromptTPS     float64         `json:"prompt_tokens_per_second"`
		GenTPS        float64         `json:"generated_tokens_per_second"`
		StopReason    string          `json:"stop_reason"`
		CachedTokens  int             `json:"cached_tokens"`
		Restored      int             `json:"restored_tokens,omitempty"`
		ContextTokens int             `json:"context_tokens"`
		ToolCall      *model.ToolCall `json:"tool_call,omitempty"`
		Answer        *string         `json:"answer,omitempty"`
	}{Type: "done", PromptTokens: st.PromptTokens, GenTokens: st.GeneratedTokens, PromptTPS: round2(st.PromptTPS()), GenTPS: round2(st.GenTPS()),
		StopReason: st.StopReason, CachedTokens: st.CachedTokens, Restored: st.RestoredTokens, ContextTokens: st.ContextUsed}
	if r := e.reply; r != nil {
		if r.ToolCall != nil {
			ev.ToolCall = r.ToolCall
		} else {
			ev.Answer = &r.Answer
		}
	}
	e.enc.Encode(ev)
}

func (e *eventWriter) error(err error) {
	if !e.json {
		return // the error is printed on stderr by main
	}
	e.enc.Encode(struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}{"error", err.Error()})
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
