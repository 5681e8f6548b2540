#!/usr/bin/env bash
# fuzz.sh DURATION: run every fuzz target in the module for DURATION each
# (go test -fuzztime syntax: 3s, 60s, 1000x), one at a time, and stop at the
# first failure with the failing input's path. Targets are found by name
# (func FuzzXxx(f *testing.F) in a _test.go file of a package of this
# module), so a new one is run without being listed here.
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
cache=$($GO env GOCACHE)/fuzz

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
start=$SECONDS
ran=0
# Package dirs of this module only: nested modules (tools/) and testdata are
# not packages here, and go list honours the build tags.
while read -r imp dir; do
  rel=.${dir#"$PWD"}
  names=()
  for f in "$dir"/*_test.go; do
    [ -f "$f" ] || continue
    while read -r name; do
      if [ -z "$match" ] || [[ "${rel#./}.$name" =~ $match ]]; then
        names+=("$name")
      fi
    done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*testing\.F.*/\1/p' "$f")
  done
  [ ${#names[@]} -gt 0 ] || continue
  # One instrumented test binary per package (go test would link one per
  # target); it runs in the package's dir, so testdata/ resolves, with the
  # same corpus cache go test -fuzz uses.
  bin=$tmp/$(echo "$imp" | tr / _).test
  t0=$SECONDS
  $GO test -c -tags "$tags" -fuzz . -o "$bin" "$rel"
  fuzz1() {
    (cd "$dir" && "$bin" -test.run '^$' -test.fuzz "^${name}\$" -test.fuzztime "$dur" \
      -test.parallel "$par" -test.fuzzcachedir "$cache/$imp") >"$log" 2>&1
  }
  for name in "${names[@]}"; do
    # Go's fuzzing engine sometimes ends a short run with "context deadline
    # exceeded" and no failing input, when a worker on a loaded machine
    # answers after -fuzztime: that run is tried once more.
    if ! fuzz1 && ! { grep -q 'context deadline exceeded' "$log" && ! grep -q 'testdata/fuzz/\|seed corpus entry' "$log" && fuzz1; }; then
      cat "$log"
      # A new crasher is written to testdata/fuzz/FuzzX/<hash> in the
      # package; a stored input that fails again is named FuzzX/<hash>, from
      # testdata or the corpus cache.
      hash=$(sed -nE 's#.*(testdata/fuzz/|seed corpus entry: )'"$name"'/([0-9a-f]+).*#\2#p' "$log" | head -1)
      input=
      if [ -n "$hash" ] && [ -f "$dir/testdata/fuzz/$name/$hash" ]; then
        input=${rel#./}/testdata/fuzz/$name/$hash
      elif [ -n "$hash" ]; then
        input=$cache/$imp/$name/$hash
      fi
      echo >&2
      echo "fuzz: $name in $rel FAILED${input:+; failing input: $input}" >&2
      if [ -n "$input" ]; then
        echo "fuzz: re-run: go test -tags '$tags' -run '^$name/$hash\$' $rel" >&2
      fi
      exit 1
    fi
    # go test's last count: a short run may end before its first report,
    # and a slow target's workers report late, so it undercounts.
    execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
    printf 'fuzz: ok %-26s %-16s %4ds %10s execs\n' "$name" "$rel" $((SECONDS - t0)) "${execs:-?}"
    ran=$((ran + 1))
    t0=$SECONDS
  done
done < <($GO list -tags "$tags" -f '{{.ImportPath}} {{.Dir}}' ./...)
if [ "$ran" -eq 0 ]; then
  echo "fuzz: no fuzz targets found${match:+ matching $match}" >&2
  exit 1
fi
echo "fuzz: $ran targets, $dur each, $((SECONDS - start))s in all"
