package dao

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sovos/sov/internal/ledger"
	"github.com/sovos/sov/wallet"
)

// AliasIndex is the EVM account index of the alias key that signs the
// delegate's Snapshot votes: m/44'/60'/0'/0/7337, derived from the wallet
// seed and used for nothing else. The main account (index 0) signs only
// the Alias message that lets it vote for you.
const AliasIndex uint32 = 7337

// MainIndex is the account the delegate votes for.
const MainIndex uint32 = 0

// SnapshotApp is the app name every vote carries.
const SnapshotApp = "sov"

// The EIP-712 domain of every Snapshot message.
var snapshotDomain = map[string]any{"name": "snapshot", "version": "0.1.4"}

type field struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// voteTypes are Snapshot's Vote types with the choice typed for t. Their
// JSON is exactly an entry of snapshot.js's hashedTypes.json (the
// sequencer refuses any other); "from" is an address.
func voteTypes(t VotingType) map[string][]field {
	choice := "uint32"
	switch t {
	case Approval, RankedChoice:
		choice = "uint32[]"
	case Weighted, Quadratic:
		choice = "string"
	}
	return map[string][]field{"Vote": {
		{"from", "address"}, {"space", "string"}, {"timestamp", "uint64"}, {"proposal", "string"},
		{"choice", choice}, {"reason", "string"}, {"app", "string"}, {"metadata", "string"},
	}}
}

var aliasTypes = map[string][]field{"Alias": {{"from", "address"}, {"alias", "address"}, {"timestamp", "uint64"}}}

// Envelope is what the sequencer receives: the signer's address, its
// signature and the typed data (without EIP712Domain, as snapshot.js
// sends it).
type Envelope struct {
	Address string       `json:"address"`
	Sig     string       `json:"sig"`
	Data    EnvelopeData `json:"data"`
}

// EnvelopeData is the signed typed data.
type EnvelopeData struct {
	Domain  map[string]any     `json:"domain"`
	Types   map[string][]field `json:"types"`
	Message map[string]any     `json:"message"`
}

// typedData is d as the wallet signs it (EIP712Domain added).
func (d EnvelopeData) typedData() (wallet.TypedData, error) {
	types := map[string][]field{"EIP712Domain": {{"name", "string"}, {"version", "string"}}}
	primary := ""
	for k, v := range d.Types {
		types[k], primary = v, k
	}
	b, err := json.Marshal(map[string]any{"types": types, "primaryType": primary, "domain": d.Domain, "message": d.Message})
	if err != nil {
		return wallet.TypedData{}, err
	}
	return wallet.ParseTypedData(b)
}

// TypedSigner signs EIP-712 typed data with the wallet's EVM key at index
// (wallet.Session: through the wallet's policy, recorded in the ledger).
type TypedSigner interface {
	SignTypedData(ctx context.Context, td wallet.TypedData, index uint32) ([]byte, error)
}

// Errors about the alias.
var (
	// ErrNoAlias: votes need the alias authorised first.
	ErrNoAlias = errors.New("the delegate's alias key is not authorised on Snapshot yet")
	// ErrAliasRevoked: the alias was revoked; votes are refused.
	ErrAliasRevoked = errors.New("the delegate's alias key was revoked")
	// ErrClosed: the proposal's voting window is not open.
	ErrClosed = errors.New("voting is not open")
)

// sign signs d with the key at index and returns the envelope.
func sign(ctx context.Context, s TypedSigner, index uint32, signer string, d EnvelopeData) (Envelope, string, error) {
	td, err := d.typedData()
	if err != nil {
		return Envelope{}, "", fmt.Errorf("snapshot message: %w", err)
	}
	h, err := wallet.TypedDataHash(td)
	if err != nil {
		return Envelope{}, "", fmt.Errorf("snapshot message: %w", err)
	}
	sig, err := s.SignTypedData(ctx, td, index)
	if err != nil {
		return Envelope{}, "", err
	}
	return Envelope{Address: signer, Sig: "0x" + fmt.Sprintf("%x", sig), Data: d}, ledger.SHA256(h), nil
}

