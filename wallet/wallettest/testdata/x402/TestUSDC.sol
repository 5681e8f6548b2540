// SPDX-License-Identifier: MIT
// A USDC-like test token: 6 decimals, EIP-712 domain ("USD Coin", "2")
// like Circle's, and EIP-3009 transferWithAuthorization (OpenZeppelin's
// ERC3009), for the wallet's x402 tests.
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ERC3009} from "@openzeppelin/contracts/token/ERC20/extensions/draft-ERC3009.sol";

contract TestUSDC is ERC3009 {
    constructor(uint256 supply) ERC20("USD Coin", "USDC") EIP712("USD Coin", "2") {
        _mint(msg.sender, supply);
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
