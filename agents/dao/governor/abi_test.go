package governor

import (
	"bytes"
	"context"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/sovos/sov/wallet"
)

// The hand-written encodings match what go-ethereum packs from the
// compiled Governor's own ABI.
func TestCalldataMatchesCompiledABI(t *testing.T) {
	gov := artifacts(t)["TestGovernor"].ABI
	id, _ := new(big.Int).SetString("91204532856839216593371839915016497325312400211624178934211108765433221123", 10)
	voter := wallet.EVMAddress(common.HexToAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"))
	sig := bytes.Repeat([]byte{0xab}, 65)
	reason := "a reason longer than one 32-byte word, so the tail spans several words"
	for _, tc := range []struct {
		name   string
		got    []byte
		method string
		args   []any
	}{
		{"castVoteWithReason", CastVoteWithReason(id, 1, reason), "castVoteWithReason", []any{id, uint8(1), reason}},
		{"castVoteWithReason empty", CastVoteWithReason(id, 2, ""), "castVoteWithReason", []any{id, uint8(2), ""}},
		{"castVoteBySig", CastVoteBySig(id, 0, voter, sig), "castVoteBySig", []any{id, uint8(0), common.Address(voter), sig}},
		{"castVoteWithReasonAndParamsBySig", CastVoteWithReasonAndParamsBySig(id, 1, voter, reason, nil, sig), "castVoteWithReasonAndParamsBySig",
			[]any{id, uint8(1), common.Address(voter), reason, []byte{}, sig}},
		{"getVotes", calldata("getVotes(address,uint256)", voter, big.NewInt(7)), "getVotes", []any{common.Address(voter), big.NewInt(7)}},
		{"hasVoted", calldata("hasVoted(uint256,address)", id, voter), "hasVoted", []any{id, common.Address(voter)}},
		{"state", calldata("state(uint256)", id), "state", []any{id}},
		{"proposalDeadline", calldata("proposalDeadline(uint256)", id), "proposalDeadline", []any{id}},
		{"proposalSnapshot", calldata("proposalSnapshot(uint256)", id), "proposalSnapshot", []any{id}},
		{"nonces", calldata("nonces(address)", voter), "nonces", []any{common.Address(voter)}},
		{"eip712Domain", calldata("eip712Domain()"), "eip712Domain", nil},
		{"COUNTING_MODE", calldata("COUNTING_MODE()"), "COUNTING_MODE", nil},
		{"CLOCK_MODE", calldata("CLOCK_MODE()"), "CLOCK_MODE", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := gov.Pack(tc.method, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tc.got, want) {
				t.Fatalf("calldata\n got %x\nwant %x", tc.got, want)
			}
		})
	}
	for name, got := range map[string][32]byte{"ProposalCreated": topicProposalCreated, "VoteCast": topicVoteCast, "VoteCastWithParams": topicVoteCastParams} {
		if got != gov.Events[name].ID {
			t.Errorf("topic of %s = %x, want %x", name, got, gov.Events[name].ID)
		}
	}
}

// decodeProposalCreated reads what the ABI packs, and a truncated or
// garbled log is an error, never a panic.
func TestDecodeProposalCreated(t *testing.T) {
	ev := artifacts(t)["TestGovernor"].ABI.Events["ProposalCreated"]
	targets := []common.Address{common.HexToAddress("0x01"), common.HexToAddress("0x02")}
	values := []*big.Int{big.NewInt(0), big.NewInt(5)}
	desc := "# Title\n\n" + string(bytes.Repeat([]byte("body "), 40))
	data, err := ev.Inputs.Pack(big.NewInt(42), common.HexToAddress("0xbeef"), targets, values, []string{"", "f()"}, [][]byte{{}, {1, 2}}, big.NewInt(100), big.NewInt(200), desc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodeProposalCreated(abiData(data))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID.Int64() != 42 || p.Proposer != wallet.EVMAddress(common.HexToAddress("0xbeef")) || len(p.Targets) != 2 || p.Targets[1] != wallet.EVMAddress(targets[1]) ||
		len(p.Values) != 2 || p.Values[1].Int64() != 5 || p.Snapshot != 100 || p.Deadline != 200 || p.Description != desc {
		t.Fatalf("decoded %+v", p)
	}
	// every cut short of the description's last byte (its padding may go)
	pad := (32 - len(desc)%32) % 32
	for n := 0; n < len(data)-pad; n += 7 {
		if _, err := decodeProposalCreated(abiData(data[:n])); err == nil {
			t.Fatalf("%d of %d bytes decoded without error", n, len(data))
		}
	}
	bad := append([]byte(nil), data...)
	bad[8*32+31] = 0xff // the description's offset points past the end
	if _, err := decodeProposalCreated(abiData(bad)); err == nil {
		t.Fatal("a bad offset decoded")
	}
	huge := append([]byte(nil), data...)
	copy(huge[2*32:3*32], common.LeftPadBytes([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xe0}, 32))
	if _, err := decodeProposalCreated(abiData(huge)); err == nil {
		t.Fatal("a huge offset decoded")
	}
}

// The ballots sov builds have the type hashes the Governor checks
// signatures against.
func TestBallotTypeHashes(t *testing.T) {
	c := newChain(t)
	d := c.deployDAO(false, c.key(0))
	src, err := Open(context.Background(), c.aw.Networks, d.ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dom, err := src.Domain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dom.Name != "TestGovernor" || dom.Version != "1" || dom.ChainID.Cmp(c.chainID) != 0 || common.Address(dom.VerifyingContract) != d.gov {
		t.Fatalf("domain = %+v", dom)
	}
	for _, tc := range []struct {
		reason, primary, constant string
	}{{"", "Ballot", "BALLOT_TYPEHASH"}, {"r", "ExtendedBallot", "EXTENDED_BALLOT_TYPEHASH"}} {
		td, err := BallotTypedData(dom, big.NewInt(1), 1, wallet.EVMAddress{}, big.NewInt(0), tc.reason)
		if err != nil {
			t.Fatal(err)
		}
		want := c.view("TestGovernor", d.gov, tc.constant)[0].([32]byte)
		if td.PrimaryType != tc.primary || !bytes.Equal(td.TypeHash(tc.primary), want[:]) {
			t.Errorf("%s type hash %x, want %x", tc.primary, td.TypeHash(tc.primary), want)
		}
	}
}
