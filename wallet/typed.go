package wallet

import (
	"cmp"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/wallet/internal/evm"
)

// Typed data is signed off-chain, yet some of it moves money on-chain: an
// EIP-3009 authorization is a transfer anyone may submit, an EIP-2612 or
// Permit2 permit lets a spender take tokens. The wallet reads the kinds it
// knows by their exact member lists (the contracts check a fixed type
// hash, so another list is another thing) into asset, amount and payee,
// and the policy limits them like the transfer they are. Votes move
// nothing and follow the policy's message rule. Any other typed data needs
// a person every time, shown every field. A token the wallet does not know
// on that chain is named by its contract; its decimals are unknown, so its
// amount is never assumed small: a person approves it.

// permit2Contract is Uniswap's canonical Permit2, at one address on every
// chain.
const permit2Contract = "0x000000000022D473030F116dDEE9F6B43aC78BA3"

// typedIntent is what a typed-data signature would authorise.
type typedIntent struct {
	standard string // EIP-3009, EIP-2612, DAI permit, Permit2, Governor, Snapshot; "" unknown
	what     string // the decoded values, for the summary
	chain    string // CAIP-2, when the domain names a chain
	network  string
	asset    string   // a known token's symbol, else the token contract
	amount   *big.Rat // decimal units; nil when nothing moves or decimals are unknown
	payee    string   // recipient or spender
	warnings []string // each needs a person's approval
	details  facts    // decoded values for the ledger: no free text from outside
}

// typedToken is a token contract as the wallet knows it on one chain.
type typedToken struct {
	symbol   string // USDC, or the contract when unknown
	contract string
	decimals int
	known    bool
}

// findToken looks contract up among the networks' tokens on chain id.
func findToken(nets []Network, id *big.Int, contract string) typedToken {
	if id != nil && contract != "" {
		for _, n := range nets {
			if n.Family == FamilyEVM && n.USDC != "" && big.NewInt(n.ChainID).Cmp(id) == 0 && SamePayee(n.USDC, contract) {
				return typedToken{symbol: "USDC", contract: contract, decimals: n.USDCDecimals, known: true}
			}
		}
	}
	return typedToken{symbol: contract, contract: contract}
}

// tdReader reads members of typed data already checked by the hasher; a
// member of an unexpected shape makes the whole document unknown.
type tdReader struct{ bad bool }

func (r *tdReader) addr(m map[string]any, k string) string {
	s, _ := m[k].(string)
	a, err := ParseEVMAddress(s)
	if err != nil {
		r.bad = true
		return ""
	}
	return a.Hex()
}

func (r *tdReader) int(m map[string]any, k string) *big.Int {
	n, err := evm.TypedInt(m[k])
	if err != nil {
		r.bad = true
		return new(big.Int)
	}
	return n
}

func (r *tdReader) obj(v any) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		r.bad = true
	}
	return m
}

// membersAre reports whether struct type name has exactly these members
// ("type name"), in order.
func membersAre(td TypedData, name string, want ...string) bool {
	fs, ok := td.Types[name]
	if !ok || len(fs) != len(want) {
		return false
	}
	for i, f := range fs {
		if f.Type+" "+f.Name != want[i] {
			return false
		}
	}
	return true
}

var (
	authorizationMembers = []string{"address from", "address to", "uint256 value", "uint256 validAfter", "uint256 validBefore", "bytes32 nonce"}
	permitMembers        = []string{"address owner", "address spender", "uint256 value", "uint256 nonce", "uint256 deadline"}
	daiPermitMembers     = []string{"address holder", "address spender", "uint256 nonce", "uint256 expiry", "bool allowed"}
	permitDetailsMembers = []string{"address token", "uint160 amount", "uint48 expiration", "uint48 nonce"}
	tokenPermMembers     = []string{"address token", "uint256 amount"}
)

// maxUnix is the last second of year 9999: later deadlines never come.
const maxUnix = 253402300799

// unixTime shows a deadline in seconds since 1970 as UTC time.
func unixTime(v *big.Int) string {
	if !v.IsInt64() || v.Int64() > maxUnix {
		return "never"
	}
	return time.Unix(v.Int64(), 0).UTC().Format(time.RFC3339)
}

