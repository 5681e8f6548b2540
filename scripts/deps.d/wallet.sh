#!/usr/bin/env bash
# Test tools for the wallet package: anvil (EVM dev chain, from npm) and
# btcd (Bitcoin regtest node). Idempotent: does nothing when both exist.
set -euo pipefail
CACHE="${SOV_BUILD_CACHE:-$HOME/.cache/sov-build}"
BIN="$CACHE/tools/bin"
mkdir -p "$BIN"
export PATH="$BIN:$HOME/go/bin:$PATH"

ANVIL_PKG="@foundry-rs/anvil-linux-amd64"
ANVIL_VERSION="${SOV_ANVIL_VERSION:-1.7.1}"
if ! command -v anvil >/dev/null 2>&1; then
	command -v npm >/dev/null 2>&1 || { echo "wallet deps: npm is needed to install anvil (apt-get install npm)" >&2; exit 1; }
	dir="$CACHE/tools/npm-anvil"
	mkdir -p "$dir"
	npm install --silent --no-audit --no-fund --prefix "$dir" "$ANVIL_PKG@$ANVIL_VERSION" >/dev/null
	found=$(find "$dir/node_modules/$ANVIL_PKG" -type f -name anvil | head -n1)
	[ -n "$found" ] || { echo "wallet deps: anvil binary not found in $ANVIL_PKG" >&2; exit 1; }
	chmod +x "$found"
	ln -sf "$found" "$BIN/anvil"
fi

BTCD_VERSION="v0.24.2"
if ! command -v btcd >/dev/null 2>&1; then
	GOBIN="$BIN" go install "github.com/btcsuite/btcd@$BTCD_VERSION"
fi
