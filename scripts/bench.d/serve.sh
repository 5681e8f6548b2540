#!/usr/bin/env bash
# sov serve vs llama-server: aggregate tokens/s at 1, 4 and 8 streaming
# clients, time to first token at 4, requests/s with short answers on
# stories260K, peak RSS. llama-server comes from the same pinned build
# (make bench runs scripts/llama-build.sh bench); SOV_LLAMA_SERVER points
# at another.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${SOV_LLAMA_SERVER:-$(pwd)/.llama/bin/llama-server}
if [ ! -x "$bin" ]; then
  echo "skipped: no llama-server at $bin (set SOV_LLAMA_SERVER)"
  exit 0
fi
SOV_LLAMA_SERVER=$bin go test ./server -run '^$' -bench BenchmarkServeVsLlamaServer -benchtime 1x -timeout 30m -v | grep -E 'clients|stories260K|^ok|FAIL'
