// Package wallet is sov's self-custodial, multi-chain wallet: one BIP39
// mnemonic controls EVM chains, Bitcoin, Solana and NEAR (and the Nostr key
// used to sign feeds). The seed is stored only sealed under the user's
// passphrase; every signature passes the policy engine first and every
// decision, payment and signature is recorded in sov's signed ledger
// (internal/ledger), which the wallet is given by its creator (WithLedger).
//
// The package exposes a small API used by the CLI, the TUI and agents; none
// of them hold wallet logic themselves.
package wallet