// move sets what moves: v base units of tok, to or spendable by payee. An
// amount in the top half of its member's range (bits wide) is unlimited.
// It returns the amount as shown.
func (it *typedIntent) move(tok typedToken, v *big.Int, bits int, payee string) string {
	it.payee, it.asset = payee, tok.symbol
	it.details.put("typed_token", tok.contract)
	unlimited := v.BitLen() >= bits
	if unlimited {
		it.details.put("typed_unlimited", "true")
		it.warnings = append(it.warnings, fmt.Sprintf("the amount is UNLIMITED (%s base units): nothing bounds what %s can take", v, payee))
	}
	shown := "UNLIMITED " + tok.symbol
	if !tok.known {
		it.details.put("typed_base_units", v.String())
		it.warnings = append(it.warnings, fmt.Sprintf("token %s is not one the wallet knows on this chain: its decimals are unknown, so the amount cannot be checked against the limits", tok.contract))
		if unlimited {
			return "UNLIMITED units of token " + tok.contract
		}
		return fmt.Sprintf("%s base units of token %s (decimals unknown)", v, tok.contract)
	}
	it.amount = atomicRat(v, tok.decimals)
	if unlimited {
		return shown
	}
	return FormatAtomic(v, tok.decimals) + " " + tok.symbol
}

// decodeTyped reads td, whose values the hasher has checked, against the
// kinds of typed data the wallet knows; nets name the known tokens.
func decodeTyped(td TypedData, nets []Network) typedIntent {
	it := typedIntent{details: facts{}}
	it.details.put("typed", td.PrimaryType)
	id := td.ChainID()
	contract := ""
	if a, err := ParseEVMAddress(td.DomainString("verifyingContract")); err == nil {
		contract = a.Hex()
		it.details.put("typed_contract", contract)
	}
	if id != nil {
		it.chain = "eip155:" + id.String()
		for _, n := range nets {
			if n.Family == FamilyEVM && big.NewInt(n.ChainID).Cmp(id) == 0 {
				it.chain, it.network = n.CAIP2, n.Name
				break
			}
		}
	}
	r := &tdReader{}
	m, p := td.Message, td.PrimaryType
	ok := true
	switch {
	case (p == "TransferWithAuthorization" || p == "ReceiveWithAuthorization") && membersAre(td, p, authorizationMembers...) && contract != "":
		it.standard = "EIP-3009"
		from, to, before := r.addr(m, "from"), r.addr(m, "to"), r.int(m, "validBefore")
		amt := it.move(findToken(nets, id, contract), r.int(m, "value"), 256, to)
		it.what = fmt.Sprintf("transfer %s from %s to %s, valid from %s until %s", amt, from, to, unixTime(r.int(m, "validAfter")), unixTime(before))
		it.details.put("typed_deadline", unixTime(before))
	case p == "CancelAuthorization" && membersAre(td, p, "address authorizer", "bytes32 nonce"):
		it.standard = "EIP-3009"
		it.what = fmt.Sprintf("cancel an unused transfer authorization of %s (nothing moves)", r.addr(m, "authorizer"))
	case p == "Permit" && membersAre(td, p, permitMembers...) && contract != "":
		it.standard = "EIP-2612"
		spender, deadline := r.addr(m, "spender"), r.int(m, "deadline")
		amt := it.move(findToken(nets, id, contract), r.int(m, "value"), 256, spender)
		it.what = fmt.Sprintf("allow %s to spend %s of %s's tokens, permit valid until %s", spender, amt, r.addr(m, "owner"), unixTime(deadline))
		it.details.put("typed_deadline", unixTime(deadline))
	case p == "Permit" && membersAre(td, p, daiPermitMembers...) && contract != "":
		it.standard = "DAI permit"
		spender, expiry := r.addr(m, "spender"), r.int(m, "expiry")
		until := unixTime(expiry)
		if expiry.Sign() == 0 {
			until = "never"
		}
		it.details.put("typed_deadline", until)
		if allowed, _ := m["allowed"].(bool); allowed {
			unlimited := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
			amt := it.move(findToken(nets, id, contract), unlimited, 256, spender)
			it.what = fmt.Sprintf("allow %s to spend %s of %s's tokens, permit valid until %s", spender, amt, r.addr(m, "holder"), until)
		} else {
			it.what = fmt.Sprintf("revoke what %s may spend of %s's tokens (nothing moves)", spender, r.addr(m, "holder"))
		}
	case contract == permit2Contract && id != nil && decodePermit2(td, nets, id, r, &it):
	case isGovernorBallot(td):
		it.standard = "Governor"
		support := r.int(m, "support")
		choice := map[string]string{"0": "Against", "1": "For", "2": "Abstain"}[support.String()]
		if choice == "" {
			choice = "support " + support.String()
		}
		proposal := r.int(m, "proposalId").String()
		it.what = fmt.Sprintf("vote %s on proposal %s at governor %s", choice, proposal, cmp.Or(contract, "(none named)"))
		if reason, ok := m["reason"].(string); ok && reason != "" {
			it.what += ", reason " + preview([]byte(reason))
		}
		it.details.put("typed_proposal", proposal).put("typed_choice", choice)
	case td.DomainString("name") == "snapshot" && contract == "" && decodeSnapshot(td, r, &it):
	default:
		ok = false
	}
	if !ok || r.bad {
		return unknownTyped(td, it)
	}
	return it
}