// checksum is address a in its EIP-55 form, as Snapshot's sequencer
// compares it; an address that does not parse is left as it is (its
// signature then fails to verify, visibly).
func checksum(a string) string {
	addr, err := wallet.ParseEVMAddress(a)
	if err != nil {
		return a
	}
	return addr.Hex()
}

// VoteEnvelopeData is the Vote message for c on p from account from.
func VoteEnvelopeData(p Proposal, c Choice, from, reason string, at time.Time) EnvelopeData {
	return EnvelopeData{Domain: snapshotDomain, Types: voteTypes(p.Type), Message: map[string]any{
		"from": checksum(from), "space": p.Space, "timestamp": at.Unix(), "proposal": p.ID,
		"choice": c.SnapshotValue(), "reason": reason, "app": SnapshotApp, "metadata": "{}",
	}}
}

// AliasEnvelopeData is the Alias message letting alias act for from.
func AliasEnvelopeData(from, alias string, at time.Time) EnvelopeData {
	return EnvelopeData{Domain: snapshotDomain, Types: aliasTypes, Message: map[string]any{
		"from": checksum(from), "alias": checksum(alias), "timestamp": at.Unix(),
	}}
}

// SnapshotVoter signs votes with the alias key for the main account and
// posts them to the hub's sequencer.
type SnapshotVoter struct {
	Hub    *Hub
	Signer TypedSigner
	From   string // the main account
	Alias  string // the alias account (AliasIndex)
	// Accounts finds From and Alias when they are empty (e.g. from the
	// wallet, unlocking it only once a vote is to be signed).
	Accounts func() (from, alias string, err error)
	Now      func() time.Time
}

func (v *SnapshotVoter) accounts() error {
	if v.From != "" && v.Alias != "" {
		return nil
	}
	if v.Accounts == nil {
		return errors.New("snapshot voter: no accounts")
	}
	var err error
	v.From, v.Alias, err = v.Accounts()
	return err
}

func (v *SnapshotVoter) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Vote signs and posts a vote. reason is the public rationale.
func (v *SnapshotVoter) Vote(ctx context.Context, p Proposal, c Choice, reason string) (Receipt, error) {
	if p.Source != SourceSnapshot {
		return Receipt{}, fmt.Errorf("a %s proposal is not voted on Snapshot", p.Source)
	}
	if err := c.Validate(p); err != nil {
		return Receipt{}, err
	}
	if err := v.accounts(); err != nil {
		return Receipt{}, err
	}
	if now := v.now(); !p.Open(now) {
		return Receipt{}, fmt.Errorf("%s: %w (%s to %s)", p.Key(), ErrClosed, p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
	}
	env, digest, err := sign(ctx, v.Signer, AliasIndex, checksum(v.Alias), VoteEnvelopeData(p, c, v.From, reason, v.now()))
	if err != nil {
		return Receipt{}, err
	}
	id, err := v.Hub.Send(ctx, env)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{ID: id, Signer: env.Address, Digest: digest}, nil
}

// Authorize signs Alias{from, alias} with the main key and posts it.
func (v *SnapshotVoter) Authorize(ctx context.Context) (Envelope, Receipt, error) {
	if err := v.accounts(); err != nil {
		return Envelope{}, Receipt{}, err
	}
	env, digest, err := sign(ctx, v.Signer, MainIndex, checksum(v.From), AliasEnvelopeData(v.From, v.Alias, v.now()))
	if err != nil {
		return env, Receipt{}, err
	}
	id, err := v.Hub.Send(ctx, env)
	if err != nil {
		return env, Receipt{}, err
	}
	return env, Receipt{ID: id, Signer: env.Address, Digest: digest}, nil
}

// Send posts a signed envelope to the sequencer and returns the id it
// gives the message.
func (h *Hub) Send(ctx context.Context, env Envelope) (string, error) {
	var resp struct {
		ID string `json:"id"`
	}
	if err := h.post(ctx, h.sequencer(), env, &resp); err != nil {
		return "", err
	}
	if resp.ID == "" || len(resp.ID) > 200 {
		return "", fmt.Errorf("%w %s: the message was not given an id", ErrHub, h.sequencer())
	}
	return resp.ID, nil
}
