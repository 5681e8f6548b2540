package agents

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/assets"
	"github.com/sovos/sov/internal/testtool"
	"github.com/sovos/sov/model"
)

// The agents eval: a labelled set of requests (testdata/eval/requests.jsonl),
// each with the tool a good agent calls first and one key argument, run on
// the small chat models two ways: grammar-forced Call, and the same model
// with the same prompt but no grammar, its first JSON object parsed. Figures,
// not pass/fail, except one property: every forced reply validates, within
// the token cap (the engine closes a reply that reaches it; those are
// counted in "closed").

var evalFlag = flag.Bool("agents.eval", false, "run BenchmarkAgentsEval (or set SOV_BENCH_EVAL=1)")

const (
	evalFile = "testdata/eval/requests.jsonl"
	// evalAnswer in a request's "tool" means the right step is a final
	// answer, no tool.
	evalAnswer = "answer"
	// evalMaxTokens caps one step. Both modes get the same cap. A forced
	// step that reaches it is closed by the engine (model.Stats.Closed): a
	// small model can repeat text inside a JSON string until the cap, and
	// the grammar alone cannot make it close the string.
	evalMaxTokens = 256
)

// evalRequest is one labelled request. Args holds at most one key argument
// (tool choice alone is scored when it is empty); its value is the expected
// JSON value or a list of acceptable ones.
type evalRequest struct {
	Request string                     `json:"request"`
	Tool    string                     `json:"tool"`
	Args    map[string]json.RawMessage `json:"args"`
}

