#!/usr/bin/env bash
# Builds the pinned llama.cpp as static libraries into a cache outside the
# checkout, keyed by commit and build flags, and links it into the checkout
# as .llama (a symlink cgo reads through ${SRCDIR}).
#
#   scripts/llama-build.sh            libraries only (what `go build` needs)
#   scripts/llama-build.sh bench      also llama-bench, llama-completion and llama-server
#   scripts/llama-build.sh --print    print the cache directory and exit
#
# Source: $LLAMA_CPP_SRC when set, else the git bundle shipped in the npm
# package node-llama-cpp@3.22.1. The commit is always verified.
set -euo pipefail

PIN=de3ff815ea7d559ee917f063901b8986f038abc6
NPM_PKG=node-llama-cpp@3.22.1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE_ROOT=${SOV_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sov-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

want_bench=0
print_only=0
for a in "$@"; do
  case "$a" in
    bench) want_bench=1 ;;
    --print) print_only=1 ;;
    *) echo "llama-build: unknown argument $a (use: bench, --print)" >&2; exit 2 ;;
  esac
done

log() { printf 'llama-build: %s\n' "$*" >&2; }

# --- flags --------------------------------------------------------------
# GGML_NATIVE=OFF with explicit instruction sets: some of our CPUs report AMX
# but die with SIGILL on AMX instructions, so native builds crash on Q8_0.
FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_STATIC=OFF
  -DGGML_NATIVE=OFF
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
  -DGGML_CCACHE=OFF
  -DGGML_OPENMP=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON
  -DLLAMA_OPENSSL=OFF
)
BACKENDS=cpu
case "$(uname -s)" in
  Darwin)
    FLAGS+=(-DGGML_METAL=ON -DGGML_METAL_EMBED_LIBRARY=ON)
    BACKENDS="$BACKENDS,metal"
    ;;
  Linux)
    flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
    has() { [[ " $flags " == *" $1 "* ]]; }
    if [ "$(uname -m)" = x86_64 ]; then
      FLAGS+=(-DGGML_SSE42=$(has sse4_2 && echo ON || echo OFF))
      FLAGS+=(-DGGML_AVX=$(has avx && echo ON || echo OFF))
      FLAGS+=(-DGGML_AVX2=$(has avx2 && echo ON || echo OFF))
      FLAGS+=(-DGGML_FMA=$(has fma && echo ON || echo OFF))
      FLAGS+=(-DGGML_F16C=$(has f16c && echo ON || echo OFF))
      FLAGS+=(-DGGML_BMI2=$(has bmi2 && echo ON || echo OFF))
      FLAGS+=(-DGGML_AVX_VNNI=$(has avx_vnni && echo ON || echo OFF))
      FLAGS+=(-DGGML_AVX512=$(has avx512f && echo ON || echo OFF))
      FLAGS+=(-DGGML_AVX512_VBMI=$(has avx512vbmi && echo ON || echo OFF))
      FLAGS+=(-DGGML_AVX512_VNNI=$(has avx512_vnni && echo ON || echo OFF))
      FLAGS+=(-DGGML_AVX512_BF16=$(has avx512_bf16 && echo ON || echo OFF))
    fi
    if command -v nvcc >/dev/null 2>&1 && [ "${SOV_NO_CUDA:-}" != 1 ]; then
      FLAGS+=(-DGGML_CUDA=ON)
      BACKENDS="$BACKENDS,cuda"
    fi
    ;;
esac

key=$(printf '%s\n' "$PIN" "${FLAGS[@]}" "$(${CC:-cc} --version 2>/dev/null | head -n1)" | sha256sum | cut -c1-12)
OUT="$CACHE_ROOT/llama.cpp/${PIN:0:12}-$key"
if [ "$print_only" = 1 ]; then echo "$OUT"; exit 0; fi

link_checkout() {
  ln -sfn "$OUT" "$ROOT/.llama"
}

libs_ready() { [ -f "$OUT/lib/libllama.a" ] && [ -f "$OUT/include/llama.h" ] && [ -f "$OUT/backends" ]; }
bench_ready() { [ -x "$OUT/bin/llama-bench" ] && [ -x "$OUT/bin/llama-completion" ] && [ -x "$OUT/bin/llama-server" ]; }

if libs_ready && { [ "$want_bench" = 0 ] || bench_ready; }; then
  link_checkout
  exit 0
fi

