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

	"github.com/sovos/sov/internal/generate"
	"github.com/sovos/sov/internal/prompt"
	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// runFlags are the generation flags. `sov run` and the root command (for
// its non-TTY fallback) each bind their own with addRunFlags.
type runFlags struct {
	model, system, flashAttn, schema, grammar, tools, toolChoice string
	sampling                                                     model.Sampling
	seed                                                         int64
	ctx, threads, gpuLayers                                      int
	json, verbose, promptCache                                   bool
}

func addRunFlags(cmd *cobra.Command) *runFlags {
	p := &runFlags{}
	s := &p.sampling
	f := cmd.Flags()
	f.StringVarP(&p.model, "model", "m", "", "model name or GGUF path (default: SOV_MODEL, the configured default, or the only installed model)")
	f.StringVar(&p.system, "system", "", "system prompt")
	f.Float32Var(&s.Temperature, "temp", 0.8, "sampling temperature (0 = greedy)")
	f.Float32Var(&s.TopP, "top-p", 0.95, "nucleus sampling threshold (1 = off)")
	f.IntVar(&s.TopK, "top-k", 40, "top-k sampling (0 = off)")
	f.Float32Var(&s.MinP, "min-p", 0.05, "min-p sampling (0 = off)")
	f.Float32Var(&s.RepeatPenalty, "repeat-penalty", 1.0, "repetition penalty (1 = off)")
	f.Int64Var(&p.seed, "seed", -1, "sampling seed (-1 = random)")
	f.IntVar(&s.MaxTokens, "max-tokens", 0, "stop after this many tokens (0 = until the model stops or the context is full)")
	f.IntVar(&p.ctx, "ctx", 0, "context size in tokens (0 = the model's, at most 4096)")
	f.IntVar(&p.threads, "threads", 0, "CPU threads (0 = all cores)")
	f.IntVar(&p.gpuLayers, "gpu-layers", -1, "layers to offload to the GPU (-1 = auto, 0 = CPU only)")
	f.StringVar(&p.flashAttn, "flash-attn", "", "flash attention: on, off or auto (default: off on CPU, auto with a GPU)")
	f.StringVar(&p.schema, "schema", "", "JSON Schema file: the output is JSON valid for it")
	f.StringVar(&p.grammar, "grammar", "", "GBNF grammar file constraining the output")
	f.StringVar(&p.tools, "tools", "", "JSON file with tools ([{name, description, parameters}]): the output is one tool call or an answer")
	f.StringVar(&p.toolChoice, "tool-choice", "", "with --tools: auto (default), required, none, or a tool's name")
	f.StringArrayVar(&s.Stop, "stop", nil, "stop when this text appears (repeatable)")
	f.BoolVar(&p.json, "json", false, "write JSON Lines events (token, done, error) instead of text")
	f.BoolVar(&p.verbose, "verbose", false, "show llama.cpp's log on stderr")
	f.BoolVar(&p.promptCache, "prompt-cache", false, "keep the KV state of a long --system prompt on disk (unencrypted) and restore it next time instead of decoding it")
	f.BoolVar(&s.IgnoreEOG, "ignore-eos", false, "keep generating past the end-of-text token (for benchmarks)")
	return p
}

// check rejects bad flag values and fills in the seed and the grammar.
func (p *runFlags) check() error {
	s := &p.sampling
	switch {
	case s.Temperature < 0:
		return usagef("--temp must be 0 or more")
	case s.TopP < 0 || s.TopP > 1:
		return usagef("--top-p must be between 0 and 1")
	case s.TopK < 0 || s.MaxTokens < 0 || p.ctx < 0 || p.threads < 0:
		return usagef("--top-k, --max-tokens, --ctx and --threads must not be negative")
	case p.flashAttn != "" && p.flashAttn != "on" && p.flashAttn != "off" && p.flashAttn != "auto":
		return usagef("--flash-attn must be on, off or auto")
	case p.schema != "" && p.grammar != "":
		return usagef("--schema and --grammar cannot be combined: the schema is turned into a grammar")
	case p.tools != "" && (p.schema != "" || p.grammar != ""):
		return usagef("--tools cannot be combined with --schema or --grammar: the tools are turned into a grammar")
	case p.toolChoice != "" && p.tools == "":
		return usagef("--tool-choice needs --tools")
	}
	s.Seed = uint32(p.seed)
	if p.seed < 0 {
		s.Seed = rand.Uint32()
	}
	grammar, err := readFlagFile("--grammar", p.grammar)
	s.Grammar = string(grammar)
	return err
}

