package agents

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/internal/tomlfile"
	"github.com/sovos/sov/model/grammar"
)

// maxFileSize bounds an agent file and its prompt: both are read whole.
const maxFileSize = 1 << 20

// DefaultMisfireGrace is how late a scheduled run may start and still be on
// time, where the agent file does not say.
const DefaultMisfireGrace = time.Minute

// ToolLookup finds a tool by name (tools.Lookup). Load checks an agent's
// tools and the argument names in its rules against it.
type ToolLookup func(name string) (tools.Tool, bool)

// FileError is an agent file that cannot be loaded: where (Line 0 when the
// problem has no one place) and which field (`tools[1].allow[0]`, as the
// fields are written in the file, arrays counted from 0).
type FileError = tomlfile.Error

// ErrBadName: an agent name that cannot be a file name on every system.
var ErrBadName = errors.New("an agent's name is 1 to 64 lower-case letters, digits, - and _, starting with a letter or digit")

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// CheckName reports whether name can name an agent.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("agent name %q: %w", name, ErrBadName)
	}
	return nil
}

// Load reads the agent file at path (NAME.toml) and, when present, NAME.md
// beside it as the prompt. Every field is checked (unknown fields, types,
// rules, the schedule, the output schema, and the tools against lookup
// when it is not nil); any problem is a *FileError and no Agent, so an
// agent is never half-loaded. Where the file leaves them out, CatchUp is
// "once" and MisfireGrace DefaultMisfireGrace; a zero Budget field means
// DefaultBudget's, at run time.
func Load(path string, lookup ToolLookup) (*Agent, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data, lookup)
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the FileError's
		}
		return nil, &FileError{Path: path, Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	if len(data) > maxFileSize {
		return nil, &FileError{Path: path, Err: fmt.Errorf("over %d KiB: is this an agent file?", maxFileSize>>10)}
	}
	return data, nil
}

// parse is Load on the file's bytes.
func parse(path string, data []byte, lookup ToolLookup) (*Agent, error) {
	name := strings.TrimSuffix(filepath.Base(path), ".toml")
	if err := CheckName(name); err != nil || !strings.HasSuffix(path, ".toml") {
		return nil, &FileError{Path: path, Err: fmt.Errorf("the file must be NAME.toml: %w", ErrBadName)}
	}
	lines := scanKeys(data)
	fail := func(field string, err error) error {
		return &FileError{Path: path, Line: lines.line(field), Field: field, Err: err}
	}
	var a Agent
	md, err := toml.Decode(string(data), &a)
	if err != nil {
		return nil, tomlError(path, err, lines)
	}
	if u := md.Undecoded(); len(u) > 0 {
		field := lines.indexed(u[0])
		return nil, &FileError{Path: path, Line: lines.line(field), Field: field, Err: errors.New("unknown field (misspelt? the template written for a new agent lists every field)")}
	}
	a.Name, a.Path = name, path

	// An integer duration would be nanoseconds: wall = 600 is 600ns.
	for _, k := range [][]string{{"budget", "wall"}, {"misfire_grace"}} {
		if md.Type(k...) == "Integer" {
			f := strings.Join(k, ".")
			return nil, fail(f, errors.New(`write a duration as a string with its unit, such as "90s", "10m" or "1h"`))
		}
	}
	switch {
	case a.Budget.Steps < 0:
		return nil, fail("budget.steps", errors.New("cannot be negative (leave it out for the default)"))
	case a.Budget.Tokens < 0:
		return nil, fail("budget.tokens", errors.New("cannot be negative (leave it out for the default)"))
	case a.Budget.Wall < 0:
		return nil, fail("budget.wall", errors.New("cannot be negative (leave it out for the default)"))
	case a.Budget.StepTokens < 0:
		return nil, fail("budget.step_tokens", errors.New("cannot be negative (leave it out for the default)"))
	case a.MisfireGrace < 0:
		return nil, fail("misfire_grace", errors.New("cannot be negative (leave it out for 1m)"))
	}
	if a.Schedule != "" {
		if _, err := cron.ParseStandard(a.Schedule); err != nil {
			return nil, fail("schedule", fmt.Errorf("%q: %v (five fields: minute hour day-of-month month day-of-week, e.g. \"*/30 * * * *\", or @hourly, @daily)", a.Schedule, err))
		}
	}
	switch a.CatchUp {
	case "":
		a.CatchUp = "once"
	case "once", "skip":
	default:
		return nil, fail("catch_up", fmt.Errorf("%q: write \"once\" or \"skip\"", a.CatchUp))
	}
	if a.MisfireGrace == 0 {
		a.MisfireGrace = DefaultMisfireGrace
	}

	if err := checkMCP(&a); err != nil {
		var re *RuleError
		errors.As(err, &re)
		return nil, fail(re.Field, re.Err)
	}
	if _, err := Compile(a.Tools, a.Taint); err != nil {
		var re *RuleError
		if errors.As(err, &re) {
			return nil, fail(re.Field, re.Err)
		}
		return nil, fail("", err)
	}
	if lookup != nil {
		if err := checkTools(&a, lookup); err != nil {
			var re *RuleError
			errors.As(err, &re)
			return nil, fail(re.Field, re.Err)
		}
		if err := checkPins(&a, lookup); err != nil {
			var re *RuleError
			errors.As(err, &re)
			return nil, fail(re.Field, re.Err)
		}
	}

	if a.FirstCall != "" && !slices.ContainsFunc(a.Tools, func(r ToolRule) bool { return r.Name == a.FirstCall }) {
		return nil, fail("first_call", fmt.Errorf("%q is not one of the agent's tools", a.FirstCall))
	}
	if a.Output != "" {
		if err := checkOutput(filepath.Dir(path), a.Output); err != nil {
			return nil, fail("output", err)
		}
	}
	mdPath := strings.TrimSuffix(path, ".toml") + ".md"
	switch prompt, err := readSmall(mdPath); {
	case err == nil:
		a.Prompt = string(prompt)
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, err
	}
	return &a, nil
}

