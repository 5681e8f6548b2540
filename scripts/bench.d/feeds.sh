#!/usr/bin/env bash
# Feeds: import verification rate vs raw BIP-340 rate; sync events/s and RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test ./feeds -run '^$' -bench BenchmarkFeeds -benchtime 1x -timeout 30m
