package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/sovos/sov/internal/termtext"
	"github.com/sovos/sov/wallet/internal/evm"
)

// KindCall is the plan, request and ledger kind of a contract call.
const KindCall = "call"

// Call is a contract call a caller asks for: calldata to a contract on an
// EVM network, from the account at Account. Summary is the caller's one-line
// description of what the call does; the wallet shows it cleaned and
// bounded beside what it derives itself (contract, function selector,
// calldata digest, network, fee bound), so the line a person approves
// never rests on the caller's words alone.
type Call struct {
	Network string     // network name or CAIP-2 id (required)
	To      EVMAddress // the contract
	Data    []byte     // calldata: a 4-byte selector and its arguments
	Value   *big.Int   // must be nil or zero: calls carry no payment yet
	Account uint32
	Summary string
}

// ErrInvalidCall wraps every reason a call cannot be planned that lies in
// the request itself.
var ErrInvalidCall = errors.New("invalid contract call")

// RevertError means the node's simulation of a call reverted: it would
// fail on chain, so nothing was signed. Reason is the decoded revert reason
// when the node gave one.
type RevertError struct {
	Contract string
	Reason   string
	Err      error
}

func (e *RevertError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("the call to %s would revert (%s), nothing was signed", e.Contract, e.Reason)
	}
	return fmt.Sprintf("the call to %s would revert, nothing was signed: %v", e.Contract, e.Err)
}

func (e *RevertError) Unwrap() error { return e.Err }

// callInfo is what a call plan keeps beyond a transfer's fields: what the
// policy matches and the ledger records (hashes, never the calldata).
type callInfo struct {
	selector string // 0x and 8 hex digits
	digest   string // sha256 of the calldata, hex
}

// maxCallSummary bounds the caller's description in the approval line.
const maxCallSummary = 160

// callSummary cleans the caller's description for a terminal and one line:
// control text removed, whitespace collapsed, at most maxCallSummary runes.
func callSummary(s string) string {
	s = strings.Join(strings.Fields(termtext.Clean(s)), " ")
	if utf8.RuneCountInString(s) > maxCallSummary {
		s = string([]rune(s)[:maxCallSummary-1]) + "…"
	}
	return s
}

// Selector is the 0x-prefixed 4-byte function selector of calldata.
func Selector(data []byte) string {
	if len(data) < 4 {
		return ""
	}
	return "0x" + hex.EncodeToString(data[:4])
}

// PlanCall resolves c for the user's own accounts: the network, the fee
// bound (EIP-1559, checked later against the policy's fee cap), the gas the
// node estimates, and the summary; a call the node's simulation reverts is
// refused with its reason before anything is signed. Execute then runs it
// through the policy, which asks the user to approve every contract call
// unless the policy allow-lists its network, contract and selector.
func (s *Session) PlanCall(ctx context.Context, c Call) (*Plan, error) {
	acct, err := s.Accounts(c.Account)
	if err != nil {
		return nil, err
	}
	return s.w.PlanCall(ctx, c, s.cfg.Networks, acct)
}

// PlanCall resolves c on the networks nets for the accounts acct (see
// Session.PlanCall).
func (w *Wallet) PlanCall(ctx context.Context, c Call, nets []Network, acct Accounts) (*Plan, error) {
	if c.Value != nil && c.Value.Sign() != 0 {
		return nil, fmt.Errorf("%w: a contract call that sends value is not supported yet", ErrInvalidCall)
	}
	if len(c.Data) < 4 {
		return nil, fmt.Errorf("%w: calldata needs at least a 4-byte function selector", ErrInvalidCall)
	}
	if c.To == (EVMAddress{}) {
		return nil, fmt.Errorf("%w: the contract is the zero address", ErrInvalidCall)
	}
	if c.Network == "" {
		return nil, fmt.Errorf("%w: name the network the contract is on", ErrInvalidCall)
	}
	net, err := pickNetwork(nets, FamilyEVM, c.Network, c.To.Hex(), nil)
	if err != nil {
		return nil, err
	}
	from, err := ParseEVMAddress(acct.EVM)
	if err != nil {
		return nil, fmt.Errorf("account %d has no EVM address: %w", acct.Index, err)
	}
	e, err := w.dial(ctx, net)
	if err != nil {
		return nil, err
	}
	p := &Plan{kind: KindCall, net: e.Net, acct: acct, evm: e}
	if err := planCall(ctx, p, e, from, c); err != nil {
		p.Close()
		return nil, err
	}
	w.warn(p)
	return p, nil
}

