#!/usr/bin/env bash
# fuzz.sh DURATION: run every fuzz target in the module for DURATION each
# (go test -fuzztime syntax: 3s, 60s, 1000x), one at a time, and stop at the
# first failure with the failing input's path. Targets are found by name
# (func FuzzXxx in a _test.go file of a package of this module), so a new
# one is run without being listed here.
#   GOTAGS         build tags, as the Makefile passes them
#   FUZZ_PARALLEL  workers per target (default 2: the CI machine has two cores)
#   FUZZ_MATCH     only targets whose "pkg.FuzzName" matches this regexp
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:?usage: scripts/fuzz.sh DURATION (e.g. 3s, 60s)}
tags=${GOTAGS:-}
par=${FUZZ_PARALLEL:-2}
match=${FUZZ_MATCH:-}
GO=${GO:-go}

# Package dirs of this module only: nested modules (tools/) and testdata are
# not packages here, and go list honours the build tags.
mapfile -t dirs < <($GO list -tags "$tags" -f '{{.Dir}}' ./...)
root=$(pwd)
targets=()
for d in "${dirs[@]}"; do
  rel=.${d#"$root"}
  for f in "$d"/*_test.go; do
    [ -f "$f" ] || continue
    while read -r name; do
      targets+=("$rel $name")
    done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*testing\.F.*/\1/p' "$f")
  done
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
ran=0
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  if [ -n "$match" ] && ! [[ "${pkg#./}.$name" =~ $match ]]; then
    continue
  fi
  t0=$SECONDS
  if ! $GO test -tags "$tags" -run '^$' -fuzz "^${name}\$" -fuzztime "$dur" -parallel "$par" "$pkg" >"$log" 2>&1; then
    cat "$log"
    # go test names the new crasher "testdata/fuzz/FuzzX/<hash>", relative
    # to the package; an old one that fails again is named by -run=FuzzX/<hash>.
    input=$(sed -nE 's#.*(testdata/fuzz/'"$name"'/[0-9a-f]+).*#\1#p' "$log" | head -1)
    if [ -z "$input" ]; then
      input=$(sed -nE 's#.*-run='"$name"'/([0-9a-f]+).*#testdata/fuzz/'"$name"'/\1#p' "$log" | head -1)
    fi
    echo >&2
    echo "fuzz: $name in $pkg FAILED${input:+; failing input: ${pkg#./}/$input}" >&2
    [ -n "$input" ] && echo "fuzz: re-run: go test -tags '$tags' -run '^$name/${input##*/}\$' $pkg" >&2
    exit 1
  fi
  execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  printf 'fuzz: ok %-22s %-16s %4ds %12s execs\n' "$name" "$pkg" $((SECONDS - t0)) "${execs:-?}"
  ran=$((ran + 1))
done
echo "fuzz: $ran targets, $dur each, $((SECONDS - start))s in all"
