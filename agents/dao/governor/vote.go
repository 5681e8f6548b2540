package governor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/wallet"
)

// Sender sends contract calls as transactions from one EVM account
// through the wallet's send path: its policy, the user's approval where
// the policy asks for it, the ledger. SendCall sends data to the contract
// to on net and returns once the transaction is broadcast; summary is the
// one line a person approves (it names the Governor, the proposal and the
// choice, never proposal text). The arguments are plain types so a
// sender needs nothing from this package.
type Sender interface {
	From() wallet.EVMAddress
	SendCall(ctx context.Context, net wallet.Network, to wallet.EVMAddress, data []byte, summary string) (wallet.EVMHash, error)
}

// Signer signs EIP-712 typed data with the EVM key at index through the
// wallet's policy; *wallet.Session is one (a Governor ballot follows its
// message rule).
type Signer interface {
	SignTypedData(ctx context.Context, td wallet.TypedData, index uint32) ([]byte, error)
}

// Why a vote is not cast; each is found before anything is signed.
var (
	ErrVotingNotOpen  = errors.New("voting on the proposal has not opened yet")
	ErrVotingClosed   = errors.New("voting on the proposal has closed")
	ErrAlreadyVoted   = errors.New("this account has already voted on the proposal (a Governor allows no second vote)")
	ErrNoVotingPower  = errors.New("this account had no voting power at the proposal's snapshot (delegate the tokens before a proposal is made)")
	ErrWrongGovernor  = errors.New("the proposal belongs to another Governor")
	ErrReasonTooLong  = errors.New("the vote's reason is longer than 4096 bytes")
	ErrDomainMismatch = errors.New("the Governor's EIP-712 domain names another chain or contract")
	// ErrSignerMismatch: the ballot's signature is not the voter's (the
	// account index names another address); nothing is relayed.
	ErrSignerMismatch = errors.New("the ballot was signed by another account than the voter's")
	// ErrNoV5Ballots: Governors before OpenZeppelin v5 sign ballots
	// without voter and nonce; vote on them by transaction (Cast).
	ErrNoV5Ballots = errors.New("the Governor does not take OpenZeppelin v5 ballots (no nonces): vote by transaction instead")
)

// WindowError says a proposal is not open for votes, and its state.
type WindowError struct {
	ID    string
	State State
}

func (e *WindowError) Error() string {
	if e.State == Pending {
		return fmt.Sprintf("proposal %s is pending: %v", e.ID, ErrVotingNotOpen)
	}
	return fmt.Sprintf("proposal %s is %s: %v", e.ID, e.State, ErrVotingClosed)
}

// Is makes errors.Is(err, ErrVotingNotOpen / ErrVotingClosed) work.
func (e *WindowError) Is(target error) bool {
	if e.State == Pending {
		return target == ErrVotingNotOpen
	}
	return target == ErrVotingClosed
}

const maxReason = 4096

// prepare checks that a vote by voter on p can count now: p is this
// Governor's, c a Governor choice, the window open, no earlier vote and
// some voting power.
func (s *Source) prepare(ctx context.Context, voter wallet.EVMAddress, p dao.Proposal, c dao.Choice, reason string) (Proposal, error) {
	if p.Source != dao.SourceGovernor || !strings.EqualFold(p.Space, s.ref.String()) {
		return Proposal{}, fmt.Errorf("%w: %s, not %s", ErrWrongGovernor, p.Space, s.ref)
	}
	if err := c.Validate(p); err != nil {
		return Proposal{}, err
	}
	if len(reason) > maxReason {
		return Proposal{}, ErrReasonTooLong
	}
	onchain, err := s.Lookup(ctx, p.ID)
	if err != nil {
		return onchain, err
	}
	if onchain.State != Active {
		return onchain, &WindowError{ID: p.ID, State: onchain.State}
	}
	voted, err := s.HasVoted(ctx, onchain.ID, voter)
	if err != nil {
		return onchain, err
	}
	if voted {
		return onchain, fmt.Errorf("%s on proposal %s: %w", voter.Hex(), p.ID, ErrAlreadyVoted)
	}
	vp, err := s.VotingPower(ctx, voter, onchain)
	if err != nil {
		return onchain, err
	}
	if vp.Sign() == 0 {
		return onchain, fmt.Errorf("%s on proposal %s: %w", voter.Hex(), p.ID, ErrNoVotingPower)
	}
	return onchain, nil
}

