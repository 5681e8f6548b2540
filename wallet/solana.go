package wallet

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	"github.com/mr-tron/base58"
)

// solanaSystemProgram is the System Program id (32 zero bytes).
var solanaSystemProgram = make([]byte, 32)

func compactU16(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// SolanaTransferMessage builds the legacy message of a System Program
// transfer of lamports from -> to with recentBlockhash.
func SolanaTransferMessage(from, to ed25519.PublicKey, lamports uint64, recentBlockhash []byte) ([]byte, error) {
	if len(from) != 32 || len(to) != 32 || len(recentBlockhash) != 32 {
		return nil, fmt.Errorf("solana transfer: keys and blockhash must be 32 bytes")
	}
	msg := []byte{1, 0, 1} // 1 signer, 0 read-only signed, 1 read-only unsigned (the program)
	msg = append(msg, compactU16(3)...)
	msg = append(msg, from...)
	msg = append(msg, to...)
	msg = append(msg, solanaSystemProgram...)
	msg = append(msg, recentBlockhash...)
	msg = append(msg, compactU16(1)...)
	data := binary.LittleEndian.AppendUint32(nil, 2) // SystemInstruction::Transfer
	data = binary.LittleEndian.AppendUint64(data, lamports)
	msg = append(msg, 2)                // program id index
	msg = append(msg, compactU16(2)...) // two accounts
	msg = append(msg, 0, 1)             // from, to
	msg = append(msg, compactU16(len(data))...)
	return append(msg, data...), nil
}

// signSolanaTransfer returns the wire transaction (signatures + message).
func signSolanaTransfer(key ed25519.PrivateKey, to ed25519.PublicKey, lamports uint64, blockhash []byte) ([]byte, error) {
	msg, err := SolanaTransferMessage(key.Public().(ed25519.PublicKey), to, lamports, blockhash)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key, msg)
	tx := append(compactU16(1), sig...)
	return append(tx, msg...), nil
}

// signSolanaMessage signs an off-chain message (raw bytes, as wallets'
// signMessage does).
func signSolanaMessage(key ed25519.PrivateKey, msg []byte) []byte { return ed25519.Sign(key, msg) }

// SolanaRPC speaks the Solana JSON-RPC methods sov uses.
type SolanaRPC struct{ rpc *jsonRPC }

// NewSolanaRPC returns a client for n's RPCs, with fail-over.
func NewSolanaRPC(n Network) *SolanaRPC { return &SolanaRPC{rpc: newJSONRPC(n.RPC, n.RPCTimeout())} }

// Balance returns lamports via getBalance.
func (s *SolanaRPC) Balance(ctx context.Context, addr string) (uint64, error) {
	var res struct {
		Value uint64 `json:"value"`
	}
	if err := s.rpc.call(ctx, "getBalance", []any{addr, map[string]string{"commitment": "confirmed"}}, &res); err != nil {
		return 0, err
	}
	return res.Value, nil
}

// LatestBlockhash returns the recent blockhash bytes and the last block
// height at which a transaction using it can still land.
func (s *SolanaRPC) LatestBlockhash(ctx context.Context) ([]byte, uint64, error) {
	var res struct {
		Value struct {
			Blockhash            string `json:"blockhash"`
			LastValidBlockHeight uint64 `json:"lastValidBlockHeight"`
		} `json:"value"`
	}
	if err := s.rpc.call(ctx, "getLatestBlockhash", []any{map[string]string{"commitment": "finalized"}}, &res); err != nil {
		return nil, 0, err
	}
	b, err := base58.Decode(res.Value.Blockhash)
	if err != nil || len(b) != 32 {
		return nil, 0, fmt.Errorf("getLatestBlockhash: bad blockhash %q", res.Value.Blockhash)
	}
	return b, res.Value.LastValidBlockHeight, nil
}

// GenesisHash is the cluster's genesis hash (getGenesisHash), which
// identifies it.
func (s *SolanaRPC) GenesisHash(ctx context.Context) (string, error) {
	var g string
	if err := s.rpc.call(ctx, "getGenesisHash", []any{}, &g); err != nil {
		return "", err
	}
	if b, err := base58.Decode(g); err != nil || len(b) != 32 {
		return "", fmt.Errorf("getGenesisHash: bad hash %q", g)
	}
	return g, nil
}

// SolanaSignatureStatus is a transaction's status (getSignatureStatuses).
type SolanaSignatureStatus struct {
	Slot               uint64          `json:"slot"`
	Err                json.RawMessage `json:"err"`                // null on success
	ConfirmationStatus string          `json:"confirmationStatus"` // processed, confirmed or finalized
}

