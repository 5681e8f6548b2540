package wallet

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Chain families.
const (
	FamilyEVM     = "evm"
	FamilyBitcoin = "bitcoin"
	FamilySolana  = "solana"
	FamilyNEAR    = "near"
)

// NoRPCError means a network has no RPC URL configured.
type NoRPCError struct{ Network, Family string }

func (e *NoRPCError) Error() string { return fmt.Sprintf("no RPC configured for %s", e.Network) }

// Network is one chain sov can use.
type Network struct {
	Name           string   `json:"name"`
	CAIP2          string   `json:"caip2"`
	Family         string   `json:"family"`
	ChainID        int64    `json:"chain_id,omitempty"` // EVM only
	Native         string   `json:"native"`
	NativeDecimals int      `json:"native_decimals"`
	USDC           string   `json:"usdc,omitempty"` // contract, mint or NEAR account
	USDCDecimals   int      `json:"usdc_decimals,omitempty"`
	BitcoinNet     string   `json:"bitcoin_net,omitempty"`
	RPC            []string `json:"rpc,omitempty"`
	Builtin        bool     `json:"builtin"`
	// Timeout bounds each RPC call so a slow endpoint fails over (default
	// 15s; [wallet] rpc_timeout in config).
	Timeout time.Duration `json:"-"`
}

// RPCTimeout is the per-call limit for n's RPCs.
func (n Network) RPCTimeout() time.Duration {
	if n.Timeout > 0 {
		return n.Timeout
	}
	return defaultRPCTimeout
}

