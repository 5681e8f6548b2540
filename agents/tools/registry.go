package tools

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sovos/sov/assets"
	"github.com/sovos/sov/model"
)

// All returns every built-in tool, sorted by name. Each call builds fresh
// values: tools hold no state between runs (a run's state is its Env).
func All() []Tool {
	ts := []Tool{
		VaultSearch{}, VaultGet{}, VaultAsk{},
		WorkspaceRead{}, WorkspaceWrite{},
		LedgerNote{}, FeedsList{}, FeedsDigest{},
		WalletBalance{}, WalletQuote{}, WalletPay{},
		AskUser{}, BrandAsk{}, DAORun{},
	}
	slices.SortFunc(ts, func(a, b Tool) int { return cmp.Compare(a.Spec().Name, b.Spec().Name) })
	return ts
}

// Lookup finds a built-in tool by name ("vault.search").
func Lookup(name string) (Tool, bool) {
	for _, t := range All() {
		if t.Spec().Name == name {
			return t, true
		}
	}
	return nil, false
}

// Names lists the built-in tools' names, sorted.
func Names() []string {
	var out []string
	for _, t := range All() {
		out = append(out, t.Spec().Name)
	}
	return out
}

// spec is a tool's Spec: its name, its description from assets/tools and
// its argument schema.
func spec(name, params string) model.Tool {
	return model.Tool{Name: name, Description: assets.Tool(name), Parameters: json.RawMessage(params)}
}

// decodeArgs reads a call's arguments into v, refusing unknown fields. The
// grammar makes a model's arguments valid, but a tool is also called from
// outside (MCP clients, tests), so each tool checks what it relies on.
func decodeArgs(args json.RawMessage, v any) error {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	d := json.NewDecoder(bytes.NewReader(args))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadArguments, err)
	}
	return nil
}

// jsonText is v as compact JSON, the text of a structured result.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", err.Error())
	}
	return string(b)
}