// checkTools checks every tool named in a against lookup, and each rule's
// argument names against the tool's argument schema, so that a misspelt
// name in a deny rule is an error rather than a rule that never matches.
func checkTools(a *Agent, lookup ToolLookup) error {
	for i, r := range a.Tools {
		if _, _, isMCP := SplitMCPTool(r.Name); isMCP {
			continue // checkMCP checked it; its schema is the server's, known when it runs
		}
		t, ok := lookup(r.Name)
		if !ok {
			return &RuleError{fmt.Sprintf("tools[%d].name", i), fmt.Errorf("%q is not a tool sov has", r.Name)}
		}
		if err := checkArgs(i, r, t); err != nil {
			return err
		}
	}
	for i, n := range a.Taint.Tools {
		if _, _, isMCP := SplitMCPTool(n); isMCP {
			continue
		}
		if _, ok := lookup(n); !ok {
			return &RuleError{fmt.Sprintf("taint.tools[%d]", i), fmt.Errorf("%q is not a tool sov has", n)}
		}
	}
	return nil
}

// checkArgs checks the argument names in rule i's patterns against t's
// argument schema.
func checkArgs(i int, r ToolRule, t tools.Tool) error {
	props := schemaProps(t.Spec().Parameters)
	if props == nil {
		return nil
	}
	for _, l := range []struct {
		kind string
		pats []string
	}{{"deny", r.Deny}, {"ask", r.Ask}, {"allow", r.Allow}} {
		for j, s := range l.pats {
			p, err := ParsePattern(s)
			if err != nil {
				return &RuleError{fmt.Sprintf("tools[%d].%s[%d]", i, l.kind, j), err}
			}
			for _, c := range p.conds {
				if !props[c.path[0]] {
					return &RuleError{fmt.Sprintf("tools[%d].%s[%d]", i, l.kind, j), fmt.Errorf("%s has no argument %q (it has %s)", r.Name, argName(s, c), propList(t.Spec().Parameters))}
				}
			}
		}
	}
	return nil
}

// CheckToolRules checks the agent's rules for t, a tool whose schema Load
// could not know (an MCP server's, known once the server lists it): an
// argument a rule names must be one of t's, so that a misspelt name in a
// deny rule is an error rather than a rule that never matches. The error
// is a *FileError for the agent's file.
func CheckToolRules(a *Agent, t tools.Tool) error {
	for i, r := range a.Tools {
		if r.Name != t.Spec().Name {
			continue
		}
		if err := checkArgs(i, r, t); err != nil {
			var re *RuleError
			errors.As(err, &re)
			line := 0
			if data, rerr := readSmall(a.Path); rerr == nil {
				line = scanKeys(data).line(re.Field)
			}
			return &FileError{Path: a.Path, Line: line, Field: re.Field, Err: re.Err}
		}
	}
	return nil
}

// MCPPrefix begins the name of every tool an outside MCP server provides:
// "mcp.SERVER.TOOL".
const MCPPrefix = "mcp."