// summary is the line a person approves for a vote.
func (s *Source) summary(id string, c dao.Choice, how string) string {
	return fmt.Sprintf("Vote %s on proposal %s at governor %s on %s (%s)%s",
		c.String(), id, s.ref.Address.Hex(), s.net.Name, s.ref.Chain, how)
}

// Cast votes c on p with reason as the user's own castVoteWithReason
// transaction, sent by snd through the wallet. A Governor allows no
// second vote, so the caller must have the user's approval unless an
// auto-cast rule names this Governor (the wallet's policy applies either
// way). Everything that would make the vote fail is checked first.
func (s *Source) Cast(ctx context.Context, snd Sender, p dao.Proposal, c dao.Choice, reason string) (dao.Receipt, error) {
	onchain, err := s.prepare(ctx, snd.From(), p, c, reason)
	if err != nil {
		return dao.Receipt{}, err
	}
	data := CastVoteWithReason(onchain.ID, uint8(c.Index), reason)
	h, err := snd.SendCall(ctx, s.net, s.ref.Address, data, s.summary(p.ID, c, ""))
	if err != nil {
		return dao.Receipt{}, fmt.Errorf("vote on proposal %s: %w", p.ID, err)
	}
	sum := sha256.Sum256(data)
	return dao.Receipt{ID: h.Hex(), Signer: snd.From().Hex(), Digest: hex.EncodeToString(sum[:])}, nil
}

// SignedBallot is a vote signed by its voter, ready for anyone to relay:
// a transaction to To with Data.
type SignedBallot struct {
	To    wallet.EVMAddress
	Data  []byte
	Voter wallet.EVMAddress
	// Digest is the sha256 of the EIP-712 digest signed (what the
	// wallet's ledger records).
	Digest string
}

// SignBallot checks a vote by voter (the EVM account at index) on p can
// count now, and has sig sign it as an EIP-712 ballot (the wallet's
// policy and approval apply to the signature, which is the vote):
// Ballot → castVoteBySig without a reason, ExtendedBallot →
// castVoteWithReasonAndParamsBySig with one. The signature is checked to
// recover to voter.
func (s *Source) SignBallot(ctx context.Context, sig Signer, index uint32, voter wallet.EVMAddress, p dao.Proposal, c dao.Choice, reason string) (SignedBallot, error) {
	onchain, err := s.prepare(ctx, voter, p, c, reason)
	if err != nil {
		return SignedBallot{}, err
	}
	td, err := s.Ballot(ctx, onchain.ID, uint8(c.Index), voter, reason)
	if err != nil {
		return SignedBallot{}, err
	}
	digest, err := wallet.TypedDataHash(td)
	if err != nil {
		return SignedBallot{}, err
	}
	signature, err := sig.SignTypedData(ctx, td, index)
	if err != nil {
		return SignedBallot{}, fmt.Errorf("sign the ballot for proposal %s: %w", p.ID, err)
	}
	if got, err := recoverSigner(digest, signature); err != nil || got != voter {
		return SignedBallot{}, fmt.Errorf("%w (%s, index %d)", ErrSignerMismatch, voter.Hex(), index)
	}
	b := SignedBallot{To: s.ref.Address, Voter: voter}
	if reason == "" {
		b.Data = CastVoteBySig(onchain.ID, uint8(c.Index), voter, signature)
	} else {
		b.Data = CastVoteWithReasonAndParamsBySig(onchain.ID, uint8(c.Index), voter, reason, nil, signature)
	}
	sum := sha256.Sum256(digest)
	b.Digest = hex.EncodeToString(sum[:])
	return b, nil
}

// CastBySig signs the ballot (SignBallot) and has relay send it; any
// account may relay, and pays the gas.
func (s *Source) CastBySig(ctx context.Context, sig Signer, index uint32, voter wallet.EVMAddress, relay Sender, p dao.Proposal, c dao.Choice, reason string) (dao.Receipt, error) {
	b, err := s.SignBallot(ctx, sig, index, voter, p, c, reason)
	if err != nil {
		return dao.Receipt{}, err
	}
	h, err := relay.SendCall(ctx, s.net, b.To, b.Data, s.summary(p.ID, c, ", signed by "+b.Voter.Hex()))
	if err != nil {
		return dao.Receipt{}, fmt.Errorf("relay the vote on proposal %s: %w", p.ID, err)
	}
	return dao.Receipt{ID: h.Hex(), Signer: b.Voter.Hex(), Digest: b.Digest}, nil
}

// Domain is a contract's EIP-712 domain as eip712Domain() (ERC-5267)
// reports it.
type Domain struct {
	Name, Version     string
	ChainID           *big.Int
	VerifyingContract wallet.EVMAddress
	Salt              [32]byte
	fields            byte
}

