package agents

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sovos/sov/agents/tools"
	"github.com/sovos/sov/model"
)

func TestPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		args    string
		want    bool
	}{
		// Any call.
		{"", `{"x":1}`, true},
		{"*", `{}`, true},
		{"  *  ", `{"x":1}`, true},
		// Exact text, ignoring case and the spaces the tools trim.
		{"collection=work", `{"collection":"work"}`, true},
		{"collection=work", `{"collection":"Work"}`, true},
		{"collection=work", `{"collection":" work "}`, true},
		{"collection=work", `{"collection":"work2"}`, false},
		{"collection=work", `{"collection":"private"}`, false},
		{"collection=work", `{}`, false},
		{"collection=work", `{"collection":["work"]}`, false},
		{"payTo=0xabcdef", `{"payTo":"0xABCDEF"}`, true},
		// Names match as encoding/json matches them.
		{"payTo=0xabc", `{"PAYTO":"0xabc"}`, true},
		{"payto=0xabc", `{"payTo":"0xabc"}`, true},
		// Globs.
		{"path=notes/*", `{"path":"notes/a/b.md"}`, true},
		{"path=notes/*", `{"path":"secrets/notes/a"}`, false},
		{"path=*.md", `{"path":"x.md"}`, true},
		{"path=*.md", `{"path":"x.md.sh"}`, false},
		{"path=a*b*c", `{"path":"aXbYc"}`, true},
		{"path=a*b*c", `{"path":"aXcYb"}`, false},
		{"path=a*a", `{"path":"a"}`, false},
		{"payTo=0xabc*", `{"payTo":"0xABC123"}`, true},
		// Quoted literals: * and commas are themselves.
		{`query="a, b"`, `{"query":"a, b"}`, true},
		{`query="a*"`, `{"query":"abc"}`, false},
		{`query="a*"`, `{"query":"A*"}`, true},
		{`query="say \"hi\""`, `{"query":"say \"hi\""}`, true},
		// Presence.
		{"options=*", `{"options":{"a":1}}`, true},
		{"options=*", `{"options":null}`, true},
		{"options=*", `{}`, false},
		// Nested.
		{"options.limit<=5", `{"options":{"limit":5}}`, true},
		{"options.limit<=5", `{"options":{"limit":6}}`, false},
		{"options.limit<=5", `{"options":5}`, false},
		// Numbers compare numerically and exactly.
		{"k=5", `{"k":5}`, true},
		{"k=5", `{"k":5.0}`, true},
		{"k=5", `{"k":"5.00"}`, true},
		{"k=5", `{"k":50}`, false},
		{"amount<=1", `{"amount":"0.999999999999999999999"}`, true},
		{"amount<=1", `{"amount":"1.000000000000000000001"}`, false},
		{"amount<1", `{"amount":"1"}`, false},
		{"amount>100", `{"amount":"100.5"}`, true},
		{"amount>100", `{"amount":"1e3"}`, true},
		{"amount>=100", `{"amount":100}`, true},
		{"amount>100", `{"amount":"lots"}`, false},
		{"amount>100", `{"amount":"1e99999"}`, false}, // not an amount: no huge number is made
		{"amount>100", `{}`, false},
		// max= and units: the value's own unit, else the asset argument.
		{"max=1 USDC", `{"amount":"0.5","asset":"USDC"}`, true},
		{"max=1 USDC", `{"amount":"0.5","asset":"usdc"}`, true},
		{"max=1 USDC", `{"amount":"1","asset":"USDC"}`, true},
		{"max=1 USDC", `{"amount":"1.01","asset":"USDC"}`, false},
		{"max=1 USDC", `{"amount":"0.5","asset":"ETH"}`, false},
		{"max=1 USDC", `{"amount":"0.5"}`, false},
		{"max=1 USDC", `{"amount":"0.5 USDC"}`, true},
		{"max=1 USDC", `{"amount":"0.5 ETH","asset":"USDC"}`, false},
		{"max=1", `{"amount":"0.5","asset":"ETH"}`, true},
		{"max=1", `{"amount":2}`, false},
		{"amount<=1 usdc", `{"amount":"1","asset":" USDC "}`, true},
		// Several conditions: all must hold.
		{"payTo=0xabc*, max=1 USDC", `{"payTo":"0xabc1","amount":"1","asset":"USDC"}`, true},
		{"payTo=0xabc*, max=1 USDC", `{"payTo":"0xdef1","amount":"1","asset":"USDC"}`, false},
		{"payTo=0xabc*, max=1 USDC", `{"payTo":"0xabc1","amount":"2","asset":"USDC"}`, false},
		// != is the negation of =, so a missing argument is "not equal".
		{"collection!=work", `{"collection":"private"}`, true},
		{"collection!=work", `{"collection":"WORK"}`, false},
		{"collection!=work", `{}`, true},
		{"amount!=1 USDC", `{"amount":"1","asset":"ETH"}`, true},
		{"amount!=1 USDC", `{"amount":"1","asset":"USDC"}`, false},
		// Booleans and null as text.
		{"append=true", `{"append":true}`, true},
		{"append=true", `{"append":false}`, false},
		{"x=null", `{"x":null}`, true},
	} {
		p, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tc.pattern, err)
			continue
		}
		args, err := parseArgs(json.RawMessage(tc.args))
		if err != nil {
			t.Errorf("parseArgs(%s): %v", tc.args, err)
			continue
		}
		if got := p.match(args); got != tc.want {
			t.Errorf("%q on %s = %v, want %v", tc.pattern, tc.args, got, tc.want)
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, tc := range []struct{ pattern, msg string }{
		{"payTo 0xabc", "no operator"},
		{"=x", "no argument name"},
		{"a=", "no value"},
		{"a=1,", "no operator"},
		{"a=1 b=2", "missing comma"},
		{"a=hello world", ""}, // text with a space is one value
		{"a=x, , b=y", "no operator"},
		{"amount<=lots", "not a number"},
		{"amount>*", "not a number"},
		{"a!=*", "goes with = only"},
		{"max=lots", "max=N"},
		{"max<=1", "max=N"},
		{`max="1"`, "max=N"},
		{`a="unterminated`, "quoted value"},
		{`a="x"y`, "expected a comma"},
		{`a=x"y"`, "quoted whole"},
		{"a..b=1", "argument name"},
		{"a b=1", "argument name"},
		{"a*=1", "argument name"},
		{"payTo=0xabc…", "not a wildcard"},
	} {
		_, err := ParsePattern(tc.pattern)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("ParsePattern(%q): %v", tc.pattern, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParsePattern(%q) = %v, want an error saying %q", tc.pattern, err, tc.msg)
		}
	}
}

