package app

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/sovos/sov/agents/dao"
	"github.com/sovos/sov/agents/dao/governor"
	"github.com/sovos/sov/wallet"
)

// SessionSender sends a Governor's contract calls (on-chain votes) as the
// user's own transactions through a wallet session: PlanCall derives the
// summary the person approves, and Execute runs the wallet's policy, which
// asks the user about every call it does not allow-list. It implements
// governor.Sender.
type SessionSender struct {
	// Open opens the session when a call is sent, so syncing and
	// deciding never ask for the wallet passphrase.
	Open    func(context.Context) (*wallet.Session, error)
	Account uint32
	Address wallet.EVMAddress // the account's address, known without unlocking
}

var _ governor.Sender = (*SessionSender)(nil)

// From is the account's address.
func (s *SessionSender) From() wallet.EVMAddress { return s.Address }

// SendCall plans data to to on net as a call, executes it through the
// policy and follows it until mined: a reverted transaction is an error;
// one still pending when the wallet stops waiting is returned as sent
// (the wallet's refresh records its outcome later).
func (s *SessionSender) SendCall(ctx context.Context, net wallet.Network, to wallet.EVMAddress, data []byte, summary string) (wallet.EVMHash, error) {
	sess, err := s.Open(ctx)
	if err != nil {
		return wallet.EVMHash{}, err
	}
	p, err := sess.PlanCall(ctx, wallet.Call{Network: net.Name, To: to, Data: data, Account: s.Account, Summary: summary})
	if err != nil {
		return wallet.EVMHash{}, err
	}
	defer p.Close()
	entry, err := sess.Execute(ctx, p)
	if err != nil {
		return wallet.EVMHash{}, err
	}
	h, err := parseHash(entry.Hash)
	if err != nil {
		return h, err
	}
	if _, err := sess.Follow(ctx, entry); err != nil && !errors.As(err, new(*wallet.PendingError)) {
		return h, err
	}
	return h, nil
}

func parseHash(s string) (wallet.EVMHash, error) {
	var h wallet.EVMHash
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("the wallet returned a malformed transaction hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// govSender is the delegate's sender for on-chain votes from the main
// account, or nil when its address is not cached (nothing then votes on
// chain, and the Governors say so).
func (a *App) govSender(o DAOOptions) *SessionSender {
	acct, ok := a.Wallet().Store().CachedAccounts()
	if !ok || acct.Index != dao.MainIndex {
		return nil
	}
	addr, err := wallet.ParseEVMAddress(acct.EVM)
	if err != nil {
		return nil
	}
	return &SessionSender{Account: dao.MainIndex, Address: addr, Open: func(ctx context.Context) (*wallet.Session, error) {
		return a.WalletSession(ctx, o.Caller, o.Approve, o.Interactive, o.Wallet)
	}}
}
