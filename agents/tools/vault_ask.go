package tools

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/vault"
)

// VaultAsk is vault.ask: an answer from one collection's passages, written
// by the run's model under the vault's own grammar and citation checks
// (vault.Vault.Ask).
type VaultAsk struct{}

// maxAskTokens bounds the answer (the vault's schema keeps it short).
const maxAskTokens = 512

// vaultAsker is the vault's Ask, which *vault.Vault has.
type vaultAsker interface {
	Ask(ctx context.Context, question string, gen vault.Generator, o vault.AskOptions) (*vault.Answer, error)
}

func (VaultAsk) Spec() model.Tool {
	return spec("vault.ask", fmt.Sprintf(`{"type":"object","properties":{
"question":{"type":"string","minLength":1,"maxLength":%d},
"collection":{"type":"string","maxLength":%d}},
"required":["question"],"additionalProperties":false}`, maxQuery, maxCollection))
}

func (VaultAsk) Level() Level { return Read }

func (VaultAsk) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Question   string `json:"question"`
		Collection string `json:"collection"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	var err error
	if a.Question, err = queryText("question", a.Question); err != nil {
		return Result{}, err
	}
	coll, err := collectionName(a.Collection)
	if err != nil {
		return Result{}, err
	}
	var v vaultAsker
	if env != nil {
		v, _ = env.Vault.(vaultAsker)
	}
	if v == nil {
		return Result{}, fmt.Errorf("vault.ask: no vault is open: %w", ErrUnavailable)
	}
	if env.Model == nil {
		return Result{}, fmt.Errorf("vault.ask: the run has no model for tools: %w", ErrUnavailable)
	}
	ans, err := v.Ask(ctx, a.Question, answerer(env.Model, maxAskTokens), vault.AskOptions{Collection: coll})
	if err != nil {
		return Result{}, fmt.Errorf("vault.ask in %s: %w", coll, err)
	}
	out := struct {
		Collection string   `json:"collection"`
		Answer     string   `json:"answer"`
		NotFound   bool     `json:"not_found,omitempty"`
		Sources    []string `json:"sources,omitempty"`
	}{Collection: coll, Answer: termtext.Clean(ans.Text), NotFound: ans.NotFound}
	for i, s := range ans.Sources {
		n := i + 1
		if i < len(ans.Cited) {
			n = ans.Cited[i]
		}
		out.Sources = append(out.Sources, fmt.Sprintf("[%d] %s (chunk %d)", n, termtext.Clean(s.Source), s.Chunk))
	}
	return Result{Text: jsonText(out), Source: "vault:" + coll}, nil
}

// answerer adapts m to vault.Generator: a system and a user message
// answered with a document the schema's grammar forces.
func answerer(m JSONModel, maxTokens int) vault.Generator {
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