// isGovernorBallot: OpenZeppelin Governor's ballots, v4 and v5.
func isGovernorBallot(td TypedData) bool {
	p := td.PrimaryType
	switch p {
	case "Ballot":
		return membersAre(td, p, "uint256 proposalId", "uint8 support") ||
			membersAre(td, p, "uint256 proposalId", "uint8 support", "address voter", "uint256 nonce")
	case "ExtendedBallot":
		return membersAre(td, p, "uint256 proposalId", "uint8 support", "string reason", "bytes params") ||
			membersAre(td, p, "uint256 proposalId", "uint8 support", "address voter", "uint256 nonce", "string reason", "bytes params")
	}
	return false
}

// decodePermit2 reads Permit2's allowance permits (PermitSingle,
// PermitBatch) and signature transfers (PermitTransferFrom,
// PermitBatchTransferFrom and their witness forms). The spender is the
// payee: it may take the amount and send it anywhere.
func decodePermit2(td TypedData, nets []Network, id *big.Int, r *tdReader, it *typedIntent) bool {
	p, m := td.PrimaryType, td.Message
	var items []any
	var amountKey, kind, deadlineKey string
	bits := 256
	switch {
	case p == "PermitSingle" && membersAre(td, p, "PermitDetails details", "address spender", "uint256 sigDeadline"):
		items, amountKey, kind, deadlineKey, bits = []any{m["details"]}, "amount", "allowance", "sigDeadline", 160
	case p == "PermitBatch" && membersAre(td, p, "PermitDetails[] details", "address spender", "uint256 sigDeadline"):
		items, _ = m["details"].([]any)
		amountKey, kind, deadlineKey, bits = "amount", "allowance", "sigDeadline", 160
	case permit2Transfer(td, "PermitTransferFrom", "TokenPermissions permitted"):
		items, amountKey, kind, deadlineKey = []any{m["permitted"]}, "amount", "transfer", "deadline"
	case permit2Transfer(td, "PermitBatchTransferFrom", "TokenPermissions[] permitted"):
		items, _ = m["permitted"].([]any)
		amountKey, kind, deadlineKey = "amount", "transfer", "deadline"
	default:
		return false
	}
	if kind == "allowance" && !membersAre(td, "PermitDetails", permitDetailsMembers...) ||
		kind == "transfer" && !membersAre(td, "TokenPermissions", tokenPermMembers...) || len(items) == 0 {
		return false
	}
	it.standard = "Permit2"
	spender, deadline := r.addr(m, "spender"), r.int(m, deadlineKey)
	var shown []string
	for i, x := range items {
		item := r.obj(x)
		if r.bad {
			return false
		}
		tok := findToken(nets, id, r.addr(item, "token"))
		v := r.int(item, amountKey)
		if len(items) == 1 {
			shown = append(shown, it.move(tok, v, bits, spender))
		} else {
			// several assets in one signature: shown, and a person approves
			s := fmt.Sprintf("%s base units of token %s", v, tok.contract)
			if tok.known {
				s = FormatAtomic(v, tok.decimals) + " " + tok.symbol
			}
			if v.BitLen() >= bits {
				s = "UNLIMITED " + tok.symbol
			}
			shown = append(shown, s)
			it.details.put(fmt.Sprintf("typed_token_%d", i), tok.contract).put(fmt.Sprintf("typed_base_units_%d", i), v.String())
		}
		if kind == "allowance" {
			if exp := r.int(item, "expiration"); exp.Sign() == 0 {
				shown[i] += ", allowance ends with the block it is used in" // Permit2 reads 0 as now
			} else {
				shown[i] += ", allowance expires " + unixTime(exp)
			}
		}
	}
	if len(items) > 1 {
		it.payee = spender
		it.warnings = append(it.warnings, fmt.Sprintf("%d tokens in one signature: the limits check one asset at a time, so a person must approve it", len(items)))
	}
	verb := "allow %s to spend %s through Permit2"
	if kind == "transfer" {
		verb = "let %s take %s once through Permit2"
	}
	it.what = fmt.Sprintf(verb, spender, strings.Join(shown, " and "))
	if f, ok := m["witness"]; ok {
		it.what += ", for " + flattenTyped(td, td.Types[p][4].Type, f, "witness", 12)
	}
	it.what += ", signature valid until " + unixTime(deadline)
	it.details.put("typed_deadline", unixTime(deadline))
	return !r.bad
}

