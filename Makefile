# hyper2kvm control plane. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := .local/bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Test timeout: integration tests run against real DynamoDB Local, fauxqs and qemu-img.
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 5s
# Every process talks to 127.0.0.1 only; the SDK must never look for instance metadata.
export AWS_EC2_METADATA_DISABLED := true

.PHONY: help deps build build-local run test test-short lint fuzz fuzz-long bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install what is missing: qemu-utils, a JDK, npm packages, Go modules, the Lambda emulator
	@bash dev/install.sh

build: ## build every Lambda function as bootstrap for linux/arm64 into .local/lambda/<name>
	@for d in functions/*/; do n=$$(basename $$d); \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath \
	    -ldflags='-s -w' -o .local/lambda/$$n/bootstrap ./$$d || exit 1; done
	@echo "built $$(ls functions | wc -l) functions into .local/lambda/"

build-local: ## build the local API server, the worker host and the CLI for this machine
	@$(GO) build -o $(BIN)/h2k-server ./cmd/h2k-server
	@$(GO) build -o $(BIN)/h2k-worker ./worker-host
	@$(GO) build -o $(BIN)/h2k-run ./cmd/h2k-run
	@$(GO) build -o $(BIN)/h2k ./cmd/h2k

run: deps build-local ## convert a real disk image end to end on the local stack (IMAGE=path to use yours)
	@$(BIN)/h2k-run -root . $(if $(IMAGE),-image $(IMAGE),)

test: deps ## all tests, race detector on, against the real local services and qemu-img
	@mkdir -p .local && set -o pipefail && $(GO) run ./cmd/localaws -- \
	  env H2K_REQUIRE_SERVICES=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./... \
	  | tee .local/test.log
	@$(MAKE) --no-print-directory fuzz
	@echo "packages: $$(grep -c '^ok ' .local/test.log) passed, $$(grep -c '^FAIL' .local/test.log) failed"

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then \
	  echo "not gofmt-ed: $$out"; exit 1; fi
	@$(GO) vet ./...
	@$(GO) run $(STATICCHECK) ./...

fuzz: ## a short run of every fuzz target (5 s each; FUZZTIME=… to change)
	@bash dev/fuzz.sh $(FUZZTIME)

fuzz-long: ## a longer fuzz run (FUZZTIME=2m each)
	@bash dev/fuzz.sh 2m

bench: deps ## benchmarks (stream latency, progress parsing) against the local services
	@$(GO) run ./cmd/localaws -- env H2K_REQUIRE_SERVICES=1 \
	  $(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean: ## remove build output and local run data
	@rm -rf .local/lambda .local/run $(BIN)/h2k-*
