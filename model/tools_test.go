package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

var testTools = []Tool{
	{Name: "weather", Description: "Weather forecast for a city: rain, sun, temperature.", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","maxLength":40}},"required":["city"],"additionalProperties":false}`)},
	{Name: "email", Description: "Send an email message to someone.", Parameters: json.RawMessage(`{"type":"object","properties":{"to":{"type":"string","maxLength":40},"body":{"type":"string","maxLength":200}},"required":["to","body"],"additionalProperties":false}`)},
	{Name: "calculator", Description: "Arithmetic on two numbers.", Parameters: json.RawMessage(`{"type":"object","properties":{"op":{"enum":["add","subtract","multiply","divide"]},"a":{"type":"number"},"b":{"type":"number"}},"required":["op","a","b"],"additionalProperties":false}`)},
}

func TestToolsetCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		tools  []Tool
		choice string
		want   string
	}{
		{"bad name", []Tool{{Name: "no spaces"}}, ToolAuto, "tool name"},
		{"duplicate", []Tool{{Name: "a"}, {Name: "a"}}, ToolAuto, "twice"},
		{"unknown choice", testTools, "search", "no tool of that name"},
		{"required without tools", nil, ToolRequired, "no tools"},
		{"unsupported keyword", []Tool{{Name: "a", Parameters: json.RawMessage(`{"type":"object","properties":{"x":{"type":"string","pattern":"^a"}}}`)}}, ToolAuto, `tool "a"`},
		{"not JSON", []Tool{{Name: "a", Parameters: json.RawMessage(`{`)}}, ToolAuto, `tool "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileTools(tt.tools, tt.choice)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestToolsetParse(t *testing.T) {
	auto, err := CompileTools(testTools, ToolAuto)
	if err != nil {
		t.Fatal(err)
	}
	required, err := CompileTools(testTools, ToolRequired)
	if err != nil {
		t.Fatal(err)
	}
	forced, err := CompileTools(testTools, "calculator")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ts     *Toolset
		raw    string
		tool   string // "" = an answer
		answer string
		bad    bool
	}{
		{"call", auto, `{"tool":"weather","arguments":{"city":"Paris"}}`, "weather", "", false},
		{"answer", auto, `{"answer":"hello"}`, "", "hello", false},
		{"bad arguments", auto, `{"tool":"weather","arguments":{"town":"Paris"}}`, "", "", true},
		{"unknown tool", auto, `{"tool":"search","arguments":{}}`, "", "", true},
		{"answer where a call is required", required, `{"answer":"hello"}`, "", "", true},
		{"other tool where one is forced", forced, `{"tool":"weather","arguments":{"city":"Paris"}}`, "", "", true},
		{"forced", forced, `{"tool":"calculator","arguments":{"op":"add","a":1,"b":2}}`, "calculator", "", false},
		{"two documents", auto, `{"answer":"a"}{"answer":"b"}`, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.ts.Parse([]byte(tt.raw))
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted %s as %+v", tt.raw, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.tool == "" && (r.ToolCall != nil || r.Answer != tt.answer) || tt.tool != "" && (r.ToolCall == nil || r.ToolCall.Name != tt.tool) {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

// A tool schema's own $defs keep working inside the combined grammar.
func TestToolsetLocalDefs(t *testing.T) {
	tools := []Tool{
		{Name: "a", Parameters: json.RawMessage(`{"type":"object","properties":{"p":{"$ref":"#/$defs/point"}},"required":["p"],"$defs":{"point":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}}}`)},
		{Name: "b", Parameters: json.RawMessage(`{"type":"object","properties":{"p":{"$ref":"#/definitions/point"}},"required":["p"],"definitions":{"point":{"type":"string","enum":["up","down"]}}}`)},
	}
	ts, err := CompileTools(tools, ToolRequired)
	if err != nil {
		t.Fatal(err)
	}
	for raw, ok := range map[string]bool{
		`{"tool":"a","arguments":{"p":{"x":1}}}`: true,
		`{"tool":"b","arguments":{"p":"up"}}`:    true,
		`{"tool":"a","arguments":{"p":"up"}}`:    false,
		`{"tool":"b","arguments":{"p":{"x":1}}}`: false,
	} {
		if _, err := ts.Parse([]byte(raw)); (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
	if g := ts.schema.GBNF(); !strings.Contains(g, `\"up\"`) {
		t.Errorf("grammar lacks b's definition:\n%s", g)
	}
}

