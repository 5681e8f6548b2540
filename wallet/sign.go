package wallet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sovos/sov/internal/ledger"
)

// The signing API for later issues (DAO votes, x402 authorisations, feeds):
// every call passes the policy engine first, exactly like a payment.

// preview quotes msg as data for a summary (never interpreted).
func preview(msg []byte) string {
	s := string(msg)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strconv.Quote(s)
}

// signWith passes a message signature (req: its kind, summary and what it
// decodes to) through the policy as the session's actor, then unlocks the
// keys, records the signature about to be made (signed with the ledger
// key; the message only by digest, the sha256 of what the key signs) and
// makes it. When the entry cannot be written nothing is signed; a
// signature not made gives back what it reserved.
func (s *Session) signWith(ctx context.Context, req request, signed []byte, sign func(*Keys) ([]byte, error)) ([]byte, error) {
	return s.signAs(ctx, s.self, req, signed, sign)
}

// signAs is signWith as actor a: the session's user or a grant's holder.
func (s *Session) signAs(ctx context.Context, a actor, req request, signed []byte, sign func(*Keys) ([]byte, error)) ([]byte, error) {
	req.Caller, req.Grant, req.Interactive, req.Message = a.principal, a.grant, a.interactive, ledger.SHA256(signed)
	d, err := s.w.authorize(ctx, req, a.approve)
	if err != nil {
		return nil, err
	}
	rctx := context.WithoutCancel(ctx)
	release := func(why string) { s.w.release(rctx, d.ID, why, "", nil) }
	if a.unlock == nil {
		release("locked")
		return nil, ErrLocked
	}
	keys, err := a.unlock()
	if err != nil {
		release("unlock failed")
		return nil, err
	}
	defer keys.Wipe()
	f := req.fields("signed")
	f.put("reservation", d.ID)
	if err := s.w.recordNow(rctx, ledger.KindPermission, a.principal, map[string]string{"message": req.Message}, f, s.w.ledgerSigner(keys)); err != nil {
		release("not recorded")
		return nil, err
	}
	sig, err := sign(keys)
	if err != nil {
		release("not signed")
		return nil, err
	}
	return sig, nil
}

// SignPersonal signs msg with EIP-191 (personal_sign) using the EVM key at
// index; the signature is r‖s‖v with v in {27,28}.
func (s *Session) SignPersonal(ctx context.Context, msg []byte, index uint32) ([]byte, error) {
	return s.signWith(ctx, request{Kind: "sign-message", Summary: "Sign message " + preview(msg) + " with your EVM key (EIP-191)"}, PersonalHash(msg), func(keys *Keys) ([]byte, error) {
		k, err := keys.EVMKey(index)
		if err != nil {
			return nil, err
		}
		return personalSign(k, msg)
	})
}

// SignTypedData signs EIP-712 typed data with the EVM key at index. What
// it would authorise is decoded first (see typed.go): a transfer
// authorization or permit is limited like a transfer of its asset to its
// payee, a vote follows the message rule, anything else needs a person.
func (s *Session) SignTypedData(ctx context.Context, td TypedData, index uint32) ([]byte, error) {
	h, err := TypedDataHash(td)
	if err != nil {
		return nil, err
	}
	nets := s.cfg.Networks
	if len(nets) == 0 {
		nets = Builtin()
	}
	req := typedRequest(td, nets)
	s.w.warnPayee(&req)
	return s.signWith(ctx, req, h, func(keys *Keys) ([]byte, error) {
		k, err := keys.EVMKey(index)
		if err != nil {
			return nil, err
		}
		return signTypedData(k, td)
	})
}

// SignSolanaMessage signs raw message bytes with the Solana key at index.
func (s *Session) SignSolanaMessage(ctx context.Context, msg []byte, index uint32) ([]byte, error) {
	return s.signWith(ctx, request{Kind: "sign-message", Summary: "Sign message " + preview(msg) + " with your Solana key"}, msg, func(keys *Keys) ([]byte, error) {
		k, err := keys.SolanaKey(index)
		if err != nil {
			return nil, err
		}
		return signSolanaMessage(k, msg), nil
	})
}

