#!/usr/bin/env bash
# Brands: what an x402 payment adds to a brand's answer (paid vs unpaid,
# p50 and p95 over 50 questions) on loopback with anvil (automine).
set -euo pipefail
cd "$(dirname "$0")/../.."
go test ./brand -run '^$' -bench BenchmarkBrandPaymentOverhead -benchtime 1x -timeout 10m
