package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sovos/sov/assets"
)

// Generator produces an answer from a system and a user message (the CLI
// adapts model.Engine.Chat to it), streaming pieces to onToken when set.
type Generator func(ctx context.Context, system, user string, onToken func(string) error) (string, error)

// ErrNoChatModel is returned by Ask when passages were found but no
// generator was given to answer from them.
var ErrNoChatModel = errors.New("no chat model to answer with")

// NotInVault is the answer when no passage is relevant.
const NotInVault = "not in the vault"

// AskOptions tune Ask.
type AskOptions struct {
	Collection string
	K          int // passages given to the model; default 4
	// MaxPassageBytes trims each passage to fit small contexts (default 1200).
	MaxPassageBytes int
	OnToken         func(string) error
	// MinSimilarity is the cosine below which a vector-only match does not
	// count as relevant (default 0.35).
	MinSimilarity float64
}

// Answer is a generated answer with the passages it cites as [1], [2]…
type Answer struct {
	Text     string   `json:"answer"`
	Sources  []Result `json:"sources"`
	NotFound bool     `json:"not_found"`
	Mode     string   `json:"mode"`
}

// askSystem is the system prompt of Ask (assets/prompts/vault-ask.md).
var askSystem = assets.Prompt("vault-ask")

// Ask answers question from the top passages. With no relevant passage it
// returns NotInVault without calling the model.
func (v *Vault) Ask(ctx context.Context, question string, gen Generator, o AskOptions) (*Answer, error) {
	if o.K <= 0 {
		o.K = 4
	}
	if o.MaxPassageBytes <= 0 {
		o.MaxPassageBytes = 1200
	}
	resp, err := v.Search(ctx, question, SearchOptions{Collection: o.Collection, K: o.K}) // releases the keys before generating
	if err != nil {
		return nil, err
	}
	var passages []Result
	for _, r := range resp.Results {
		if r.Lexical {
			passages = append(passages, r)
		}
	}
	ans := &Answer{Mode: resp.Mode}
	if len(passages) == 0 {
		ans.Text, ans.NotFound = NotInVault, true
		return ans, nil
	}
	ans.Sources = passages
	user := BuildAskPrompt(question, passages, o.MaxPassageBytes)
	if gen == nil {
		return nil, ErrNoChatModel
	}
	text, err := gen(ctx, askSystem, user, o.OnToken)
	if err != nil {
		return nil, fmt.Errorf("generate answer: %w", err)
	}
	ans.Text = strings.TrimSpace(text)
	return ans, nil
}

// BuildAskPrompt lays out the passages as numbered, fenced data followed by
// the question.
func BuildAskPrompt(question string, passages []Result, maxBytes int) string {
	var b strings.Builder
	b.WriteString("Passages (quoted data from the vault):\n")
	for i, p := range passages {
		text := p.Text
		if len(text) > maxBytes {
			text = trimUTF8(text, maxBytes) + "…"
		}
		fmt.Fprintf(&b, "\n[%d] (%s, lines %d-%d)\n<<<\n%s\n>>>\n", i+1, p.Source, p.Start, p.End, strings.ReplaceAll(text, ">>>", "> > >"))
	}
	fmt.Fprintf(&b, "\nQuestion: %s\nAnswer with citations like [1]:", question)
	return b.String()
}

func trimUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
