# sov — build, run, test and benchmark.
#   make run     build everything (llama.cpp once, cached) and open sov
#   make test    install test tools and test models if missing, run every test
#   make bench   benchmarks against llama.cpp's own tools, side by side
#   make fuzz    every fuzz target for FUZZTIME each (make test runs them briefly)
SHELL := /bin/bash
GO ?= go
BUILD_CACHE ?= $(or $(SOV_BUILD_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sov-build)
export SOV_BUILD_CACHE := $(BUILD_CACHE)
export PATH := $(BUILD_CACHE)/tools/bin:$(HOME)/go/bin:$(PATH)
export CGO_ENABLED := 1
SOV_TEST_MODEL ?= $(abspath ../shared/models/stories260K.gguf)
export SOV_TEST_MODEL
GOTAGS ?= $(shell command -v nvcc >/dev/null 2>&1 && [ "$$SOV_NO_CUDA" != 1 ] && echo cuda)
TEST_TIMEOUT ?= 25m
# Every fuzz target runs FUZZTIME in make fuzz, TEST_FUZZTIME in make test
# (0 skips that run; plain go test still runs the seed corpora).
FUZZTIME ?= 60s
TEST_FUZZTIME ?= 3s

.PHONY: all build run test fuzz bench deps llama llama-bench vet fmt clean release-check

all: build

## deps: system packages, llama.cpp (cached), the test tools and chat models
deps: llama
	@# Every script runs even when one fails (a model download must not stop
	@# the test tools' install); the failure is reported at the end.
	@rc=0; for s in scripts/deps.d/*.sh; do [ -f "$$s" ] || continue; bash "$$s" || { echo "deps: $$s failed" >&2; rc=1; }; done; exit $$rc

llama:
	@scripts/system-deps.sh
	@scripts/llama-build.sh

llama-bench:
	@scripts/system-deps.sh
	@scripts/llama-build.sh bench

build: llama
	$(GO) build -tags '$(GOTAGS)' -o bin/sov ./cmd/sov

run: build
	./bin/sov $(ARGS)

test: deps
	$(GO) test -tags '$(GOTAGS)' -timeout $(TEST_TIMEOUT) ./...
	@[ "$(TEST_FUZZTIME)" = 0 ] || GOTAGS='$(GOTAGS)' scripts/fuzz.sh $(TEST_FUZZTIME)

## fuzz: every fuzz target in the module, FUZZTIME each, stopping at the first failure
fuzz: llama
	GOTAGS='$(GOTAGS)' scripts/fuzz.sh $(FUZZTIME)

vet: llama
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags '$(GOTAGS)' ./...

## release-check: validate goreleaser.yaml with the pinned goreleaser (tools/go.mod)
release-check:
	cd tools && $(GO) tool goreleaser check -f ../goreleaser.yaml

bench: llama-bench build
	@scripts/bench.sh

clean:
	rm -rf bin .llama