// permit2Transfer: a Permit2 signature transfer, plain or with a witness
// (a fifth member named witness that the spender's contract checks).
func permit2Transfer(td TypedData, name, permitted string) bool {
	base := []string{permitted, "address spender", "uint256 nonce", "uint256 deadline"}
	switch td.PrimaryType {
	case name:
		return membersAre(td, name, base...)
	case strings.Replace(name, "TransferFrom", "WitnessTransferFrom", 1):
		fs := td.Types[td.PrimaryType]
		return len(fs) == 5 && fs[4].Name == "witness" && membersAre(TypedData{Types: map[string][]evm.TypedField{"x": fs[:4]}}, "x", base...)
	}
	return false
}

// snapshotVote lists the members a Snapshot vote may have and their
// types (single, approval, ranked and weighted choices; proposal ids as
// strings or bytes32).
var snapshotVote = map[string][]string{
	"from": {"address"}, "space": {"string"}, "timestamp": {"uint64"}, "proposal": {"string", "bytes32"},
	"choice": {"uint32", "uint32[]", "string"}, "reason": {"string"}, "app": {"string"}, "metadata": {"string"},
}

// decodeSnapshot reads Snapshot's off-chain votes and aliases (an alias
// may act for the account on Snapshot).
func decodeSnapshot(td TypedData, r *tdReader, it *typedIntent) bool {
	p, m := td.PrimaryType, td.Message
	if p == "Alias" && membersAre(td, p, "address from", "address alias", "uint64 timestamp") {
		it.standard = "Snapshot"
		alias := r.addr(m, "alias")
		it.what = fmt.Sprintf("let %s vote and propose for %s on Snapshot", alias, r.addr(m, "from"))
		it.details.put("typed_alias", alias)
		return true
	}
	if p != "Vote" || len(td.Types) != 2 {
		return false
	}
	for _, k := range []string{"space", "proposal", "choice"} {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	for _, f := range td.Types[p] {
		ok := false
		for _, t := range snapshotVote[f.Name] {
			ok = ok || t == f.Type
		}
		if !ok {
			return false
		}
	}
	it.standard = "Snapshot"
	space, _ := m["space"].(string)
	proposal, _ := m["proposal"].(string)
	var choice string
	switch c := m["choice"].(type) {
	case string:
		choice = c
	case []any:
		var cs []string
		for _, x := range c {
			cs = append(cs, r.int(map[string]any{"c": x}, "c").String())
		}
		choice = strings.Join(cs, ",")
	default:
		choice = r.int(m, "choice").String()
	}
	it.what = fmt.Sprintf("vote choice %s on proposal %s in space %s on Snapshot", preview([]byte(choice)), preview([]byte(proposal)), preview([]byte(space)))
	it.details.put("typed_proposal", ledgerSafe(proposal)).put("typed_choice", ledgerSafe(choice)).put("typed_space", ledgerSafe(space))
	return true
}

// safeText is what may enter the ledger as it is: ids, numbers, names.
var safeText = regexp.MustCompile(`^[A-Za-z0-9.,:_\-\[\]{}" ]{1,100}$`)

// ledgerSafe is s when it is a plain id or number, else its digest: the
// ledger never holds free text from outside.
func ledgerSafe(s string) string {
	if s == "" || safeText.MatchString(s) {
		return s
	}
	return "sha256:" + ledger.SHA256([]byte(s))
}

// unknownTyped is typed data the wallet cannot read: a person reads every
// field of it, every time.
func unknownTyped(td TypedData, it typedIntent) typedIntent {
	u := typedIntent{chain: it.chain, network: it.network, details: facts{}}
	c, _ := it.details["typed_contract"].(string)
	u.details.put("typed", td.PrimaryType).put("typed_contract", c)
	u.what = "typed data the wallet cannot read: domain " + flattenTyped(td, "EIP712Domain", map[string]any(td.Domain), "", 12) +
		"; message " + flattenTyped(td, td.PrimaryType, map[string]any(td.Message), "", 40)
	u.warnings = []string{"the wallet does not know this kind of typed data: it may authorise anything, so a person must read it"}
	return u
}

// flattenTyped shows value v of type t as name: value pairs, nested
// members by path, at most max of them; strings quoted and cut short.
func flattenTyped(td TypedData, t string, v any, path string, max int) string {
	var out []string
	var walk func(t string, v any, path string)
	walk = func(t string, v any, path string) {
		if len(out) > max {
			return
		}
		if i := strings.LastIndexByte(t, '['); i > 0 && strings.HasSuffix(t, "]") {
			items, _ := v.([]any)
			if len(items) == 0 {
				out = append(out, path+": []")
			}
			for j, x := range items {
				walk(t[:i], x, fmt.Sprintf("%s[%d]", path, j))
			}
			return
		}
		if fs, ok := td.Types[t]; ok {
			m, _ := v.(map[string]any)
			for _, f := range fs {
				p := f.Name
				if path != "" {
					p = path + "." + f.Name
				}
				walk(f.Type, m[f.Name], p)
			}
			return
		}
		out = append(out, path+": "+typedValue(t, v))
	}
	walk(t, v, path)
	if len(out) > max {
		out = append(out[:max], "…")
	}
	return "{" + strings.Join(out, ", ") + "}"
}

// typedValue shows one primitive value: numbers in decimal, strings
// quoted, long bytes cut short.
func typedValue(t string, v any) string {
	switch {
	case t == "string":
		s, _ := v.(string)
		return preview([]byte(s))
	case t == "bool":
		return fmt.Sprint(v)
	case strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "int"):
		if n, err := evm.TypedInt(v); err == nil {
			return n.String()
		}
	case t == "address":
		if a, err := ParseEVMAddress(fmt.Sprint(v)); err == nil {
			return a.Hex()
		}
	case strings.HasPrefix(t, "bytes"):
		if b, err := evm.TypedBytes(v); err == nil {
			s := fmt.Sprintf("0x%x", b)
			if len(s) > 70 {
				s = s[:70] + "…"
			}
			return s
		}
	}
	return strconv.Quote(fmt.Sprint(v))
}

