package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/model"
)

// AskUser is agent.ask_user: a question for the person running the agent.
// Headless (Env.AskUser nil) it fails with ErrNeedsUser, which ends the run
// as needing a person: a question is never answered by a guess.
type AskUser struct{}

const maxQuestion = 300

func (AskUser) Spec() model.Tool {
	return spec("agent.ask_user", fmt.Sprintf(`{"type":"object","properties":{
"question":{"type":"string","minLength":1,"maxLength":%d}},
"required":["question"],"additionalProperties":false}`, maxQuestion))
}

func (AskUser) Level() Level { return Read }

func (AskUser) Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error) {
	var a struct {
		Question string `json:"question"`
	}
	if err := decodeArgs(args, &a); err != nil {
		return Result{}, err
	}
	// the question is the model's words, shown on a terminal
	q := strings.TrimSpace(termtext.Clean(a.Question))
	switch {
	case q == "":
		return Result{}, fmt.Errorf("%w: question is empty", ErrBadArguments)
	case len([]rune(q)) > maxQuestion:
		return Result{}, fmt.Errorf("%w: question longer than %d characters", ErrBadArguments, maxQuestion)
	}
	if env == nil || env.AskUser == nil {
		return Result{}, ErrNeedsUser
	}
	answer, err := env.AskUser(ctx, q)
	if err != nil {
		return Result{}, fmt.Errorf("agent.ask_user: %w", err)
	}
	return Result{Text: answer, Source: "user"}, nil
}