var (
	mcpServerRE   = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	mcpToolNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`) // the engine's tool names
	envNameRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// SplitMCPTool splits "mcp.SERVER.TOOL" into its server and tool; ok is
// false for a name that is not an MCP tool's. TOOL may hold dots.
func SplitMCPTool(name string) (server, tool string, ok bool) {
	rest, ok := strings.CutPrefix(name, MCPPrefix)
	if !ok {
		return "", "", false
	}
	server, tool, _ = strings.Cut(rest, ".")
	return server, tool, true
}

// CheckMCPServer checks one [[mcp]] entry: its name, and exactly one of a
// command or an http(s) URL, plain http only to this machine (anything
// else would send the agent's calls, which may hold private data, over the
// network in the clear). Load checks every entry; agents/mcptools checks
// again before it starts or dials anything. The error is a *RuleError
// whose Field is relative to the entry ("name", "url").
func CheckMCPServer(s MCPServer) error {
	switch {
	case s.Name == "":
		return &RuleError{"name", errors.New("missing: every [[mcp]] entry names its server (it is the SERVER in the tool names mcp.SERVER.TOOL)")}
	case !mcpServerRE.MatchString(s.Name):
		return &RuleError{"name", fmt.Errorf("%q: a server's name is 1 to 32 lower-case letters, digits, - and _", s.Name)}
	case s.Command == "" && s.URL == "":
		return &RuleError{"command", errors.New(`missing: give the command that starts the server (command = "…") or its address (url = "http://…")`)}
	case s.Command != "" && s.URL != "":
		return &RuleError{"url", errors.New("give either command or url, not both")}
	case s.URL != "" && (len(s.Args) > 0 || len(s.Env) > 0):
		f := "args"
		if len(s.Args) == 0 {
			f = "env"
		}
		return &RuleError{f, errors.New("only a server started by command takes args and env")}
	}
	for k := range s.Env {
		if !envNameRE.MatchString(k) {
			return &RuleError{"env", fmt.Errorf("%q is not an environment variable's name", k)}
		}
	}
	if s.URL != "" {
		if err := checkMCPURL(s.URL); err != nil {
			return &RuleError{"url", err}
		}
	}
	return nil
}

func checkMCPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: write an http:// or https:// address", raw)
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return fmt.Errorf("%q: a password in the address would be stored in plain text; sov does not take one there", raw)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return fmt.Errorf("%q: plain http only to this machine (localhost, 127.0.0.1, ::1); use https for %s", raw, u.Hostname())
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkMCP checks the [[mcp]] entries and every MCP tool the agent names
// (in tools and taint.tools): "mcp.SERVER.TOOL" for a server the file
// lists.
func checkMCP(a *Agent) error {
	seen := map[string]bool{}
	for i, s := range a.MCP {
		if err := CheckMCPServer(s); err != nil {
			var re *RuleError
			errors.As(err, &re)
			return &RuleError{fmt.Sprintf("mcp[%d].%s", i, re.Field), re.Err}
		}
		if seen[s.Name] {
			return &RuleError{fmt.Sprintf("mcp[%d].name", i), fmt.Errorf("%q is listed twice: each server has its own name", s.Name)}
		}
		seen[s.Name] = true
	}
	check := func(field, name string) error {
		server, tool, ok := SplitMCPTool(name)
		if !ok {
			return nil
		}
		switch {
		case server == "" || tool == "":
			return &RuleError{field, fmt.Errorf("%q: an MCP tool is named mcp.SERVER.TOOL", name)}
		case !seen[server]:
			return &RuleError{field, fmt.Errorf("%q: no [[mcp]] entry names the server %q", name, server)}
		case !mcpToolNameRE.MatchString(name):
			return &RuleError{field, fmt.Errorf("%q: a tool's name is at most 64 letters, digits, '.', '-' and '_' (sov lists an MCP server's tools under such names)", name)}
		}
		return nil
	}
	for i, r := range a.Tools {
		if err := check(fmt.Sprintf("tools[%d].name", i), r.Name); err != nil {
			return err
		}
	}
	for i, n := range a.Taint.Tools {
		if err := check(fmt.Sprintf("taint.tools[%d]", i), n); err != nil {
			return err
		}
	}
	return nil
}

// argName is how the pattern src wrote c's first argument name.
func argName(src string, c cond) string {
	if c.path[0] == fold("amount") && strings.Contains(fold(src), fold("max")) {
		return "amount (max= limits it)"
	}
	for _, part := range strings.FieldsFunc(src, func(r rune) bool { return strings.ContainsRune(",=!<>. ", r) }) {
		if fold(part) == c.path[0] {
			return part
		}
	}
	return c.path[0]
}

// schemaProps is the folded names of a JSON Schema's top-level properties;
// nil when the schema does not list them (then any name is accepted).
func schemaProps(schema json.RawMessage) map[string]bool {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil || s.Properties == nil {
		return nil
	}
	m := map[string]bool{}
	for k := range s.Properties {
		m[fold(k)] = true
	}
	return m
}

func propList(schema json.RawMessage) string {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(schema, &s)
	var names []string
	for k := range s.Properties {
		names = append(names, k)
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// checkOutput checks the output schema file: beside the agent file, JSON,
// and a schema the grammar compiler takes.
func checkOutput(dir, name string) error {
	if !filepath.IsLocal(name) {
		return fmt.Errorf("%q: name a file in %s (a relative path inside it)", name, dir)
	}
	p := filepath.Join(dir, name)
	data, err := readSmall(p)
	if err != nil {
		return err
	}
	if _, err := grammar.Compile(data); err != nil {
		return fmt.Errorf("%s is not a JSON Schema sov can force: %v", p, err)
	}
	return nil
}

var tomlLineRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)
var tomlTypeRE = regexp.MustCompile(`^incompatible types: TOML value has type ([\w.]+); destination has type ([\w.]+)$`)

// tomlError makes the TOML decoder's error a *FileError.
func tomlError(path string, err error, lines keyLines) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &FileError{Path: path, Line: pe.Position.Line, Field: lines.at(pe.LastKey, pe.Position.Line), Err: errors.New(pe.Message)}
	}
	m := tomlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return &FileError{Path: path, Err: err}
	}
	line, _ := strconv.Atoi(m[1])
	msg := m[3]
	if t := tomlTypeRE.FindStringSubmatch(msg); t != nil {
		msg = fmt.Sprintf("is %s, but must be %s", tomlTypeName(t[1]), tomlTypeName(t[2]))
	}
	return &FileError{Path: path, Line: line, Field: lines.at(m[2], line), Err: errors.New(msg)}
}

func tomlTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), t == "Integer":
		return "an integer"
	case strings.HasPrefix(t, "float"), t == "Float":
		return "a number"
	case t == "string", t == "String":
		return "a string"
	case t == "bool", t == "Bool":
		return "true or false"
	case t == "slice", t == "array", t == "Array":
		return "an array [ … ]"
	case t == "struct", t == "map", strings.HasPrefix(t, "map"), t == "Hash":
		return "a table"
	}
	return t
}

// keyLines locates a TOML document's keys: for each key, by its path with
// array-table indexes ("budget.steps", "tools[1].allow", and
// "tools[1].allow[0]" for the strings of an array), the line it is on.
// BurntSushi/toml reports lines for syntax and type errors only, so the
// checks after decoding find theirs here.
type keyLines struct {
	lines map[string]int
	order []keyAt // in document order
}

type keyAt struct {
	plain   string // the path without indexes, segments joined by "."
	indexed string
	line    int
}

// line is field's line, or its nearest parent's when field itself is not
// on a line of its own (an inline table), or 0.
func (k keyLines) line(field string) int {
	for field != "" {
		if l, ok := k.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return 0
		}
		field = field[:i]
	}
	return 0
}

// indexed is the indexed path of the first occurrence of key.
func (k keyLines) indexed(key toml.Key) string {
	plain := strings.Join(key, ".")
	for _, e := range k.order {
		if e.plain == plain {
			return e.indexed
		}
	}
	return plain
}

// at is the indexed path of the key the decoder calls last (its
// dotted form, quoting aside) on or before line.
func (k keyLines) at(last string, line int) string {
	plain := strings.ReplaceAll(last, `"`, "")
	best := ""
	for _, e := range k.order {
		if e.line > line {
			break
		}
		if e.plain == plain {
			best = e.indexed
		}
	}
	if best == "" {
		return plain
	}
	return best
}