// Builtin is the network table shipped with sov. RPC URLs are left empty
// on purpose: nothing leaves the device until the user configures one.
func Builtin() []Network {
	return []Network{
		{Name: "ethereum", CAIP2: "eip155:1", Family: FamilyEVM, ChainID: 1, Native: "ETH", NativeDecimals: 18, USDC: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", USDCDecimals: 6},
		{Name: "base", CAIP2: "eip155:8453", Family: FamilyEVM, ChainID: 8453, Native: "ETH", NativeDecimals: 18, USDC: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", USDCDecimals: 6},
		{Name: "arbitrum", CAIP2: "eip155:42161", Family: FamilyEVM, ChainID: 42161, Native: "ETH", NativeDecimals: 18, USDC: "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", USDCDecimals: 6},
		{Name: "optimism", CAIP2: "eip155:10", Family: FamilyEVM, ChainID: 10, Native: "ETH", NativeDecimals: 18, USDC: "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85", USDCDecimals: 6},
		{Name: "polygon", CAIP2: "eip155:137", Family: FamilyEVM, ChainID: 137, Native: "POL", NativeDecimals: 18, USDC: "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", USDCDecimals: 6},
		{Name: "bitcoin", CAIP2: "bip122:000000000019d6689c085ae165831e93", Family: FamilyBitcoin, Native: "BTC", NativeDecimals: 8, BitcoinNet: string(BitcoinMainnet)},
		{Name: "solana", CAIP2: "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", Family: FamilySolana, Native: "SOL", NativeDecimals: 9, USDC: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", USDCDecimals: 6},
		{Name: "near", CAIP2: "near:mainnet", Family: FamilyNEAR, Native: "NEAR", NativeDecimals: 24, USDC: "17208628f84f5d6ad33f0da3bbbeb27ffcb398eac501a31bd6ad2011e36133a1", USDCDecimals: 6},
	}
}

// Config is the [wallet] table of sov's config.toml.
type Config struct {
	// RPC lists endpoints per network name, tried in order (fail-over).
	RPC map[string][]string `toml:"rpc,omitempty"`
	// Networks adds chains (a local dev chain, a testnet) or overrides
	// built-in ones by name.
	Networks []NetworkConfig `toml:"networks,omitempty"`
	// RPCTimeout is a Go duration ("15s") bounding each RPC call.
	RPCTimeout string `toml:"rpc_timeout,omitempty"`
}

// NetworkConfig is one user-added network.
type NetworkConfig struct {
	Name           string   `toml:"name"`
	Family         string   `toml:"family,omitempty"` // default evm
	ChainID        int64    `toml:"chain_id,omitempty"`
	CAIP2          string   `toml:"caip2,omitempty"`
	Native         string   `toml:"native,omitempty"`
	NativeDecimals int      `toml:"native_decimals,omitempty"`
	USDC           string   `toml:"usdc,omitempty"`
	USDCDecimals   int      `toml:"usdc_decimals,omitempty"`
	BitcoinNet     string   `toml:"bitcoin_net,omitempty"`
	RPC            []string `toml:"rpc,omitempty"`
}

// All merges the built-in table with cfg.
func (cfg Config) All() ([]Network, error) {
	byName := map[string]Network{}
	for _, n := range Builtin() {
		n.Builtin = true
		byName[n.Name] = n
	}
	for _, nc := range cfg.Networks {
		n, err := nc.network(byName[nc.Name])
		if err != nil {
			return nil, err
		}
		byName[n.Name] = n
	}
	for name, urls := range cfg.RPC {
		n, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("config [wallet.rpc] names unknown network %q: add it under [[wallet.networks]] first", name)
		}
		n.RPC = append(append([]string(nil), urls...), n.RPC...)
		byName[name] = n
	}
	var timeout time.Duration
	if cfg.RPCTimeout != "" {
		d, err := time.ParseDuration(cfg.RPCTimeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("config [wallet] rpc_timeout %q is not a duration like \"15s\"", cfg.RPCTimeout)
		}
		timeout = d
	}
	out := make([]Network, 0, len(byName))
	for _, n := range byName {
		n.Timeout = timeout
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Builtin != out[j].Builtin {
			return out[i].Builtin
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func (nc NetworkConfig) network(base Network) (Network, error) {
	n := base
	if nc.Name == "" {
		return n, fmt.Errorf("config [[wallet.networks]] entry without a name")
	}
	n.Name = nc.Name
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&n.Family, nc.Family)
	if n.Family == "" {
		n.Family = FamilyEVM
	}
	set(&n.CAIP2, nc.CAIP2)
	set(&n.Native, nc.Native)
	set(&n.USDC, nc.USDC)
	set(&n.BitcoinNet, nc.BitcoinNet)
	if nc.ChainID != 0 {
		n.ChainID = nc.ChainID
	}
	if nc.NativeDecimals != 0 {
		n.NativeDecimals = nc.NativeDecimals
	}
	if nc.USDCDecimals != 0 {
		n.USDCDecimals = nc.USDCDecimals
	}
	n.RPC = append([]string(nil), nc.RPC...)
	switch n.Family {
	case FamilyEVM:
		if n.ChainID == 0 {
			return n, fmt.Errorf("network %q: chain_id is required for EVM networks", n.Name)
		}
		if n.CAIP2 == "" {
			n.CAIP2 = "eip155:" + strconv.FormatInt(n.ChainID, 10)
		}
		if n.Native == "" {
			n.Native, n.NativeDecimals = "ETH", 18
		}
		if n.USDC != "" {
			if _, err := ParseEVMAddress(n.USDC); err != nil {
				return n, fmt.Errorf("network %q usdc: %w", n.Name, err)
			}
			if n.USDCDecimals == 0 {
				n.USDCDecimals = 6
			}
		}
	case FamilyBitcoin:
		if n.Native == "" {
			n.Native, n.NativeDecimals = "BTC", 8
		}
		if n.BitcoinNet == "" {
			n.BitcoinNet = string(BitcoinMainnet)
		}
		if _, err := BitcoinNet(n.BitcoinNet).Params(); err != nil {
			return n, fmt.Errorf("network %q: %w", n.Name, err)
		}
		if n.CAIP2 == "" {
			n.CAIP2 = map[string]string{"mainnet": "bip122:000000000019d6689c085ae165831e93", "testnet": "bip122:000000000933ea01ad0ee984209779ba", "regtest": "bip122:0f9188f13cb7b2c71f2a335e3a4fc328"}[n.BitcoinNet]
		}
	case FamilySolana, FamilyNEAR:
		if n.Native == "" {
			n.Native, n.NativeDecimals = "SOL", 9
			if n.Family == FamilyNEAR {
				n.Native, n.NativeDecimals = "NEAR", 24
			}
		}
		if n.CAIP2 == "" {
			return n, fmt.Errorf("network %q: caip2 is required for %s networks", n.Name, n.Family)
		}
	default:
		return n, fmt.Errorf("network %q: unknown family %q (evm, bitcoin, solana, near)", n.Name, n.Family)
	}
	return n, nil
}

// FindNetwork looks a network up by name or CAIP-2 id.
func FindNetwork(nets []Network, key string) (Network, bool) {
	for _, n := range nets {
		if strings.EqualFold(n.Name, key) || n.CAIP2 == key {
			return n, true
		}
	}
	return Network{}, false
}

// AssetDecimals returns the decimals of symbol on n ("" when unknown).
func (n Network) AssetDecimals(symbol string) (int, bool) {
	switch strings.ToUpper(symbol) {
	case strings.ToUpper(n.Native):
		return n.NativeDecimals, true
	case "USDC":
		if n.USDC != "" {
			return n.USDCDecimals, true
		}
	}
	return 0, false
}
