package app

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/model/store"
	"github.com/sovos/sov/server"
)

const (
	// EnvAPIKey is sov serve's API key, for the server (when ServeOptions
	// sets none) and for its clients.
	EnvAPIKey = "SOV_API_KEY"
	// EnvNoServer set (to anything but 0) keeps sov run and the shell off
	// a running sov serve.
	EnvNoServer = "SOV_NO_SERVER"
)

// RunningServer is the sov serve of this data directory to generate on, or
// nil: none answers, or EnvNoServer is set. One that needs an API key
// while EnvAPIKey is unset is nil too, with server.ErrKeyNeeded to warn
// about.
func (a *App) RunningServer(ctx context.Context) (*server.Client, error) {
	if v := a.Getenv(EnvNoServer); v != "" && v != "0" {
		return nil, nil
	}
	c, err := server.Discover(ctx, a.Paths.Data, a.Getenv(EnvAPIKey))
	if errors.Is(err, server.ErrKeyNeeded) {
		return nil, err
	}
	return c, nil
}

// ServeOptions are what sov serve's flags decide.
type ServeOptions struct {
	// Models are names of installed models or GGUF files, named by the
	// operator; the first is the default. Files outside the store are
	// served under their base name. Requests only ever name models.
	Models    []string
	Parallel  int
	Queue     int
	KeepAlive time.Duration
	Context   int
	MaxTokens int
	APIKey    string // "" = EnvAPIKey's
	// LoopbackOnly: the server listens on loopback only, and answers only
	// requests addressed to a loopback name.
	LoopbackOnly bool
	Engine       model.Options
	Sampling     model.Sampling
	Version      string
	Logf         func(format string, args ...any)
}

// Server builds sov serve's handler over the store's models and the named
// ones; every generation is recorded in the ledger as principal "server",
// by digest only (prompts are other programs' data).
func (a *App) Server(o ServeOptions) (*server.Server, error) {
	cat, err := a.serverCatalog(o.Models)
	if err != nil {
		return nil, err
	}
	return server.New(server.Config{
		Catalog: cat, Parallel: o.Parallel, Queue: o.Queue, KeepAlive: o.KeepAlive, Context: o.Context,
		MaxTokens: o.MaxTokens, APIKey: o.APIKey, LoopbackOnly: o.LoopbackOnly, Engine: o.Engine, Sampling: o.Sampling,
		Record: a.serverRecorder(), Prepare: a.modelDigest, Version: o.Version, Logf: o.Logf,
	})
}

func (a *App) serverCatalog(names []string) (*server.StoreCatalog, error) {
	st := a.Models()
	cat := &server.StoreCatalog{Store: st}
	add := func(choice string) (string, error) {
		if m, err := st.Get(choice); err == nil && !m.Missing {
			return m.Name, nil
		}
		path, err := a.ModelPath(choice)
		if err != nil {
			return "", err
		}
		if ms, err := st.List(); err == nil {
			for _, m := range ms {
				if m.Path == path && !m.Missing {
					return m.Name, nil
				}
			}
		}
		e := server.Entry{Name: strings.TrimSuffix(filepath.Base(path), ".gguf"), Path: path}
		if fi, err := os.Stat(path); err == nil {
			e.Size, e.Modified = fi.Size(), fi.ModTime()
		}
		cat.Extra = append(cat.Extra, e)
		return e.Name, nil
	}
	for _, n := range names {
		name, err := add(n)
		if err != nil {
			return nil, err
		}
		if cat.Default == "" {
			cat.Default = name
		}
	}
	if cat.Default == "" {
		// SOV_MODEL, the configured default, or the only installed model;
		// none is fine: requests then name one.
		name, err := add("")
		if err != nil && !errors.Is(err, store.ErrNoModel) && !errors.Is(err, store.ErrNoneChosen) {
			return nil, err
		}
		cat.Default = name
	}
	return cat, nil
}

// modelDigest computes and remembers the digest of the model file at
// path, which its ledger entries name.
func (a *App) modelDigest(path string) error {
	_, err := generate.ModelSHA256(path, a.Ledger().Dir())
	return err
}

func (a *App) serverRecorder() func(context.Context, server.Call) error {
	l := a.Ledger()
	var once sync.Once
	var signer *ledger.Signer
	return func(ctx context.Context, c server.Call) error {
		once.Do(func() { signer = a.AutoSigner() })
		facts := map[string]any{"api": c.API, "model": c.Model}
		if c.Err != nil {
			facts["failed"] = true
		}
		_, err := generate.RecordCall(ctx, l, signer, "server", c.Path, c.Input, c.Sampling, c.Output, c.Stats, facts, false)
		return err
	}
}

// serveSampling is sov serve's sampling when a request sets none.
var serveSampling = model.Sampling{Temperature: 0.8, TopP: 0.95, TopK: 40, MinP: 0.05}

// Serve runs sov serve on addr until ctx ends: it checks the bind (beyond
// loopback needs an API key), announces the server to sov run and the
// shell of this data directory, preloads the named models and, once ctx
// ends, cuts off requests still generating after a grace period.
// listening is called once the socket is open; warnings go to o.Logf.
func (a *App) Serve(ctx context.Context, addr string, o ServeOptions, listening func(net.Addr)) error {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	o.APIKey = cmp.Or(o.APIKey, a.Getenv(EnvAPIKey))
	loopback, err := server.CheckBind(addr, o.APIKey)
	if err != nil {
		return err
	}
	if !loopback {
		logf("listening on %s, beyond this machine: anyone who can reach it and has the API key can use your models", addr)
	}
	o.LoopbackOnly, o.Sampling = loopback, serveSampling
	srv, err := a.Server(o)
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.EnableRun()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ConnContext: srv.ConnContext}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	if remove, err := server.Announce(a.Paths.Data, server.Announcement{Addr: server.LocalAddr(ln.Addr()), KeyRequired: o.APIKey != "", Version: o.Version}); err != nil {
		logf("%v: sov run and the shell will load models themselves", err)
	} else {
		defer remove()
	}
	if listening != nil {
		listening(ln.Addr())
	}
	if len(o.Models) > 0 {
		go func() {
			if err := srv.Preload(ctx, ""); err != nil && !errors.Is(err, context.Canceled) {
				logf("%v", err)
			}
		}()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// Closing the connections of requests still generating after the
	// grace period cancels their generation.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if hs.Shutdown(sctx) != nil {
		hs.Close()
	}
	return nil
}
