package model

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sovos/sov/internal/testtool"
)

// Tests of the chat-template path on SmolLM2-135M-Instruct, whose GGUF
// carries a ChatML template. Decoding is greedy, so each reply is fixed for
// a given build; what they check is what the template path must deliver,
// not the model's quality.

func loadModel(t testing.TB, m testtool.TestModel, ctxSize int) *Engine {
	t.Helper()
	e, err := Load(context.Background(), Options{Path: testtool.Model(t, m), ContextSize: ctxSize, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestChatTemplateRendersChatML(t *testing.T) {
	e := loadModel(t, testtool.Chat, 1024)
	info := e.Info()
	if !info.HasTemplate || info.TemplateWarning != "" {
		t.Fatalf("SmolLM2 should carry a template llama.cpp applies: %+v", info)
	}
	toks, text, plain, err := e.renderTokens([]Message{{Role: RoleSystem, Content: "Be brief."}, {Role: RoleUser, Content: "Hi"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if plain || text != want {
		t.Fatalf("rendered (plain %v)\n%q\nwant\n%q", plain, text, want)
	}
	// The markers are special tokens, not text spelled out in pieces.
	marker, err := e.tokenize("<|im_start|>", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(marker) != 1 || toks[0] != marker[0] || len(toks) > 20 {
		t.Fatalf("%d tokens starting with %d (marker %v): the template's markers were not parsed as special tokens", len(toks), toks[0], marker)
	}
}

func TestChatSystemPromptHonoured(t *testing.T) {
	e := loadModel(t, testtool.Chat, 1024)
	s := Sampling{MaxTokens: 24}
	ask := Message{Role: RoleUser, Content: "Hello, who are you?"}
	named, _ := mustChat(t, e, []Message{{Role: RoleSystem, Content: "Your name is Zorblax."}, ask}, s)
	plain, _ := mustChat(t, e, []Message{ask}, s)
	if !strings.Contains(named, "Zorblax") {
		t.Errorf("with the system prompt the model should call itself Zorblax: %q", named)
	}
	if strings.Contains(plain, "Zorblax") {
		t.Errorf("without it, it should not: %q", plain)
	}
}

func TestChatStopsAtEndOfTurn(t *testing.T) {
	e := loadModel(t, testtool.Chat, 1024)
	out, st := mustChat(t, e, []Message{{Role: RoleUser, Content: "What is the capital of France? Answer in one word."}}, Sampling{MaxTokens: 64})
	if st.StopReason != StopEOG {
		t.Fatalf("stop reason %q after %d tokens, want the end of turn: %q", st.StopReason, st.GeneratedTokens, out)
	}
	if strings.Contains(out, "<|im_") || strings.Contains(out, "<|endoftext|>") {
		t.Fatalf("the reply shows template markers: %q", out)
	}
	// Behaviour smoke test (greedy): the answer names the capital.
	if !strings.Contains(out, "Paris") {
		t.Fatalf("SmolLM2 should answer Paris: %q", out)
	}
}

func TestChatMultiTurnDecodesOnlyNewTokens(t *testing.T) {
	e := loadModel(t, testtool.Chat, 2048)
	s := Sampling{MaxTokens: 32}
	msgs := []Message{{Role: RoleSystem, Content: "You are a helpful assistant."}, {Role: RoleUser, Content: "Name a colour."}}
	var prev Stats
	for turn, next := range []string{"", "Name another one.", "And a third?"} {
		if next != "" {
			msgs = append(msgs, Message{Role: RoleUser, Content: next})
		}
		reply, st := mustChat(t, e, msgs, s)
		full, _, _, err := e.renderTokens(msgs)
		if err != nil {
			t.Fatal(err)
		}
		if st.CachedTokens+st.PromptTokens != len(full) {
			t.Fatalf("turn %d: %d cached + %d decoded != %d prompt tokens", turn, st.CachedTokens, st.PromptTokens, len(full))
		}
		if turn > 0 {
			// Everything the previous turn left in the cache (its prompt and
			// the reply's tokens) is reused; only the end-of-turn marker and
			// the new message are decoded.
			newMsg, err := e.tokenize("<|im_end|>\n<|im_start|>user\n"+next+"<|im_end|>\n<|im_start|>assistant\n", false, true)
			if err != nil {
				t.Fatal(err)
			}
			if st.CachedTokens != prev.ContextUsed || st.PromptTokens != len(newMsg) {
				t.Fatalf("turn %d: cached %d (previous context %d), decoded %d (new turn %d tokens)", turn, st.CachedTokens, prev.ContextUsed, st.PromptTokens, len(newMsg))
			}
		}
		msgs = append(msgs, Message{Role: RoleAssistant, Content: reply})
		prev = st
	}
}

func TestChatGrammarAndSchemaWithTemplate(t *testing.T) {
	e := loadModel(t, testtool.Chat, 1024)
	out, st := mustChat(t, e, []Message{{Role: RoleUser, Content: "Is the sky blue? Answer yes or no."}}, Sampling{Grammar: `root ::= "yes" | "no"`, MaxTokens: 8})
	if (out != "yes" && out != "no") || st.StopReason != StopEOG {
		t.Fatalf("grammar output %q (%s)", out, st.StopReason)
	}
	schema, err := CompileSchema([]byte(`{"type":"object","properties":{"name":{"type":"string","maxLength":20},"age":{"type":"integer","minimum":0,"maximum":150}},"required":["name","age"],"additionalProperties":false}`))
	if err != nil {
		t.Fatal(err)
	}
	js, _, err := e.JSON(context.Background(), []Message{{Role: RoleUser, Content: "Describe Alice, who is 30 years old, as JSON."}}, schema, Sampling{MaxTokens: 64}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Name string `json:"name"`
		Age  int    `json:"age"`
	}
	if err := json.Unmarshal(js, &v); err != nil || v.Name == "" {
		t.Fatalf("schema output %s: %v", js, err)
	}
}

// TestChatToolChoice: a schema-constrained choice among three tools picks
// the obvious one. SmolLM2 does so for all six requests below with short
// tool names and a one-line description of each, in either enum order;
// with names such as get_weather/send_email and a longer prompt it picked
// 4 of 6, and asking for a "reason" first made it worse.
func TestChatToolChoice(t *testing.T) {
	e := loadModel(t, testtool.Chat, 1024)
	system := Message{Role: RoleSystem, Content: "Pick the tool for the request: weather (forecasts, rain, temperature), email (sending messages), calculator (arithmetic)."}
	requests := []struct{ text, tool string }{
		{"What will the weather be in Paris tomorrow?", "weather"},
		{"Send an email to Bob saying I will be late.", "email"},
		{"What is 17 times 23?", "calculator"},
		{"Is it going to rain in London today?", "weather"},
		{"Email my boss that the report is done.", "email"},
		{"Compute 1234 plus 5678.", "calculator"},
	}
	for _, enum := range []string{`["weather","email","calculator"]`, `["calculator","email","weather"]`} {
		schema, err := CompileSchema([]byte(`{"type":"object","properties":{"tool":{"type":"string","enum":` + enum + `}},"required":["tool"],"additionalProperties":false}`))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range requests {
			js, _, err := e.JSON(context.Background(), []Message{system, {Role: RoleUser, Content: r.text}}, schema, Sampling{MaxTokens: 16}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var v struct{ Tool string }
			if err := json.Unmarshal(js, &v); err != nil {
				t.Fatal(err)
			}
			if v.Tool != r.tool {
				t.Errorf("enum %s: %q chose %q, want %q", enum, r.text, v.Tool, r.tool)
			}
		}
	}
}

func TestUnknownTemplateFallsBackWithWarning(t *testing.T) {
	src := testtool.Model(t, testtool.Stories)
	tests := []struct {
		name, tmpl string
		warn       bool
	}{
		{"unknown", "{% for m in messages %}[[{{ m.content }}]]{% endfor %}", true},
		{"chatml", "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Load(context.Background(), Options{Path: testtool.WithChatTemplate(t, src, tt.tmpl), ContextSize: 512, Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			info := e.Info()
			if !info.HasTemplate {
				t.Fatal("the fixture should carry a template")
			}
			if got := info.TemplateWarning != ""; got != tt.warn {
				t.Fatalf("warning %q, want one: %v", info.TemplateWarning, tt.warn)
			}
			msgs := []Message{{Role: RoleSystem, Content: "A story."}, {Role: RoleUser, Content: "Once upon a time"}}
			_, text, plain, err := e.renderTokens(msgs)
			if err != nil {
				t.Fatal(err)
			}
			if plain != tt.warn || (tt.warn && text != renderPlain(msgs)) {
				t.Fatalf("plain %v, rendered %q", plain, text)
			}
			if tt.warn {
				if strings.ContainsAny(info.TemplateWarning, "\n\x1b") || !strings.Contains(info.TemplateWarning, "plain text") {
					t.Fatalf("the warning should be one line that says what sov does: %q", info.TemplateWarning)
				}
				// The fallback still chats: stories260K continues the text.
				out, _ := mustChat(t, e, msgs, Sampling{MaxTokens: 16})
				if strings.TrimSpace(out) == "" {
					t.Fatal("no reply through the fallback")
				}
			}
		})
	}
}

// TestGemmaBaseModel records what the Gemma 3 270M file is: the base
// (pre-trained) model, without a chat template, so it chats through the
// plain fallback without a warning. Asked the question as plain text it
// continues with the answer (greedy: "The capital of France is Paris.",
// then repeats it).
func TestGemmaBaseModel(t *testing.T) {
	e := loadModel(t, testtool.ChatLarge, 1024)
	info := e.Info()
	if info.Architecture != "gemma3" || info.HasTemplate || info.TemplateWarning != "" {
		t.Fatalf("%+v", info)
	}
	out, _ := mustChat(t, e, []Message{{Role: RoleUser, Content: "What is the capital of France? Answer in one word."}}, Sampling{MaxTokens: 16})
	if !strings.Contains(out, "Paris") {
		t.Fatalf("Gemma 3 270M should complete with Paris: %q", out)
	}
}
