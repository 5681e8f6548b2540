package agents

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/model"
)

// argsTool records the arguments it ran with.
type argsTool struct {
	specTool
	got *[]string
}

func (a argsTool) Run(_ context.Context, _ *tools.Env, args json.RawMessage) (tools.Result, error) {
	*a.got = append(*a.got, string(args))
	return tools.Result{Text: "ok"}, nil
}

func TestPinTool(t *testing.T) {
	search := specTools["vault.search"]
	tests := []struct {
		name string
		set  map[string]any
		err  string
	}{
		{"collection", map[string]any{"collection": "notes"}, ""},
		{"two", map[string]any{"collection": "notes", "k": int64(3)}, ""},
		{"unknown argument", map[string]any{"colection": "notes"}, `no argument "colection"`},
		{"wrong type", map[string]any{"k": "three"}, "set k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := pinTool(search, tt.set)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var schema struct {
				Properties map[string]any `json:"properties"`
			}
			if err := json.Unmarshal(p.Spec().Parameters, &schema); err != nil {
				t.Fatal(err)
			}
			for k := range tt.set {
				if _, offered := schema.Properties[k]; offered {
					t.Errorf("the model is still offered %s: %s", k, p.Spec().Parameters)
				}
			}
			if _, ok := schema.Properties["query"]; !ok {
				t.Errorf("query is gone: %s", p.Spec().Parameters)
			}
			// Whatever the model writes for a pinned argument, the call
			// carries the file's value.
			call := pinCall(p, model.ToolCall{Name: "vault.search", Arguments: json.RawMessage(`{"query":"move","collection":"secrets"}`)})
			var args map[string]any
			if err := json.Unmarshal(call.Arguments, &args); err != nil {
				t.Fatal(err)
			}
			if args["collection"] != "notes" || args["query"] != "move" {
				t.Errorf("pinned call: %s", call.Arguments)
			}
			if _, err := model.CompileTools([]model.Tool{p.Spec()}, model.ToolAuto); err != nil {
				t.Errorf("the pinned schema does not compile: %v", err)
			}
		})
	}
}

// A pinned argument is what the permission rules and the tool see: an
// allow rule on the pinned collection lets every call through, with the
// pinned value, whatever the caller asked for.
func TestPinnedCallThroughDispatcher(t *testing.T) {
	var got []string
	tool := argsTool{specTools["vault.search"], &got}
	ag := &Agent{Name: "p", Tools: []ToolRule{{Name: "vault.search", Set: map[string]any{"collection": "notes"}, Allow: []string{"collection=notes"}}}}
	d, err := NewDispatcher(DispatchConfig{Agent: ag, Tools: []tools.Tool{tool}, Env: &tools.Env{Ledger: ledger.Open(t.TempDir())}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Call(context.Background(), "mcp:test", model.ToolCall{Name: "vault.search", Arguments: json.RawMessage(`{"query":"q","collection":"private"}`)})
	if err != nil || !out.Allowed {
		t.Fatalf("%+v %v", out, err)
	}
	if len(got) != 1 || !strings.Contains(got[0], `"collection":"notes"`) {
		t.Fatalf("the tool ran with %q", got)
	}
}

func TestLoadPinErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.toml")
	src := "[[tools]]\nname = \"vault.search\"\nset = { colection = \"notes\" }\n"
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, specLookup)
	if err == nil || !strings.Contains(err.Error(), "tools[0].set") || !strings.Contains(err.Error(), "colection") {
		t.Fatalf("err %v", err)
	}
}
