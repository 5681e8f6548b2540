// Package governor is the DAO delegate's on-chain half: proposals read
// from an OpenZeppelin Governor (v4.9/v5 interface) and votes cast on it,
// either as the user's own castVoteWithReason transaction or as an EIP-712
// ballot the wallet signs and anyone relays. Every chain access goes
// through a network of the wallet's table, whose chain id the wallet
// verifies; Compound's GovernorBravo is recognised and refused by name.
package governor

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/wallet"
)

// Ref names a Governor: its chain (CAIP-2) and contract address.
type Ref struct {
	Chain   string // "eip155:1"
	Address wallet.EVMAddress
}

// String is the CAIP-10 account id, "eip155:1:0xAbc…" (dao.Proposal.Space).
func (r Ref) String() string { return r.Chain + ":" + r.Address.Hex() }

// ErrBadRef wraps every reason a Governor reference cannot be read.
var ErrBadRef = errors.New("a Governor is named eip155:CHAIN_ID:0xADDRESS")

// ParseRef reads a CAIP-10 Governor id, "eip155:1:0xAbc…".
func ParseRef(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	i := strings.LastIndexByte(s, ':')
	if i < 0 || !strings.HasPrefix(s, "eip155:") {
		return Ref{}, fmt.Errorf("%w, not %q", ErrBadRef, s)
	}
	chain, addr := s[:i], s[i+1:]
	if id, err := strconv.ParseUint(strings.TrimPrefix(chain, "eip155:"), 10, 63); err != nil || id == 0 {
		return Ref{}, fmt.Errorf("%w: chain id %q is not a positive number", ErrBadRef, strings.TrimPrefix(chain, "eip155:"))
	}
	a, err := wallet.ParseEVMAddress(addr)
	if err != nil {
		return Ref{}, fmt.Errorf("%w: %w", ErrBadRef, err)
	}
	return Ref{Chain: chain, Address: a}, nil
}

// UnknownChainError means the Governor's chain is not in the wallet's
// network table; the wallet must know a chain (and have an RPC for it)
// before sov reads or votes there.
type UnknownChainError struct{ Chain string }

func (e *UnknownChainError) Error() string {
	return fmt.Sprintf("chain %s is not a network the wallet knows: add it (with an RPC) to the wallet's networks first", e.Chain)
}

// ErrCompoundBravo means the contract is Compound's GovernorBravo (or a
// fork): its proposals, ballots and counting differ from OpenZeppelin
// Governor's, and sov does not vote there.
var ErrCompoundBravo = errors.New("Compound GovernorBravo is not supported: sov votes on OpenZeppelin Governor contracts only")

// ErrNotGovernor means the address answers none of the Governor calls.
var ErrNotGovernor = errors.New("not an OpenZeppelin Governor contract")

// UnsupportedCountingError means a Governor counts votes other than
// Against/For/Abstain (GovernorCountingSimple's "support=bravo"), e.g.
// fractional counting.
type UnsupportedCountingError struct{ Mode string }

func (e *UnsupportedCountingError) Error() string {
	return fmt.Sprintf("the Governor counts votes as %q: sov votes only where support is Against/For/Abstain (support=bravo)", e.Mode)
}

// State is a Governor's ProposalState.
type State uint8

const (
	Pending State = iota
	Active
	Canceled
	Defeated
	Succeeded
	Queued
	Expired
	Executed
)

var stateNames = []string{"pending", "active", "canceled", "defeated", "succeeded", "queued", "expired", "executed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state " + strconv.Itoa(int(s))
}

// daoState is s as dao.Proposal.State: active, pending or closed.
func (s State) daoState() string {
	switch s {
	case Pending:
		return "pending"
	case Active:
		return "active"
	}
	return "closed"
}