func toolCall(name, args string) model.ToolCall {
	return model.ToolCall{Name: name, Arguments: json.RawMessage(args)}
}

func TestDecide(t *testing.T) {
	rules := []ToolRule{
		{Name: "vault.search", Allow: []string{"collection=work"}, Deny: []string{"collection=private"}},
		{Name: "vault.get"},
		{Name: "feeds.list"},
		{Name: "workspace.write", Allow: []string{"path=notes/*"}, Deny: []string{"path=*.sh"}},
		{Name: "wallet.pay",
			Allow: []string{"payTo=0xabc*, max=1 USDC"},
			Ask:   []string{"payTo=0xabc*, amount>1", "payTo=0xabc9*"},
			Deny:  []string{"amount>100", "payTo=0xdead*"}},
		{Name: "ledger.note", Allow: []string{"*"}},
		{Name: "notes.append"},
	}
	p, err := Compile(rules, Taint{})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := Compile(rules, Taint{Verdict: Deny, Tools: []string{"vault.get"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		p       *Permissions
		call    model.ToolCall
		level   tools.Level
		tainted bool
		verdict Verdict
		rule    string
	}{
		// Level defaults.
		{"read default", p, toolCall("vault.get", `{"collection":"x","chunk":1}`), tools.Read, false, Allow, "default"},
		{"outside default", p, toolCall("feeds.list", `{}`), tools.Outside, false, Ask, "default"},
		{"write default", p, toolCall("notes.append", `{}`), tools.Write, false, Ask, "default"},
		{"allow any", p, toolCall("ledger.note", `{}`), tools.Write, false, Allow, "allow ledger.note(*)"},
		{"money default", p, toolCall("wallet.pay", `{"payTo":"0x999","amount":"1","asset":"USDC"}`), tools.Money, false, Ask, "default"},
		// A tool with allow rules asks for what they do not match, even a read.
		{"read outside allow", p, toolCall("vault.search", `{"query":"q","collection":"other"}`), tools.Read, false, Ask, "default"},
		{"read no collection", p, toolCall("vault.search", `{"query":"q"}`), tools.Read, false, Ask, "default"},
		{"read allowed", p, toolCall("vault.search", `{"query":"q","collection":"Work"}`), tools.Read, false, Allow, "allow vault.search(collection=work)"},
		{"read denied", p, toolCall("vault.search", `{"query":"q","collection":"private"}`), tools.Read, false, Deny, "deny vault.search(collection=private)"},
		// deny → ask → allow, first match wins.
		{"pay allowed", p, toolCall("wallet.pay", `{"payTo":"0xABC1","amount":"0.5","asset":"USDC"}`), tools.Money, false, Allow, "allow wallet.pay(payTo=0xabc*, max=1 USDC)"},
		{"ask over limit", p, toolCall("wallet.pay", `{"payTo":"0xabc1","amount":"5","asset":"USDC"}`), tools.Money, false, Ask, "ask wallet.pay(payTo=0xabc*, amount>1)"},
		{"ask before allow", p, toolCall("wallet.pay", `{"payTo":"0xabc91","amount":"0.5","asset":"USDC"}`), tools.Money, false, Ask, "ask wallet.pay(payTo=0xabc9*)"},
		{"deny before ask", p, toolCall("wallet.pay", `{"payTo":"0xabc1","amount":"500","asset":"USDC"}`), tools.Money, false, Deny, "deny wallet.pay(amount>100)"},
		{"deny by case", p, toolCall("wallet.pay", `{"payTo":"0xDEAD01","amount":"0.1","asset":"USDC"}`), tools.Money, false, Deny, "deny wallet.pay(payTo=0xdead*)"},
		{"deny by name case", p, toolCall("wallet.pay", `{"PayTo":"0xdead01","amount":"0.1","asset":"USDC"}`), tools.Money, false, Deny, "deny wallet.pay(payTo=0xdead*)"},
		{"deny padded", p, toolCall("wallet.pay", `{"payTo":"  0xdead01","amount":"0.1","asset":"USDC"}`), tools.Money, false, Deny, "deny wallet.pay(payTo=0xdead*)"},
		{"write allowed", p, toolCall("workspace.write", `{"path":"notes/a.md","content":"x"}`), tools.Write, false, Allow, "allow workspace.write(path=notes/*)"},
		{"write denied first", p, toolCall("workspace.write", `{"path":"notes/run.sh","content":"x"}`), tools.Write, false, Deny, "deny workspace.write(path=*.sh)"},
		{"write elsewhere", p, toolCall("workspace.write", `{"path":"../.ssh/authorized_keys","content":"x"}`), tools.Write, false, Ask, "default"},
		// Taint raises write and money to ask, over allow; deny stays.
		{"taint over allow", p, toolCall("wallet.pay", `{"payTo":"0xabc1","amount":"0.5","asset":"USDC"}`), tools.Money, true, Ask, "taint"},
		{"taint write", p, toolCall("workspace.write", `{"path":"notes/a.md","content":"x"}`), tools.Write, true, Ask, "taint"},
		{"taint ledger", p, toolCall("ledger.note", `{"text":"x"}`), tools.Write, true, Ask, "taint"},
		{"taint deny stays", p, toolCall("wallet.pay", `{"payTo":"0xabc1","amount":"500","asset":"USDC"}`), tools.Money, true, Deny, "deny wallet.pay(amount>100)"},
		{"taint leaves reads", p, toolCall("vault.get", `{"collection":"x","chunk":1}`), tools.Read, true, Allow, "default"},
		{"taint leaves outside", p, toolCall("feeds.list", `{}`), tools.Outside, true, Ask, "default"},
		// A stricter taint rule: deny, and more tools.
		{"strict taint denies", strict, toolCall("wallet.pay", `{"payTo":"0xabc1","amount":"0.5","asset":"USDC"}`), tools.Money, true, Deny, "taint"},
		{"strict taint extra tool", strict, toolCall("vault.get", `{"collection":"x","chunk":1}`), tools.Read, true, Deny, "taint"},
		{"strict untainted", strict, toolCall("vault.get", `{"collection":"x","chunk":1}`), tools.Read, false, Allow, "default"},
		// Unlisted tools and arguments a tool could read otherwise.
		{"unlisted", p, toolCall("vault.ask", `{}`), tools.Read, false, Deny, "unlisted"},
		{"duplicate argument", p, toolCall("wallet.pay", `{"payTo":"0xabc1","payTo":"0xdead","amount":"0.5","asset":"USDC"}`), tools.Money, false, Deny, "arguments"},
		{"duplicate by case", p, toolCall("wallet.pay", `{"payTo":"0xabc1","PAYTO":"0xdead","amount":"0.5","asset":"USDC"}`), tools.Money, false, Deny, "arguments"},
		{"not an object", p, toolCall("vault.get", `[1]`), tools.Read, false, Deny, "arguments"},
		{"trailing data", p, toolCall("vault.get", `{} {}`), tools.Read, false, Deny, "arguments"},
		{"invalid json", p, toolCall("vault.get", `{"a":}`), tools.Read, false, Deny, "arguments"},
		{"no arguments", p, toolCall("vault.get", ``), tools.Read, false, Allow, "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.p.Decide(tc.call, tc.level, tc.tainted)
			if d.Verdict != tc.verdict || d.Rule != tc.rule {
				t.Errorf("Decide = %s by %q (%s), want %s by %q", d.Verdict, d.Rule, d.Reason, tc.verdict, tc.rule)
			}
			if d.Verdict != Allow && d.Reason == "" {
				t.Error("a refusal or question without a reason for the model")
			}
		})
	}
}

func TestDecideNil(t *testing.T) {
	var p *Permissions
	if d := p.Decide(toolCall("vault.get", `{}`), tools.Read, false); d.Verdict != Deny {
		t.Errorf("nil Permissions: %+v", d)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []ToolRule
		taint Taint
		field string
	}{
		{"no name", []ToolRule{{Allow: []string{"*"}}}, Taint{}, "tools[0].name"},
		{"twice", []ToolRule{{Name: "a"}, {Name: "a"}}, Taint{}, "tools[1].name"},
		{"bad ask", []ToolRule{{Name: "a"}, {Name: "b", Ask: []string{"*", "x"}}}, Taint{}, "tools[1].ask[1]"},
		{"looser taint", nil, Taint{Verdict: Allow}, "taint.verdict"},
		{"unknown taint", nil, Taint{Verdict: "maybe"}, "taint.verdict"},
		{"empty taint tool", nil, Taint{Tools: []string{""}}, "taint.tools[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.rules, tc.taint)
			var re *RuleError
			if !errors.As(err, &re) || re.Field != tc.field {
				t.Errorf("err = %v, want a RuleError at %s", err, tc.field)
			}
		})
	}
}