// Any model yields a valid call or answer: stories260K knows nothing of
// tools, yet every sampled reply parses, and ends within the token limit
// (closed when the model would have run on).
func TestCallAnyModelValid(t *testing.T) {
	e := loadTest(t, 1024)
	ts, err := CompileTools(testTools, ToolAuto)
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint32(1); seed <= 4; seed++ {
		r, st, err := e.Call(context.Background(), []Message{{Role: RoleUser, Content: "Once upon a time"}}, ts, Sampling{Temperature: 1, Seed: seed, MaxTokens: 400}, nil)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if r.ToolCall == nil && r.Answer == "" || st.StopReason != StopEOG || st.GeneratedTokens > 400 {
			t.Fatalf("seed %d: %+v, %+v", seed, r, st)
		}
	}
}

// A forced call near its token limit is closed with the grammar's shortest
// completion: stories260K rambles inside any string it is given, so at
// small limits nearly every reply needs it. Each one must validate, end
// (EOG) within the limit, stream exactly its text, and leave the session's
// cache right for the next call.
func TestCallClosesAtLimit(t *testing.T) {
	e := loadTest(t, 1024)
	ctx := context.Background()
	closed := 0
	for _, choice := range []string{ToolAuto, "email", "calculator"} {
		ts, err := CompileTools(testTools, choice)
		if err != nil {
			t.Fatal(err)
		}
		// A limit of the shortest reply's bytes always leaves room to
		// close (a token is at least a byte).
		// The last limit is past MaxCompletion, so that text is streamed
		// before the streamer holds the rest back.
		shortest, _ := ts.schema.Completer().Start().Completion()
		limits := []int{ts.schema.Completer().MaxCompletion() + 40}
		for limit := len(shortest); limit <= len(shortest)+48; limit += 8 {
			limits = append(limits, limit)
		}
		for _, limit := range limits {
			for seed := uint32(1); seed <= 2; seed++ {
				var streamed strings.Builder
				msgs := []Message{{Role: RoleUser, Content: "Write to Lily about the big red ball in the park."}}
				r, st, err := e.Call(ctx, msgs, ts, Sampling{Temperature: 1, Seed: seed, MaxTokens: limit}, func(p string) error {
					streamed.WriteString(p)
					return nil
				})
				where := fmt.Sprintf("%s, limit %d, seed %d", choice, limit, seed)
				if err != nil {
					t.Fatalf("%s: %v (streamed %q)", where, err, streamed.String())
				}
				if st.StopReason != StopEOG || st.GeneratedTokens > limit {
					t.Fatalf("%s: %+v", where, st)
				}
				if got, err := ts.Parse([]byte(streamed.String())); err != nil || !reflect.DeepEqual(got, r) {
					t.Fatalf("%s: streamed %q (%v) is not the reply %+v", where, streamed.String(), err, r)
				}
				toks, err := e.Tokenize(streamed.String(), false)
				if err != nil {
					t.Fatal(err)
				}
				if st.Closed {
					closed++
				} else if len(toks) >= limit-2 {
					t.Logf("%s: ended by itself in %d tokens", where, st.GeneratedTokens)
				}
				if len(e.cache) != st.ContextUsed || e.last == nil || e.last.n != len(e.cache) {
					t.Fatalf("%s: cache %d tokens, stats say %d, last turn %+v", where, len(e.cache), st.ContextUsed, e.last)
				}
			}
		}
	}
	if closed == 0 {
		t.Fatal("no reply needed closing: the test no longer tests it")
	}
	t.Logf("%d replies closed", closed)

	// The context's end is a limit too.
	small := loadTest(t, 400)
	ts, err := CompileTools(testTools, "email")
	if err != nil {
		t.Fatal(err)
	}
	r, st, err := small.Call(ctx, []Message{{Role: RoleUser, Content: "Write to Lily."}}, ts, Sampling{Temperature: 1, Seed: 3}, nil)
	if err != nil || r.ToolCall == nil || st.StopReason != StopEOG || !st.Closed || st.ContextUsed >= 400 {
		t.Fatalf("at the context's end: %+v, %+v, %v", r, st, err)
	}

	// A limit below the shortest reply is still an error, never half JSON.
	if _, _, err := e.Call(ctx, []Message{{Role: RoleUser, Content: "Hi"}}, ts, Sampling{MaxTokens: 3}, nil); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("limit 3: %v, want ErrIncomplete", err)
	}
}

