package tools

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sovos/sov/assets"
	"github.com/sovos/sov/model"
)

func TestToolsRegistry(t *testing.T) {
	want := map[string]Level{
		"agent.ask_user": Read, "brand.ask": Money, "dao.run": Money, "feeds.list": Outside, "feeds.digest": Outside, "ledger.note": Write,
		"vault.ask": Read,
		"vault.get": Read, "vault.search": Read,
		"wallet.balance": Read, "wallet.pay": Money, "wallet.quote": Read,
		"workspace.read": Read, "workspace.write": Write,
	}
	names := Names()
	if !slices.IsSorted(names) || len(names) != len(want) {
		t.Fatalf("names %v", names)
	}
	for name, level := range want {
		tool, ok := Lookup(name)
		if !ok {
			t.Errorf("%s is not registered", name)
			continue
		}
		if s := tool.Spec(); s.Name != name || tool.Level() != level {
			t.Errorf("%s: spec name %q, level %s, want level %s", name, s.Name, tool.Level(), level)
		}
	}
	if _, ok := Lookup("shell.exec"); ok {
		t.Error("an unknown tool was found")
	}
}

// TestToolsDescriptions: every registered tool has its description in
// assets/tools/NAME.md, every description there is a registered tool, and
// each description names the tool's arguments, so the model reads what the
// schema asks for.
func TestToolsDescriptions(t *testing.T) {
	names := Names()
	for _, d := range assets.Tools() {
		if !slices.Contains(names, d) {
			t.Errorf("assets/tools/%s.md describes no registered tool", d)
		}
	}
	for _, tool := range All() {
		s := tool.Spec()
		if !slices.Contains(assets.Tools(), s.Name) || s.Description != assets.Tool(s.Name) {
			t.Errorf("%s: no description in assets/tools/%s.md", s.Name, s.Name)
			continue
		}
		// the top level is a plain object schema, so the grammar and a
		// permission rule see the same argument names
		var schema struct {
			Type                 string                     `json:"type"`
			Properties           map[string]json.RawMessage `json:"properties"`
			Required             []string                   `json:"required"`
			AdditionalProperties *bool                      `json:"additionalProperties"`
		}
		if err := decodeArgs(s.Parameters, &schema); err != nil || schema.Type != "object" || schema.AdditionalProperties == nil || *schema.AdditionalProperties {
			t.Errorf("%s: schema is not a closed object schema: %v", s.Name, err)
		}
		for arg := range schema.Properties {
			if !strings.Contains(s.Description, arg) {
				t.Errorf("%s: the description does not mention argument %q", s.Name, arg)
			}
		}
	}
}

// TestToolsCompile: the tools' specs compile together into one grammar
// (names, schemas), as the run loop compiles them.
func TestToolsCompile(t *testing.T) {
	var specs []model.Tool
	for _, tool := range All() {
		specs = append(specs, tool.Spec())
	}
	ts, err := model.CompileTools(specs, model.ToolAuto)
	if err != nil {
		t.Fatal(err)
	}
	// the grammar's validator holds the tools' own bounds
	for _, tc := range []struct {
		reply string
		ok    bool
	}{
		{`{"tool":"vault.search","arguments":{"query":"tent","collection":"work"}}`, true},
		{`{"tool":"wallet.pay","arguments":{"payTo":"0x00000000000000000000000000000000000000a1","amount":"1","asset":"USDC"}}`, true},
		{`{"tool":"wallet.balance","arguments":{}}`, true},
		{`{"answer":"done"}`, true},
		{`{"tool":"vault.search","arguments":{"query":"tent","k":99}}`, false},
		{`{"tool":"wallet.pay","arguments":{"to":"0xa1","amount":"1","asset":"USDC"}}`, false},
		{`{"tool":"workspace.write","arguments":{"path":"a.md"}}`, false},
		{`{"tool":"shell.exec","arguments":{}}`, false},
	} {
		if _, err := ts.Parse([]byte(tc.reply)); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.reply, err)
		}
	}
}