func planCall(ctx context.Context, p *Plan, e *EVM, from EVMAddress, c Call) error {
	data := append([]byte(nil), c.Data...)
	sum := sha256.Sum256(data)
	p.call = &callInfo{selector: Selector(data), digest: hex.EncodeToString(sum[:])}
	to := c.To
	fees, err := e.SuggestFees(ctx)
	if err != nil {
		return err
	}
	msg := EVMCallMsg{From: from, To: &to, Value: new(big.Int), Data: data}
	// eth_call first: it carries the revert reason; a revert would burn gas on chain.
	if _, err := e.Backend.CallContract(ctx, msg, nil); err != nil {
		return revertError(to, err)
	}
	gas, err := e.Backend.EstimateGas(ctx, msg)
	if err != nil {
		return revertError(to, err)
	}
	gas = gas * 12 / 10 // state can shift between estimate and inclusion
	bal, err := e.Backend.BalanceAt(ctx, from, nil)
	if err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	maxFee := new(big.Int).Mul(new(big.Int).SetUint64(gas), fees.Cap)
	if bal.Cmp(maxFee) < 0 {
		return &InsufficientFundsError{Network: e.Net.Name, Asset: e.Net.Native,
			Need: FormatAtomic(maxFee, e.Net.NativeDecimals), Have: FormatAtomic(bal, e.Net.NativeDecimals)}
	}
	ep := &EVMPlan{
		EVMTransfer: EVMTransfer{From: from, To: to, Asset: e.Net.Native, Amount: new(big.Int), Decimals: e.Net.NativeDecimals},
		Net:         e.Net, TxTo: to, Value: new(big.Int), Data: data, Gas: gas, Fees: fees, MaxFee: maxFee, Balance: bal,
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Call contract %s (function %s) on %s (%s)", to.Hex(), p.call.selector, e.Net.Name, e.Net.CAIP2)
	if d := callSummary(c.Summary); d != "" {
		fmt.Fprintf(&b, ": %q", d)
	}
	fmt.Fprintf(&b, "; calldata sha256 %s; sends no %s; network fee at most %s %s", p.call.digest, e.Net.Native,
		FormatAtomic(maxFee, e.Net.NativeDecimals), e.Net.Native)
	if fees.Note != "" {
		b.WriteString("; note: " + fees.Note)
	}
	ep.Summary = b.String()
	p.fromEVMPlan(ep)
	return nil
}

// revertError says why the node refused to simulate a call to contract:
// Error(string) and Panic(uint256) reverts are decoded, a custom error is
// named by its selector, and otherwise the node's message stands.
func revertError(contract EVMAddress, err error) error {
	re := &RevertError{Contract: contract.Hex(), Err: err}
	var rpc *RPCError
	if !errors.As(err, &rpc) {
		return fmt.Errorf("simulating the call to %s failed, nothing was signed: %w", contract.Hex(), err)
	}
	var data string
	if len(rpc.Data) > 0 && json.Unmarshal(rpc.Data, &data) == nil && strings.HasPrefix(data, "0x") {
		re.Reason = decodeRevert(evm.FromHex(data))
	}
	if re.Reason == "" {
		re.Reason = callSummary(strings.TrimPrefix(strings.TrimPrefix(rpc.Message, "execution reverted"), ": "))
	}
	return re
}

// decodeRevert reads revert data: Error(string) → the string,
// Panic(uint256) → "panic 0x..", another 4-byte error → "custom error 0x..".
func decodeRevert(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	switch hex.EncodeToString(b[:4]) {
	case "08c379a0": // Error(string)
		args := b[4:]
		if len(args) < 64 {
			return ""
		}
		off := new(big.Int).SetBytes(args[:32])
		if !off.IsInt64() || off.Int64()+32 > int64(len(args)) {
			return ""
		}
		o := int(off.Int64())
		n := new(big.Int).SetBytes(args[o : o+32])
		if !n.IsInt64() || int64(o+32)+n.Int64() > int64(len(args)) {
			return ""
		}
		return callSummary(string(args[o+32 : o+32+int(n.Int64())]))
	case "4e487b71": // Panic(uint256)
		if len(b) < 36 {
			return "panic"
		}
		return "panic 0x" + new(big.Int).SetBytes(b[4:36]).Text(16)
	}
	return "custom error " + Selector(b)
}

// CallRule is one allow-listed contract call: a network (name or CAIP-2
// id), a contract and a function selector, written
// NETWORK:0xCONTRACT:0xSELECTOR.
type CallRule struct {
	Network  string
	Contract EVMAddress
	Selector string // 0x and 8 lower-case hex digits
}

// String is the rule's NETWORK:0xCONTRACT:0xSELECTOR form.
func (r CallRule) String() string {
	return r.Network + ":" + r.Contract.Hex() + ":" + r.Selector
}

// ParseCallRule reads NETWORK:0xCONTRACT:0xSELECTOR; the network may be a
// CAIP-2 id, which has a colon of its own, so it is read from the right.
func ParseCallRule(s string) (CallRule, error) {
	s = strings.TrimSpace(s)
	i := strings.LastIndex(s, ":")
	j := -1
	if i > 0 {
		j = strings.LastIndex(s[:i], ":")
	}
	if j <= 0 {
		return CallRule{}, fmt.Errorf("a contract call rule is NETWORK:0xCONTRACT:0xSELECTOR, got %q", s)
	}
	addr, err := ParseEVMAddress(s[j+1 : i])
	if err != nil {
		return CallRule{}, fmt.Errorf("contract call rule %q: %w", s, err)
	}
	sel := strings.ToLower(s[i+1:])
	if len(sel) != 10 || !strings.HasPrefix(sel, "0x") {
		return CallRule{}, fmt.Errorf("contract call rule %q: the selector is 0x and 8 hex digits", s)
	}
	if _, err := hex.DecodeString(sel[2:]); err != nil {
		return CallRule{}, fmt.Errorf("contract call rule %q: the selector is 0x and 8 hex digits", s)
	}
	return CallRule{Network: s[:j], Contract: addr, Selector: sel}, nil
}

// matches reports whether rule names req's network, contract and selector.
func (r CallRule) matches(req request) bool {
	return (strings.EqualFold(r.Network, req.Network) || strings.EqualFold(r.Network, req.Chain)) &&
		strings.EqualFold(r.Contract.Hex(), req.Payee) && r.Selector == req.Selector
}

// callListed reports whether a rule in rules (NETWORK:0xCONTRACT:0xSELECTOR
// each) names req's call; malformed rules name nothing.
func callListed(rules []string, req request) bool {
	for _, s := range rules {
		if r, err := ParseCallRule(s); err == nil && r.matches(req) {
			return true
		}
	}
	return false
}

// validateCallRules checks each rule parses.
func validateCallRules(rules []string) error {
	for _, s := range rules {
		if _, err := ParseCallRule(s); err != nil {
			return err
		}
	}
	return nil
}

// callApproval is why a call not allow-listed needs a person.
const callApproval = "a contract call needs the user's approval unless the policy allow-lists its network, contract and function"