// SignatureStatus returns sig's status, or nil while the cluster has not
// seen it.
func (s *SolanaRPC) SignatureStatus(ctx context.Context, sig string) (*SolanaSignatureStatus, error) {
	var res struct {
		Value []*SolanaSignatureStatus `json:"value"`
	}
	if err := s.rpc.call(ctx, "getSignatureStatuses", []any{[]string{sig}, map[string]bool{"searchTransactionHistory": true}}, &res); err != nil {
		return nil, err
	}
	if len(res.Value) != 1 {
		return nil, fmt.Errorf("getSignatureStatuses: %d statuses for one signature", len(res.Value))
	}
	return res.Value[0], nil
}

// BlockHeight is the confirmed block height (getBlockHeight).
func (s *SolanaRPC) BlockHeight(ctx context.Context) (uint64, error) {
	var h uint64
	err := s.rpc.call(ctx, "getBlockHeight", []any{map[string]string{"commitment": "confirmed"}}, &h)
	return h, err
}

// Send broadcasts a signed transaction and returns its signature.
func (s *SolanaRPC) Send(ctx context.Context, tx []byte) (string, error) {
	var sig string
	err := s.rpc.call(ctx, "sendTransaction", []any{base64.StdEncoding.EncodeToString(tx), map[string]any{"encoding": "base64", "preflightCommitment": "confirmed"}}, &sig)
	return sig, err
}

// broadcastSolana signs p's SOL transfer against a fresh blockhash and
// commits and broadcasts it.
func broadcastSolana(ctx context.Context, p *Plan, keys *Keys, commit commitFunc) (LedgerEntry, error) {
	key, err := keys.SolanaKey(p.acct.Index)
	if err != nil {
		return LedgerEntry{}, err
	}
	if !key.Public().(ed25519.PublicKey).Equal(p.solFrom) {
		return LedgerEntry{}, fmt.Errorf("the cached Solana address of account %d does not match its key", p.acct.Index)
	}
	to, err := ParseSolanaAddress(p.to)
	if err != nil {
		return LedgerEntry{}, err
	}
	rpc := NewSolanaRPC(p.net)
	bh, lastValid, err := rpc.LatestBlockhash(ctx)
	if err != nil {
		return LedgerEntry{}, err
	}
	tx, err := signSolanaTransfer(key, to, p.amount.Uint64(), bh)
	if err != nil {
		return LedgerEntry{}, err
	}
	// The transaction's id is its first signature (after a one-byte count).
	if err := commit(base58.Encode(tx[1:1+ed25519.SignatureSize]), 0); err != nil {
		return LedgerEntry{}, err
	}
	sig, err := rpc.Send(ctx, tx)
	if err != nil {
		return LedgerEntry{}, err
	}
	return LedgerEntry{Hash: sig, Status: "pending", ValidUntil: lastValid}, nil
}

// solanaPoll is how often a Solana transaction's status is asked for
// (about one slot).
const solanaPoll = 400 * time.Millisecond

// WaitSolana follows a Solana transaction until it is confirmed, fails, or
// its blockhash expires before it landed (dropped), or ctx ends, and
// records the outcome; a failed or dropped one is a *TxFailedError.
func (w *Wallet) WaitSolana(ctx context.Context, rpc *SolanaRPC, entry LedgerEntry) (LedgerEntry, error) {
	return w.waitOutcome(ctx, entry, solanaPoll, func(ctx context.Context) (outcome, error) { return solanaOutcome(ctx, rpc, entry) })
}

// solanaOutcome asks once where entry stands; an empty status is pending.
// The block height is asked before the status: once the confirmed height
// is past the blockhash's last valid one, a transaction that has no status
// after that can never land.
func solanaOutcome(ctx context.Context, rpc *SolanaRPC, entry LedgerEntry) (outcome, error) {
	var height uint64
	if entry.ValidUntil > 0 {
		h, err := rpc.BlockHeight(ctx)
		if err != nil {
			return outcome{}, err
		}
		height = h
	}
	st, err := rpc.SignatureStatus(ctx, entry.Hash)
	switch {
	case err != nil:
		return outcome{}, err
	case st == nil && entry.ValidUntil > 0 && height > entry.ValidUntil:
		return outcome{status: "dropped", reason: fmt.Sprintf("its blockhash expired at block height %d (now %d) before it landed: nothing was paid", entry.ValidUntil, height)}, nil
	case st == nil:
		return outcome{}, nil
	case len(st.Err) > 0 && string(st.Err) != "null":
		return outcome{status: "failed", block: st.Slot, reason: compactReason(st.Err)}, nil
	case st.ConfirmationStatus == "confirmed" || st.ConfirmationStatus == "finalized":
		return outcome{status: "confirmed", block: st.Slot}, nil
	}
	return outcome{}, nil
}

func solanaBalances(ctx context.Context, n Network, acct Accounts) ([]Balance, error) {
	if err := checkKnownIdentity(ctx, n); err != nil {
		return nil, err
	}
	lamports, err := NewSolanaRPC(n).Balance(ctx, acct.Solana)
	if err != nil {
		return nil, err
	}
	v := new(big.Int).SetUint64(lamports)
	return []Balance{nativeBalance(n, v)}, nil
}
