package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/model"
)

// specTool is a tool with a name, a level and an argument schema: what
// Load and the permission engine look at.
type specTool struct {
	name   string
	level  tools.Level
	params string
}

func (f specTool) Spec() model.Tool {
	return model.Tool{Name: f.name, Parameters: json.RawMessage(f.params)}
}
func (f specTool) Level() tools.Level { return f.level }
func (f specTool) Run(context.Context, *tools.Env, json.RawMessage) (tools.Result, error) {
	return tools.Result{}, nil
}

var specTools = map[string]specTool{
	"vault.search":    {"vault.search", tools.Read, `{"type":"object","properties":{"query":{"type":"string"},"collection":{"type":"string"},"k":{"type":"integer"}}}`},
	"vault.get":       {"vault.get", tools.Read, `{"type":"object","properties":{"collection":{"type":"string"},"chunk":{"type":"integer"}}}`},
	"workspace.read":  {"workspace.read", tools.Read, `{"type":"object","properties":{"path":{"type":"string"}}}`},
	"workspace.write": {"workspace.write", tools.Write, `{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"},"append":{"type":"boolean"}}}`},
	"wallet.pay":      {"wallet.pay", tools.Money, `{"type":"object","properties":{"payTo":{"type":"string"},"amount":{"type":"string"},"asset":{"type":"string"},"network":{"type":"string"}}}`},
	"feeds.list":      {"feeds.list", tools.Outside, `{"type":"object","properties":{"feed":{"type":"string"}}}`},
}

func specLookup(name string) (tools.Tool, bool) {
	t, ok := specTools[name]
	return t, ok
}

func TestLoadMalformed(t *testing.T) {
	for _, tc := range []struct {
		file  string
		line  int
		field string
		msg   string
	}{
		{"syntax", 2, "prompt", "expected value"},
		{"duplicate", 3, "model", "already been defined"},
		{"unknown_top", 3, "modle", "unknown field"},
		{"unknown_in_tools", 9, "tools[1].alow", "unknown field"},
		{"prompt_lookalike", 9, "budget.stepz", "unknown field"},
		{"unknown_table", 3, "budgte", "unknown field"},
		{"inline_tools", 2, "tools.alow", "unknown field"},
		{"budget_type", 4, "budget.steps", "is a string, but must be an integer"},
		{"tool_name_type", 5, "tools[1].name", "must be a string"},
		{"bad_pattern", 5, "tools[0].allow[1]", "no operator"},
		{"bad_max", 3, "tools[0].deny[0]", "max=N"},
		{"bad_schedule", 2, "schedule", `"61 * * * *": `},
		{"six_fields", 2, "schedule", "five fields"},
		{"bad_catch_up", 2, "catch_up", `"twice"`},
		{"integer_duration", 3, "budget.wall", "duration as a string"},
		{"bad_duration", 1, "misfire_grace", "invalid duration"},
		{"negative_steps", 3, "budget.steps", "cannot be negative"},
		{"unknown_tool", 5, "tools[1].name", `"shell.exec" is not a tool`},
		{"unknown_argument", 3, "tools[0].deny[0]", `vault.search has no argument "colection" (it has collection, k, query)`},
		{"taint_allow", 5, "taint.verdict", "stricter"},
		{"taint_unknown_tool", 5, "taint.tools[1]", `"vault.nope"`},
		{"duplicate_tool", 8, "tools[2].name", "listed twice"},
		{"missing_tool_name", 4, "tools[1].name", "missing"},
		{"missing_output", 2, "output", "missing.schema.json"},
		{"output_outside", 1, "output", "relative path inside"},
		{"mcp_no_name", 5, "mcp[1].name", "missing"},
		{"mcp_bad_name", 2, "mcp[0].name", "lower-case"},
		{"mcp_duplicate", 6, "mcp[1].name", "listed twice"},
		{"mcp_both", 4, "mcp[0].url", "not both"},
		{"mcp_neither", 1, "mcp[0].command", "missing"},
		{"mcp_plain_http", 3, "mcp[0].url", "plain http only to this machine"},
		{"mcp_bad_scheme", 3, "mcp[0].url", "http:// or https://"},
		{"mcp_url_args", 4, "mcp[0].args", "only a server started by command"},
		{"mcp_bad_env", 4, "mcp[0].env", "environment variable"},
		{"mcp_unlisted_server", 5, "tools[1].name", `no [[mcp]] entry names the server "web"`},
		{"mcp_no_tool", 2, "tools[0].name", "mcp.SERVER.TOOL"},
		{"mcp_taint_unlisted", 5, "taint.tools[0]", `no [[mcp]] entry names the server "web"`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "files", tc.file+".toml")
			a, err := Load(path, specLookup)
			if a != nil {
				t.Errorf("half-loaded: got an agent with the error %v", err)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want a *FileError", err, err)
			}
			if fe.Path != path || fe.Line != tc.line || fe.Field != tc.field {
				t.Errorf("at %s:%d field %q, want %s:%d field %q (%v)", fe.Path, fe.Line, fe.Field, path, tc.line, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if want := path + ":"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
		})
	}
}

