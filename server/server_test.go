package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
	"github.com/sovos/sov/server/api"
)

// chatML makes stories260K (which has no template) render as a ChatML
// model, so /api/show has a template to report.
const chatML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"

// recorder collects the calls the server records.
type recorder struct {
	mu    sync.Mutex
	calls []Call
	seen  chan Call
}

func (r *recorder) record(_ context.Context, c Call) error {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	select {
	case r.seen <- c:
	default:
	}
	return nil
}

// wait returns the calls once n are recorded (the server records after
// answering).
func (r *recorder) wait(t *testing.T, n int) []Call {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(r.all()) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls recorded, want %d", len(r.all()), n)
		}
	}
	return r.all()
}

func (r *recorder) all() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call{}, r.calls...)
}

type fixture struct {
	srv *Server
	hs  *httptest.Server
	rec *recorder
}

// newFixture serves stories260K as "stories" with cfg's other settings.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := newUnstartedFixture(t, cfg)
	f.hs.Start()
	return f
}

// newUnstartedFixture is newFixture with its server not started yet.
func newUnstartedFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	path := testtool.WithChatTemplate(t, testtool.Model(t, testtool.Stories), chatML)
	rec := &recorder{seen: make(chan Call, 64)}
	if cfg.Catalog == nil {
		cfg.Catalog = &StoreCatalog{Default: "stories", Extra: []Entry{{Name: "stories", Path: path, Size: 1, SHA256: "abc"}}}
	}
	cfg.Record = rec.record
	cfg.Engine.Threads = 1
	cfg.Version = "test"
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return &fixture{srv: srv, hs: hs, rec: rec}
}

