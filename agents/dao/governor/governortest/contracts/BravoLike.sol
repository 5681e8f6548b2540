// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// BravoLike answers the calls by which Compound's GovernorBravo is told
// apart from an OpenZeppelin Governor (no COUNTING_MODE; proposalCount and
// initialProposalId), so the source's refusal can be tested.
contract BravoLike {
    string public constant name = "Compound Governor Bravo";
    uint256 public proposalCount = 3;
    uint256 public initialProposalId = 1;
}
