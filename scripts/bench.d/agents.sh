#!/usr/bin/env bash
# Agents eval: grammar-forced tool calls vs the same model prompted for JSON,
# on SmolLM2-135M-Instruct and Gemma 3 270M (each skipped when missing), with
# the same 256-token cap per step for both. Every forced call must validate
# (the engine closes one that reaches the cap: the "closed" column); the
# benchmark fails otherwise. SOV_BENCH_THREADS sets the threads (default 1);
# SOV_BENCH_REPEAT_PENALTY adds llama.cpp's repetition penalty to both modes.
set -euo pipefail
cd "$(dirname "$0")/../.."
SOV_BENCH_EVAL=1 go test ./agents -run '^$' -bench BenchmarkAgentsEval -benchtime 1x -timeout 60m