// Options tune a Source; the zero value is sensible.
type Options struct {
	// FromBlock is the first block searched for ProposalCreated; zero
	// searches the last Lookback blocks.
	FromBlock uint64
	// Lookback (default 400,000 blocks, about eight weeks at 12 s) bounds
	// the search when FromBlock is zero: older proposals are closed.
	Lookback uint64
	// LogRange is the most blocks one eth_getLogs asks for (default
	// 50,000; public RPCs cap it).
	LogRange uint64
	// BlockTime estimates when a future block comes, for Governors whose
	// clock counts blocks (default 12 s).
	BlockTime time.Duration
	// Voter is the address whose voting power Sync reports, in whole
	// tokens (zero address: none, VP -1).
	Voter wallet.EVMAddress
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Source reads one Governor. It implements dao.Source.
type Source struct {
	ref      Ref
	net      wallet.Network
	evm      *wallet.EVM
	logs     *logClient
	opt      Options
	name     string
	counting string
	clock    string // CLOCK_MODE: "mode=timestamp" or block numbers
	decimals int    // the voting token's, for dao.Proposal.VP
}

// Open dials the Governor's chain through the wallet's network table (nets,
// e.g. wallet.Config.All or a Session's Networks) and checks the contract
// is an OpenZeppelin Governor sov can vote on.
func Open(ctx context.Context, nets []wallet.Network, ref Ref, opt Options) (*Source, error) {
	var net wallet.Network
	found := false
	for _, n := range nets {
		if n.Family == wallet.FamilyEVM && n.CAIP2 == ref.Chain {
			net, found = n, true
			break
		}
	}
	if !found {
		return nil, &UnknownChainError{Chain: ref.Chain}
	}
	e, err := wallet.DialEVM(ctx, net)
	if err != nil {
		return nil, fmt.Errorf("governor %s: %w", ref, err)
	}
	s := &Source{ref: ref, net: net, evm: e, logs: newLogClient(e.URL, net.RPCTimeout()), opt: opt}
	if err := s.identify(ctx); err != nil {
		e.Close()
		return nil, fmt.Errorf("governor %s: %w", ref, err)
	}
	return s, nil
}

// Close releases the connection.
func (s *Source) Close() { s.evm.Close() }

// Ref is the Governor read.
func (s *Source) Ref() Ref { return s.ref }

// Network is the wallet network the Governor lives on.
func (s *Source) Network() wallet.Network { return s.net }

// Name is the contract's name() and where it is, for listings and errors
// (contract text: sanitise before a terminal).
func (s *Source) Name() string { return fmt.Sprintf("governor %q on %s", s.name, s.ref) }

func (s *Source) now() time.Time {
	if s.opt.Now != nil {
		return s.opt.Now()
	}
	return time.Now()
}

// call is an eth_call to the Governor at the latest block.
func (s *Source) call(ctx context.Context, data []byte) (abiData, error) {
	out, err := s.evm.Backend.CallContract(ctx, wallet.EVMCallMsg{To: &s.ref.Address, Data: data}, nil)
	return abiData(out), err
}

// identify tells an OpenZeppelin Governor from GovernorBravo and from
// anything else: OZ Governors answer COUNTING_MODE (Bravo has none), Bravo
// answers proposalCount and initialProposalId.
func (s *Source) identify(ctx context.Context) error {
	out, err := s.call(ctx, calldata("COUNTING_MODE()"))
	var answered *wallet.RPCError
	if err != nil && !errors.As(err, &answered) {
		return fmt.Errorf("COUNTING_MODE: %w", err) // the node did not answer: not the contract's fault
	}
	mode, derr := out.stringAt(0)
	if err != nil || derr != nil {
		if s.isBravo(ctx) {
			return ErrCompoundBravo
		}
		if err != nil {
			return fmt.Errorf("%w (COUNTING_MODE: %w)", ErrNotGovernor, err)
		}
		return fmt.Errorf("%w (COUNTING_MODE: %w)", ErrNotGovernor, derr)
	}
	s.counting = mode
	if !strings.Contains(mode, "support=bravo") {
		return &UnsupportedCountingError{Mode: mode}
	}
	if out, err := s.call(ctx, calldata("name()")); err == nil {
		s.name, _ = out.stringAt(0)
	}
	s.decimals = 18 // ERC20Votes' usual; ERC721Votes and others say 0 below
	if out, err := s.call(ctx, calldata("token()")); err == nil {
		if tok, err := out.address(0); err == nil {
			if out, err := s.evm.Backend.CallContract(ctx, wallet.EVMCallMsg{To: &tok, Data: calldata("decimals()")}, nil); err == nil {
				if d, err := abiData(out).small(0); err == nil && d <= 36 {
					s.decimals = int(d)
				}
			} else {
				s.decimals = 0 // no decimals(): votes are counted in whole units (NFTs)
			}
		}
	}
	s.clock = "mode=blocknumber&from=default" // Governors before ERC-6372 count blocks
	if out, err := s.call(ctx, calldata("CLOCK_MODE()")); err == nil {
		if m, err := out.stringAt(0); err == nil {
			s.clock = m
		}
	}
	return nil
}

func (s *Source) isBravo(ctx context.Context) bool {
	for _, sig := range []string{"proposalCount()", "initialProposalId()"} {
		out, err := s.call(ctx, calldata(sig))
		if err != nil || len(out) != 32 {
			return false
		}
	}
	return true
}

// timestampClock reports whether timepoints are seconds, not blocks.
func (s *Source) timestampClock() bool { return strings.Contains(s.clock, "mode=timestamp") }

// Proposal is one Governor proposal as the chain has it.
type Proposal struct {
	ID          *big.Int
	Proposer    wallet.EVMAddress
	Targets     []wallet.EVMAddress
	Values      []*big.Int
	Description string // attacker-controlled text
	// Snapshot and Deadline are timepoints of the Governor's clock (block
	// numbers or seconds): voting power counts at Snapshot, voting ends
	// after Deadline.
	Snapshot, Deadline uint64
	State              State
	// Start and End are Snapshot and Deadline as wall-clock times (see
	// chainClock); estimated from BlockTime for a block clock's future
	// blocks.
	Start, End time.Time
	Block      uint64 // where ProposalCreated was logged
}

var (
	topicProposalCreated = topic("ProposalCreated(uint256,address,address[],uint256[],string[],bytes[],uint256,uint256,string)")
	topicVoteCast        = topic("VoteCast(address,uint256,uint8,uint256,string)")
	topicVoteCastParams  = topic("VoteCastWithParams(address,uint256,uint8,uint256,string,bytes)")
)

// decodeProposalCreated reads a ProposalCreated log's data (no field is
// indexed).
func decodeProposalCreated(d abiData) (Proposal, error) {
	var p Proposal
	var err error
	if p.ID, err = d.big(0); err != nil {
		return p, err
	}
	if p.Proposer, err = d.address(1); err != nil {
		return p, err
	}
	targets, err := d.wordsAt(2)
	if err != nil {
		return p, err
	}
	for _, w := range targets {
		p.Targets = append(p.Targets, wallet.EVMAddress(w[12:]))
	}
	values, err := d.wordsAt(3)
	if err != nil {
		return p, err
	}
	for _, w := range values {
		p.Values = append(p.Values, new(big.Int).SetBytes(w))
	}
	if p.Snapshot, err = d.small(6); err != nil {
		return p, err
	}
	if p.Deadline, err = d.small(7); err != nil {
		return p, err
	}
	p.Description, err = d.stringAt(8)
	return p, err
}

// Proposals lists the Governor's proposals created in the searched blocks,
// oldest first, each with its state now. A log that does not decode is an
// error: a list missing a proposal must not look complete.
func (s *Source) Proposals(ctx context.Context) ([]Proposal, error) {
	cc, err := s.chainClock(ctx)
	if err != nil {
		return nil, err
	}
	latest := cc.latest
	from := s.opt.FromBlock
	if from == 0 {
		back := s.opt.Lookback
		if back == 0 {
			back = 400_000
		}
		if latest > back {
			from = latest - back
		}
	}
	step := s.opt.LogRange
	if step == 0 {
		step = 50_000
	}
	logs, err := s.logs.logs(ctx, s.ref.Address, []any{hex32(topicProposalCreated)}, from, latest, step)
	if err != nil {
		return nil, err
	}
	var out []Proposal
	for _, l := range logs {
		p, err := decodeProposalCreated(abiData(l.Data))
		if err != nil {
			return nil, fmt.Errorf("ProposalCreated in block %d: %w", l.BlockNumber, err)
		}
		p.Block = uint64(l.BlockNumber)
		if err := s.refresh(ctx, &p, cc); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// refresh reads p's state and deadline now (a Governor may extend it,
// e.g. GovernorPreventLateQuorum) and dates its timepoints.
func (s *Source) refresh(ctx context.Context, p *Proposal, cc chainClock) error {
	st, err := s.State(ctx, p.ID)
	if err != nil {
		return err
	}
	p.State = st
	if out, err := s.call(ctx, calldata("proposalDeadline(uint256)", p.ID)); err == nil {
		if d, err := out.small(0); err == nil && d != 0 {
			p.Deadline = d
		}
	}
	if p.Start, err = s.timeOf(ctx, p.Snapshot, cc); err != nil {
		return err
	}
	p.End, err = s.timeOf(ctx, p.Deadline, cc)
	return err
}

// chainClock pairs the chain's latest block with the wall clock, so a
// timepoint can be dated in wall-clock time: a chain whose clock runs
// ahead (a test chain moved on) or behind (a late block) still gives
// times that agree with the Governor's state.
type chainClock struct {
	latest            uint64
	chainNow, wallNow time.Time
}

func (s *Source) chainClock(ctx context.Context) (chainClock, error) {
	latest, err := s.logs.blockNumber(ctx)
	if err != nil {
		return chainClock{}, err
	}
	t, err := s.logs.blockTime(ctx, latest)
	if err != nil {
		return chainClock{}, err
	}
	return chainClock{latest: latest, chainNow: t, wallNow: s.now()}, nil
}

// timeOf dates a timepoint: seconds as they are; a past block by its
// timestamp; a future block from the latest one's and BlockTime; then
// shifted to the wall clock (see chainClock).
func (s *Source) timeOf(ctx context.Context, tp uint64, cc chainClock) (time.Time, error) {
	var t time.Time
	switch {
	case s.timestampClock():
		t = time.Unix(int64(tp), 0)
	case tp <= cc.latest:
		var err error
		if t, err = s.logs.blockTime(ctx, tp); err != nil {
			return t, err
		}
	default:
		bt := s.opt.BlockTime
		if bt == 0 {
			bt = 12 * time.Second
		}
		t = cc.chainNow.Add(time.Duration(tp-cc.latest) * bt)
	}
	return cc.wallNow.Add(t.Sub(cc.chainNow)).UTC().Truncate(time.Second), nil
}

// ErrNoProposal means the Governor has no proposal of that id.
var ErrNoProposal = errors.New("the Governor has no such proposal")

// State is the proposal's state now.
func (s *Source) State(ctx context.Context, id *big.Int) (State, error) {
	out, err := s.call(ctx, calldata("state(uint256)", id))
	if err != nil {
		// state reverts with GovernorNonexistentProposal(uint256), which
		// nodes quote by its selector
		if strings.Contains(err.Error(), hex.EncodeToString(selector("GovernorNonexistentProposal(uint256)"))) {
			return 0, fmt.Errorf("proposal %s: %w", id, ErrNoProposal)
		}
		return 0, fmt.Errorf("state of proposal %s: %w", id, err)
	}
	v, err := out.small(0)
	if err != nil || v >= uint64(len(stateNames)) {
		return 0, fmt.Errorf("state of proposal %s: the Governor answered %x", id, []byte(out))
	}
	return State(v), nil
}

// VotingPower is voter's votes at the proposal's snapshot.
func (s *Source) VotingPower(ctx context.Context, voter wallet.EVMAddress, p Proposal) (*big.Int, error) {
	out, err := s.call(ctx, calldata("getVotes(address,uint256)", voter, new(big.Int).SetUint64(p.Snapshot)))
	if err != nil {
		return nil, fmt.Errorf("getVotes: %w", err)
	}
	v, err := out.big(0)
	if err != nil {
		return nil, fmt.Errorf("getVotes: %w", err)
	}
	return v, nil
}

// HasVoted reports whether voter has voted on proposal id.
func (s *Source) HasVoted(ctx context.Context, id *big.Int, voter wallet.EVMAddress) (bool, error) {
	out, err := s.call(ctx, calldata("hasVoted(uint256,address)", id, voter))
	if err != nil {
		return false, fmt.Errorf("hasVoted: %w", err)
	}
	v, err := out.bool(0)
	if err != nil {
		return false, fmt.Errorf("hasVoted: %w", err)
	}
	return v, nil
}

// Sync lists the Governor's pending and active proposals as the delegate
// sees them (dao.Source). Closed ones are left out: nothing can be cast.
func (s *Source) Sync(ctx context.Context) ([]dao.Proposal, error) {
	ps, err := s.Proposals(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	now := s.now()
	var out []dao.Proposal
	for _, p := range ps {
		if p.State != Pending && p.State != Active {
			continue
		}
		d := s.toDAO(p, now)
		if s.opt.Voter != (wallet.EVMAddress{}) && p.State == Active {
			if vp, err := s.VotingPower(ctx, s.opt.Voter, p); err == nil {
				scale := new(big.Float).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s.decimals)), nil))
				d.VP, _ = new(big.Float).Quo(new(big.Float).SetInt(vp), scale).Float64()
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// toDAO maps p to the delegate's Proposal: Governor voting type with its
// Against/For/Abstain choices, the title the description's first line.
func (s *Source) toDAO(p Proposal, now time.Time) dao.Proposal {
	return dao.Proposal{
		Source:   dao.SourceGovernor,
		Space:    s.ref.String(),
		ID:       p.ID.String(),
		Title:    Title(p.Description),
		Body:     p.Description,
		Choices:  append([]string(nil), dao.GovernorChoices...),
		Type:     dao.Governor,
		Start:    p.Start,
		End:      p.End,
		Snapshot: strconv.FormatUint(p.Snapshot, 10),
		State:    p.State.daoState(),
		Author:   p.Proposer.Hex(),
		VP:       -1,
		Fetched:  now,
	}
}

// Title is a description's first non-empty line without Markdown heading
// marks, at most 200 characters (Governor proposals have no title field).
func Title(desc string) string {
	for line := range strings.SplitSeq(desc, "\n") {
		line = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(line), "#"))
		if line == "" {
			continue
		}
		if r := []rune(line); len(r) > 200 {
			line = string(r[:200]) + "…"
		}
		return line
	}
	return "(untitled)"
}

// Lookup reads one proposal by its id (a dao.Proposal's ID, in decimal):
// its state, snapshot and deadline now, without searching logs.
func (s *Source) Lookup(ctx context.Context, id string) (Proposal, error) {
	n, ok := new(big.Int).SetString(id, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 256 {
		return Proposal{}, fmt.Errorf("proposal id %q is not a Governor proposal id (a decimal number)", id)
	}
	p := Proposal{ID: n}
	st, err := s.State(ctx, n)
	if err != nil {
		return p, err
	}
	p.State = st
	out, err := s.call(ctx, calldata("proposalSnapshot(uint256)", n))
	if err != nil {
		return p, fmt.Errorf("proposalSnapshot: %w", err)
	}
	if p.Snapshot, err = out.small(0); err != nil {
		return p, fmt.Errorf("proposalSnapshot: %w", err)
	}
	cc, err := s.chainClock(ctx)
	if err != nil {
		return p, err
	}
	return p, s.refresh(ctx, &p, cc)
}
