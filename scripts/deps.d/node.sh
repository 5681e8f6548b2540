#!/usr/bin/env bash
# The official client libraries that tests drive against sov's servers
# (MCP, OpenAI and Ollama APIs, Snapshot votes) and the Solidity compiler
# with OpenZeppelin contracts for the Governor tests: real peers, from npm, pinned. Installed
# into the build cache, never into the repo. Idempotent.
set -euo pipefail
CACHE="${SOV_BUILD_CACHE:-$HOME/.cache/sov-build}"
DIR="$CACHE/node-clients"
PKGS=("@modelcontextprotocol/sdk@1.32.2" "openai@7.55.0" "ollama@0.6.4" "@snapshot-labs/snapshot.js@0.17.5" "solc@0.8.37" "@openzeppelin/contracts@5.7.0" "@x402/core@2.27.0" "@x402/evm@2.27.0" "@x402/express@2.27.0" "@x402/fetch@2.27.0" "express@5.3.0")
stamp="$DIR/.installed"
want="${PKGS[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "node deps: npm is needed for the client tests (apt-get install npm)" >&2; exit 1; }
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{"name":"sov-node-clients","private":true,"type":"module"}' >"$DIR/package.json"
npm install --silent --no-audit --no-fund --prefix "$DIR" "${PKGS[@]}" >/dev/null
echo "$want" >"$stamp"
