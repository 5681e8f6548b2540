#!/usr/bin/env bash
# Agents eval: grammar-forced tool calls vs the same model prompted for JSON,
# on SmolLM2-135M-Instruct and Gemma 3 270M (each skipped when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
SOV_BENCH_EVAL=1 go test ./agents -run '^$' -bench BenchmarkAgentsEval -benchtime 1x -timeout 60m
