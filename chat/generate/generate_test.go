package generate

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/sovos/sov/model"
)

// fake records what it was asked and streams a fixed text.
type fake struct {
	mode  string // the method called
	msgs  []model.Message
	s     model.Sampling
	text  string
	reply model.Reply
	err   error
}

func (f *fake) stream(fn model.TokenFunc) (model.Stats, error) {
	for _, piece := range []string{f.text[:len(f.text)/2], f.text[len(f.text)/2:]} {
		if err := fn(piece); err != nil {
			return model.Stats{StopReason: model.StopCancelled}, err
		}
	}
	return model.Stats{GeneratedTokens: 2, StopReason: model.StopEOG}, f.err
}

func (f *fake) Chat(_ context.Context, msgs []model.Message, s model.Sampling, fn model.TokenFunc) (string, model.Stats, error) {
	f.mode, f.msgs, f.s = "chat", msgs, s
	st, err := f.stream(fn)
	return f.text, st, err
}

func (f *fake) JSON(_ context.Context, msgs []model.Message, _ *model.Schema, s model.Sampling, fn model.TokenFunc) ([]byte, model.Stats, error) {
	f.mode, f.msgs, f.s = "json", msgs, s
	st, err := f.stream(fn)
	return []byte(f.text), st, err
}

func (f *fake) Call(_ context.Context, msgs []model.Message, _ *model.Toolset, s model.Sampling, fn model.TokenFunc) (model.Reply, model.Stats, error) {
	f.mode, f.msgs, f.s = "call", msgs, s
	st, err := f.stream(fn)
	return f.reply, st, err
}

const tools = `[{"name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`

func TestRun(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`)
	call := model.Reply{ToolCall: &model.ToolCall{Name: "weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}
	tests := []struct {
		name     string
		req      Request
		mode     string
		text     string
		reply    model.Reply
		wantMsgs int
	}{
		{"plain", Request{Prompt: "hi", Sampling: model.Sampling{Seed: 7, Temperature: 0.5}}, "chat", "hello there", model.Reply{}, 1},
		{"system and grammar", Request{System: "be brief", Prompt: "hi", Sampling: model.Sampling{Grammar: `root ::= "yes"`}}, "chat", "yes", model.Reply{}, 2},
		{"schema", Request{Prompt: "hi", Schema: schema}, "json", `{"a":1}`, model.Reply{}, 1},
		{"tools", Request{Prompt: "weather?", Tools: json.RawMessage(tools), ToolChoice: "required"}, "call", `{"tool":"weather","arguments":{"city":"Paris"}}`, call, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Prepare(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			f := &fake{text: tt.text, reply: tt.reply}
			var streamed string
			res, err := p.Run(context.Background(), f, func(s string) error { streamed += s; return nil })
			if err != nil || f.mode != tt.mode || streamed != tt.text || res.Text != tt.text || res.Stats.GeneratedTokens != 2 {
				t.Fatalf("err %v mode %s streamed %q result %+v", err, f.mode, streamed, res)
			}
			if !reflect.DeepEqual(res.Request, tt.req) || !reflect.DeepEqual(f.s, tt.req.Sampling) {
				t.Errorf("request %+v, sampling sent %+v", res.Request, f.s)
			}
			if len(res.Messages) != tt.wantMsgs || !reflect.DeepEqual(res.Messages, f.msgs) || res.Messages[len(res.Messages)-1] != (model.Message{Role: model.RoleUser, Content: tt.req.Prompt}) {
				t.Errorf("messages %+v, sent %+v", res.Messages, f.msgs)
			}
			if tt.req.System != "" && res.Messages[0] != (model.Message{Role: model.RoleSystem, Content: tt.req.System}) {
				t.Errorf("system message %+v", res.Messages[0])
			}
			if (tt.mode == "call") != (res.Reply != nil) || res.Reply != nil && !reflect.DeepEqual(*res.Reply, tt.reply) {
				t.Errorf("reply %+v", res.Reply)
			}
		})
	}
}

// An error (a cancel from the token callback here) still returns the stats
// and the text so far, and Run works without a callback.
func TestRunError(t *testing.T) {
	p, err := Prepare(Request{Prompt: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Run(context.Background(), &fake{text: "abcd"}, func(s string) error {
		if s == "cd" {
			return context.Canceled
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.Text != "abcd" || res.Stats.StopReason != model.StopCancelled {
		t.Errorf("%v %+v", err, res)
	}
	failing := &fake{text: "abcd", err: errors.New("boom")}
	if res, err = p.Run(context.Background(), failing, nil); err == nil || res.Text != "abcd" {
		t.Errorf("%v %+v", err, res)
	}
}

func TestPrepareErrors(t *testing.T) {
	tests := []struct {
		name  string
		req   Request
		is    error
		field string
	}{
		{"schema and grammar", Request{Schema: json.RawMessage(`{}`), Sampling: model.Sampling{Grammar: "root ::= \"a\""}}, ErrConflict, ""},
		{"tools and schema", Request{Tools: json.RawMessage(tools), Schema: json.RawMessage(`{}`)}, ErrConflict, ""},
		{"choice without tools", Request{ToolChoice: "none"}, ErrConflict, ""},
		{"bad schema", Request{Schema: json.RawMessage(`{"type":"string","pattern":"a+"}`)}, nil, "schema"},
		{"schema not JSON", Request{Schema: json.RawMessage(`{type`)}, nil, "schema"},
		{"tools not a list", Request{Tools: json.RawMessage(`{"name":"x"}`)}, nil, "tools"},
		{"unknown tool choice", Request{Tools: json.RawMessage(tools), ToolChoice: "search"}, model.ErrUnknownTool, "tools"},
		{"bad grammar", Request{Sampling: model.Sampling{Grammar: "root ::= (\"a\""}}, model.ErrBadGrammar, "grammar"},
		{"negative temperature", Request{Sampling: model.Sampling{Temperature: -0.1}}, nil, "temperature"},
		{"NaN temperature", Request{Sampling: model.Sampling{Temperature: float32(math.NaN())}}, nil, "temperature"},
		{"top-p above 1", Request{Sampling: model.Sampling{TopP: 1.5}}, nil, "top_p"},
		{"negative min-p", Request{Sampling: model.Sampling{MinP: -1}}, nil, "min_p"},
		{"negative top-k", Request{Sampling: model.Sampling{TopK: -1}}, nil, "top_k"},
		{"negative max tokens", Request{Sampling: model.Sampling{MaxTokens: -5}}, nil, "max_tokens"},
	}
	for _, tt := range tests {
		_, err := Prepare(tt.req)
		var ie *InputError
		switch {
		case err == nil:
			t.Errorf("%s: no error", tt.name)
		case tt.is != nil && !errors.Is(err, tt.is):
			t.Errorf("%s: %v, want %v", tt.name, err, tt.is)
		case tt.field != "" && (!errors.As(err, &ie) || ie.Field != tt.field):
			t.Errorf("%s: %v, want an InputError for %s", tt.name, err, tt.field)
		}
	}
}