// readFlagFile reads the file a flag names (nil when none is named).
func readFlagFile(flag, file string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("read %s: %v", flag, err)
	}
	return b, nil
}

func newRunCmd(a *app) *cobra.Command {
	var p *runFlags
	cmd := &cobra.Command{
		Use:   "run [PROMPT…]",
		Short: "Generate once from a prompt (arguments or stdin) and stream the answer to stdout",
		Long: `Generate once, headless, for scripts and pipes.

The prompt is the arguments joined by spaces, or stdin when there are none.
Tokens stream to stdout as they come; --json writes JSON Lines events
({"type":"token","text":…}, {"type":"done",…}, {"type":"error",…}).
Exit codes: 0 success, 1 runtime error, 2 usage error, 130 interrupted.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runHeadless(cmd.Context(), p, args)
		},
	}
	p = addRunFlags(cmd)
	return cmd
}

// runHeadless is `sov run`: the prompt comes from args or stdin and tokens
// stream to stdout. The shell calls it when stdin or stdout is not a TTY.
func (a *app) runHeadless(ctx context.Context, p *runFlags, args []string) error {
	if err := p.check(); err != nil {
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
	out := newEventWriter(a.stdout, p.json)
	err := a.generateOnce(ctx, p, text, out)
	if err != nil && !errors.Is(err, context.Canceled) {
		out.error(err)
	}
	return err
}

// generateOnce checks the request, loads the model and runs the request.
func (a *app) generateOnce(ctx context.Context, p *runFlags, text string, out *eventWriter) error {
	req := generate.Request{System: p.system, Prompt: text, Sampling: p.sampling, ToolChoice: p.toolChoice}
	var err error
	if req.Schema, err = readFlagFile("--schema", p.schema); err != nil {
		return err
	}
	if req.Tools, err = readFlagFile("--tools", p.tools); err != nil {
		return err
	}
	prep, err := generate.Prepare(req)
	var bad *generate.InputError
	switch {
	case errors.As(err, &bad):
		return usagef("--%s %s: %v", bad.Field, map[string]string{"schema": p.schema, "tools": p.tools}[bad.Field], bad.Err)
	case err != nil:
		return usageError{err}
	}
	path, err := resolveModelPath(a, p.model)
	if err != nil {
		return err
	}
	opts := model.Options{Path: path, ContextSize: p.ctx, Threads: p.threads, GPULayers: p.gpuLayers, FlashAttn: p.flashAttn, TrimMemory: true,
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
		opts.Warn(w)
	}
	res, err := prep.Run(ctx, eng, out.token)
	entry := a.recordModelCall(ctx, generate.Engine{ModelPath: path, ContextSize: p.ctx, Threads: p.threads, FlashAttn: p.flashAttn}, res)
	if err != nil && !errors.Is(err, context.Canceled) {
		return runHint(err)
	}
	out.done(res, entry)
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
	case errors.Is(err, model.ErrBadGrammar):
		return fmt.Errorf("%w: --verbose shows llama.cpp's log of what it rejected", err)
	}
	return err
}

// eventWriter writes either plain streamed text or JSON Lines events.
type eventWriter struct {
	w      io.Writer
	json   bool
	clean  bool // a terminal: drop control characters from the model's text
	enc    *json.Encoder
	wrote  bool
	lastNL bool
}

func newEventWriter(w io.Writer, jsonOut bool) *eventWriter {
	f, isFile := w.(*os.File)
	return &eventWriter{w: w, json: jsonOut, clean: !jsonOut && isFile && prompt.IsTerminal(f), enc: json.NewEncoder(w)}
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
	if e.clean {
		s = termtext.Clean(s)
	}
	_, err := io.WriteString(e.w, s)
	return err
}

func (e *eventWriter) done(res generate.Result, ledgerID *uint64) {
	if !e.json {
		if e.wrote && !e.lastNL {
			io.WriteString(e.w, "\n")
		}
		return
	}
	st := res.Stats
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
		Ledger        *uint64         `json:"ledger_entry,omitempty"`
	}{Ledger: ledgerID, Type: "done", PromptTokens: st.PromptTokens, GenTokens: st.GeneratedTokens, PromptTPS: round2(st.PromptTPS()), GenTPS: round2(st.GenTPS()),
		StopReason: st.StopReason, CachedTokens: st.CachedTokens, Restored: st.RestoredTokens, ContextTokens: st.ContextUsed}
	if r := res.Reply; r != nil {
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
