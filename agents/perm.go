package agents

// The permission engine: an agent file's rules compiled into a Policy.
//
// Order. For a call of tool T: T not listed in the agent file → deny. Then
// T's deny patterns, then taint (below), then T's ask patterns, then T's
// allow patterns; the first that matches decides. A call none matches
// takes its level's default: read → allow; outside, write and money → ask;
// except that a tool with allow patterns asks for any call they do not
// match (listing what is allowed means the rest needs asking).
//
// Taint. Once outside content (feeds, brands, the web, MCP results: any
// tool result marked Tainted) is in a run's context, every write- and
// money-level call (workspace.write, ledger.note, wallet.pay, votes) is
// raised to ask for the rest of the run, whatever an allow rule says; only a
// deny rule is stronger. An agent may make this stricter, never looser:
// [taint] verdict = "deny" refuses those calls outright, and
// [taint] tools = ["vault.get", …] raises more tools the same way.
//
// Argument patterns (the strings in allow, ask and deny):
//
//	pattern := "" | "*" | cond { "," cond }     all conds must hold
//	cond    := key op value
//	key     := name { "." name }                an argument (dots: nested objects)
//	op      := "=" | "!=" | "<" | "<=" | ">" | ">="
//	value   := "*" | glob | `"`literal`"` | number [unit]
//
//   - "" and "*" match every call.
//   - key=* holds when the argument is present (any value).
//   - key=glob holds when the argument's text matches glob, where * is any
//     run of characters (slashes included), after trimming spaces around
//     the argument as the tools do; key="literal" (JSON string
//     syntax) matches exactly, so a literal may hold * or a comma. Text
//     compares ignoring case, so 0xABC… and 0xabc… are one address and a
//     deny cannot be dodged by changing case.
//   - key=N, key<=N and the other comparisons with a number compare
//     numerically, exactly (decimal, not floating point): the argument is a
//     JSON number or a string holding one ("0.5", "0.5 USDC"). With a unit
//     (`amount<=1 USDC`) the argument's unit must also be that unit: the
//     word after its number, or else the call's "asset" argument.
//   - max=N [unit] is shorthand for amount<=N [unit]: `max=1 USDC` allows
//     paying at most 1 USDC.
//   - key!=value is exactly "not key=value": it holds when the argument is
//     missing, too, so deny = ["collection!=work"] also refuses a search
//     that names no collection.
//
// Otherwise a cond whose argument is missing, is an object or array (only
// key=* matches those), or cannot be compared (<, <=, >, >= against text)
// does not hold. Argument names match as Go's encoding/json matches them
// (ignoring case), the way the tools read them; arguments that are not one
// JSON object, or that repeat a name, are denied outright, because a tool
// might read a different value from them than the rule saw.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/model"
)

// Taint is an agent's taint rule, which may only be stricter than the
// default (write and money calls raised to ask once outside content is in
// the run).
type Taint struct {
	// Verdict is what the raised calls become: "ask" (default) or "deny".
	Verdict Verdict `toml:"verdict" json:"verdict,omitempty"`
	// Tools are raised too, beyond every write- and money-level tool.
	Tools []string `toml:"tools" json:"tools,omitempty"`
}

// Permissions is the Policy an agent file's rules compile to.
type Permissions struct {
	tools map[string]*toolPerms
	taint Taint
	extra map[string]bool // Taint.Tools
}

var _ Policy = (*Permissions)(nil)

type toolPerms struct {
	deny, ask, allow []Pattern
}

// RuleError is a rule that does not compile: Field names it as in the agent
// file (`tools[2].allow[0]`, `taint.verdict`).
type RuleError struct {
	Field string
	Err   error
}

func (e *RuleError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *RuleError) Unwrap() error { return e.Err }

