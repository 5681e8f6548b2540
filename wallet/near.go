package wallet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"

	"github.com/mr-tron/base58"
)

// NEARTransfer is a transaction with one Transfer action.
type NEARTransfer struct {
	SignerID   string
	PublicKey  ed25519.PublicKey
	Nonce      uint64
	ReceiverID string
	BlockHash  []byte   // 32 bytes
	Deposit    *big.Int // yoctoNEAR
}

func borshString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Serialize is the Borsh encoding of the Transaction (what is hashed and
// signed).
func (t NEARTransfer) Serialize() ([]byte, error) {
	if len(t.PublicKey) != 32 || len(t.BlockHash) != 32 {
		return nil, fmt.Errorf("NEAR transaction: public key and block hash must be 32 bytes")
	}
	if t.Deposit == nil || t.Deposit.Sign() < 0 || t.Deposit.BitLen() > 128 {
		return nil, fmt.Errorf("NEAR transaction: deposit out of range")
	}
	b := borshString(nil, t.SignerID)
	b = append(b, 0) // ed25519
	b = append(b, t.PublicKey...)
	b = binary.LittleEndian.AppendUint64(b, t.Nonce)
	b = borshString(b, t.ReceiverID)
	b = append(b, t.BlockHash...)
	b = binary.LittleEndian.AppendUint32(b, 1) // one action
	b = append(b, 3)                           // Action::Transfer
	dep := make([]byte, 16)
	be := t.Deposit.FillBytes(make([]byte, 16))
	for i := range 16 {
		dep[i] = be[15-i]
	}
	return append(b, dep...), nil
}

// signNEARTransfer returns the Borsh SignedTransaction and the tx hash.
func signNEARTransfer(key ed25519.PrivateKey, t NEARTransfer) (signed []byte, hash [32]byte, err error) {
	raw, err := t.Serialize()
	if err != nil {
		return nil, hash, err
	}
	hash = sha256.Sum256(raw)
	sig := ed25519.Sign(key, hash[:])
	signed = append(raw, 0)
	return append(signed, sig...), hash, nil
}

// NEARRPC speaks the NEAR JSON-RPC methods sov uses.
type NEARRPC struct{ rpc *jsonRPC }

// NewNEARRPC returns a client for n's RPCs, with fail-over.
func NewNEARRPC(n Network) *NEARRPC { return &NEARRPC{rpc: newJSONRPC(n.RPC, n.RPCTimeout())} }

// Balance returns the account's yoctoNEAR balance (view_account).
func (n *NEARRPC) Balance(ctx context.Context, account string) (*big.Int, error) {
	var res struct {
		Amount string `json:"amount"`
	}
	if err := n.rpc.call(ctx, "query", map[string]any{"request_type": "view_account", "finality": "final", "account_id": account}, &res); err != nil {
		return nil, err
	}
	v, ok := new(big.Int).SetString(res.Amount, 10)
	if !ok {
		return nil, fmt.Errorf("view_account: bad amount %q", res.Amount)
	}
	return v, nil
}

// AccessKey returns the key's current nonce and a recent block hash.
func (n *NEARRPC) AccessKey(ctx context.Context, account, publicKey string) (uint64, []byte, error) {
	var res struct {
		Nonce     uint64 `json:"nonce"`
		BlockHash string `json:"block_hash"`
	}
	if err := n.rpc.call(ctx, "query", map[string]any{"request_type": "view_access_key", "finality": "final", "account_id": account, "public_key": publicKey}, &res); err != nil {
		return 0, nil, err
	}
	bh, err := base58.Decode(res.BlockHash)
	if err != nil || len(bh) != 32 {
		return 0, nil, fmt.Errorf("view_access_key: bad block hash %q", res.BlockHash)
	}
	return res.Nonce, bh, nil
}

// Send broadcasts a signed transaction (send_tx) and returns its hash.
func (n *NEARRPC) Send(ctx context.Context, signed []byte) (string, error) {
	var res struct {
		Transaction struct {
			Hash string `json:"hash"`
		} `json:"transaction"`
	}
	err := n.rpc.call(ctx, "send_tx", map[string]any{"signed_tx_base64": base64.StdEncoding.EncodeToString(signed), "wait_until": "EXECUTED_OPTIMISTIC"}, &res)
	return res.Transaction.Hash, err
}

// broadcastNEAR signs p's NEAR transfer from the implicit account and
// commits and sends it, waiting for optimistic execution.
func broadcastNEAR(ctx context.Context, p *Plan, keys *Keys, commit commitFunc) (LedgerEntry, error) {
	key, err := keys.NEARKey(p.acct.Index)
	if err != nil {
		return LedgerEntry{}, err
	}
	nonce := p.near.nonce + 1
	signed, hash, err := signNEARTransfer(key, NEARTransfer{SignerID: p.from, PublicKey: key.Public().(ed25519.PublicKey), Nonce: nonce, ReceiverID: p.to, BlockHash: p.near.block, Deposit: p.amount})
	if err != nil {
		return LedgerEntry{}, err
	}
	if err := commit(base58.Encode(hash[:]), nonce); err != nil {
		return LedgerEntry{}, err
	}
	got, err := NewNEARRPC(p.net).Send(ctx, signed)
	if err != nil {
		return LedgerEntry{}, err
	}
	if want := base58.Encode(hash[:]); got != "" && !strings.EqualFold(got, want) {
		return LedgerEntry{}, fmt.Errorf("NEAR node reported hash %s for transaction %s", got, want)
	}
	return LedgerEntry{Hash: base58.Encode(hash[:]), Nonce: nonce, Status: "confirmed"}, nil
}

func nearBalances(ctx context.Context, n Network, acct Accounts) ([]Balance, error) {
	v, err := NewNEARRPC(n).Balance(ctx, acct.NEARAccount)
	if err != nil {
		return nil, err
	}
	return []Balance{nativeBalance(n, v)}, nil
}
