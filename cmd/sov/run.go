package main

// `sov run` generates once, headless; `sov` with no subcommand opens the
// shell, or runs as `sov run` without a terminal.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sovos/sov/agents"
	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/chat/conversation"
	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/internal/boltfile"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/server"
	"github.com/sovos/sov/tui"
)

// runFlags are the generation flags. `sov run` and the root command (for
// its non-TTY fallback) each bind their own with addRunFlags.
type runFlags struct {
	req                           generate.Request // all but the prompt
	engine                        model.Options    // all but the model file
	model, schema, grammar, tools string
	seed                          int64
	json, verbose, promptCache    bool
	local                         bool
	draftModel                    string
	flags                         *pflag.FlagSet
}

func addRunFlags(cmd *cobra.Command) *runFlags {
	p := &runFlags{flags: cmd.Flags()}
	s, e, f := &p.req.Sampling, &p.engine, cmd.Flags()
	f.StringVarP(&p.model, "model", "m", "", "model name or GGUF path (default: SOV_MODEL, the configured default, or the only installed model)")
	f.StringVar(&p.req.System, "system", "", "system prompt")
	f.Float32Var(&s.Temperature, "temp", 0.8, "sampling temperature (0 = greedy)")
	f.Float32Var(&s.TopP, "top-p", 0.95, "nucleus sampling threshold (1 = off)")
	f.IntVar(&s.TopK, "top-k", 40, "top-k sampling (0 = off)")
	f.Float32Var(&s.MinP, "min-p", 0.05, "min-p sampling (0 = off)")
	f.Float32Var(&s.RepeatPenalty, "repeat-penalty", 1.0, "repetition penalty (1 = off)")
	f.Int64Var(&p.seed, "seed", -1, "sampling seed (-1 = random)")
	f.IntVar(&s.MaxTokens, "max-tokens", 0, "stop after this many tokens (0 = until the model stops or the context is full)")
	f.IntVar(&e.ContextSize, "ctx", 0, "context size in tokens (0 = the model's, at most 4096)")
	f.IntVar(&e.Threads, "threads", 0, "CPU threads (0 = the cores other work leaves free, followed as that changes)")
	f.IntVar(&e.GPULayers, "gpu-layers", -1, "layers to offload to the GPU (-1 = auto, 0 = CPU only)")
	f.StringVar(&e.FlashAttn, "flash-attn", "", "flash attention: on, off or auto (default: off on CPU, auto with a GPU)")
	f.BoolVar(&e.NoDraft, "no-draft", false, "turn off prompt-lookup drafting (on by default: text the reply repeats from its context is checked several tokens per pass)")
	f.StringVar(&p.draftModel, "draft-model", "", "a small model of the same family (name or GGUF path) that drafts tokens for the model to check, in place of prompt lookup; the reply is the same")
	f.StringVar(&p.schema, "schema", "", "JSON Schema file: the output is JSON valid for it")
	f.StringVar(&p.grammar, "grammar", "", "GBNF grammar file constraining the output")
	f.StringVar(&p.tools, "tools", "", "JSON file with tools ([{name, description, parameters}]): the output is one tool call or an answer")
	f.StringVar(&p.req.ToolChoice, "tool-choice", "", "with --tools: auto (default), required, none, or a tool's name")
	f.StringArrayVar(&s.Stop, "stop", nil, "stop when this text appears (repeatable)")
	f.BoolVar(&p.json, "json", false, "write JSON Lines events (token, done, error) instead of text")
	f.BoolVar(&p.verbose, "verbose", false, "show llama.cpp's log on stderr")
	f.BoolVar(&p.promptCache, "prompt-cache", false, "keep the KV state of a long --system prompt on disk (unencrypted) and restore it next time instead of decoding it")
	f.BoolVar(&p.local, "local", false, "load the model in this process even when a sov serve is running ("+core.EnvNoServer+"=1 does the same)")
	f.BoolVar(&s.IgnoreEOG, "ignore-eos", false, "keep generating past the end-of-text token (for benchmarks)")
	return p
}

