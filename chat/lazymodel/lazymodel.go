// Package lazymodel is a local model loaded on first use, for commands that
// may end up not needing one (an answer from no relevant passage, a digest
// of an empty window): they neither pay for loading a model nor fail for
// want of one.
package lazymodel

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/sovos/sov/chat/generate"
	"github.com/sovos/sov/model"
)

// Model loads the GGUF file Path names when one of its methods first needs
// it. It is safe for concurrent use.
type Model struct {
	// Path resolves the model file (model/store.ResolveFor in the CLI).
	Path func() (string, error)
	// What names the model in errors, e.g. "chat model"; default "model".
	What string

	// Wrap, when set, wraps the loaded engine (e.g. to record every call
	// in the ledger); calls go through what it returns.
	Wrap func(model.LLM) model.LLM

	// DigestDir, when set, is where generate.ModelSHA256 remembers the
	// digests of model files (the ledger's directory, so that a model is
	// hashed once for both); it makes ModelIdentity known.
	DigestDir string

	mu  sync.Mutex
	eng *model.Engine
	llm model.LLM
}

// Load loads the model now, e.g. to fail before a passphrase is asked.
func (m *Model) Load(ctx context.Context) error {
	_, err := m.engine(ctx)
	return err
}

func (m *Model) engine(ctx context.Context) (model.LLM, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.llm != nil {
		return m.llm, nil
	}
	// Path errors (no model installed, an unknown name) explain themselves.
	path, err := m.Path()
	if err != nil {
		return nil, err
	}
	eng, err := model.Load(ctx, model.Options{Path: path})
	if err != nil {
		what := m.What
		if what == "" {
			what = "model"
		}
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	m.eng, m.llm = eng, eng
	if m.Wrap != nil {
		m.llm = m.Wrap(eng)
	}
	return m.llm, nil
}

// Chat is model.Engine.Chat.
func (m *Model) Chat(ctx context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	eng, err := m.engine(ctx)
	if err != nil {
		return "", model.Stats{}, err
	}
	return eng.Chat(ctx, msgs, s, fn)
}

// JSON is model.Engine.JSON.
func (m *Model) JSON(ctx context.Context, msgs []model.Message, schema *model.Schema, s model.Sampling, fn model.TokenFunc) ([]byte, model.Stats, error) {
	eng, err := m.engine(ctx)
	if err != nil {
		return nil, model.Stats{}, err
	}
	return eng.JSON(ctx, msgs, schema, s, fn)
}

// Embed is model.Engine.Embed.
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	eng, err := m.engine(ctx)
	if err != nil {
		return nil, err
	}
	return eng.Embed(ctx, texts)
}

// Answerer returns a function answering a system and a user message in at
// most maxTokens, streaming pieces to onToken when it is set (the shape of
// vault.Generator). A light repeat penalty keeps small models from looping
// on the quoted passages.
func (m *Model) Answerer(maxTokens int) func(ctx context.Context, system, user string, onToken func(string) error) (string, error) {
	return func(ctx context.Context, system, user string, onToken func(string) error) (string, error) {
		msgs := []model.Message{{Role: model.RoleSystem, Content: system}, {Role: model.RoleUser, Content: user}}
		var fn model.TokenFunc
		if onToken != nil {
			fn = func(p string) error { return onToken(p) }
		}
		text, _, err := m.Chat(ctx, msgs, model.Sampling{MaxTokens: maxTokens, RepeatPenalty: 1.1}, fn)
		return text, err
	}
}

// ModelIdentity is the sha256 of the model file and its base name, for
// the vault to record with the vectors the model makes; without SHA256
// it is unknown (empty) without DigestDir. The model is not loaded.
func (m *Model) ModelIdentity(context.Context) (sha256, name string, err error) {
	if m.DigestDir == "" {
		return "", "", nil
	}
	path, err := m.Path()
	if err != nil {
		return "", "", err
	}
	sum, err := generate.ModelSHA256(path, m.DigestDir)
	return sum, filepath.Base(path), err
}

// JSONAnswerer returns a function answering a system and a user message
// with a JSON document matching schema (a JSON Schema), forced by its
// grammar, in at most maxTokens (the shape of vault.Generator).
func (m *Model) JSONAnswerer(maxTokens int) func(ctx context.Context, system, user string, schema []byte) ([]byte, error) {
	return func(ctx context.Context, system, user string, schema []byte) ([]byte, error) {
		s, err := model.CompileSchema(schema)
		if err != nil {
			return nil, err
		}
		msgs := []model.Message{{Role: model.RoleSystem, Content: system}, {Role: model.RoleUser, Content: user}}
		out, _, err := m.JSON(ctx, msgs, s, model.Sampling{MaxTokens: maxTokens}, nil)
		return out, err
	}
}

// Close frees the model if it was loaded; the Model can load it again.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.eng == nil {
		return nil
	}
	err := m.eng.Close()
	m.eng, m.llm = nil, nil
	return err
}