# --- source -------------------------------------------------------------
fetch_source() {
  if [ -n "${LLAMA_CPP_SRC:-}" ]; then
    [ -f "$LLAMA_CPP_SRC/CMakeLists.txt" ] || { log "LLAMA_CPP_SRC=$LLAMA_CPP_SRC has no CMakeLists.txt; point it at a llama.cpp checkout"; exit 1; }
    if git -C "$LLAMA_CPP_SRC" rev-parse HEAD >/dev/null 2>&1; then
      got=$(git -C "$LLAMA_CPP_SRC" rev-parse HEAD)
      [ "$got" = "$PIN" ] || { log "LLAMA_CPP_SRC is at $got, sov needs $PIN; check out that commit"; exit 1; }
    else
      log "warning: LLAMA_CPP_SRC is not a git checkout; cannot verify it is commit $PIN"
    fi
    SRC=$LLAMA_CPP_SRC
    return
  fi
  SRC="$CACHE_ROOT/src/$PIN"
  if [ -d "$SRC/.git" ] && [ "$(git -C "$SRC" rev-parse HEAD 2>/dev/null)" = "$PIN" ]; then return; fi
  command -v npm >/dev/null || { log "npm is needed to fetch llama.cpp (or set LLAMA_CPP_SRC to a checkout of $PIN)"; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  log "fetching $NPM_PKG (llama.cpp git bundle)"
  (cd "$tmp" && npm pack --silent "$NPM_PKG" >/dev/null)
  tar -xzf "$tmp"/node-llama-cpp-*.tgz -C "$tmp" package/llama/gitRelease.bundle
  rm -rf "$SRC.tmp"
  mkdir -p "$(dirname "$SRC")"
  git clone --quiet "$tmp/package/llama/gitRelease.bundle" "$SRC.tmp" 2>/dev/null
  got=$(git -C "$SRC.tmp" rev-parse HEAD)
  if [ "$got" != "$PIN" ]; then
    rm -rf "$SRC.tmp"
    log "the bundle in $NPM_PKG is at $got, expected $PIN; refusing to build"
    exit 1
  fi
  rm -rf "$SRC"
  mv "$SRC.tmp" "$SRC"
}

fetch_source
command -v cmake >/dev/null || { log "cmake is missing: apt-get install cmake ninja-build (or brew install cmake ninja)"; exit 1; }
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)

BUILD="$OUT/build"
mkdir -p "$BUILD"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  log "configuring in $BUILD"
  cmake -S "$SRC" -B "$BUILD" "${GEN[@]}" "${FLAGS[@]}" >"$OUT/configure.log" 2>&1 || { tail -n 30 "$OUT/configure.log" >&2; exit 1; }
fi

targets=(llama ggml ggml-base ggml-cpu)
[[ "$BACKENDS" == *cuda* ]] && targets+=(ggml-cuda)
[[ "$BACKENDS" == *metal* ]] && targets+=(ggml-metal)
if [ "$want_bench" = 1 ]; then
  # llama-server, for make bench's sov serve comparison: the same build
  # with its server target switched on (the libraries' flags, and so the
  # cache key, stay the same; only the listed targets are built).
  cmake -S "$SRC" -B "$BUILD" -DLLAMA_BUILD_SERVER=ON >>"$OUT/configure.log" 2>&1 || { tail -n 30 "$OUT/configure.log" >&2; exit 1; }
  targets+=(llama-bench llama-completion llama-server)
fi
log "building ${targets[*]} with $JOBS jobs (first build takes ~10 minutes on two cores)"
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}" >"$OUT/build.log" 2>&1 || { tail -n 40 "$OUT/build.log" >&2; exit 1; }

mkdir -p "$OUT/lib" "$OUT/include" "$OUT/bin"
find "$BUILD" -name 'lib*.a' \( -name 'libllama.a' -o -name 'libggml*.a' \) -exec cp -f {} "$OUT/lib/" \;
cp -f "$SRC"/include/*.h "$SRC"/ggml/include/*.h "$OUT/include/"
if [ "$want_bench" = 1 ]; then
  cp -f "$BUILD/bin/llama-bench" "$BUILD/bin/llama-completion" "$BUILD/bin/llama-server" "$OUT/bin/"
fi
echo "$PIN" >"$OUT/commit"
echo "$BACKENDS" >"$OUT/backends"
link_checkout
log "ready: $OUT"