// check rejects settings that cannot work (generate.Prepare checks the
// rest of the request) and fills in the seed and the files the flags name.
func (p *runFlags) check() error {
	s, e := &p.req.Sampling, p.engine
	var bad *generate.InputError
	switch err := generate.CheckSampling(*s); {
	case errors.As(err, &bad): // top_p is --top-p, temperature --temp
		return usagef("--%s %v", strings.NewReplacer("_", "-", "temperature", "temp").Replace(bad.Field), bad.Err)
	case e.ContextSize < 0 || e.Threads < 0:
		return usagef("--ctx and --threads must not be negative")
	case e.FlashAttn != "" && e.FlashAttn != "on" && e.FlashAttn != "off" && e.FlashAttn != "auto":
		return usagef("--flash-attn must be on, off or auto")
	}
	s.Seed = uint32(p.seed)
	if p.seed < 0 {
		s.Seed = rand.Uint32()
	}
	grammar, err := readFlagFile("--grammar", p.grammar)
	s.Grammar = string(grammar)
	if err == nil {
		p.req.Schema, err = readFlagFile("--schema", p.schema)
	}
	if err == nil {
		p.req.Tools, err = readFlagFile("--tools", p.tools)
	}
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
	cmd := command("run [PROMPT…]", "Generate once from a prompt (arguments or stdin) and stream the answer to stdout", nargs(0, -1, ""), func(cmd *cobra.Command, args []string) error {
		return a.runHeadless(cmd.Context(), p, args)
	})
	cmd.Long = `Generate once, headless, for scripts and pipes.

The prompt is the arguments joined by spaces, or stdin when there are none;
with both (cat notes.txt | sov run "Summarise"), the arguments, a blank line
and the piped text (a pipe silent for a second is left unread, with a warning).
Tokens stream to stdout as they come; --json writes JSON Lines events
({"type":"token","text":…}, {"type":"done",…}, {"type":"error",…}).
An answer cut by a full context gets a note on stderr. --schema or --tools
output cut short is streamed as it came, but the exit code is 1.

When a sov serve started from the same data directory is running and
offers the model, the generation runs there (no model load; the server
records it in the ledger, as principal "server"). --local or
SOV_NO_SERVER=1 loads the model here instead, as do --threads,
--gpu-layers, --flash-attn, --prompt-cache and --verbose, which only a model
loaded here can follow, and a request beyond the server's limits (such as
--max-tokens above its cap). A server that needs an API key is used with
SOV_API_KEY.

Exit codes: 0 success, 1 runtime error, 2 usage error, 130 interrupted.`
	p = addRunFlags(cmd)
	return cmd
}

// runHeadless is `sov run`: the prompt comes from args or stdin and tokens
// stream to stdout. The shell calls it when stdin or stdout is not a TTY.
func (a *app) runHeadless(ctx context.Context, p *runFlags, args []string) error {
	if err := p.check(); err != nil {
		return err
	}
	text, err := generate.ReadPrompt(args, a.stdin, isTerminal(a.stdin), generate.StdinWait)
	switch {
	case errors.Is(err, generate.ErrNoPrompt):
		return usagef("no prompt: give it as arguments (sov run \"…\") or on stdin")
	case errors.Is(err, generate.ErrStdinIdle):
		a.warnf("stdin is open but sent nothing for %v: the prompt is the arguments alone (redirect stdin from /dev/null to skip the wait)", generate.StdinWait)
	case err != nil:
		return err
	}
	if strings.TrimSpace(text) == "" {
		return usagef("the prompt is empty")
	}
	out := generate.NewStream(a.stdout, p.json, isTerminal(a.stdout))
	if err = a.generateOnce(ctx, p, text, out); err != nil && !errors.Is(err, context.Canceled) {
		out.Error(err)
	}
	return err
}