// Compile checks rules and taint and compiles them. Tool names are not
// checked against the tools that exist (Load does that).
func Compile(rules []ToolRule, taint Taint) (*Permissions, error) {
	p := &Permissions{tools: map[string]*toolPerms{}, taint: taint, extra: map[string]bool{}}
	switch taint.Verdict {
	case "":
		p.taint.Verdict = Ask
	case Ask, Deny:
	default:
		return nil, &RuleError{"taint.verdict", fmt.Errorf("%q: write \"ask\" or \"deny\" (taint can only be made stricter)", string(taint.Verdict))}
	}
	for i, t := range taint.Tools {
		if t == "" {
			return nil, &RuleError{fmt.Sprintf("taint.tools[%d]", i), errors.New("empty tool name")}
		}
		p.extra[t] = true
	}
	for i, r := range rules {
		if r.Name == "" {
			return nil, &RuleError{fmt.Sprintf("tools[%d].name", i), errors.New("missing: every [[tools]] entry names its tool")}
		}
		if _, dup := p.tools[r.Name]; dup {
			return nil, &RuleError{fmt.Sprintf("tools[%d].name", i), fmt.Errorf("%q is listed twice: merge its rules into one entry", r.Name)}
		}
		tp := &toolPerms{}
		for _, l := range []struct {
			kind string
			src  []string
			dst  *[]Pattern
		}{{"deny", r.Deny, &tp.deny}, {"ask", r.Ask, &tp.ask}, {"allow", r.Allow, &tp.allow}} {
			for j, s := range l.src {
				pat, err := ParsePattern(s)
				if err != nil {
					return nil, &RuleError{fmt.Sprintf("tools[%d].%s[%d]", i, l.kind, j), err}
				}
				*l.dst = append(*l.dst, pat)
			}
		}
		p.tools[r.Name] = tp
	}
	return p, nil
}

// Permissions compiles the agent's rules (Load has checked they compile).
func (a *Agent) Permissions() (*Permissions, error) { return Compile(a.Tools, a.Taint) }

// Decide implements Policy; see the order at the top of this file.
func (p *Permissions) Decide(call model.ToolCall, level tools.Level, tainted bool) Decision {
	if p == nil {
		return Decision{Verdict: Deny, Rule: "unlisted", Reason: "this run has no permission rules"}
	}
	tp, ok := p.tools[call.Name]
	if !ok {
		return Decision{Verdict: Deny, Rule: "unlisted", Reason: fmt.Sprintf("%s is not one of this agent's tools", call.Name)}
	}
	args, err := parseArgs(call.Arguments)
	if err != nil {
		return Decision{Verdict: Deny, Rule: "arguments", Reason: fmt.Sprintf("%s: %v", call.Name, err)}
	}
	rule := func(kind string, pat Pattern) string { return kind + " " + call.Name + "(" + pat.String() + ")" }
	for _, pat := range tp.deny {
		if pat.match(args) {
			r := rule("deny", pat)
			return Decision{Verdict: Deny, Rule: r, Reason: "denied by the agent's rule " + r}
		}
	}
	if tainted && (level == tools.Write || level == tools.Money || p.extra[call.Name]) {
		if p.taint.Verdict == Deny {
			return Decision{Verdict: Deny, Rule: "taint", Reason: fmt.Sprintf("outside content is in this run, and this agent refuses %s for the rest of the run after that", call.Name)}
		}
		return Decision{Verdict: Ask, Rule: "taint", Reason: fmt.Sprintf("outside content is in this run, so %s needs the user's approval for the rest of the run", call.Name)}
	}
	for _, pat := range tp.ask {
		if pat.match(args) {
			r := rule("ask", pat)
			return Decision{Verdict: Ask, Rule: r, Reason: "needs the user's approval (the agent's rule " + r + ")"}
		}
	}
	for _, pat := range tp.allow {
		if pat.match(args) {
			return Decision{Verdict: Allow, Rule: rule("allow", pat)}
		}
	}
	if len(tp.allow) > 0 {
		return Decision{Verdict: Ask, Rule: "default", Reason: fmt.Sprintf("no allow rule of this agent's %s matches this call, so it needs the user's approval", call.Name)}
	}
	if level == tools.Read {
		return Decision{Verdict: Allow, Rule: "default"}
	}
	return Decision{Verdict: Ask, Rule: "default", Reason: fmt.Sprintf("%s is a %s tool and no rule allows this call, so it needs the user's approval", call.Name, level)}
}

// Pattern is one compiled argument pattern (grammar at the top of this
// file).
type Pattern struct {
	src   string
	conds []cond
}