// NEP413Message is a NEAR off-chain message (NEP-413 signMessage).
type NEP413Message struct {
	Message     string
	Nonce       [32]byte
	Recipient   string
	CallbackURL string // optional
}

// nep413Tag is 2^31 + 413, prefixed so a message can never be a transaction.
const nep413Tag = 1<<31 + 413

// Hash is sha256 of the Borsh-encoded tag and payload, which is signed.
func (m NEP413Message) Hash() [32]byte {
	b := binary.LittleEndian.AppendUint32(nil, nep413Tag)
	b = borshString(b, m.Message)
	b = append(b, m.Nonce[:]...)
	b = borshString(b, m.Recipient)
	if m.CallbackURL == "" {
		b = append(b, 0)
	} else {
		b = borshString(append(b, 1), m.CallbackURL)
	}
	return sha256.Sum256(b)
}

// SignNEARMessage signs a NEP-413 message with the NEAR key at index.
func (s *Session) SignNEARMessage(ctx context.Context, m NEP413Message, index uint32) ([]byte, error) {
	if strings.TrimSpace(m.Recipient) == "" {
		return nil, fmt.Errorf("NEP-413 message needs a recipient")
	}
	summary := fmt.Sprintf("Sign NEAR message %s for %s with your NEAR key", preview([]byte(m.Message)), m.Recipient)
	h := m.Hash()
	return s.signWith(ctx, request{Kind: "sign-message", Summary: summary}, h[:], func(keys *Keys) ([]byte, error) {
		k, err := keys.NEARKey(index)
		if err != nil {
			return nil, err
		}
		return ed25519.Sign(k, h[:]), nil
	})
}

// ErrInvalidMessage wraps every reason a message cannot be signed that lies
// in the request itself.
var ErrInvalidMessage = errors.New("invalid message")

// ErrNoRecipient means a NEAR (NEP-413) message names no recipient app; it
// wraps ErrInvalidMessage.
var ErrNoRecipient = fmt.Errorf("%w: a NEAR (NEP-413) message needs the recipient app it is for", ErrInvalidMessage)

// Message is what to sign with one of the account's keys: text, or EIP-712
// typed data (JSON, as for eth_signTypedData_v4) for the EVM key.
type Message struct {
	Family    string // evm (EIP-191, the default), solana or near (NEP-413)
	Text      string
	Recipient string // the app a NEAR message is for
	TypedData []byte
}

// Signature is a message signature. Nonce is the NEP-413 nonce drawn for a
// NEAR message: the verifier needs it.
type Signature struct {
	Sig   []byte
	Nonce []byte
}

// SignMessage signs m with the key of its family at index, through the
// policy like every signature.
func (s *Session) SignMessage(ctx context.Context, m Message, index uint32) (Signature, error) {
	var sig Signature
	var err error
	switch {
	case m.TypedData != nil && m.Family != FamilyEVM && m.Family != "":
		return sig, fmt.Errorf("%w: typed data is signed with the EVM key, not %s", ErrInvalidMessage, m.Family)
	case m.TypedData != nil:
		td, perr := ParseTypedData(m.TypedData)
		if perr != nil {
			return sig, perr
		}
		sig.Sig, err = s.SignTypedData(ctx, td, index)
	case m.Family == FamilyEVM || m.Family == "":
		sig.Sig, err = s.SignPersonal(ctx, []byte(m.Text), index)
	case m.Family == FamilySolana:
		sig.Sig, err = s.SignSolanaMessage(ctx, []byte(m.Text), index)
	case m.Family == FamilyNEAR:
		if strings.TrimSpace(m.Recipient) == "" {
			return sig, ErrNoRecipient
		}
		nm := NEP413Message{Message: m.Text, Recipient: m.Recipient}
		if _, err := rand.Read(nm.Nonce[:]); err != nil {
			return sig, err
		}
		sig.Sig, err = s.SignNEARMessage(ctx, nm, index)
		sig.Nonce = nm.Nonce[:]
	default:
		return sig, fmt.Errorf("%w: the key family must be evm, solana or near, not %q", ErrInvalidMessage, m.Family)
	}
	if err != nil {
		return Signature{}, err
	}
	return sig, nil
}
