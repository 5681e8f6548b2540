package wallet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sovos/sov/internal/config"
	"github.com/sovos/sov/internal/ledger"
)

// AddRPC adds RPC URLs to a built-in or configured network, or defines a
// new network nc (a local dev chain, a testnet) under nc.Name. An EVM
// network added without a chain id is asked for it once, over its first
// RPC. The merged table is validated before anything changes.
func (c *Config) AddRPC(ctx context.Context, nc NetworkConfig) error {
	if len(nc.RPC) == 0 {
		return fmt.Errorf("%w: an RPC URL is required", ErrInvalidNetwork)
	}
	nets, err := c.All()
	if err != nil {
		return err
	}
	next := *c
	next.RPC = map[string][]string{}
	for k, v := range c.RPC {
		next.RPC[k] = v
	}
	next.Networks = append([]NetworkConfig(nil), c.Networks...)
	existing, known := FindNetwork(nets, nc.Name)
	if known && existing.Builtin && nc.ChainID == 0 && nc.USDC == "" && nc.Family == "" {
		next.RPC[existing.Name] = append(next.RPC[existing.Name], nc.RPC...)
	} else {
		if (nc.Family == "" || nc.Family == FamilyEVM) && nc.ChainID == 0 {
			id, err := ChainIDAt(ctx, nc.RPC[0])
			if err != nil {
				return err
			}
			nc.ChainID = id
		}
		replaced := false
		for i := range next.Networks {
			if next.Networks[i].Name == nc.Name {
				next.Networks[i], replaced = nc, true
			}
		}
		if !replaced {
			next.Networks = append(next.Networks, nc)
		}
	}
	if _, err := next.All(); err != nil {
		return err
	}
	*c = next
	return nil
}

// LoadNetworks reads the [wallet] table of sov's config file f (nil: none)
// and returns the network table it makes with the built-in one.
func LoadNetworks(f *config.File) ([]Network, error) {
	var c Config
	if f != nil {
		if err := f.Section("wallet", &c); err != nil {
			return nil, err
		}
	}
	return c.All()
}

// SaveRPC adds nc to the [wallet] table of the config file f (see
// Config.AddRPC) and writes the file.
func SaveRPC(ctx context.Context, f *config.File, nc NetworkConfig) error {
	var c Config
	if err := f.Section("wallet", &c); err != nil {
		return err
	}
	if err := c.AddRPC(ctx, nc); err != nil {
		return err
	}
	return config.SetSection(f.Path(), "wallet", c)
}

// UnreachableRPCError means an RPC could not be asked for its chain id.
type UnreachableRPCError struct {
	URL string
	Err error
}

func (e *UnreachableRPCError) Error() string {
	return fmt.Sprintf("cannot read the chain id from %s: %v", e.URL, e.Err)
}

func (e *UnreachableRPCError) Unwrap() error { return e.Err }

// ChainIDAt asks an EVM RPC for its chain id.
func ChainIDAt(ctx context.Context, url string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := newEthClient(url, 10*time.Second)
	if err != nil {
		return 0, &UnreachableRPCError{URL: url, Err: err}
	}
	id, err := cl.ChainID(ctx)
	if err != nil {
		return 0, &UnreachableRPCError{URL: url, Err: err}
	}
	return id.Int64(), nil
}

// PolicyEdit is a change to the policy. Amount fields take a decimal, or
// "none" to remove that limit; empty leaves it as it is.
type PolicyEdit struct {
	Reset                       bool
	Asset                       string
	PerTx, PerDay, ApproveAbove string
	MaxFee                      string   // per-transaction network fee cap, for a native Asset ("none": the default)
	PayeeDaily                  []string // PAYEE=AMOUNT, for Asset
	Allow, Disallow             []string
	// AllowCall and DisallowCall add and remove contract calls made
	// without asking (NETWORK:0xCONTRACT:0xSELECTOR each).
	AllowCall, DisallowCall []string
	// ApproveMessages requires approval for message signatures from now
	// on, NoApproveMessages stops requiring it; neither leaves it as is.
	ApproveMessages, NoApproveMessages bool
}

// ErrInvalidNetwork wraps every reason a network cannot be added that lies
// in the request itself.
var ErrInvalidNetwork = errors.New("invalid network")

// ErrEditNeedsAsset means an amount limit was given without its asset.
var ErrEditNeedsAsset = errors.New("amount limits need the asset they apply to")

// ErrInvalidEdit wraps every reason a policy edit is malformed.
var ErrInvalidEdit = errors.New("invalid policy change")

