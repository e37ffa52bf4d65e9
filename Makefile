# Hub: make run | test | proto | bench | fuzz
GO        ?= go
BIN       := $(CURDIR)/bin
PROTOS    := hubd billingd threads usersd bucketsd hubbuckets hubthreads

.PHONY: run build test compat-deps proto bench bench-kubo conformance fuzz vet deps-check

## run: start hubd on its embedded default (~/.hubd, gRPC :3006, gRPC-Web :3007, HTTP :8006, libp2p :4006)
run:
	$(GO) run ./cmd/hubd

build:
	$(GO) build -o $(BIN)/ ./cmd/hubd ./cmd/hub

## compat-deps: install the pinned @textile JavaScript clients for compat/js
compat-deps:
	cd compat/js && npm ci --no-audit --no-fund

## test: vet, the whole Go suite (race detector on), the JS compatibility suite.
## The tests build what they run (hubd, mailpit from go.mod) and start it on loopback.
## The script engine runs once more without the race detector, which slows its
## translated C past the time limits of the heavy cases (they skip under -race).
test: vet deps-check compat-deps
	$(GO) test -race -count=1 -timeout 40m ./...
	$(GO) test -count=1 -timeout 10m ./threads/db/jsfunc

## deps-check: no module version in the build graph is retracted by its author. It asks the
## module proxy for every module's versions (about half a minute), so it is not part of vet;
## modules whose version list the proxy does not serve are skipped.
deps-check:
	@r="$$($(GO) list -m -e -retracted -f '{{if .Retracted}}{{.Path}} {{.Version}}: {{.Retracted}}{{end}}' all 2>/dev/null)"; \
	  test -z "$$r" || (echo "retracted modules in the build; require a current release in go.mod:"; echo "$$r"; exit 1)

## vet also holds every Op to one form, a `const op errors.Op = "pkg.Func"`:
## errors.E("pkg.Func", ...) would take the name as the error's message and drop it.
vet:
	$(GO) vet ./...
	@! git grep -nE 'errors\.Op\("|errors\.(E|Errorf)\("[^"]' -- '*.go' || (echo 'name each Op in a const op errors.Op = "pkg.Func"'; exit 1)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)

## proto: regenerate api/pb from api/proto (protoc from Debian's protobuf-compiler)
proto:
	$(GO) build -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	for p in $(PROTOS); do \
	  PATH="$(BIN):$$PATH" protoc -I api/proto --go_out=. --go_opt=module=github.com/selfhub/hub \
	    --go-grpc_out=. --go-grpc_opt=module=github.com/selfhub/hub api/proto/$$p.proto || exit 1; \
	done

## bench: run the Go benchmarks side by side
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-kubo: buckets vs kubo v0.43.1 side by side (builds kubo into bench/.cache; see bench/RESULTS.md)
bench-kubo:
	$(GO) run ./bench/cmd/kubobench $(KUBOBENCH_FLAGS)

## conformance: the IPFS gateway conformance suite's trustless-gateway and path-gateway
## specs against hubd and kubo side by side (bench/conformance.sh; see bench/RESULTS.md).
## The suite is not on the Go module proxy, so this is not part of make test: give a
## checkout of github.com/ipfs/gateway-conformance, make conformance GATEWAY_CONFORMANCE=/path
conformance:
	sh bench/conformance.sh "$(GATEWAY_CONFORMANCE)"

## fuzz: run each fuzz target for a while (their seed corpora run in make test)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseSignature -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run '^$$' -fuzz FuzzParseCredentials -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecord -fuzztime $(FUZZTIME) ./threads
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./threads/db/query
	$(GO) test -run '^$$' -fuzz FuzzSchema -fuzztime $(FUZZTIME) ./threads/db
	$(GO) test -run '^$$' -fuzz FuzzDecodeDocRecord -fuzztime $(FUZZTIME) ./threads/db
	$(GO) test -run '^$$' -fuzz FuzzScript -fuzztime $(FUZZTIME) ./threads/db/jsfunc
	$(GO) test -run '^$$' -fuzz FuzzCleanPath -fuzztime $(FUZZTIME) ./buckets
	$(GO) test -run '^$$' -fuzz FuzzDecryptSegments -fuzztime $(FUZZTIME) ./buckets
	$(GO) test -run '^$$' -fuzz FuzzTamperedStream -fuzztime $(FUZZTIME) ./buckets
	$(GO) test -run '^$$' -fuzz FuzzPaths -fuzztime $(FUZZTIME) ./gateway