func TestLoadFull(t *testing.T) {
	path := filepath.Join("testdata", "files", "full.toml")
	a, err := Load(path, specLookup)
	if err != nil {
		t.Fatal(err)
	}
	want := Budget{Steps: 8, Tokens: 12000, Wall: 90 * time.Second}
	switch {
	case a.Name != "full" || a.Path != path:
		t.Errorf("name %q path %q", a.Name, a.Path)
	case a.Model != "smollm2":
		t.Errorf("model %q", a.Model)
	case a.Prompt != "You are the full agent.\n":
		t.Errorf("prompt %q: full.md should replace the file's", a.Prompt)
	case a.Schedule != "*/30 * * * *" || a.CatchUp != "skip" || a.MisfireGrace != 5*time.Minute || !a.Disabled:
		t.Errorf("schedule %q catch_up %q grace %v disabled %v", a.Schedule, a.CatchUp, a.MisfireGrace, a.Disabled)
	case a.Budget != want:
		t.Errorf("budget %+v, want %+v", a.Budget, want)
	case a.Taint.Verdict != Deny || len(a.Taint.Tools) != 1:
		t.Errorf("taint %+v", a.Taint)
	case len(a.Tools) != 3 || a.Tools[2].Name != "wallet.pay" || len(a.Tools[2].Deny) != 2 || a.Tools[2].Deny[1] != `payTo="0xdead"`:
		t.Errorf("tools %+v", a.Tools)
	case a.Output != "full.schema.json":
		t.Errorf("output %q", a.Output)
	}
	// The rules as the file wrote them (a TOML literal string holding a
	// quoted pattern) decide calls.
	p, err := a.Permissions()
	if err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]Verdict{
		`{"payTo":"0xDEAD","amount":"0.5","asset":"USDC"}`:  Deny,
		`{"payTo":"0xdead1","amount":"0.5","asset":"USDC"}`: Ask,
		`{"payTo":"0xabc1","amount":"0.5","asset":"USDC"}`:  Allow,
		`{"payTo":"0xabc1","amount":"101","asset":"USDC"}`:  Deny,
	} {
		if d := p.Decide(toolCall("wallet.pay", args), tools.Money, false); d.Verdict != want {
			t.Errorf("wallet.pay %s: %s (%s), want %s", args, d.Verdict, d.Rule, want)
		}
	}
	if d := p.Decide(toolCall("vault.get", `{}`), tools.Read, true); d.Verdict != Deny || d.Rule != "taint" {
		t.Errorf("vault.get after taint under [taint] tools: %+v", d)
	}
}

func TestFileErrorClean(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.toml")
	if err := os.WriteFile(p, []byte(`"\u001b]52;c;aGk=\u0007x" = 1`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, nil)
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\x07") || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("error %q", err)
	}
}

