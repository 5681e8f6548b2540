package main

// `sov serve` runs the resident model server; `sov ps` and `sov stop`
// talk to it.

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	core "github.com/sovos/sov/app"
	"github.com/sovos/sov/internal/buildinfo"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/server"
	"github.com/sovos/sov/server/api"
)

func serveCommands(a *app) []*cobra.Command {
	return guard(serveHint, "the server failed unexpectedly (%v)", a.serveCmd(), a.psCmd(), a.stopCmd())
}

func serveHint(err error) error {
	return withFix(err,
		fix{server.ErrKeyRequired, ": pass --api-key or set " + core.EnvAPIKey + ", or listen on 127.0.0.1", true},
		fix{server.ErrNotRunning, ": start one with `sov serve` (or pass --addr)", false})
}

func (a *app) serveCmd() *cobra.Command {
	var o core.ServeOptions
	var addr, draft string
	c := command("serve", "Serve local models over the OpenAI and Ollama APIs", nil, func(cmd *cobra.Command, _ []string) error {
		if o.Parallel < 1 || o.Context < 0 || o.MaxTokens < 1 {
			return usagef("--parallel and --max-tokens must be at least 1, --ctx not negative")
		}
		if o.Parallel > 1 && draft != "" {
			return usagef("--draft-model drafts for one session: use it with --parallel 1")
		}
		if err := a.setDraft(&o.Engine.DraftModel, draft); err != nil {
			return err
		}
		o.Version = buildinfo.Version(version)
		o.Logf = func(format string, args ...any) { a.warnf(format, args...) }
		return a.Serve(cmd.Context(), addr, o, func(at net.Addr) {
			fmt.Fprintf(a.stderr, "sov serve: listening on http://%s (OpenAI: /v1, Ollama: /api)\n", at)
		})
	})
	f := c.Flags()
	f.StringVar(&addr, "addr", server.DefaultAddr, "address to listen on (beyond loopback needs --api-key)")
	f.StringArrayVarP(&o.Models, "model", "m", nil, "model name or GGUF file to serve and load at start (repeatable; the first is the default)")
	f.IntVar(&o.Parallel, "parallel", 1, "sessions per loaded model: conversations whose KV cache stays warm")
	f.IntVar(&o.Queue, "queue", server.DefaultQueue, "requests that may wait for a session per model; more get 503 (-1: none)")
	f.DurationVar(&o.KeepAlive, "keep-alive", server.DefaultKeepAlive, "how long a model stays loaded after its last request (negative: forever)")
	f.IntVar(&o.Context, "ctx", 0, "context size in tokens (0 = the model's, at most 4096); Ollama's num_ctx overrides it per request")
	f.IntVar(&o.MaxTokens, "max-tokens", server.DefaultMaxTokens, "the most tokens one request may generate")
	f.StringVar(&o.APIKey, "api-key", "", "key requests must send as a Bearer token (default: "+core.EnvAPIKey+")")
	f.IntVar(&o.Engine.Threads, "threads", 0, "CPU threads (0 = the cores other work leaves free)")
	f.IntVar(&o.Engine.GPULayers, "gpu-layers", -1, "layers to offload to the GPU (-1 = auto, 0 = CPU only)")
	f.StringVar(&o.Engine.FlashAttn, "flash-attn", "", "flash attention: on, off or auto (default: off on CPU, auto with a GPU)")
	f.BoolVar(&o.Engine.NoDraft, "no-draft", false, "turn off prompt-lookup drafting (on by default; with --parallel above 1, a reply drafts while it generates alone)")
	f.StringVar(&draft, "draft-model", "", "a small model of the same family (name or GGUF path) that drafts for the served models sharing its vocabulary, with --parallel 1")
	return c
}

// serverFlags are where sov ps and sov stop find the server.
func (a *app) serverClient(cmd *cobra.Command) *server.Client {
	addr, _ := cmd.Flags().GetString("addr")
	return server.NewClient(addr, a.getenv(core.EnvAPIKey))
}

func addServerFlags(c *cobra.Command) *cobra.Command {
	c.Flags().String("addr", server.DefaultAddr, "the server's address (its API key comes from "+core.EnvAPIKey+")")
	return c
}

func (a *app) psCmd() *cobra.Command {
	var asJSON bool
	c := command("ps", "List the models a running sov serve has loaded", nil, func(cmd *cobra.Command, _ []string) error {
		ms, err := a.serverClient(cmd).PS(cmd.Context())
		if err != nil {
			return err
		}
		return a.show(asJSON, ms, func(w io.Writer) { renderPS(w, ms) })
	})
	c.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	return addServerFlags(c)
}

func renderPS(w io.Writer, ms []api.OllamaRunning) {
	if len(ms) == 0 {
		fmt.Fprintln(w, "no model is loaded")
		return
	}
	drafts := slices.ContainsFunc(ms, func(m api.OllamaRunning) bool { return m.DraftModel != "" })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "NAME\tSIZE\tCONTEXT\tSESSIONS\tBUSY\tQUEUED\tUNLOADS"
	if drafts {
		head += "\tDRAFT MODEL"
	}
	fmt.Fprintln(tw, head)
	for _, m := range ms {
		until := "when idle"
		if !m.ExpiresAt.IsZero() {
			until = "in " + time.Until(m.ExpiresAt).Round(time.Second).String()
		} else if m.Busy == 0 {
			until = "never"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s", m.Name, store.FormatBytes(m.Size), m.ContextLength, m.Sessions, m.Busy, m.Queued, until)
		if drafts {
			fmt.Fprintf(tw, "\t%s", cmp.Or(m.DraftModel, "-"))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func (a *app) stopCmd() *cobra.Command {
	return addServerFlags(command("stop MODEL", "Unload a model from a running sov serve", nargs(1, 1, "a model's name"), func(cmd *cobra.Command, args []string) error {
		return a.say(a.serverClient(cmd).Stop(cmd.Context(), args[0]), "unloaded %s", args[0])
	}))
}