// generateOnce checks the request, then loads the model, runs the request
// and records it in the ledger.
func (a *app) generateOnce(ctx context.Context, p *runFlags, text string, out *generate.Stream) error {
	req := p.req
	req.Prompt = text
	prep, err := generate.Prepare(req)
	var bad *generate.InputError
	switch {
	case errors.As(err, &bad):
		return usagef("--%s %s: %v", bad.Field, map[string]string{"grammar": p.grammar, "schema": p.schema, "tools": p.tools}[bad.Field], bad.Err)
	case errors.Is(err, generate.ErrConflict):
		return usagef("%v (see --schema, --grammar, --tools and --tool-choice)", err)
	case err != nil:
		return usageError{err}
	}
	o := p.engine
	if isTerminal(a.stderr) { // a hint for a person: a script's stderr does not vary with the machine's load
		o.OnBusy = func(b model.Busy) { a.warnf("%v (--threads %d)", b, b.Suggest) }
	}
	if o.Path, err = a.modelPath(p.model); err != nil {
		return err
	}
	if err := a.setDraft(&o.DraftModel, p.draftModel); err != nil {
		return err
	}
	if p.promptCache {
		o.PromptCache = a.Paths.Sub("kvcache")
	}
	if p.verbose {
		o.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	res, entry, err := a.GenerateAnywhere(ctx, a.runningServer(ctx, p), prep, o, "cli", out.Token)
	if err != nil && !errors.Is(err, context.Canceled) {
		return runHint(err)
	}
	out.Done(res, entry)
	if !p.json && res.Stats.StopReason == model.StopContext {
		fmt.Fprintln(a.stderr, "sov: the answer was cut: the context is full (raise --ctx)")
	}
	return err
}

// runHint adds what to change on the command line to the engine's errors,
// which name no flag.
func runHint(err error) error {
	var inc *model.IncompleteError
	if errors.As(err, &inc) {
		hint := map[string]string{model.StopMaxTokens: "raise --max-tokens", model.StopContext: "raise --ctx", model.StopString: "a --stop string cut it"}[inc.StopReason]
		return fmt.Errorf("%w: what was streamed is not valid JSON; %s", err, cmp.Or(hint, "raise --max-tokens or --ctx"))
	}
	return withFix(err, fix{model.ErrPromptTooLong, ": shorten it or raise --ctx", false},
		fix{server.ErrBusy, ": the running sov serve is busy; retry, or pass --local to load the model here", false},
		fix{server.ErrUnauthorized, ": set " + core.EnvAPIKey + " to the running sov serve's key, or pass --local to load the model here", false},
		fix{model.ErrBadGrammar, ": fix the --grammar file", true}, // Prepare checks all but token names
		fix{model.ErrDraftModel, ", or leave out --draft-model", true})
}

// runningServer is the sov serve to generate on (App.RunningServer), or
// nil: --local, or a flag asks for what only a model loaded here does.
func (a *app) runningServer(ctx context.Context, p *runFlags) *server.Client {
	if p.local || p.promptCache || p.verbose || slices.ContainsFunc([]string{"threads", "gpu-layers", "flash-attn", "no-draft", "draft-model"}, p.flags.Changed) {
		return nil
	}
	c, err := a.RunningServer(ctx)
	if err != nil {
		a.warnf("%v: set %s to use it; loading the model here", err, core.EnvAPIKey)
	}
	return c
}

// configureShellRoot makes `sov` with no subcommand open the shell. The root
// shares `sov run`'s flags because without a terminal it behaves as `sov run`.
func configureShellRoot(a *app, root *cobra.Command) {
	p := addRunFlags(root)
	root.Flags().BoolP("continue", "c", false, "reopen the last session")
	root.Flags().String("session", "", "reopen the session with this ID (or a unique prefix of it)")
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if !isTerminal(a.stdin) || !isTerminal(a.stdout) {
			fmt.Fprintln(a.stderr, "sov: not a terminal: running as `sov run` (use `sov run` directly in scripts)")
			return a.runHeadless(cmd.Context(), p, args)
		}
		return a.runShell(cmd, p)
	}
}

// shellSessionTimeout bounds the wait for a sessions database held by
// another sov: the shell must never hang on it.
const shellSessionTimeout = 700 * time.Millisecond