func TestLoadDefaults(t *testing.T) {
	a, err := Load(filepath.Join("testdata", "files", "minimal.toml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.CatchUp != "once" || a.MisfireGrace != DefaultMisfireGrace || a.Prompt != "" || a.Budget != (Budget{}) || a.Disabled {
		t.Errorf("defaults: %+v", a)
	}
}

// Without a lookup, tool and argument names are not checked: the file
// still has to be well-formed.
func TestLoadWithoutLookup(t *testing.T) {
	if _, err := Load(filepath.Join("testdata", "files", "unknown_tool.toml"), nil); err != nil {
		t.Errorf("unknown tool without a lookup: %v", err)
	}
	if _, err := Load(filepath.Join("testdata", "files", "bad_pattern.toml"), nil); err == nil {
		t.Error("a bad pattern loaded without a lookup")
	}
}

func TestLoadFileName(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"Bad Name.toml", "UPPER.toml", "x.txt", ".hidden.toml"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("model = \"x\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p, nil); !errors.Is(err, ErrBadName) {
			t.Errorf("%s: err = %v, want ErrBadName", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "absent.toml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", maxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, nil); err == nil || !strings.Contains(err.Error(), "KiB") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"news": true, "a": true, "daily-digest_2": true, "0x": true, strings.Repeat("a", 64): true,
		"": false, "-x": false, "_x": false, "News": false, "a b": false, "a/b": false, "..": false,
		"a.b": false, strings.Repeat("a", 65): false, "é": false,
	} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v", name, err)
		}
	}
}