func loadEvalRequests(t testing.TB) []evalRequest {
	t.Helper()
	f, err := os.Open(evalFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []evalRequest
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.DisallowUnknownFields()
		var r evalRequest
		if err := d.Decode(&r); err != nil {
			t.Fatalf("%s:%d: %v", evalFile, line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// acceptable lists the values a key argument may take.
func acceptable(raw json.RawMessage) []any {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// sameValue compares a model's argument with an expected one: strings
// ignoring case, surrounding space and a final full stop or question mark
// (the model's phrasing, not its choice); numbers and booleans exactly.
func sameValue(got, want any) bool {
	norm := func(s string) string {
		return strings.TrimRight(strings.ToLower(strings.TrimSpace(s)), ".?!")
	}
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		return ok && norm(g) == norm(w)
	default:
		return got == want
	}
}

// scoreEval says whether a reply chose the request's tool and got its key
// argument right. A reply that chose the tool with the argument missing
// (an optional one) is scored wrong.
func scoreEval(r evalRequest, reply model.Reply) (tool, arg bool) {
	if reply.ToolCall == nil {
		return r.Tool == evalAnswer, r.Tool == evalAnswer
	}
	if reply.ToolCall.Name != r.Tool {
		return false, false
	}
	var got map[string]any
	if json.Unmarshal(reply.ToolCall.Arguments, &got) != nil {
		return true, false
	}
	for k, raw := range r.Args {
		ok := false
		for _, w := range acceptable(raw) {
			ok = ok || sameValue(got[k], w)
		}
		if !ok {
			return true, false
		}
	}
	return true, true
}

// firstJSONObject is the first JSON object in a model's free text (after
// any prose or a code fence), or nil.
func firstJSONObject(s string) []byte {
	for i := strings.IndexByte(s, '{'); i >= 0; {
		var raw json.RawMessage
		if json.NewDecoder(strings.NewReader(s[i:])).Decode(&raw) == nil {
			return raw
		}
		j := strings.IndexByte(s[i+1:], '{')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}

// TestEvalRequests keeps the labelled set sound: enough requests, every
// tool and the no-tool case covered, each key argument a property of its
// tool's schema with values the schema accepts.
func TestEvalRequests(t *testing.T) {
	reqs := loadEvalRequests(t)
	if len(reqs) < 50 {
		t.Errorf("%d requests; the eval needs at least 50", len(reqs))
	}
	seen := map[string]int{}
	for i, r := range reqs {
		where := fmt.Sprintf("%s:%d", evalFile, i+1)
		if strings.TrimSpace(r.Request) == "" {
			t.Errorf("%s: empty request", where)
		}
		if len(r.Args) > 1 {
			t.Errorf("%s: %d key arguments; give one", where, len(r.Args))
		}
		seen[r.Tool]++
		if r.Tool == evalAnswer {
			if len(r.Args) > 0 {
				t.Errorf("%s: a final answer has no arguments", where)
			}
			continue
		}
		tool, ok := tools.Lookup(r.Tool)
		if !ok {
			t.Errorf("%s: unknown tool %q", where, r.Tool)
			continue
		}
		ts, err := model.CompileTools([]model.Tool{tool.Spec()}, model.ToolRequired)
		if err != nil {
			t.Fatal(err)
		}
		var schema struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(tool.Spec().Parameters, &schema); err != nil {
			t.Fatal(err)
		}
		for k, raw := range r.Args {
			if _, ok := schema.Properties[k]; !ok {
				t.Errorf("%s: %s has no argument %q", where, r.Tool, k)
				continue
			}
			vals := acceptable(raw)
			if len(vals) == 0 {
				t.Errorf("%s: argument %q has no acceptable value", where, k)
			}
			for _, v := range vals {
				// Alone, with the tool's other required arguments filled
				// in from a valid call, the value must validate.
				args := map[string]any{k: v}
				fillRequired(tool.Spec().Parameters, args)
				call, _ := json.Marshal(map[string]any{"tool": r.Tool, "arguments": args})
				if _, err := ts.Parse(call); err != nil {
					t.Errorf("%s: %s=%v: %v", where, k, v, err)
				}
			}
		}
	}
	for _, name := range append(tools.Names(), evalAnswer) {
		if seen[name] < 3 {
			t.Errorf("%s has %d requests; give each tool at least 3", name, seen[name])
		}
	}
	// The scorer itself.
	call := func(name, args string) model.Reply {
		return model.Reply{ToolCall: &model.ToolCall{Name: name, Arguments: json.RawMessage(args)}}
	}
	search := evalRequest{Tool: "vault.search", Args: map[string]json.RawMessage{"query": json.RawMessage(`["kestrel","kestrels"]`)}}
	get := evalRequest{Tool: "vault.get", Args: map[string]json.RawMessage{"chunk": json.RawMessage(`42`)}}
	for _, c := range []struct {
		name      string
		req       evalRequest
		reply     model.Reply
		tool, arg bool
	}{
		{"right", search, call("vault.search", `{"query":" Kestrel. "}`), true, true},
		{"second value", search, call("vault.search", `{"query":"kestrels"}`), true, true},
		{"wrong value", search, call("vault.search", `{"query":"kestrel nest"}`), true, false},
		{"missing", search, call("vault.search", `{"collection":"kestrel"}`), true, false},
		{"wrong tool", search, call("vault.ask", `{"question":"kestrel"}`), false, false},
		{"answer for a tool", search, model.Reply{Answer: "kestrel"}, false, false},
		{"number", get, call("vault.get", `{"chunk":42}`), true, true},
		{"number as text", get, call("vault.get", `{"chunk":"42"}`), true, false},
		{"answer", evalRequest{Tool: evalAnswer}, model.Reply{Answer: "hi"}, true, true},
		{"tool for an answer", evalRequest{Tool: evalAnswer}, call("wallet.balance", `{}`), false, false},
	} {
		if tool, arg := scoreEval(c.req, c.reply); tool != c.tool || arg != c.arg {
			t.Errorf("%s: scored (%v, %v), want (%v, %v)", c.name, tool, arg, c.tool, c.arg)
		}
	}
	for in, want := range map[string]string{
		`{"tool":"a","arguments":{}}`:                           `{"tool":"a","arguments":{}}`,
		"Sure! ```json\n{\"answer\": \"4\"}\n``` done":          `{"answer": "4"}`,
		`I think {not json} then {"answer":"x"} {"answer":"y"}`: `{"answer":"x"}`,
		`no object here`: ``,
		`{"unclosed": `:  ``,
	} {
		if got := string(firstJSONObject(in)); got != want {
			t.Errorf("firstJSONObject(%q) = %q, want %q", in, got, want)
		}
	}
}

// fillRequired gives args a placeholder for each required argument it
// lacks, of the schema's type.
func fillRequired(schema json.RawMessage, args map[string]any) {
	var s struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Type string `json:"type"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(schema, &s)
	for _, k := range s.Required {
		if _, ok := args[k]; ok {
			continue
		}
		switch s.Properties[k].Type {
		case "integer", "number":
			args[k] = 1
		case "boolean":
			args[k] = false
		default:
			args[k] = "x"
		}
	}
}

// evalTally sums one mode's results on one model.
type evalTally struct {
	n, valid, cut, tool, arg int
	validEnded               int // valid and not cut by the cap
	closed                   int // closed by the engine at the cap (forced)
	promptTokens, genTokens  int
	time                     time.Duration
	wrong                    []string // requests the mode got wrong, for the log
	cutOut                   []string // what the steps cut by the cap were writing
}

func (t *evalTally) add(r evalRequest, reply model.Reply, valid bool, st model.Stats, d time.Duration) {
	t.n++
	t.promptTokens += st.PromptTokens + st.CachedTokens
	t.genTokens += st.GeneratedTokens
	t.time += d
	if st.StopReason == model.StopMaxTokens {
		t.cut++
	}
	if st.Closed {
		t.closed++
	}
	if !valid {
		return
	}
	t.valid++
	if st.StopReason != model.StopMaxTokens {
		t.validEnded++
	}
	tool, arg := scoreEval(r, reply)
	if tool {
		t.tool++
	}
	if arg {
		t.arg++
	}
}

func pct(a, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(a) / float64(n)
}

// BenchmarkAgentsEval runs the labelled requests on SmolLM2-135M-Instruct
// and Gemma 3 270M (each skipped when missing), one step per request:
// the first model call of a run, with the run loop's system prompt and
// every built-in tool. Opt in with SOV_BENCH_EVAL=1 or -agents.eval:
//
//	SOV_BENCH_EVAL=1 go test ./agents -run '^$' -bench AgentsEval -benchtime 1x
func BenchmarkAgentsEval(b *testing.B) {
	if os.Getenv("SOV_BENCH_EVAL") != "1" && !*evalFlag {
		b.Skip("the agents eval takes minutes: set SOV_BENCH_EVAL=1 or pass -agents.eval")
	}
	reqs := loadEvalRequests(b)
	var specs []model.Tool
	for _, t := range tools.All() {
		specs = append(specs, t.Spec())
	}
	ts, err := model.CompileTools(specs, model.ToolAuto)
	if err != nil {
		b.Fatal(err)
	}
	threads := 1
	if s := os.Getenv("SOV_BENCH_THREADS"); s != "" {
		if threads, err = strconv.Atoi(s); err != nil || threads < 1 {
			b.Fatalf("SOV_BENCH_THREADS=%q: give a positive number of threads", s)
		}
	}
	// SOV_BENCH_REPEAT_PENALTY measures a repetition guard (llama.cpp's
	// penalties sampler) against the engine's close alone; both modes get it.
	var penalty float64
	if s := os.Getenv("SOV_BENCH_REPEAT_PENALTY"); s != "" {
		if penalty, err = strconv.ParseFloat(s, 32); err != nil || penalty < 1 {
			b.Fatalf("SOV_BENCH_REPEAT_PENALTY=%q: give a penalty of 1 (off) or more", s)
		}
	}
	for _, m := range []testtool.TestModel{testtool.Chat, testtool.ChatLarge} {
		b.Run(strings.NewReplacer(" ", "", ".", "").Replace(m.String()), func(b *testing.B) {
			path, err := testtool.ModelPath(m)
			if err != nil {
				b.Skipf("skipping %s: %v", m, err)
			}
			for i := 0; i < b.N; i++ {
				evalModel(b, m.String(), path, threads, float32(penalty), reqs, specs, ts)
			}
		})
	}
}

func evalModel(b *testing.B, name, path string, threads int, penalty float32, reqs []evalRequest, specs []model.Tool, ts *model.Toolset) {
	ctx := context.Background()
	eng, err := model.Load(ctx, model.Options{Path: path, Threads: threads, ContextSize: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	// The run loop's own system prompt. Call appends the tool list to it;
	// the free mode gets the same text by hand (evalToolPrompt), so the
	// two differ only by the grammar.
	sys := assets.Prompt("agent-run")
	freeSys := sys + "\n\n" + evalToolPrompt(specs)
	s := model.Sampling{Temperature: 0, MaxTokens: evalMaxTokens, RepeatPenalty: penalty}
	var forced, free evalTally
	var closedOut []string
	b.ResetTimer()
	for _, r := range reqs {
		msgs := []model.Message{{Role: model.RoleSystem, Content: sys}, {Role: model.RoleUser, Content: r.Request}}
		var raw strings.Builder
		start := time.Now()
		reply, st, err := eng.Call(ctx, msgs, ts, s, func(tok string) error { raw.WriteString(tok); return nil })
		d := time.Since(start)
		var inc *model.IncompleteError
		switch {
		case errors.As(err, &inc):
			// The engine closes a reply at the cap: this is a bug.
			forced.cutOut = append(forced.cutOut, fmt.Sprintf("%q → %.100s…", r.Request, raw.String()))
			b.Errorf("%s: forced call for %q was cut: %v", name, r.Request, err)
		case err != nil:
			// The property the grammar guarantees: this is a bug.
			b.Errorf("%s: forced call for %q did not validate: %v", name, r.Request, err)
		case st.GeneratedTokens > evalMaxTokens:
			b.Errorf("%s: forced call for %q took %d tokens, over the cap", name, r.Request, st.GeneratedTokens)
		}
		if st.Closed {
			closedOut = append(closedOut, fmt.Sprintf("%q → …%s", r.Request, tail(raw.String(), 60)))
		}
		forced.add(r, reply, err == nil, st, d)
		if t, a := scoreEval(r, reply); err == nil && !(t && a) {
			forced.wrong = append(forced.wrong, fmt.Sprintf("%q → %s", r.Request, replyText(reply)))
		}

		msgs[0].Content = freeSys
		start = time.Now()
		out, st, err := eng.Chat(ctx, msgs, s, nil)
		d = time.Since(start)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		var freeReply model.Reply
		valid := false
		if obj := firstJSONObject(out); obj != nil {
			freeReply, err = ts.Parse(obj)
			valid = err == nil
		}
		free.add(r, freeReply, valid, st, d)
		if !valid && len(free.wrong) < 5 {
			free.wrong = append(free.wrong, fmt.Sprintf("%q → %.100q", r.Request, out))
		}
	}
	b.StopTimer()

	var tab strings.Builder
	w := tabwriter.NewWriter(&tab, 0, 0, 2, ' ', tabwriter.AlignRight)
	if penalty > 1 {
		name += fmt.Sprintf(" (repeat penalty %.2f)", penalty)
	}
	fmt.Fprintf(w, "%s, %d requests, 1 step each, %d thread(s)\tvalid %%\tvalid %% of ended\tcut\tclosed\ttool %%\ttool+arg %%\tprompt tok/step\tgen tok/step\tms/step\t\n", name, len(reqs), threads)
	for _, row := range []struct {
		mode string
		t    *evalTally
	}{{"forced (Call, grammar)", &forced}, {"free (same prompt, no grammar)", &free}} {
		t := row.t
		fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%d\t%d\t%.1f\t%.1f\t%.0f\t%.1f\t%.0f\t\n", row.mode,
			pct(t.valid, t.n), pct(t.validEnded, t.n-t.cut), t.cut, t.closed, pct(t.tool, t.n), pct(t.arg, t.n),
			float64(t.promptTokens)/float64(t.n), float64(t.genTokens)/float64(t.n),
			float64(t.time.Milliseconds())/float64(t.n))
	}
	w.Flush()
	// Printed, not logged: the testing package cuts a benchmark's log to
	// ten lines.
	fmt.Printf("\n%s", tab.String())
	sort.Strings(forced.wrong)
	fmt.Printf("%s forced, wrong tool or argument (%d):\n  %s\n", name, len(forced.wrong), strings.Join(forced.wrong, "\n  "))
	fmt.Printf("%s free, first invalid replies:\n  %s\n", name, strings.Join(free.wrong, "\n  "))
	fmt.Printf("%s forced, cut at %d tokens (%d):\n  %s\n", name, evalMaxTokens, forced.cut, strings.Join(forced.cutOut, "\n  "))
	fmt.Printf("%s forced, closed by the engine at %d tokens (%d):\n  %s\n\n", name, evalMaxTokens, forced.closed, strings.Join(closedOut, "\n  "))
	if forced.valid != forced.n {
		b.Errorf("%s: forced valid-call rate %.1f%%, want 100%%", name, pct(forced.valid, forced.n))
	}
	for _, m := range []struct {
		unit string
		t    *evalTally
	}{{"forced", &forced}, {"free", &free}} {
		t := m.t
		b.ReportMetric(pct(t.valid, t.n), m.unit+"-valid-%")
		b.ReportMetric(pct(t.validEnded, t.n-t.cut), m.unit+"-valid-of-ended-%")
		b.ReportMetric(float64(t.cut), m.unit+"-cut")
		b.ReportMetric(float64(t.closed), m.unit+"-closed")
		b.ReportMetric(pct(t.tool, t.n), m.unit+"-tool-%")
		b.ReportMetric(pct(t.arg, t.n), m.unit+"-tool+arg-%")
		b.ReportMetric(float64(t.promptTokens+t.genTokens)/float64(t.n), m.unit+"-tokens/task")
		b.ReportMetric(float64(t.time.Milliseconds())/float64(t.n), m.unit+"-ms/step")
	}
	b.ReportMetric(1, "steps/task")
}

// tail is the last n bytes of s, whole characters.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return s
}

func replyText(r model.Reply) string {
	if r.ToolCall == nil {
		return fmt.Sprintf("answer %q", r.Answer)
	}
	return r.ToolCall.Name + " " + string(r.ToolCall.Arguments)
}

// evalToolPrompt is the tool list Call puts in the system prompt (model's
// toolPrompt for ToolAuto, which is unexported), for the free mode.
func evalToolPrompt(specs []model.Tool) string {
	var b strings.Builder
	b.WriteString("Tools you can call:\n")
	for _, t := range specs {
		b.WriteString("- " + t.Name)
		if t.Description != "" {
			b.WriteString(": " + strings.Join(strings.Fields(t.Description), " "))
		}
		if len(t.Parameters) > 0 {
			var compact bytes.Buffer
			if json.Compact(&compact, t.Parameters) == nil {
				b.WriteString(" Arguments: " + compact.String())
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(`To call a tool write {"tool": NAME, "arguments": {...}}.`)
	b.WriteString(` To answer without a tool write {"answer": "..."}.`)
	return b.String()
}