// typedRequest is the policy request for signing td as actor a: the
// decoded asset, amount and payee, and the summary a person approves.
func typedRequest(td TypedData, nets []Network) request {
	it := decodeTyped(td, nets)
	name := td.DomainString("name")
	where := it.network
	if where == "" && it.chain != "" {
		where = "chain " + strings.TrimPrefix(it.chain, "eip155:")
	}
	s := "Sign EIP-712 " + td.PrimaryType
	if it.standard != "" {
		s += " (" + it.standard + ")"
	}
	if name != "" {
		s += " for " + preview([]byte(name))
	}
	if where != "" {
		s += " on " + where
	}
	if c, _ := it.details["typed_contract"].(string); c != "" {
		s += " (" + c + ")"
	}
	s += ": " + it.what
	for _, w := range it.warnings {
		s += "; WARNING: " + w
	}
	details := map[string]string{}
	for k, v := range it.details {
		details[k], _ = v.(string)
	}
	return request{Kind: "sign-typed-data", Chain: it.chain, Network: it.network, Asset: it.asset, Amount: it.amount,
		Payee: it.payee, Summary: s, Warnings: it.warnings, Details: details}
}

// warnPayee adds to req the warnings a send to its payee would carry: the
// zero address, or one that looks like an address the wallet knows.
func (w *Wallet) warnPayee(req *request) {
	if req.Payee == "" {
		return
	}
	var ws []string
	if evm.HexToAddress(req.Payee) == (EVMAddress{}) {
		ws = append(ws, "the payee is the zero address: anything sent there is lost")
	}
	if like := lookalike(req.Payee, w.knownAddresses()); like != "" {
		ws = append(ws, "the payee "+req.Payee+" looks like "+like+" (same first and last 4 characters) but is a different address: check every character (address poisoning)")
	}
	for _, x := range ws {
		req.Summary += "; WARNING: " + x
	}
	req.Warnings = append(req.Warnings, ws...)
}