// scanKeys walks data as TOML closely enough to find where keys are:
// table headers, keys at the start of a statement, and the strings of an
// array value. It never fails: what it cannot follow, it leaves out.
func scanKeys(data []byte) keyLines {
	k := keyLines{lines: map[string]int{}}
	s := string(data)
	line := 1
	i := 0
	table, plainTable := "", ""
	arrays := map[string]int{} // array-table path (plain) → elements so far
	add := func(plain, indexed string, l int) {
		if _, ok := k.lines[indexed]; !ok {
			k.lines[indexed] = l
		}
		k.order = append(k.order, keyAt{plain, indexed, l})
	}
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
	}
	// readKey reads a dotted key up to stop, returning its segments.
	readKey := func(stop string) []string {
		var segs []string
		for i < len(s) {
			skipSpace()
			if i >= len(s) || strings.IndexByte(stop, s[i]) >= 0 || s[i] == '\n' {
				break
			}
			switch s[i] {
			case '"', '\'':
				q := s[i]
				j := i + 1
				var b strings.Builder
				for j < len(s) && s[j] != q && s[j] != '\n' {
					if q == '"' && s[j] == '\\' && j+1 < len(s) && s[j+1] != '\n' {
						j++
					}
					b.WriteByte(s[j])
					j++
				}
				segs = append(segs, b.String())
				if j < len(s) && s[j] == q {
					j++
				}
				i = j // at a newline, the main loop counts it
			case '.':
				i++
			default:
				j := i
				for j < len(s) && strings.IndexByte(" \t.\n\r"+stop, s[j]) < 0 {
					j++
				}
				segs = append(segs, s[i:j])
				i = j
			}
		}
		return segs
	}
	// skipString skips the string starting at s[i], counting its lines.
	skipString := func() {
		q := s[i]
		if strings.HasPrefix(s[i:], strings.Repeat(string(q), 3)) {
			end := strings.Repeat(string(q), 3)
			j := strings.Index(s[i+3:], end)
			if j < 0 {
				j = len(s) - i - 3
			}
			line += strings.Count(s[i+3:i+3+j], "\n")
			i += 3 + j + 3
			for i < len(s) && s[i] == q { // """a"""" ends with a quote in the string
				i++
			}
			return
		}
		j := i + 1
		for j < len(s) && s[j] != q && s[j] != '\n' {
			if q == '"' && s[j] == '\\' && j+1 < len(s) && s[j+1] != '\n' {
				j++
			}
			j++
		}
		if j < len(s) && s[j] == q {
			j++
		}
		i = j // at a newline, the value's loop counts it
	}
	for i < len(s) {
		skipSpace()
		if i >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '\n':
			line++
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			arr := strings.HasPrefix(s[i:], "[[")
			if arr {
				i += 2
			} else {
				i++
			}
			segs := readKey("]")
			for i < len(s) && s[i] == ']' {
				i++
			}
			if len(segs) == 0 { // not a header TOML takes: the decoder reports it
				continue
			}
			plainTable = strings.Join(segs, ".")
			table = indexPath(segs, arrays)
			if arr {
				n := arrays[plainTable]
				arrays[plainTable] = n + 1
				table = indexPath(segs[:len(segs)-1], arrays)
				if table != "" {
					table += "."
				}
				table += segs[len(segs)-1] + "[" + strconv.Itoa(n) + "]"
			}
			add(plainTable, table, line)
		default:
			segs := readKey("=")
			if i >= len(s) || s[i] != '=' || len(segs) == 0 {
				for i < len(s) && s[i] != '\n' { // not a key: skip the line
					i++
				}
				continue
			}
			i++
			plain, indexed := strings.Join(segs, "."), strings.Join(segs, ".")
			if table != "" {
				plain, indexed = plainTable+"."+plain, table+"."+indexed
			}
			add(plain, indexed, line)
			// The value, to the end of the statement.
			var open []byte // the brackets and braces the value has open
			elem := 0
			for i < len(s) {
				c := s[i]
				switch {
				case c == '"' || c == '\'':
					if len(open) == 1 && open[0] == '[' {
						add(plain, indexed+"["+strconv.Itoa(elem)+"]", line)
						elem++
					}
					skipString()
					continue
				case c == '[' || c == '{':
					open = append(open, c)
				case (c == ']' || c == '}') && len(open) > 0:
					open = open[:len(open)-1]
				case c == '#':
					for i < len(s) && s[i] != '\n' {
						i++
					}
					continue
				case c == '\n':
					if len(open) == 0 {
						goto next
					}
					line++
				}
				i++
			}
		next:
		}
	}
	return k
}

// indexPath is segs with each array table among its prefixes indexed by
// its current element ("tools.x" under [[tools]] → "tools[1].x").
func indexPath(segs []string, arrays map[string]int) string {
	var b strings.Builder
	for n, seg := range segs {
		if n > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
		if c, ok := arrays[strings.Join(segs[:n+1], ".")]; ok && c > 0 {
			b.WriteString("[" + strconv.Itoa(c-1) + "]")
		}
	}
	return b.String()
}