func TestFold(t *testing.T) {
	// encoding/json matches ſ (long s) and K (Kelvin) as s and k.
	var v struct {
		Ask  string `json:"ask"`
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(`{"aſk":"x","\u212aind":"y"}`), &v); err != nil || v.Ask != "x" || v.Kind != "y" {
		t.Skipf("encoding/json no longer folds this way: %+v %v", v, err)
	}
	if fold("aſk") != fold("ASK") || fold("\u212aind") != fold("kind") {
		t.Error("fold disagrees with encoding/json")
	}
}

// FuzzDecide: no pattern or arguments make the engine panic, and arguments
// that do not parse are never allowed.
func FuzzDecide(f *testing.F) {
	f.Add("payTo=0xabc*, max=1 USDC", `{"payTo":"0xabc","amount":"1","asset":"USDC"}`)
	f.Add(`query="a, b", k>=2`, `{"query":"a, b","k":3}`)
	f.Add("options.limit!=5", `{"options":{"limit":[1,{"a":null}]}}`)
	f.Add("*", `{"a":1,"A":2}`)
	f.Fuzz(func(t *testing.T, pattern, args string) {
		p, err := Compile([]ToolRule{{Name: "t", Allow: []string{pattern}}}, Taint{})
		if err != nil {
			return
		}
		d := p.Decide(toolCall("t", args), tools.Money, false)
		if _, perr := parseArgs(json.RawMessage(args)); perr != nil && d.Verdict == Allow {
			t.Fatalf("unparsable arguments %q allowed", args)
		}
	})
}