// String is the pattern as written ("*" for any call).
func (p Pattern) String() string {
	if len(p.conds) == 0 {
		return "*"
	}
	return p.src
}

type op int

const (
	opEq op = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

type cond struct {
	path    []string // folded argument names
	op      op
	any     bool     // value "*"
	text    string   // folded glob or literal
	literal bool     // quoted: no wildcards
	num     *big.Rat // numeric value, when the value is a number
	unit    string   // folded unit after a number
}

// ParsePattern compiles one argument pattern.
func ParsePattern(s string) (Pattern, error) {
	p := Pattern{src: strings.TrimSpace(s)}
	if p.src == "" || p.src == "*" {
		return p, nil
	}
	rest := p.src
	for {
		c, r, err := parseCond(rest)
		if err != nil {
			return Pattern{}, fmt.Errorf("pattern %q: %w", p.src, err)
		}
		p.conds = append(p.conds, c)
		r = strings.TrimSpace(r)
		if r == "" {
			return p, nil
		}
		if r[0] != ',' {
			return Pattern{}, fmt.Errorf("pattern %q: expected a comma before %q (quote a value that holds one)", p.src, r)
		}
		rest = r[1:]
	}
}

func parseCond(s string) (cond, string, error) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, "=!<>,")
	if i < 0 || s[i] == ',' {
		return cond{}, "", fmt.Errorf("%q has no operator: write name=value (or !=, <, <=, >, >=)", strings.TrimSpace(cut(s, ',')))
	}
	key := strings.TrimSpace(s[:i])
	if key == "" {
		return cond{}, "", errors.New("a condition has no argument name before its operator")
	}
	var c cond
	for _, part := range strings.Split(key, ".") {
		if part == "" || strings.ContainsAny(part, " \t\"*") {
			return cond{}, "", fmt.Errorf("argument name %q: use names like payTo or options.limit", key)
		}
		c.path = append(c.path, fold(part))
	}
	s = s[i:]
	switch {
	case strings.HasPrefix(s, "!="):
		c.op, s = opNe, s[2:]
	case strings.HasPrefix(s, "<="):
		c.op, s = opLe, s[2:]
	case strings.HasPrefix(s, ">="):
		c.op, s = opGe, s[2:]
	case strings.HasPrefix(s, "<"):
		c.op, s = opLt, s[1:]
	case strings.HasPrefix(s, ">"):
		c.op, s = opGt, s[1:]
	case strings.HasPrefix(s, "="):
		c.op, s = opEq, s[1:]
	default:
		return cond{}, "", fmt.Errorf("%q: unknown operator (use =, !=, <, <=, >, >=)", key)
	}
	s = strings.TrimLeft(s, " \t")
	var val string
	if strings.HasPrefix(s, `"`) {
		dec := json.NewDecoder(strings.NewReader(s))
		var lit string
		if err := dec.Decode(&lit); err != nil {
			return cond{}, "", fmt.Errorf("%s: quoted value: %v", key, err)
		}
		c.text, c.literal = fold(lit), true
		s = s[dec.InputOffset():]
	} else {
		val, s = strings.TrimSpace(cut(s, ',')), s[len(cut(s, ',')):]
		if val == "" {
			return cond{}, "", fmt.Errorf("%s: no value after the operator (write * for any value)", key)
		}
		if strings.Contains(val, `"`) {
			return cond{}, "", fmt.Errorf("%s: a quoted value must be quoted whole", key)
		}
		if strings.Contains(val, "…") {
			return cond{}, "", fmt.Errorf("%s: … is not a wildcard: write * for any run of characters", key)
		}
		if strings.Contains(val, "=") {
			return cond{}, "", fmt.Errorf("%s: value %q holds =: a missing comma? (quote a value that holds =)", key, val)
		}
		switch {
		case val == "*":
			c.any = true
		default:
			num, unit, ok := parseAmount(val)
			if ok {
				c.num, c.unit = num, fold(unit)
			}
			c.text = fold(val)
		}
	}
	if len(c.path) == 1 && c.path[0] == fold("max") {
		if c.op != opEq || c.num == nil {
			return cond{}, "", fmt.Errorf("max: write max=N or max=N UNIT (the largest amount), e.g. max=1 USDC")
		}
		c.path, c.op = []string{fold("amount")}, opLe
	}
	if c.op >= opLt && c.num == nil {
		return cond{}, "", fmt.Errorf("%s: %q is not a number; <, <=, > and >= compare numbers", key, val)
	}
	if c.any && c.op != opEq {
		return cond{}, "", fmt.Errorf("%s: * (any value) goes with = only", key)
	}
	return c, s, nil
}