// Domain reads the Governor's EIP-712 domain and checks it names this
// chain and contract: a ballot signed for another would not count here,
// or would count somewhere else.
func (s *Source) Domain(ctx context.Context) (Domain, error) {
	out, err := s.call(ctx, calldata("eip712Domain()"))
	if err != nil {
		return Domain{}, fmt.Errorf("eip712Domain: %w", err)
	}
	var d Domain
	w, err := out.word(0)
	if err != nil {
		return d, fmt.Errorf("eip712Domain: %w", err)
	}
	d.fields = w[0]
	if d.Name, err = out.stringAt(1); err == nil {
		if d.Version, err = out.stringAt(2); err == nil {
			if d.ChainID, err = out.big(3); err == nil {
				if d.VerifyingContract, err = out.address(4); err == nil {
					var salt []byte
					salt, err = out.word(5)
					d.Salt = [32]byte(salt)
				}
			}
		}
	}
	if err != nil {
		return d, fmt.Errorf("eip712Domain: %w", err)
	}
	// name, version, chainId and verifyingContract: what OpenZeppelin's
	// EIP712 always sets; a ballot without them could be replayed.
	if d.fields&0x0f != 0x0f || d.ChainID.Cmp(big.NewInt(s.net.ChainID)) != 0 || d.VerifyingContract != s.ref.Address {
		return d, fmt.Errorf("%w (fields %#x, chain %s, contract %s)", ErrDomainMismatch, d.fields, d.ChainID, d.VerifyingContract.Hex())
	}
	return d, nil
}

// Ballot is the EIP-712 ballot voter signs to vote support on proposal
// id: Ballot(proposalId, support, voter, nonce) when reason is empty,
// ExtendedBallot(…, reason, params) otherwise, with the voter's current
// nonce and the Governor's own domain.
func (s *Source) Ballot(ctx context.Context, id *big.Int, support uint8, voter wallet.EVMAddress, reason string) (wallet.TypedData, error) {
	d, err := s.Domain(ctx)
	if err != nil {
		return wallet.TypedData{}, err
	}
	out, err := s.call(ctx, calldata("nonces(address)", voter))
	if err != nil {
		return wallet.TypedData{}, fmt.Errorf("%w (nonces: %w)", ErrNoV5Ballots, err)
	}
	nonce, err := out.big(0)
	if err != nil {
		return wallet.TypedData{}, fmt.Errorf("nonces: %w", err)
	}
	return BallotTypedData(d, id, support, voter, nonce, reason)
}

// BallotTypedData builds the ballot document (see Ballot).
func BallotTypedData(d Domain, id *big.Int, support uint8, voter wallet.EVMAddress, nonce *big.Int, reason string) (wallet.TypedData, error) {
	type field struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	domainTypes := []field{{"name", "string"}, {"version", "string"}, {"chainId", "uint256"}, {"verifyingContract", "address"}}
	domain := map[string]any{"name": d.Name, "version": d.Version, "chainId": d.ChainID.String(), "verifyingContract": d.VerifyingContract.Hex()}
	if d.fields&0x10 != 0 {
		domainTypes = append(domainTypes, field{"salt", "bytes32"})
		domain["salt"] = "0x" + hex.EncodeToString(d.Salt[:])
	}
	ballot := []field{{"proposalId", "uint256"}, {"support", "uint8"}, {"voter", "address"}, {"nonce", "uint256"}}
	msg := map[string]any{"proposalId": id.String(), "support": strconv.Itoa(int(support)), "voter": voter.Hex(), "nonce": nonce.String()}
	primary := "Ballot"
	if reason != "" {
		primary = "ExtendedBallot"
		ballot = append(ballot, field{"reason", "string"}, field{"params", "bytes"})
		msg["reason"], msg["params"] = reason, "0x"
	}
	doc, err := json.Marshal(map[string]any{
		"types":       map[string][]field{"EIP712Domain": domainTypes, primary: ballot},
		"primaryType": primary,
		"domain":      domain,
		"message":     msg,
	})
	if err != nil {
		return wallet.TypedData{}, err
	}
	return wallet.ParseTypedData(doc)
}

// The Governor's vote calls' calldata.

// CastVoteWithReason is castVoteWithReason(proposalId, support, reason).
func CastVoteWithReason(id *big.Int, support uint8, reason string) []byte {
	return calldata("castVoteWithReason(uint256,uint8,string)", id, support, reason)
}