// Apply returns p with e applied, and whether anything changed.
func (p Policy) Apply(e PolicyEdit) (Policy, bool, error) {
	changed := false
	if e.Reset {
		p, changed = Policy{}, true
	}
	if (e.PerTx != "" || e.PerDay != "" || e.ApproveAbove != "" || e.MaxFee != "" || len(e.PayeeDaily) > 0) && e.Asset == "" {
		return p, false, ErrEditNeedsAsset
	}
	if e.Asset != "" {
		asset := strings.ToUpper(e.Asset)
		limits := map[string]Limit{}
		for k, v := range p.Limits {
			limits[k] = v
		}
		l := limits[asset]
		for _, f := range []struct {
			v   string
			dst *string
		}{{e.PerTx, &l.PerTx}, {e.PerDay, &l.PerDay}, {e.ApproveAbove, &l.ApproveAbove}, {e.MaxFee, &l.MaxFee}} {
			switch f.v {
			case "":
			case "none":
				*f.dst, changed = "", true
			default:
				if _, err := ParseAmount(f.v); err != nil {
					return p, false, fmt.Errorf("%w: %v", ErrInvalidEdit, err)
				}
				*f.dst, changed = f.v, true
			}
		}
		limits[asset], p.Limits = l, limits
		for _, pd := range e.PayeeDaily {
			payee, amt, ok := strings.Cut(pd, "=")
			if !ok {
				return p, false, fmt.Errorf("%w: a payee limit is PAYEE=AMOUNT, got %q", ErrInvalidEdit, pd)
			}
			if _, err := ParseAmount(amt); err != nil {
				return p, false, fmt.Errorf("%w: %v", ErrInvalidEdit, err)
			}
			pdm := map[string]map[string]string{}
			for k, v := range p.PayeeDaily {
				pdm[k] = v
			}
			m := map[string]string{}
			for k, v := range pdm[payee] {
				m[k] = v
			}
			m[asset], pdm[payee], p.PayeeDaily, changed = amt, m, pdm, true
		}
	}
	if len(e.Allow) > 0 {
		p.Allow, changed = append(append([]string(nil), p.Allow...), e.Allow...), true
	}
	for _, x := range e.Disallow {
		var out []string
		for _, y := range p.Allow {
			if !SamePayee(x, y) {
				out = append(out, y)
			}
		}
		p.Allow, changed = out, true
	}
	for _, x := range e.AllowCall {
		r, err := ParseCallRule(x)
		if err != nil {
			return p, false, fmt.Errorf("%w: %v", ErrInvalidEdit, err)
		}
		if !slices.Contains(p.AllowCalls, r.String()) {
			p.AllowCalls, changed = append(slices.Clone(p.AllowCalls), r.String()), true
		}
	}
	for _, x := range e.DisallowCall {
		r, err := ParseCallRule(x)
		if err != nil {
			return p, false, fmt.Errorf("%w: %v", ErrInvalidEdit, err)
		}
		if i := slices.Index(p.AllowCalls, r.String()); i >= 0 {
			p.AllowCalls, changed = slices.Delete(slices.Clone(p.AllowCalls), i, i+1), true
		}
	}
	switch {
	case e.ApproveMessages && e.NoApproveMessages:
		return p, false, fmt.Errorf("%w: message approval cannot be both required and not", ErrInvalidEdit)
	case e.ApproveMessages || e.NoApproveMessages:
		p.ApproveMessages, changed = e.ApproveMessages, true
	}
	return p, changed, nil
}

// EditPolicy applies e to the stored policy and saves it when it changed.
// Showing the policy (an empty edit) needs nothing. A change needs the
// person's approval through the session's approver, every time: the wallet
// passphrase typed at a prompt. So neither the process the policy limits
// nor anything it runs (a grant has no way here at all) can loosen it; a
// headless session cannot change it. Refusals are recorded like any other
// permission decision.
func (s *Session) EditPolicy(ctx context.Context, e PolicyEdit) (Policy, error) {
	w := s.w
	old, err := w.LoadPolicy()
	if err != nil && !(e.Reset && errors.Is(err, ErrCorruptPolicy)) {
		return old, err
	}
	p, changed, err := old.Apply(e)
	if err != nil || !changed {
		return p, err
	}
	refused := &RefusedError{Rule: RuleApproval, Reason: "changing the wallet policy needs the wallet passphrase typed by a person", Headless: true}
	if s.self.approve != nil {
		summary := fmt.Sprintf("Wallet policy change.\nNow:\n%s\nAfter:\n%s", indent(old.String()), indent(p.String()))
		if refused, err = w.approval(ctx, s.self.approve, summary, "the policy limits what can be paid and signed"); err != nil {
			return old, err
		}
	}
	if refused != nil {
		f := facts{"action": "refused", "kind": "policy-change", "rule": refused.Rule, "reason": refused.Reason}
		if refused.Headless {
			f["headless"] = true
		}
		if err := w.record(ctx, ledger.KindPermission, s.self.principal, nil, f, nil); err != nil {
			return old, err
		}
		return old, refused
	}
	return p, w.setPolicy(p, s.self.principal)
}

// indent indents each line of s by two spaces.
func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
