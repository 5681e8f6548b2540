package app

import (
	"context"
	"errors"
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
	APIKey    string
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
		Record: a.serverRecorder(), Version: o.Version, Logf: o.Logf,
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
