#!/usr/bin/env bash
# Vault: ingest MB/s, search latency vs bleve v2.6.1 BM25, overlap, unlock, RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test ./vault/internal/benchcmp -run '^$' -bench . -benchtime 1x -timeout 60m