// The template loads as written, against the real tools.
func TestTemplateLoads(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "helper.toml")
	if err := os.WriteFile(p, []byte(Template("helper")), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Load(p, tools.Lookup)
	if err != nil {
		t.Fatalf("the template does not load: %v", err)
	}
	if a.Name != "helper" || len(a.Tools) == 0 || a.Prompt == "" || a.Budget != DefaultBudget {
		t.Errorf("template agent: %+v", a)
	}
	// The commented example is valid too, once uncommented.
	// (The [[mcp]] example names a server that is not installed here.)
	var un []string
	mcp := false
	for _, l := range strings.Split(Template("helper"), "\n") {
		mcp = mcp || l == "# [[mcp]]"
		r, ok := strings.CutPrefix(l, "# ")
		for _, key := range []string{"[[tools]]", "[spend]", "name = ", "allow = ", "deny = ", "per_tx = ", "per_run = ", "payees = "} {
			if ok && !mcp && strings.HasPrefix(r, key) {
				l = r
			}
		}
		un = append(un, l)
	}
	if err := os.WriteFile(p, []byte(strings.Join(un, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err = Load(p, tools.Lookup)
	if err != nil {
		t.Fatalf("the template's commented example does not load: %v", err)
	}
	if last := a.Tools[len(a.Tools)-1]; last.Name != "brand.ask" || a.Tools[len(a.Tools)-2].Name != "wallet.pay" {
		t.Errorf("uncommented example: last tool %q", last.Name)
	}
	if a.Spend == nil || a.Spend.PerTx["USDC"] != "1" || len(a.Spend.Payees) != 1 {
		t.Errorf("uncommented example: spend %+v", a.Spend)
	}
}

func TestScanKeys(t *testing.T) {
	doc := `a = 1 # c
"quoted.key" = 'x'
s = """
b = 2
"""
[t]
x = [
  "one", # first
  'two',
  { y = "no" },
]
[[arr]]
k = 1
[[arr]]
k = 2
[arr.sub]
z = 3
`
	k := scanKeys([]byte(doc))
	for field, line := range map[string]int{
		"a": 1, "quoted.key": 2, "s": 3, "t": 6, "t.x": 7, "t.x[0]": 8, "t.x[1]": 9,
		"arr[0]": 12, "arr[0].k": 13, "arr[1]": 14, "arr[1].k": 15, "arr[1].sub": 16, "arr[1].sub.z": 17,
		"t.x[2]": 7, // not a string: the array's line
	} {
		if got := k.line(field); got != line {
			t.Errorf("line(%q) = %d, want %d", field, got, line)
		}
	}
	if _, ok := k.lines["b"]; ok {
		t.Error("a line inside a multi-line string was taken for a key")
	}
}

// FuzzLoad: any bytes give an agent or a *FileError, never a panic, and
// the key scanner's lines stay inside the document.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "files", "*.toml"))
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(Template("x")))
	f.Add([]byte("a = \"\\\n[[t]]\n'b\nc = '''\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := parse(filepath.Join(dir, "fuzz.toml"), data, specLookup)
		var fe *FileError
		if (a == nil) == (err == nil) || err != nil && !errors.As(err, &fe) {
			t.Fatalf("parse = %v, %v (%T)", a, err, err)
		}
		n := strings.Count(string(data), "\n") + 1
		for _, e := range scanKeys(data).order {
			if e.line < 1 || e.line > n {
				t.Fatalf("key %q at line %d of %d", e.indexed, e.line, n)
			}
		}
		if err == nil {
			setTopLevel(string(data), "disabled", "true")
		}
	})
}

func TestLoadMCP(t *testing.T) {
	path := filepath.Join("testdata", "files", "mcp_ok.toml")
	a, err := Load(path, specLookup)
	if err != nil {
		t.Fatal(err)
	}
	want := []MCPServer{
		{Name: "notes", Command: "notes-mcp", Args: []string{"--root", "/tmp/notes"}, Env: map[string]string{"NOTES_TOKEN_FILE": "/tmp/token"}},
		{Name: "web-1", URL: "http://127.0.0.1:8931/mcp"},
	}
	if fmt.Sprint(a.MCP) != fmt.Sprint(want) {
		t.Errorf("mcp %+v, want %+v", a.MCP, want)
	}
	// MCP tools follow the rules like any tool, at their level (outside).
	p, err := a.Permissions()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Verdict{"mcp.notes.search": Allow, "mcp.web-1.fetch.page": Ask, "mcp.web-1.other": Deny} {
		if d := p.Decide(toolCall(name, `{}`), tools.Outside, false); d.Verdict != want {
			t.Errorf("%s: %s (%s), want %s", name, d.Verdict, d.Rule, want)
		}
	}
}

func TestCheckMCPServer(t *testing.T) {
	for _, tc := range []struct {
		s     MCPServer
		field string // "" = valid
	}{
		{MCPServer{Name: "a", Command: "x"}, ""},
		{MCPServer{Name: "a", URL: "https://example.com/mcp"}, ""},
		{MCPServer{Name: "a", URL: "http://localhost:3000/mcp"}, ""},
		{MCPServer{Name: "a", URL: "http://[::1]:3000/mcp"}, ""},
		{MCPServer{Name: "a", URL: "http://127.0.0.2/mcp"}, ""},
		{MCPServer{Name: "a", URL: "http://10.0.0.1/mcp"}, "url"},
		{MCPServer{Name: "a", URL: "http://localhost.example.com/mcp"}, "url"},
		{MCPServer{Name: "a", URL: "https://user:pw@example.com/mcp"}, "url"},
		{MCPServer{Name: "a", URL: "https:///mcp"}, "url"},
		{MCPServer{Name: "a", URL: "https://x/mcp", Env: map[string]string{"K": "v"}}, "env"},
		{MCPServer{Name: strings.Repeat("a", 33), Command: "x"}, "name"},
		{MCPServer{Name: "a.b", Command: "x"}, "name"},
	} {
		err := CheckMCPServer(tc.s)
		var re *RuleError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.s, err)
		case tc.field != "" && (!errors.As(err, &re) || re.Field != tc.field):
			t.Errorf("%+v: %v, want an error at %q", tc.s, err, tc.field)
		}
	}
}
