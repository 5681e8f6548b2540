#!/usr/bin/env bash
# make bench: sov against llama.cpp's own tools, side by side, as ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${SOV_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sov-build}
SHARED=${SOV_SHARED:-$(cd .. && pwd)/shared}
export SOV_TEST_MODEL=${SOV_TEST_MODEL:-$SHARED/models/stories260K.gguf}
export SOV_LLAMA_BIN=$(cd .llama/bin && pwd)
big="$CACHE/bench/synth125m-q8.gguf"
if [ ! -f "$big" ]; then
  mkdir -p "$CACHE/bench"
  echo "bench: generating the 125M-parameter Q8_0 model with ../shared/tools/synthgguf" >&2
  (cd "$SHARED/tools/synthgguf" && go run . -vocab "$SHARED/models/llama-2-tiny-random.gguf" -out "$big.tmp" -q8) >&2
  mv "$big.tmp" "$big"
fi
export SOV_BENCH_MODEL=$big
export SOV_BENCH_THREADS=${SOV_BENCH_THREADS:-$(nproc)}
echo "== inference: sov vs llama.cpp (threads $SOV_BENCH_THREADS) =="
go test -run '^$' -bench 'Llama' -benchtime 1x -timeout 60m ./cmd/sov ./model
for s in scripts/bench.d/*.sh; do
  [ -f "$s" ] || continue
  echo "== $(basename "$s" .sh) =="
  bash "$s"
done
