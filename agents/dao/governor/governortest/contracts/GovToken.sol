// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

// GovToken is the Governor tests' voting token: ERC20Votes, all of it
// minted to the deployer, counting by block number or by timestamp as the
// constructor says (both clocks are in use by real DAOs).
contract GovToken is ERC20, ERC20Permit, ERC20Votes {
    bool private immutable _timestampClock;

    constructor(bool timestampClock) ERC20("Gov", "GOV") ERC20Permit("Gov") {
        _timestampClock = timestampClock;
        _mint(msg.sender, 1_000_000e18);
    }

    function clock() public view override returns (uint48) {
        return _timestampClock ? uint48(block.timestamp) : uint48(block.number);
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public view override returns (string memory) {
        return _timestampClock ? "mode=timestamp" : "mode=blocknumber&from=default";
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
