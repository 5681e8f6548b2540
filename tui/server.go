package tui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/server"
)

// ErrServerGone: the sov serve answering the shell stopped answering; the
// shell's next message loads the model itself.
var ErrServerGone = errors.New("the sov server went away")

// Remote is the part of a sov serve client the shell uses (*server.Client
// is one); tests substitute their own.
type Remote interface {
	Serves(ctx context.Context, path string) error
	Run(ctx context.Context, req server.RunRequest, fn model.TokenFunc) (generate.Result, error)
}

// ServerLoader answers from a running sov serve when it offers the model
// at path, at a context of numCtx tokens (0: the server's): nothing loads
// here. A model it does not offer, or a server that is gone, is loaded
// with local instead. loading hears the model file answering in this
// process ("" while the server answers: it records its own calls in the
// ledger).
func ServerLoader(r Remote, numCtx int, local Loader, loading func(path string)) Loader {
	return func(ctx context.Context, path string, progress func(float32) bool) (Chatter, error) {
		if err := r.Serves(ctx, path); err != nil {
			return local(ctx, path, progress)
		}
		loading("")
		progress(1)
		name := strings.TrimSuffix(filepath.Base(path), ".gguf")
		return &remoteChatter{r: r, path: path, numCtx: numCtx, local: local, info: model.Info{Path: path, Name: name, Backend: "sov serve", Sessions: 1}}, nil
	}
}

// remoteChatter generates on the server until it goes away, then on the
// model loaded here.
type remoteChatter struct {
	r      Remote
	path   string
	numCtx int
	local  Loader
	info   model.Info

	load sync.Mutex // held while the model loads here
	mu   sync.Mutex
	gone bool    // the server went away: the next Chat loads the model here
	eng  Chatter // loaded here after that
}

func (c *remoteChatter) Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	c.mu.Lock()
	gone, eng := c.gone, c.eng
	c.mu.Unlock()
	if gone {
		return c.chatLocal(ctx, eng, msgs, s, fn)
	}
	res, err := c.r.Run(ctx, server.RunRequest{Path: c.path, NumCtx: c.numCtx, Messages: msgs, Request: generate.Request{Sampling: s}}, fn)
	if errors.Is(err, server.ErrBeyondLimits) { // nothing was generated: answer here, from now on
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
		return c.chatLocal(ctx, nil, msgs, s, fn)
	}
	if errors.Is(err, server.ErrNotRunning) || errors.Is(err, server.ErrNotServed) {
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
		// The cause (connection refused, a stream cut short) is not
		// worth a paragraph in the chat.
		return res.Text, res.Stats, fmt.Errorf("%w: the next message loads the model in this process", ErrServerGone)
	}
	return res.Text, res.Stats, err
}

func (c *remoteChatter) chatLocal(ctx context.Context, eng Chatter, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	if eng == nil {
		var err error
		if eng, err = c.loadLocal(ctx); err != nil {
			return "", model.Stats{}, err
		}
	}
	return eng.Chat(ctx, msgs, s, fn)
}

// loadLocal loads the model here, once.
func (c *remoteChatter) loadLocal(ctx context.Context) (Chatter, error) {
	c.load.Lock()
	defer c.load.Unlock()
	c.mu.Lock()
	eng := c.eng
	c.mu.Unlock()
	if eng != nil {
		return eng, nil
	}
	eng, err := c.local(ctx, c.path, func(float32) bool { return ctx.Err() == nil })
	if err != nil {
		return nil, fmt.Errorf("load the model here: %w", err)
	}
	c.mu.Lock()
	c.eng = eng
	c.mu.Unlock()
	return eng, nil
}

func (c *remoteChatter) Info() model.Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eng != nil {
		return c.eng.Info()
	}
	return c.info
}

func (c *remoteChatter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eng != nil {
		return c.eng.Close()
	}
	return nil
}