// cut is s up to its first comma.
func cut(s string, sep byte) string {
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i]
	}
	return s
}

// parseAmount reads "N" or "N UNIT" with N a decimal number such as 1,
// 0.25 or 1e-6 (no hex, fractions or Inf; an exponent of at most three
// digits, so a hostile argument cannot make a huge number).
func parseAmount(s string) (*big.Rat, string, bool) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), " ")
	unit = strings.TrimSpace(unit)
	if !amountRE.MatchString(num) || (unit != "" && !unitRE.MatchString(unit)) {
		return nil, "", false
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return nil, "", false
	}
	return r, unit, true
}

var unitRE = regexp.MustCompile(`^[\pL\pN][\pL\pN._-]*$`)

var amountRE = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$`)

func (p Pattern) match(args map[string]any) bool {
	for _, c := range p.conds {
		if !c.holds(args) {
			return false
		}
	}
	return true
}

func (c cond) holds(args map[string]any) bool {
	if c.op == opNe {
		c.op = opEq
		return !c.holds(args)
	}
	var v any = args
	var parent map[string]any
	for _, k := range c.path {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[k]; !ok {
			return false
		}
		parent = m
	}
	if c.any {
		return true
	}
	var text string
	switch x := v.(type) {
	case string:
		text = x
	case json.Number:
		text = x.String()
	case bool:
		text = strconv.FormatBool(x)
	case nil:
		text = "null"
	default:
		return false // objects and arrays match only key=*
	}
	// The tools trim what they read, so " 0xabc" must be 0xabc here too.
	text = strings.TrimSpace(text)
	if c.num == nil || c.literal {
		return c.textMatch(text)
	}
	num, unit, ok := parseAmount(text)
	if !ok {
		// A number pattern against text that is not a number: = may still
		// match it as text.
		return c.op == opEq && c.textMatch(text)
	}
	if c.unit != "" {
		if unit == "" {
			if a, ok := parent[fold("asset")].(string); ok {
				unit = strings.TrimSpace(a)
			}
		}
		if fold(unit) != c.unit {
			return false
		}
	}
	cmp := num.Cmp(c.num)
	switch c.op {
	case opEq:
		return cmp == 0
	case opLt:
		return cmp < 0
	case opLe:
		return cmp <= 0
	case opGt:
		return cmp > 0
	default:
		return cmp >= 0
	}
}

func (c cond) textMatch(text string) bool {
	text = fold(text)
	if c.literal {
		return text == c.text
	}
	return glob(c.text, text)
}

// glob matches pattern against s, * being any run of characters.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// fold maps s to a form in which two strings are equal exactly when
// encoding/json would match them as names (Unicode simple case folding):
// each rune becomes the smallest rune of its folding orbit.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

// parseArgs decodes a call's arguments into nested maps with folded names,
// refusing anything a tool could read differently from the rules: not one
// JSON object, trailing data, or a name given twice (ignoring case).
func parseArgs(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	if !utf8.Valid(raw) {
		return nil, errors.New("arguments are not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errors.New("arguments are not a JSON object")
	}
	m, err := readObject(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("arguments have data after the JSON object")
	}
	return m, nil
}

func readObject(dec *json.Decoder) (map[string]any, error) {
	m := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("arguments are not valid JSON: %w", err)
		}
		k := fold(tok.(string))
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("argument %q is given twice", tok.(string))
		}
		if m[k], err = readValue(dec); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, fmt.Errorf("arguments are not valid JSON: %w", err)
	}
	return m, nil
}

func readValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("arguments are not valid JSON: %w", err)
	}
	switch tok {
	case json.Delim('{'):
		return readObject(dec)
	case json.Delim('['):
		var a []any
		for dec.More() {
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("arguments are not valid JSON: %w", err)
		}
		return a, nil
	}
	return tok, nil
}
