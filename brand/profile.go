// Package brand is sov's brand agent: a brand answers questions from its
// knowledge for a price paid with x402, and signs every paid answer so the
// payer can show what it was told and that it paid for it. The user side
// finds brands through signed announcements from keys it trusts, pays
// within a maximum and checks the signature.
package brand

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/sovos/sov/wallet"
)

// ToolAsk is the tool every brand serves.
const ToolAsk = "brand.ask"

// Pay is one way to be paid: a token on a network (CAIP-2) to an address.
// The token must implement EIP-3009 (x402's exact scheme on EVM).
type Pay struct {
	Network      string `toml:"network" json:"network"` // CAIP-2, eip155:CHAINID
	PayTo        string `toml:"pay_to" json:"payTo"`
	Asset        string `toml:"asset" json:"asset"` // token contract
	Decimals     int    `toml:"decimals" json:"decimals"`
	TokenName    string `toml:"token_name" json:"tokenName"`       // EIP-712 domain name
	TokenVersion string `toml:"token_version" json:"tokenVersion"` // EIP-712 domain version
}

// Profile is a brand's profile, $SOV_HOME/brand/profile.toml.
type Profile struct {
	Name        string `toml:"name"`
	Description string `toml:"description"`
	// Collection is the vault collection the brand answers from.
	Collection string `toml:"collection"`
	// Model names the model (in sov's store, or a path) that answers.
	Model string `toml:"model"`
	// Endpoint is the public base URL announced (http://127.0.0.1:8402).
	Endpoint string `toml:"endpoint"`
	// Prices are per tool, in decimal units of each Pay's token ("0.01").
	Prices map[string]string `toml:"prices"`
	Pay    []Pay             `toml:"pay"`
	// PerMinute is how many paid calls one payer may make per minute
	// (0: 30).
	PerMinute int `toml:"per_minute"`
}

// ErrNoProfile means there is no brand profile yet.
var ErrNoProfile = errors.New("no brand profile")

// ProfileError is a profile that cannot be used, with the field at fault.
type ProfileError struct{ Field, Reason string }

func (e *ProfileError) Error() string { return "brand profile: " + e.Field + ": " + e.Reason }

var (
	caip2Re   = regexp.MustCompile(`^eip155:[0-9]{1,18}$`)
	addressRe = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	toolRe    = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
)

// Validate checks every field a server or an announcement relies on.
func (p *Profile) Validate() error {
	if strings.TrimSpace(p.Name) == "" {
		return &ProfileError{"name", "empty"}
	}
	if len(p.Pay) == 0 {
		return &ProfileError{"pay", "no network to be paid on"}
	}
	for i, y := range p.Pay {
		f := fmt.Sprintf("pay[%d]", i)
		switch {
		case !caip2Re.MatchString(y.Network):
			return &ProfileError{f + ".network", fmt.Sprintf("%q is not a CAIP-2 EVM network (eip155:CHAINID)", y.Network)}
		case !addressRe.MatchString(y.PayTo):
			return &ProfileError{f + ".pay_to", fmt.Sprintf("%q is not an EVM address", y.PayTo)}
		case !addressRe.MatchString(y.Asset):
			return &ProfileError{f + ".asset", fmt.Sprintf("%q is not a token contract address", y.Asset)}
		case y.Decimals < 0 || y.Decimals > 36:
			return &ProfileError{f + ".decimals", "out of range"}
		case y.TokenName == "" || y.TokenVersion == "":
			return &ProfileError{f + ".token_name", "the token's EIP-712 name and version are needed to sign for it"}
		}
	}
	if _, ok := p.Prices[ToolAsk]; !ok {
		return &ProfileError{"prices", "no price for " + ToolAsk}
	}
	for tool, price := range p.Prices {
		if !toolRe.MatchString(tool) {
			return &ProfileError{"prices", fmt.Sprintf("%q is not a tool name", tool)}
		}
		r, err := wallet.ParseAmount(price)
		if err != nil || r.Sign() <= 0 {
			return &ProfileError{"prices." + tool, fmt.Sprintf("%q is not a positive decimal amount", price)}
		}
		for _, y := range p.Pay {
			if _, err := wallet.ToAtomic(price, y.Decimals); err != nil {
				return &ProfileError{"prices." + tool, err.Error()}
			}
		}
	}
	if p.PerMinute < 0 {
		return &ProfileError{"per_minute", "negative"}
	}
	return nil
}

// Tools lists the priced tools, sorted.
func (p *Profile) Tools() []string {
	out := make([]string, 0, len(p.Prices))
	for t := range p.Prices {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Requirements is what a call of tool costs: one x402 exact option per
// Pay, valid for timeout seconds.
func (p *Profile) Requirements(tool string, timeout int) ([]wallet.PaymentRequirements, error) {
	price, ok := p.Prices[tool]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTool, tool)
	}
	var out []wallet.PaymentRequirements
	for _, y := range p.Pay {
		amt, err := wallet.ToAtomic(price, y.Decimals)
		if err != nil {
			return nil, err
		}
		out = append(out, wallet.PaymentRequirements{
			Scheme: "exact", Network: y.Network, Amount: amt.String(), Asset: y.Asset, PayTo: y.PayTo,
			MaxTimeoutSeconds: timeout, Extra: map[string]any{"name": y.TokenName, "version": y.TokenVersion},
		})
	}
	return out, nil
}

// ErrUnknownTool is a call of a tool the brand does not serve.
var ErrUnknownTool = errors.New("this brand has no such tool")

// LoadProfile reads and validates the profile at path.
func LoadProfile(path string) (*Profile, error) {
	var p Profile
	md, err := toml.DecodeFile(path, &p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoProfile, path)
	}
	if err != nil {
		return nil, fmt.Errorf("brand profile %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, &ProfileError{und[0].String(), "unknown field"}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// SaveProfile validates p and writes it to path, refusing to replace one
// unless overwrite.
func SaveProfile(path string, p *Profile, overwrite bool) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if !overwrite {
		flag |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return fmt.Errorf("brand profile: %w", err)
	}
	if err := toml.NewEncoder(f).Encode(p); err != nil {
		f.Close()
		return fmt.Errorf("brand profile: %w", err)
	}
	return f.Close()
}