// TestCallChatModel: Call through SmolLM2's ChatML template. What it
// checks is the path, not the model's judgement: with ToolAuto, SmolLM2
// called the right tool for 1 of 6 obvious requests (the others it
// answered itself), so no test asserts its choice.
func TestCallChatModel(t *testing.T) {
	e := loadModel(t, testtool.Chat, 2048)
	ctx := context.Background()
	forced, err := CompileTools(testTools, "calculator")
	if err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	r, st, err := e.Call(ctx, []Message{{Role: RoleUser, Content: "What is 17 times 23?"}}, forced, Sampling{MaxTokens: 64}, func(p string) error {
		streamed.WriteString(p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.ToolCall == nil || r.ToolCall.Name != "calculator" || st.StopReason != StopEOG {
		t.Fatalf("forced call: %+v (%s)", r, st.StopReason)
	}
	var args struct {
		Op   string
		A, B float64
	}
	if err := json.Unmarshal(r.ToolCall.Arguments, &args); err != nil || args.Op == "" {
		t.Fatalf("arguments %s: %v", r.ToolCall.Arguments, err)
	}
	if !strings.HasPrefix(streamed.String(), `{"tool":"calculator","arguments":`) {
		t.Fatalf("streamed %q", streamed.String())
	}

	// The tool's result goes back as a tool turn, and the next step can be
	// forced to be the answer.
	none, err := CompileTools(testTools, ToolNone)
	if err != nil {
		t.Fatal(err)
	}
	follow := []Message{
		{Role: RoleUser, Content: "What will the weather be in Paris tomorrow?"},
		{Role: RoleAssistant, Content: `{"tool":"weather","arguments":{"city":"Paris"}}`},
		{Role: RoleTool, Name: "weather", Content: "Paris tomorrow: sunny, 24 C."},
	}
	// Greedy without a repeat penalty, SmolLM2 repeats "}" inside the
	// answer's string until the token limit.
	r, _, err = e.Call(ctx, follow, none, Sampling{MaxTokens: 200, RepeatPenalty: 1.3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.ToolCall != nil || strings.TrimSpace(r.Answer) == "" {
		t.Fatalf("answer: %+v", r)
	}
	_, text, _, err := e.renderTokens(follow)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "<|im_start|>tool\nweather returned:\nParis tomorrow: sunny, 24 C.<|im_end|>") {
		t.Fatalf("no tool turn in\n%s", text)
	}
}

// Templates without a tool turn, and the plain format, get the result as a
// user message naming the tool.
func TestToolResultFallback(t *testing.T) {
	src := testtool.Model(t, testtool.Stories)
	llama2 := testtool.WithChatTemplate(t, src, "{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content }} [/INST]{% else %}{{ m.content }}{% endif %}{% endfor %}")
	for _, path := range []string{src, llama2} {
		e, err := Load(context.Background(), Options{Path: path, ContextSize: 512, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		_, text, _, err := e.renderTokens([]Message{{Role: RoleUser, Content: "Weather?"}, {Role: RoleAssistant, Content: "{}"}, {Role: RoleTool, Name: "weather", Content: "sunny"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "Result of weather:\nsunny") || strings.Contains(text, "tool") {
			t.Errorf("%s (template %v): %q", path, e.Info().HasTemplate, text)
		}
	}
}