func (a *app) runShell(cmd *cobra.Command, p *runFlags) error {
	if p.schema != "" || p.grammar != "" || p.tools != "" || p.json || p.promptCache {
		return usagef("--schema, --grammar, --tools, --json and --prompt-cache are for `sov run`, not the shell")
	}
	cont, _ := cmd.Flags().GetBool("continue")
	sessID, _ := cmd.Flags().GetString("session")
	if cont && sessID != "" {
		return usagef("--continue and --session cannot be combined: pick one")
	}
	if err := p.check(); err != nil {
		return err
	}
	cfg := tui.DefaultConfig()
	if err := a.Config.Section("tui", &cfg); err != nil {
		return err
	}
	// Every answer is recorded in the ledger by a must-deliver subscriber:
	// the digest of what the model was sent, never the conversation itself.
	var loaded atomic.Value // the model file answering
	loaded.Store("")
	evs := conversation.NewEvents()
	defer a.RecordConversations(cmd.Context(), evs, "tui", func() string { return loaded.Load().(string) })()
	defer evs.Close() // first: the recorder drains what is left, then stops
	if err := a.setDraft(&p.engine.DraftModel, p.draftModel); err != nil {
		return err
	}
	loader := tui.EngineLoader(p.engine, func(path string) { loaded.Store(path) })
	if c := a.runningServer(cmd.Context(), p); c != nil { // the server records its own answers
		loader = tui.ServerLoader(c, p.engine.ContextSize, loader, func(path string) { loaded.Store(path) })
	}
	opts := tui.Options{Events: evs, Config: cfg, Sampling: p.req.Sampling, System: p.req.System, NoColor: a.getenv("NO_COLOR") != "", Models: a.Models().List,
		Loader: loader, Agents: a.Agents().List, RunAgent: a.shellAgent(p.engine), DAO: a.ShellDAO}
	st, err := conversation.Open(a.Paths.Sub("tui"), shellSessionTimeout)
	var locked *conversation.LockedError
	switch {
	case errors.As(err, &locked) && (cont || sessID != ""):
		return fmt.Errorf("%v, or start sov without --continue/--session for an unsaved chat", err)
	case errors.As(err, &locked):
		opts.StoreNote = err.Error() + ". This chat will not be saved."
	case errors.Is(err, boltfile.ErrDamaged) && (cont || sessID != ""):
		return fmt.Errorf("%v: move it aside to start fresh, or start sov without --continue/--session for an unsaved chat", err)
	case errors.Is(err, boltfile.ErrDamaged):
		opts.StoreNote = err.Error() + ": move it aside to save chats again. This chat will not be saved."
	case err != nil:
		return err
	default:
		defer st.Close()
		opts.Store = st
		if opts.SessionID, err = st.Pick(sessID, cont); err != nil && sessID != "" {
			return usagef("--session: %v (/sessions in the shell lists them)", err)
		} else if err != nil {
			return fmt.Errorf("find the last session: %w", err)
		}
		if cont && opts.SessionID == "" {
			opts.Notice = "No saved session to continue yet: this is a new one."
		}
	}
	switch opts.ModelPath, err = a.modelPath(p.model); {
	case err != nil && p.model != "":
		return err
	case err != nil: // no model yet: the shell opens anyway and explains how to get one
		opts.NoModel = err.Error()
	}
	// Warnings (an agent run's grant not revoked, a ledger write that
	// failed) would draw over the full-screen shell: they wait for it to
	// close.
	var mu sync.Mutex
	var held []string
	a.Warn = func(msg string) { mu.Lock(); held = append(held, msg); mu.Unlock() }
	err = tui.Run(cmd.Context(), opts, a.stdin, a.stdout.(*os.File), os.Environ())
	mu.Lock()
	defer mu.Unlock()
	a.Warn = func(msg string) { a.warnf("%s", msg) } // for what the deferred calls above say
	for _, w := range held {
		a.warnf("%s", w)
	}
	return err
}

// shellAgent runs the user's agents from the shell. The shell owns the
// terminal, so the vault and wallet passphrases come from the environment
// only; approvals and questions are the shell's own panes.
func (a *app) shellAgent(eng model.Options) tui.RunAgentFunc {
	return func(ctx context.Context, name, prompt string, approve agents.Approver, ask func(context.Context, string) (string, error), events agents.Sink) (agents.Outcome, error) {
		ag, err := a.Agents().Get(name)
		if err == nil {
			env := a.EnvSecrets("tui")
			env.AskUser = ask
			var out agents.Outcome
			if out, err = a.RunAgent(ctx, core.AgentRun{Agent: ag, Input: prompt, Approver: approve, Events: events, Engine: eng, Env: env}); err == nil {
				return out, nil
			}
		}
		return agents.Outcome{}, withFix(err,
			fix{agents.ErrNotFound, " (/agents lists them; sov agents new NAME makes one)", false},
			fix{core.ErrVaultLocked, ": set SOV_VAULT_PASSPHRASE before starting sov (the shell does not ask for it)", false})
	}
}
