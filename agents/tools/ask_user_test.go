package tools

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

func TestAskUser(t *testing.T) {
	ctx := context.Background()
	// headless: the run needs a person, and no answer is made up
	if r, err := (AskUser{}).Run(ctx, &Env{}, json.RawMessage(`{"question":"Which collection?"}`)); !errors.Is(err, ErrNeedsUser) || r.Text != "" {
		t.Fatalf("headless: %+v %v", r, err)
	}
	var shown []string
	env := &Env{AskUser: func(_ context.Context, q string) (string, error) {
		shown = append(shown, q)
		return "work", nil
	}}
	r, err := AskUser{}.Run(ctx, env, json.RawMessage(`{"question":"Which \u001b[31mcollection?"}`))
	if err != nil || r.Text != "work" || r.Source != "user" || r.Tainted {
		t.Fatalf("%+v %v", r, err)
	}
	if len(shown) != 1 || shown[0] != "Which collection?" {
		t.Fatalf("the person was shown %q", shown)
	}
	if _, err := (AskUser{}).Run(ctx, env, json.RawMessage(`{"question":"\u001b[2J"}`)); !errors.Is(err, ErrBadArguments) {
		t.Fatalf("a question of control characters only: %v", err)
	}
	cancelled := &Env{AskUser: func(ctx context.Context, _ string) (string, error) { return "", context.Canceled }}
	if _, err := (AskUser{}).Run(ctx, cancelled, json.RawMessage(`{"question":"ok?"}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