// CastVoteBySig is castVoteBySig(proposalId, support, voter, signature) (v5).
func CastVoteBySig(id *big.Int, support uint8, voter wallet.EVMAddress, sig []byte) []byte {
	return calldata("castVoteBySig(uint256,uint8,address,bytes)", id, support, voter, sig)
}

// CastVoteWithReasonAndParamsBySig is
// castVoteWithReasonAndParamsBySig(proposalId, support, voter, reason,
// params, signature) (v5).
func CastVoteWithReasonAndParamsBySig(id *big.Int, support uint8, voter wallet.EVMAddress, reason string, params, sig []byte) []byte {
	return calldata("castVoteWithReasonAndParamsBySig(uint256,uint8,address,string,bytes,bytes)", id, support, voter, reason, params, sig)
}

// VoteCast is a vote the Governor counted (VoteCast or VoteCastWithParams).
type VoteCast struct {
	Voter   wallet.EVMAddress
	Support uint8
	Weight  *big.Int
	Reason  string // the voter's text
	TxHash  string
	Block   uint64
}

// Votes lists the votes counted on proposal id, from its creation block
// (the proposal's Block; 0 searches as Proposals does).
func (s *Source) Votes(ctx context.Context, id *big.Int, fromBlock uint64) ([]VoteCast, error) {
	latest, err := s.logs.blockNumber(ctx)
	if err != nil {
		return nil, err
	}
	if fromBlock == 0 {
		fromBlock = s.opt.FromBlock
	}
	step := s.opt.LogRange
	if step == 0 {
		step = 50_000
	}
	topics := []any{[]string{hex32(topicVoteCast), hex32(topicVoteCastParams)}}
	logs, err := s.logs.logs(ctx, s.ref.Address, topics, fromBlock, latest, step)
	if err != nil {
		return nil, err
	}
	var out []VoteCast
	for _, l := range logs {
		if len(l.Topics) != 2 || len(l.Topics[1]) != 32 {
			return nil, fmt.Errorf("VoteCast in block %d: malformed topics", l.BlockNumber)
		}
		d := abiData(l.Data)
		pid, err := d.big(0)
		if err != nil {
			return nil, fmt.Errorf("VoteCast in block %d: %w", l.BlockNumber, err)
		}
		if pid.Cmp(id) != 0 {
			continue
		}
		v := VoteCast{Voter: wallet.EVMAddress(l.Topics[1][12:]), TxHash: l.TxHash, Block: uint64(l.BlockNumber)}
		sup, err := d.small(1)
		if err == nil && sup > 255 {
			err = errors.New("support out of range")
		}
		if err == nil {
			v.Support = uint8(sup)
			if v.Weight, err = d.big(2); err == nil {
				v.Reason, err = d.stringAt(3)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("VoteCast in block %d: %w", l.BlockNumber, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// TxVoter casts as the user's own transaction (dao.Voter).
type TxVoter struct {
	Source *Source
	Sender Sender
}

// Vote implements dao.Voter.
func (v TxVoter) Vote(ctx context.Context, p dao.Proposal, c dao.Choice, reason string) (dao.Receipt, error) {
	return v.Source.Cast(ctx, v.Sender, p, c, reason)
}

// SigVoter casts a ballot signed by the wallet and relayed (dao.Voter).
type SigVoter struct {
	Source  *Source
	Signer  Signer
	Account uint32
	Voter   wallet.EVMAddress // the address of Account
	Relay   Sender
}

// Vote implements dao.Voter.
func (v SigVoter) Vote(ctx context.Context, p dao.Proposal, c dao.Choice, reason string) (dao.Receipt, error) {
	return v.Source.CastBySig(ctx, v.Signer, v.Account, v.Voter, v.Relay, p, c, reason)
}

var (
	_ dao.Source = (*Source)(nil)
	_ dao.Voter  = TxVoter{}
	_ dao.Voter  = SigVoter{}
)

// recoverSigner is the address whose key made sig (r‖s‖v, v 27/28 or
// 0/1) over digest.
func recoverSigner(digest, sig []byte) (wallet.EVMAddress, error) {
	if len(sig) != 65 {
		return wallet.EVMAddress{}, errors.New("a signature is 65 bytes")
	}
	v := sig[64]
	if v >= 27 {
		v -= 27
	}
	if v > 1 {
		return wallet.EVMAddress{}, errors.New("bad recovery id")
	}
	compact := append([]byte{27 + v}, sig[:64]...)
	pub, _, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil {
		return wallet.EVMAddress{}, err
	}
	return wallet.EVMAddress(keccak(pub.SerializeUncompressed()[1:])[12:]), nil
}