func (f *fixture) post(t *testing.T, path, body string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Post(f.hs.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (f *fixture) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(f.hs.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sseEvents splits an SSE body into its data payloads.
func sseEvents(t *testing.T, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

type chatResp struct {
	Choices []struct {
		Message struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    *int   `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

func decodeChat(t *testing.T, b []byte) chatResp {
	t.Helper()
	var r chatResp
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return r
}

// A greedy chat streamed is the same text as not streamed, and the usage
// chunk comes last when asked for.
func TestOpenAIChatStreamMatches(t *testing.T) {
	f := newFixture(t, Config{})
	req := `{"model":"stories","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":24,"temperature":0%s}`
	code, _, body := f.post(t, "/v1/chat/completions", strings.Replace(req, "%s", "", 1))
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	plain := decodeChat(t, body)
	if len(plain.Choices) != 1 || plain.Choices[0].Message.Content == nil || *plain.Choices[0].Message.Content == "" {
		t.Fatalf("no content: %s", body)
	}
	if u := plain.Usage; u == nil || u.CompletionTokens == 0 || u.PromptTokens == 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Fatalf("usage: %s", body)
	}
	code, hdr, body := f.post(t, "/v1/chat/completions", strings.Replace(req, "%s", `,"stream":true,"stream_options":{"include_usage":true}`, 1))
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %v %s", code, hdr, body)
	}
	ev := sseEvents(t, body)
	if len(ev) < 4 || ev[len(ev)-1] != "[DONE]" {
		t.Fatalf("events: %q", ev)
	}
	var text strings.Builder
	for i, e := range ev[:len(ev)-2] {
		c := decodeChat(t, []byte(e))
		if i == 0 && c.Choices[0].Delta.Role != "assistant" {
			t.Fatalf("first delta has no role: %s", e)
		}
		if c.Choices[0].Delta.Content != nil {
			text.WriteString(*c.Choices[0].Delta.Content)
		}
	}
	if text.String() != *plain.Choices[0].Message.Content {
		t.Fatalf("streamed %q, not streamed %q", text.String(), *plain.Choices[0].Message.Content)
	}
	usage := decodeChat(t, []byte(ev[len(ev)-2]))
	if len(usage.Choices) != 0 || usage.Usage == nil || usage.Usage.CompletionTokens != plain.Usage.CompletionTokens {
		t.Fatalf("usage chunk: %s", ev[len(ev)-2])
	}
	if calls := f.rec.wait(t, 2); len(calls) != 2 || calls[0].API != "openai.chat" || calls[0].Path == "" || len(calls[0].Input) == 0 || calls[0].Output != text.String() {
		t.Fatalf("recorded: %+v", calls)
	}
}

const weatherTools = `[{"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12}},"required":["city"],"additionalProperties":false}}},
{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]`

// A forced tool call comes back as tool_calls, whole and as deltas.
func TestOpenAIToolCall(t *testing.T) {
	f := newFixture(t, Config{})
	req := `{"model":"stories","messages":[{"role":"user","content":"Weather in Paris?"}],"max_tokens":64,
		"tools":` + weatherTools + `,"tool_choice":{"type":"function","function":{"name":"get_weather"}}%s}`
	code, _, body := f.post(t, "/v1/chat/completions", strings.Replace(req, "%s", "", 1))
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	r := decodeChat(t, body)
	calls := r.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Type != "function" || calls[0].ID == "" || *r.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool call: %s", body)
	}
	var args struct{ City *string }
	if err := json.Unmarshal([]byte(calls[0].Function.Arguments), &args); err != nil || args.City == nil {
		t.Fatalf("arguments %q: %v", calls[0].Function.Arguments, err)
	}

	code, _, body = f.post(t, "/v1/chat/completions", strings.Replace(req, "%s", `,"stream":true`, 1))
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var name, argText, finish string
	for _, e := range sseEvents(t, body) {
		if e == "[DONE]" {
			continue
		}
		c := decodeChat(t, []byte(e))
		for _, tc := range c.Choices[0].Delta.ToolCalls {
			if tc.Index == nil || *tc.Index != 0 {
				t.Fatalf("delta without index 0: %s", e)
			}
			name += tc.Function.Name
			argText += tc.Function.Arguments
		}
		if c.Choices[0].FinishReason != nil {
			finish = *c.Choices[0].FinishReason
		}
	}
	if name != "get_weather" || argText != calls[0].Function.Arguments || finish != "tool_calls" {
		t.Fatalf("streamed call %q %q %q, want get_weather %q", name, argText, finish, calls[0].Function.Arguments)
	}
}

// response_format json_schema gives JSON valid for the schema; json_object
// gives a JSON object.
func TestOpenAIResponseFormat(t *testing.T) {
	f := newFixture(t, Config{})
	schema := `{"type":"object","properties":{"name":{"type":"string","maxLength":10},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"],"additionalProperties":false}`
	code, _, body := f.post(t, "/v1/chat/completions", `{"model":"stories","messages":[{"role":"user","content":"A person"}],"max_tokens":64,
		"response_format":{"type":"json_schema","json_schema":{"name":"person","schema":`+schema+`}}}`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var p struct {
		Name *string
		Age  *int
	}
	content := *decodeChat(t, body).Choices[0].Message.Content
	if err := json.Unmarshal([]byte(content), &p); err != nil || p.Name == nil || p.Age == nil || *p.Age < 0 || *p.Age > 120 || len(*p.Name) > 10 {
		t.Fatalf("content %q: %v", content, err)
	}
}

// json_object gives a JSON object (on the chat model: stories260K loops
// inside a string until the token limit).
func TestOpenAIJSONObject(t *testing.T) {
	chat := testtool.Model(t, testtool.Chat)
	f := newFixture(t, Config{Catalog: &StoreCatalog{Extra: []Entry{{Name: "smol", Path: chat}}}})
	code, _, body := f.post(t, "/v1/chat/completions", `{"model":"smol","messages":[{"role":"user","content":"Write a JSON object with one field, name, set to Alice."}],"max_tokens":256,"temperature":0,"response_format":{"type":"json_object"}}`)
	if code != 200 {
		t.Fatalf("json_object: %d %s (wrote %q)", code, body, f.rec.wait(t, 1)[0].Output)
	}
	var obj map[string]any
	if content := *decodeChat(t, body).Choices[0].Message.Content; json.Unmarshal([]byte(content), &obj) != nil {
		t.Fatalf("json_object content %q", content)
	}
}

// Embeddings as floats and as base64 are the same vectors, one per input,
// each of unit length.
func TestEmbeddings(t *testing.T) {
	f := newFixture(t, Config{})
	code, _, body := f.post(t, "/v1/embeddings", `{"model":"stories","input":["a cat","a dog"]}`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var fl struct {
		Data []struct {
			Index     int
			Embedding []float32
		}
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		}
	}
	json.Unmarshal(body, &fl)
	if len(fl.Data) != 2 || len(fl.Data[0].Embedding) == 0 || fl.Data[1].Index != 1 || fl.Usage.PromptTokens == 0 {
		t.Fatalf("%s", body)
	}
	var norm float64
	for _, x := range fl.Data[0].Embedding {
		norm += float64(x) * float64(x)
	}
	if math.Abs(norm-1) > 1e-3 {
		t.Fatalf("norm² %v", norm)
	}
	code, _, body = f.post(t, "/v1/embeddings", `{"model":"stories","input":"a cat","encoding_format":"base64"}`)
	var b64 struct{ Data []struct{ Embedding string } }
	json.Unmarshal(body, &b64)
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if code != 200 || err != nil || len(raw) != 4*len(fl.Data[0].Embedding) {
		t.Fatalf("%d %v %s", code, err, body)
	}
	for i := range fl.Data[0].Embedding {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != fl.Data[0].Embedding[i] {
			t.Fatalf("component %d: %v ≠ %v", i, got, fl.Data[0].Embedding[i])
		}
	}
	// A text longer than the model embeds whole is refused, not cut (Ollama
	// cuts it unless truncate is false).
	long := mustJSON(strings.Repeat("the cat sat on the mat ", 500))
	if code, _, body := f.post(t, "/v1/embeddings", `{"model":"stories","input":`+long+`}`); code != 400 || !strings.Contains(string(body), "embeds at most 2048") {
		t.Fatalf("over-long input: %d %s", code, body)
	}
	if code, _, body := f.post(t, "/api/embed", `{"model":"stories","truncate":false,"input":`+long+`}`); code != 400 {
		t.Fatalf("over-long input, truncate false: %d %s", code, body)
	}
	code, _, body = f.post(t, "/api/embed", `{"model":"stories","input":"a cat"}`)
	var ol struct{ Embeddings [][]float32 }
	json.Unmarshal(body, &ol)
	if code != 200 || len(ol.Embeddings) != 1 || ol.Embeddings[0][0] != fl.Data[0].Embedding[0] {
		t.Fatalf("/api/embed %d %s", code, body)
	}
}

// The listings name the catalog's models; /api/show has the template and
// the context length.
func TestListings(t *testing.T) {
	f := newFixture(t, Config{Context: 256})
	for _, tt := range []struct{ path, want string }{
		{"/v1/models", `"id":"stories"`},
		{"/v1/models/stories", `"id":"stories"`},
		{"/api/tags", `"name":"stories"`},
		{"/api/version", `"version":"test"`},
		{"/health", `"status":"ok"`},
	} {
		if code, body := f.get(t, tt.path); code != 200 || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %d %s", tt.path, code, body)
		}
	}
	code, _, body := f.post(t, "/api/show", `{"model":"stories:latest"}`)
	var show struct {
		Template   string
		Parameters string
		ModelInfo  map[string]any `json:"model_info"`
		Details    struct{ Family string }
	}
	json.Unmarshal(body, &show)
	if code != 200 || strings.TrimSpace(show.Template) != chatML || show.Parameters != "num_ctx 256" || show.Details.Family != "llama" || show.ModelInfo["llama.context_length"] == nil {
		t.Fatalf("%d %s", code, body)
	}
}

// options.num_ctx loads the model at that size; a prompt that does not fit
// is a 400 naming the sizes, never cut short.
func TestOllamaNumCtx(t *testing.T) {
	f := newFixture(t, Config{})
	long := strings.Repeat("The cat sat on the mat and looked at the dog. ", 30)
	code, _, body := f.post(t, "/api/chat", `{"model":"stories","stream":false,"options":{"num_ctx":128},"messages":[{"role":"user","content":"`+long+`"}]}`)
	if code != 400 || !strings.Contains(string(body), "context holds 128") {
		t.Fatalf("over-long prompt: %d %s", code, body)
	}
	code, _, body = f.post(t, "/api/chat", `{"model":"stories","stream":false,"options":{"num_ctx":128,"num_predict":8},"messages":[{"role":"user","content":"Once upon a time"}]}`)
	if code != 200 || !strings.Contains(string(body), `"done":true`) {
		t.Fatalf("%d %s", code, body)
	}
	_, body = f.get(t, "/api/ps")
	if !strings.Contains(string(body), `"context_length":128`) {
		t.Fatalf("ps: %s", body)
	}
	// The same applies on /v1 at the server's own context size.
	code, _, body = f.post(t, "/v1/chat/completions", `{"model":"stories","messages":[{"role":"user","content":"`+strings.Repeat(long, 4)+`"}]}`)
	if code != 400 || !strings.Contains(string(body), "prompt does not fit the context") {
		t.Fatalf("v1 over-long: %d %s", code, body)
	}
}

// Ollama's chat and generate stream NDJSON ending in a done line; a tool
// call comes back as tool_calls with object arguments.
func TestOllamaStreams(t *testing.T) {
	f := newFixture(t, Config{})
	code, _, body := f.post(t, "/api/generate", `{"model":"stories","prompt":"Once upon a time","raw":true,"options":{"num_predict":12,"temperature":0}}`)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if code != 200 || len(lines) < 3 || !strings.Contains(lines[len(lines)-1], `"done":true`) || !strings.Contains(lines[len(lines)-1], `"eval_count":12`) {
		t.Fatalf("%d %s", code, body)
	}
	var text strings.Builder
	for _, l := range lines[:len(lines)-1] {
		var g struct{ Response string }
		json.Unmarshal([]byte(l), &g)
		text.WriteString(g.Response)
	}
	code, _, body = f.post(t, "/v1/completions", `{"model":"stories","prompt":"Once upon a time","max_tokens":12,"temperature":0}`)
	if code != 200 || !strings.Contains(string(body), `"text":`+mustJSON(text.String())) {
		t.Fatalf("completions differ from generate %q: %s", text.String(), body)
	}
	code, _, body = f.post(t, "/api/chat", `{"model":"stories","stream":false,"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":`+weatherTools+`}`)
	var c struct {
		Message struct {
			Content   string
			ToolCalls []struct {
				Function struct {
					Name      string
					Arguments map[string]any
				}
			} `json:"tool_calls"`
		}
	}
	json.Unmarshal(body, &c)
	if code != 200 || (len(c.Message.ToolCalls) == 0) == (c.Message.Content == "") {
		t.Fatalf("a call or an answer: %d %s", code, body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A conversation's next turn lands on the session that holds its history,
// even after another conversation used the model.
func TestSessionReuse(t *testing.T) {
	f := newFixture(t, Config{Parallel: 2})
	turn := func(msgs string) chatResp {
		code, _, body := f.post(t, "/v1/chat/completions", `{"model":"stories","max_tokens":16,"messages":[`+msgs+`]}`)
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		return decodeChat(t, body)
	}
	a1 := `{"role":"user","content":"Once upon a time there was a cat called Tom."}`
	ra := turn(a1)
	turn(`{"role":"user","content":"The dog ran to the park with a red ball."}`)
	ra2 := turn(a1 + `,{"role":"assistant","content":` + mustJSON(*ra.Choices[0].Message.Content) + `},{"role":"user","content":"Then"}`)
	if ra2.Usage.PromptTokensDetails.CachedTokens < ra.Usage.PromptTokens {
		t.Fatalf("turn 2 reused %d tokens, turn 1 had %d", ra2.Usage.PromptTokensDetails.CachedTokens, ra.Usage.PromptTokens)
	}
}

// With one session and a queue of one, a third request is refused with 503
// and Retry-After while the first two are served.
func TestQueueFull(t *testing.T) {
	hold := make(chan struct{})
	started := make(chan struct{}, 1)
	cfg := Config{Parallel: 1, Queue: 1}
	cfg.onToken = func(ctx context.Context) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-hold:
		case <-ctx.Done():
		}
	}
	f := newFixture(t, cfg)
	body := `{"model":"stories","max_tokens":4,"messages":[{"role":"user","content":"Once"}]}`
	codes := make(chan int, 2)
	go func() { c, _, _ := f.post(t, "/v1/chat/completions", body); codes <- c }()
	<-started
	go func() { c, _, _ := f.post(t, "/v1/chat/completions", body); codes <- c }()
	for deadline := time.Now().Add(5 * time.Second); f.srv.pool.queued() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second request never queued")
		}
	}
	code, hdr, resp := f.post(t, "/v1/chat/completions", body)
	if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(string(resp), "server busy") {
		t.Fatalf("%d %v %s", code, hdr, resp)
	}
	_, metrics := f.get(t, "/metrics")
	if !strings.Contains(string(metrics), "sov_queue_depth 1") || !strings.Contains(string(metrics), `sov_requests_total{endpoint="openai.chat",code="503"} 1`) {
		t.Fatalf("metrics: %s", metrics)
	}
	close(hold)
	for range 2 {
		if c := <-codes; c != 200 {
			t.Fatalf("queued request: %d", c)
		}
	}
}

// Cancelling a streaming request stops its generation at once and frees
// its session.
func TestCancelStopsGeneration(t *testing.T) {
	cfg := Config{Parallel: 1}
	cfg.onToken = func(ctx context.Context) { time.Sleep(20 * time.Millisecond) } // 50 tokens/s at most
	f := newFixture(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.hs.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"stories","max_tokens":400,"stream":true,"messages":[{"role":"user","content":"Once upon a time"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	start := time.Now()
	select {
	case c := <-f.rec.seen:
		if !errors.Is(c.Err, context.Canceled) || c.Stats.GeneratedTokens > 10 {
			t.Fatalf("recorded %v after %d tokens", c.Err, c.Stats.GeneratedTokens)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("generation went on after the request was cancelled")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("stopping took %v", d)
	}
	code, _, body := f.post(t, "/v1/chat/completions", `{"model":"stories","max_tokens":2,"messages":[{"role":"user","content":"Once"}]}`)
	if code != 200 {
		t.Fatalf("after cancel: %d %s", code, body)
	}
}

// Bad requests get the API's own error shape and status, and the server
// keeps serving.
func TestBadInput(t *testing.T) {
	f := newFixture(t, Config{MaxTokens: 100, MaxBody: 4096})
	for _, tt := range []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"malformed", "/v1/chat/completions", `{"model":`, 400, `"type":"invalid_request_error"`},
		{"unknown model", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 404, `model not found`},
		{"unsupported schema", "/v1/chat/completions", `{"model":"stories","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"a+"}}}}`, 400, `pattern`},
		{"max_tokens over cap", "/v1/chat/completions", `{"model":"stories","max_tokens":101,"messages":[{"role":"user","content":"hi"}]}`, 400, `cap of 100`},
		{"bad role", "/v1/chat/completions", `{"model":"stories","messages":[{"role":"wizard","content":"hi"}]}`, 400, `unknown role`},
		{"tool_choice without tools", "/v1/chat/completions", `{"model":"stories","tool_choice":"required","messages":[{"role":"user","content":"hi"}]}`, 400, `needs tools`},
		{"body too big", "/v1/chat/completions", `{"model":"stories","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`, 413, `over 4096 bytes`},
		{"ollama unknown model", "/api/chat", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 404, `{"error":"model not found`},
		{"ollama bad format", "/api/chat", `{"model":"stories","format":"yaml","messages":[{"role":"user","content":"hi"}]}`, 400, `{"error":"format`},
		{"no endpoint", "/v1/nothing", `{}`, 404, `no endpoint`},
		{"a path as the model", "/v1/chat/completions", `{"model":"/etc/passwd","messages":[{"role":"user","content":"hi"}]}`, 404, `model not found`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := f.post(t, tt.path, tt.body)
			if code != tt.code || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %s, want %d %s", code, body, tt.code, tt.want)
			}
		})
	}
	if code, _, body := f.post(t, "/v1/chat/completions", `{"model":"stories","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`); code != 200 {
		t.Fatalf("after bad input: %d %s", code, body)
	}
}

// Beyond loopback a key is required; with one, requests without it get
// 401; a loopback-only server refuses other Host names.
func TestAuthAndBind(t *testing.T) {
	for _, tt := range []struct {
		addr, key string
		loopback  bool
		err       error
	}{
		{"127.0.0.1:11435", "", true, nil},
		{"localhost:0", "", true, nil},
		{"[::1]:80", "", true, nil},
		{"0.0.0.0:11435", "", false, ErrKeyRequired},
		{"192.168.1.2:80", "", false, ErrKeyRequired},
		{"0.0.0.0:11435", "k", false, nil},
	} {
		lb, err := CheckBind(tt.addr, tt.key)
		if lb != tt.loopback || !errors.Is(err, tt.err) {
			t.Errorf("CheckBind(%q, %q) = %v, %v", tt.addr, tt.key, lb, err)
		}
	}
	f := newFixture(t, Config{APIKey: "sekrit", LoopbackOnly: true})
	if code, body := f.get(t, "/api/tags"); code != 401 || !strings.Contains(string(body), "API key") {
		t.Fatalf("no key: %d %s", code, body)
	}
	if code, _ := f.get(t, "/health"); code != 200 {
		t.Fatalf("health needs no key: %d", code)
	}
	req, _ := http.NewRequest("GET", f.hs.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer sekrit")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with key: %v %v", resp, err)
	}
	resp.Body.Close()
	req.Host = "evil.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("rebinding host: %v %v", resp, err)
	}
	resp.Body.Close()
}

// A model unloads after its keep-alive, and on request (sov stop).
func TestKeepAliveAndStop(t *testing.T) {
	f := newFixture(t, Config{KeepAlive: 100 * time.Millisecond})
	ps := func() int {
		c := NewClient(f.hs.URL, "")
		m, err := c.PS(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	body := `{"model":"stories","max_tokens":2,"messages":[{"role":"user","content":"Once"}]}`
	f.post(t, "/v1/chat/completions", body)
	if ps() != 1 {
		t.Fatal("not loaded after a request")
	}
	for deadline := time.Now().Add(3 * time.Second); ps() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still loaded after the keep-alive")
		}
	}
	f.post(t, "/api/chat", `{"model":"stories","keep_alive":-1,"stream":false,"options":{"num_predict":2},"messages":[{"role":"user","content":"Once"}]}`)
	time.Sleep(200 * time.Millisecond)
	if ps() != 1 {
		t.Fatal("keep_alive -1 should keep it loaded")
	}
	c := NewClient(f.hs.URL, "")
	if err := c.Stop(context.Background(), "stories"); err != nil || ps() != 0 {
		t.Fatalf("stop: %v", err)
	}
	var se *StatusError
	if err := c.Stop(context.Background(), "stories"); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("stopping an unloaded model: %v", err)
	}
}

// A thousand requests at once: as many as the sessions and the queue hold
// are served, the rest get 503 at once, and nothing is left running.
func TestThousandRequests(t *testing.T) {
	hold := make(chan struct{})
	cfg := Config{Parallel: 1, Queue: 4}
	cfg.onToken = func(ctx context.Context) { <-hold }
	f := newFixture(t, cfg)
	const n = 1000
	codes := make(chan int, n)
	for range n {
		go func() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"stories","max_tokens":2,"messages":[{"role":"user","content":"Once"}]}`))
			f.srv.ServeHTTP(rec, req)
			codes <- rec.Code
		}()
	}
	count := map[int]int{}
	for range n - 5 {
		count[<-codes]++
	}
	if count[503] != n-5 {
		t.Fatalf("before the first finished: %v", count)
	}
	close(hold)
	for range 5 {
		count[<-codes]++
	}
	if count[200] != 5 {
		t.Fatalf("codes: %v", count)
	}
	if q := f.srv.pool.queued(); q != 0 {
		t.Fatalf("%d still queued", q)
	}
}

// newLoopback serves h on a loopback port until tb ends; it returns the
// base URL.
func newLoopback(tb testing.TB, h http.Handler) string {
	hs := httptest.NewServer(h)
	tb.Cleanup(hs.Close)
	return hs.URL
}

// With room for one engine, a request for another context size unloads
// the idle one first.
func TestMaxLoaded(t *testing.T) {
	f := newFixture(t, Config{MaxLoaded: 1})
	f.post(t, "/api/generate", `{"model":"stories","prompt":"Once","stream":false,"options":{"num_predict":2}}`)
	code, _, body := f.post(t, "/api/generate", `{"model":"stories","prompt":"Once","stream":false,"options":{"num_predict":2,"num_ctx":128}}`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	m, err := NewClient(f.hs.URL, "").PS(context.Background())
	if err != nil || len(m) != 1 || m[0].ContextLength != 128 {
		t.Fatalf("loaded: %+v %v", m, err)
	}
}

// A tool call sent back with its result continues the same session: the
// second turn decodes only what is new.
func TestToolRoundTrip(t *testing.T) {
	f := newFixture(t, Config{Parallel: 2})
	first := `{"role":"user","content":"Weather in Paris?"}`
	req := func(msgs string) chatResp {
		code, _, body := f.post(t, "/v1/chat/completions", `{"model":"stories","max_tokens":64,"tools":`+weatherTools+`,"tool_choice":"required","messages":[`+msgs+`]}`)
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		return decodeChat(t, body)
	}
	r1 := req(first)
	tc := r1.Choices[0].Message.ToolCalls[0]
	call := `{"role":"assistant","content":null,"tool_calls":[{"id":"` + tc.ID + `","type":"function","function":{"name":"` + tc.Function.Name + `","arguments":` + mustJSON(tc.Function.Arguments) + `}}]}`
	r2 := req(first + "," + call + `,{"role":"tool","tool_call_id":"` + tc.ID + `","content":"sunny, 21 C"}`)
	if r2.Usage.PromptTokensDetails.CachedTokens < r1.Usage.PromptTokens+r1.Usage.CompletionTokens-2 {
		t.Fatalf("turn 2 reused %d tokens; turn 1 had %d + %d", r2.Usage.PromptTokensDetails.CachedTokens, r1.Usage.PromptTokens, r1.Usage.CompletionTokens)
	}
}

// The same seed gives the same sampled text; a stop string ends it.
func TestSeedAndStop(t *testing.T) {
	f := newFixture(t, Config{})
	text := func(extra string) (string, string) {
		code, _, body := f.post(t, "/v1/chat/completions", `{"model":"stories","max_tokens":40,"messages":[{"role":"user","content":"Once upon a time"}]`+extra+`}`)
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		r := decodeChat(t, body)
		return *r.Choices[0].Message.Content, *r.Choices[0].FinishReason
	}
	a, _ := text(`,"temperature":1.2,"seed":42`)
	b, _ := text(`,"temperature":1.2,"seed":42`)
	c, _ := text(`,"temperature":1.2,"seed":7`)
	if a != b || a == c {
		t.Fatalf("seed 42 gave %q and %q; seed 7 %q", a, b, c)
	}
	greedy, _ := text(`,"temperature":0`)
	i := strings.Index(greedy, " ")
	if i <= 0 {
		t.Fatalf("greedy %q has no space", greedy)
	}
	cut, finish := text(`,"temperature":0,"stop":[" "]`)
	if cut != greedy[:i] || finish != "stop" {
		t.Fatalf("stop at a space: %q (%s), greedy %q", cut, finish, greedy)
	}
}

// A panic while serving is a 500 in the API's error shape, and the server
// goes on serving.
func TestPanicIsAnError(t *testing.T) {
	var once sync.Once
	cfg := Config{}
	cfg.onToken = func(ctx context.Context) { once.Do(func() { panic("boom") }) }
	f := newFixture(t, cfg)
	body := `{"model":"stories","max_tokens":4,"messages":[{"role":"user","content":"Once"}]}`
	code, _, resp := f.post(t, "/v1/chat/completions", body)
	if code != 500 || !strings.Contains(string(resp), `"message":"internal error: boom"`) {
		t.Fatalf("%d %s", code, resp)
	}
	if code, _, resp := f.post(t, "/v1/chat/completions", body); code != 200 {
		t.Fatalf("after the panic: %d %s", code, resp)
	}
}

// A model whose requests all went away while it loaded still unloads
// after its keep-alive.
func TestAbandonedLoadUnloads(t *testing.T) {
	release := make(chan struct{})
	loaded := make(chan struct{})
	cfg := Config{KeepAlive: 50 * time.Millisecond}
	cfg.Load = func(ctx context.Context, o model.Options) (*model.Engine, error) {
		<-release
		defer close(loaded)
		return model.Load(ctx, o)
	}
	f := newFixture(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", f.hs.URL+"/api/generate", strings.NewReader(`{"model":"stories","prompt":"Once","stream":false}`))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("the request should have timed out while the model loaded")
	}
	close(release)
	<-loaded
	for deadline := time.Now().Add(3 * time.Second); len(f.srv.pool.snapshot()) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the abandoned model stayed loaded")
		}
	}
}

func TestDraftModel(t *testing.T) {
	// A draft model drafts for the served models that share its
	// vocabulary (the greedy reply is the same as without it); another
	// model is served without it, with a warning.
	stories := testtool.Model(t, testtool.Stories)
	chat := testtool.WithChatTemplate(t, stories, chatML)
	catalog := &StoreCatalog{Default: "stories", Extra: []Entry{
		{Name: "stories", Path: chat, Size: 1, SHA256: "abc"},
		{Name: "tiny", Path: testtool.Model(t, testtool.TinyRandom), Size: 1, SHA256: "def"},
	}}
	var mu sync.Mutex
	var logged []string
	cfg := Config{Catalog: catalog, Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(format, args...))
	}}
	cfg.Engine.DraftModel = stories
	f := newFixture(t, cfg)
	plain := newFixture(t, Config{})
	req := `{"model":"stories","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":40,"temperature":0}`
	code, _, with := f.post(t, "/v1/chat/completions", req)
	if code != 200 {
		t.Fatalf("%d %s", code, with)
	}
	_, _, without := plain.post(t, "/v1/chat/completions", req)
	a, b := decodeChat(t, with), decodeChat(t, without)
	if *a.Choices[0].Message.Content != *b.Choices[0].Message.Content {
		t.Fatalf("greedy reply with the draft model %q, without %q", *a.Choices[0].Message.Content, *b.Choices[0].Message.Content)
	}
	code, _, body := f.post(t, "/v1/completions", `{"model":"tiny","prompt":"Hello","max_tokens":4,"temperature":0}`)
	if code != 200 {
		t.Fatalf("a model the draft model does not fit: %d %s", code, body)
	}
	// /api/ps names the draft model of the model it drafts for only.
	_, body = f.get(t, "/api/ps")
	var ps api.OllamaPS
	if err := json.Unmarshal(body, &ps); err != nil {
		t.Fatal(err)
	}
	drafts := map[string]string{}
	for _, m := range ps.Models {
		drafts[m.Name] = m.DraftModel
	}
	if len(drafts) != 2 || drafts["stories"] == "" || drafts["tiny"] != "" {
		t.Fatalf("ps: draft models %q", drafts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 || !strings.Contains(logged[0], "tiny") || !strings.Contains(logged[0], "without the draft model") {
		t.Fatalf("warnings: %q", logged)
	}
}

func TestPrepareBeside(t *testing.T) {
	// Prepare (the app computes the model's digest there) runs once per
	// load, with the model's path, and the model answers only once it is
	// done, so the digest's pass over the file never overlaps generation;
	// its error is logged and the model still serves.
	var mu sync.Mutex
	var paths, logged []string
	release := make(chan struct{})
	cfg := Config{
		Prepare: func(path string) error {
			mu.Lock()
			paths = append(paths, path)
			mu.Unlock()
			<-release
			return errors.New("cannot read the model file")
		},
		Logf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			logged = append(logged, fmt.Sprintf(format, args...))
		},
	}
	f := newFixture(t, cfg)
	done := make(chan int, 1)
	go func() {
		code, _, _ := f.post(t, "/api/generate", `{"model":"stories","prompt":"Once","stream":false,"options":{"num_predict":4}}`)
		done <- code
	}()
	select {
	case code := <-done:
		t.Fatalf("answered (%d) before Prepare returned", code)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("status %d after Prepare failed", code)
	}
	if code, _, _ := f.post(t, "/api/generate", `{"model":"stories","prompt":"Once","stream":false,"options":{"num_predict":4}}`); code != 200 {
		t.Fatalf("second request: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	want := f.srv.cfg.Catalog.(*StoreCatalog).Extra[0].Path
	if !slices.Equal(paths, []string{want}) {
		t.Fatalf("Prepare ran for %q, want once for %q", paths, want)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "stories: cannot read the model file") {
		t.Fatalf("logged %q", logged)
	}
}

func TestConnectionAnnounced(t *testing.T) {
	// A new connection counts as a request on its way to every loaded
	// multi-session model from its accept until its first generation
	// request announces itself, or ConnWait, whichever comes first: a
	// burst of clients opening connections together then shares the first
	// batch, and a connection that sends nothing holds prompts back at
	// most ConnWait.
	for _, mode := range []string{"silent", "generate", "get"} {
		t.Run(mode, func(t *testing.T) { testConnectionAnnounced(t, mode) })
	}
}

// testConnectionAnnounced: a connection that sends nothing, whose
// announcement ends after ConnWait; a generation request, or a GET, on a
// new connection, which must end its connection's announcement
// themselves (ConnWait is then a minute).
func testConnectionAnnounced(t *testing.T, mode string) {
	connWait := time.Minute
	if mode == "silent" {
		connWait = 0 // the default
	}
	f := newUnstartedFixture(t, Config{Parallel: 2, ConnWait: connWait})
	f.hs.Config.ConnContext = f.srv.ConnContext
	f.hs.Start()
	if code, _, body := f.post(t, "/api/generate", `{"model":"stories"}`); code != 200 {
		t.Fatalf("load: %d %s", code, body)
	}
	f.srv.pool.mu.Lock()
	var eng *model.Engine
	for _, r := range f.srv.pool.models {
		eng = r.eng
	}
	f.srv.pool.mu.Unlock()
	waitFor := func(what string, want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); eng.Announced() != want; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d calls announced, want %d", what, eng.Announced(), want)
			}
		}
	}
	waitFor("idle", 0)
	// On new connections (f.post's would be the kept-alive one of the
	// load, accepted before the model was loaded).
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	switch mode {
	case "get":
		resp, err := client.Get(f.hs.URL + "/api/tags")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		waitFor("after a GET", 0)
		return
	case "silent":
		// A connection that sends nothing: announced, then not after
		// ConnWait.
		c, err := net.Dial("tcp", f.hs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		accepted := time.Now()
		waitFor("a silent connection", 1)
		waitFor("a silent connection after ConnWait", 0)
		if d := time.Since(accepted); d < DefaultConnWait {
			t.Fatalf("the announcement ended after %v, before ConnWait", d)
		}
		return
	}

	// A generation request: its handler takes over from its connection's
	// announcement (one announcement, not two), until it takes a session.
	f.srv.cfg.onToken = func(ctx context.Context) {
		if n := eng.Announced(); n != 0 {
			panic(fmt.Sprintf("%d calls announced while a request generates alone", n))
		}
	}
	resp, err := client.Post(f.hs.URL+"/api/generate", "application/json",
		strings.NewReader(`{"model":"stories","prompt":"Once","stream":false,"options":{"num_predict":4}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"done":true`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	waitFor("after the request", 0)
}
