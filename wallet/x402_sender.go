package wallet

import (
	"context"
	"fmt"

	"github.com/sovos/sov/wallet/internal/evm"
)

// X402TransferSelector is transferWithAuthorization's function selector:
// the one call a facilitator's policy needs allowed (per network and
// token) to settle without asking.
const X402TransferSelector = "0xe3ee160e"

// sessionSender settles through the wallet: each settlement is a contract
// call from the session's account, planned (simulated), run through the
// policy, recorded in the ledger and followed until it is mined.
type sessionSender struct {
	s       *Session
	account uint32
	from    EVMAddress
}

// X402Sender is the session's account at index as a facilitator's sender
// (see NewFacilitator): it pays the gas of the settlements it sends, and
// the policy decides each call like any other contract call.
func (s *Session) X402Sender(index uint32) (X402Sender, error) {
	acct, err := s.Accounts(index)
	if err != nil {
		return nil, err
	}
	from, err := ParseEVMAddress(acct.EVM)
	if err != nil {
		return nil, fmt.Errorf("account %d has no EVM address: %w", index, err)
	}
	return &sessionSender{s: s, account: index, from: from}, nil
}

func (c *sessionSender) From() EVMAddress { return c.from }

// SendCall sends the call and returns once it is mined; a failed
// transaction is an error.
func (c *sessionSender) SendCall(ctx context.Context, net Network, to EVMAddress, data []byte, summary string) (EVMHash, error) {
	p, err := c.s.PlanCall(ctx, Call{Network: net.Name, To: to, Data: data, Account: c.account, Summary: summary})
	if err != nil {
		return EVMHash{}, err
	}
	defer p.Close()
	entry, err := c.s.Execute(ctx, p)
	if err != nil {
		return EVMHash{}, err
	}
	if entry, err = c.s.Follow(ctx, entry); err != nil {
		return evm.HexToHash(entry.Hash), err
	}
	if entry.Status != "confirmed" {
		return evm.HexToHash(entry.Hash), fmt.Errorf("transaction %s %s", entry.Hash, entry.Status)
	}
	return evm.HexToHash(entry.Hash), nil
}
