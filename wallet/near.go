package wallet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

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

// Status returns the node's chain id and, where it gives one, its genesis
// hash (status), which identify the chain it serves.
func (n *NEARRPC) Status(ctx context.Context) (chainID, genesisHash string, err error) {
	var res struct {
		ChainID     string `json:"chain_id"`
		GenesisHash string `json:"genesis_hash"`
	}
	if err := n.rpc.call(ctx, "status", []any{}, &res); err != nil {
		return "", "", err
	}
	if res.ChainID == "" {
		return "", "", fmt.Errorf("status: the node reports no chain_id")
	}
	return res.ChainID, res.GenesisHash, nil
}

// NEARTxResult is a transaction's final execution outcome as send_tx and
// tx report it (the fields sov reads).
type NEARTxResult struct {
	// Status is {"SuccessValue": …}, {"SuccessReceiptId": …} or
	// {"Failure": …} once executed; absent or a bare string before.
	Status      json.RawMessage `json:"status"`
	Transaction struct {
		Hash string `json:"hash"`
	} `json:"transaction"`
	// FinalExecutionStatus is how far it got: NONE, INCLUDED,
	// EXECUTED_OPTIMISTIC, INCLUDED_FINAL, EXECUTED or FINAL.
	FinalExecutionStatus string `json:"final_execution_status"`
}

// outcome reads r: failed as soon as execution failed, confirmed once
// successful and final (or successful on a node that reports no
// finality), otherwise pending.
func (r NEARTxResult) outcome() outcome {
	var st map[string]json.RawMessage
	if json.Unmarshal(r.Status, &st) != nil {
		return outcome{}
	}
	if f, ok := st["Failure"]; ok {
		return outcome{status: "failed", reason: nearFailureReason(f)}
	}
	_, value := st["SuccessValue"]
	_, receipt := st["SuccessReceiptId"]
	if (value || receipt) && (r.FinalExecutionStatus == "FINAL" || r.FinalExecutionStatus == "") {
		return outcome{status: "confirmed"}
	}
	return outcome{}
}

// nearFailureReason names an execution failure, e.g. AccountDoesNotExist
// {"account_id":"bob.near"}.
func nearFailureReason(raw json.RawMessage) string {
	var f struct {
		ActionError *struct {
			Kind map[string]json.RawMessage `json:"kind"`
		} `json:"ActionError"`
	}
	if json.Unmarshal(raw, &f) == nil && f.ActionError != nil && len(f.ActionError.Kind) == 1 {
		for k, v := range f.ActionError.Kind {
			return k + " " + compactReason(v)
		}
	}
	return compactReason(raw)
}

// nearCause is the cause NEAR gives for an RPC error (e.g. TIMEOUT_ERROR,
// UNKNOWN_TRANSACTION), or "".
func nearCause(err error) string {
	var e *RPCError
	if errors.As(err, &e) && e.Cause != nil {
		return e.Cause.Name
	}
	return ""
}

// Send broadcasts a signed transaction (send_tx) and returns its outcome
// once optimistically executed.
func (n *NEARRPC) Send(ctx context.Context, signed []byte) (NEARTxResult, error) {
	var res NEARTxResult
	err := n.rpc.call(ctx, "send_tx", map[string]any{"signed_tx_base64": base64.StdEncoding.EncodeToString(signed), "wait_until": "EXECUTED_OPTIMISTIC"}, &res)
	return res, err
}

// TxStatus returns a transaction's outcome (tx), waiting on the node for
// it to be final.
func (n *NEARRPC) TxStatus(ctx context.Context, hash, sender string) (NEARTxResult, error) {
	var res NEARTxResult
	err := n.rpc.call(ctx, "tx", map[string]any{"tx_hash": hash, "sender_account_id": sender, "wait_until": "FINAL"}, &res)
	return res, err
}

// broadcastNEAR signs p's NEAR transfer from the implicit account and
// commits and sends it. A transaction that executed and failed (e.g. the
// receiver does not exist) comes back as a failed entry with a
// *TxFailedError; one that succeeded stays pending until final.
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
	want := base58.Encode(hash[:])
	if err := commit(want, nonce); err != nil {
		return LedgerEntry{}, err
	}
	res, err := NewNEARRPC(p.net).Send(ctx, signed)
	entry := LedgerEntry{Hash: want, Nonce: nonce, Status: "pending"}
	switch {
	case nearCause(err) == "TIMEOUT_ERROR":
		return entry, nil // routed but not yet executed: following it finds the outcome
	case err != nil:
		return LedgerEntry{}, err
	case res.Transaction.Hash != "" && res.Transaction.Hash != want:
		return LedgerEntry{}, fmt.Errorf("NEAR node reported hash %s for transaction %s", res.Transaction.Hash, want)
	}
	o := res.outcome()
	if o.status == "failed" {
		entry.Status = o.status
		return entry, &TxFailedError{Hash: want, Network: p.net.Name, Status: o.status, Reason: o.reason}
	}
	if o.status != "" {
		entry.Status = o.status
	}
	return entry, nil
}

// nearOutcome asks once where entry stands; a transaction the node does
// not know yet, or that is not final within the node's wait, is pending.
func nearOutcome(ctx context.Context, rpc *NEARRPC, entry LedgerEntry) (outcome, error) {
	res, err := rpc.TxStatus(ctx, entry.Hash, entry.From)
	switch c := nearCause(err); {
	case c == "UNKNOWN_TRANSACTION" || c == "TIMEOUT_ERROR":
		return outcome{}, nil
	case err != nil:
		return outcome{}, err
	}
	return res.outcome(), nil
}

// nearPoll is how often a NEAR transaction's status is asked for (about a
// block; the node itself waits for finality up to its timeout).
const nearPoll = time.Second

// WaitNEAR follows a NEAR transaction until it is final (confirmed) or
// failed, or ctx ends, and records the outcome; a failed one is a
// *TxFailedError.
func (w *Wallet) WaitNEAR(ctx context.Context, rpc *NEARRPC, entry LedgerEntry) (LedgerEntry, error) {
	return w.waitOutcome(ctx, entry, nearPoll, func(ctx context.Context) (outcome, error) { return nearOutcome(ctx, rpc, entry) })
}

func nearBalances(ctx context.Context, n Network, acct Accounts) ([]Balance, error) {
	if err := checkKnownIdentity(ctx, n); err != nil {
		return nil, err
	}
	v, err := NewNEARRPC(n).Balance(ctx, acct.NEARAccount)
	if err != nil {
		return nil, err
	}
	return []Balance{nativeBalance(n, v)}, nil
}
