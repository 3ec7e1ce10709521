# Perkbridge: the two commands are `make demo` (run the app) and `make test`
# (run every test). Both start a private PostgreSQL from the machine's
# binaries when DATABASE_URL / TEST_DATABASE_URL are unset.
GO ?= go
PKGS ?= ./...

.PHONY: demo test bench microbench fuzz faults generate check-generated build lint help

# Fuzz targets (package:function). `make test` runs each briefly after the
# tests; `make fuzz FUZZTIME=5m` searches longer. A crasher is written to
# the package's testdata/fuzz and then runs as a seed in every `go test`.
FUZZ_TARGETS = app/shopify:FuzzVerifyWebhook app/shopify:FuzzVerifyProxy app/shopify:FuzzVerifyCallback \
	app/shopify:FuzzVerifyIDToken app/shopify:FuzzVerifyCustomerAccountToken app/shopify:FuzzDecodePayloads app/clevertap:FuzzParseUpload app/klaviyo:FuzzNewAPIError
FUZZTIME ?= 3s
# make test fuzzes each target for a number of inputs, not a duration: a
# duration's deadline can end a run mid-input and Go then reports a
# spurious "context deadline exceeded" failure (a known race of Go's fuzz
# coordinator at the -fuzztime boundary), which a
# loaded CI machine hits.
TEST_FUZZTIME ?= 10000x

help:
	@echo "make demo   run the app with a demo store and sandbox Klaviyo/CleverTap (http://127.0.0.1:8080)"
	@echo "make test   run every test against a throwaway PostgreSQL"
	@echo "make bench  load the real binary and print DESIGN.md §7's figures beside their references (about 10 min)"
	@echo "make microbench  run the Go micro-benchmarks (go test -bench)"
	@echo "make fuzz   run every fuzz target (FUZZTIME=3s each by default; make test runs 10000 inputs each)"
	@echo "make faults run the fault matrix (about 2.5 min; FAULTS_SOAK=30m to soak)"
	@echo "make build  build ./perkbridge"

demo:
	PORT=$${PORT:-8080} $(GO) run . demo $(ARGS)

# One PostgreSQL cluster for the whole run (withpg sets TEST_DATABASE_URL);
# every test package clones its databases from one migrated template.
# The fault matrix (app/faultmatrix: four processes of the real binary
# under faults, about 2.5 min) runs after the other packages, on its own,
# so its recovery bound is measured on a machine not busy with the other
# packages' tests; `make faults` runs it alone (FAULTS_SOAK, FAULTS_SEED).
UNIT_PKGS = $(shell $(GO) list $(PKGS) | grep -v /app/faultmatrix)

test: check-generated
	$(GO) run ./app/pglocal/withpg -- $(GO) test -count=1 -timeout 30m $(UNIT_PKGS)
	$(GO) run ./app/pglocal/withpg -- $(GO) test -count=1 -v -timeout 30m ./app/faultmatrix/
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

faults:
	$(GO) run ./app/pglocal/withpg -- $(GO) test -count=1 -v -timeout 30m ./app/faultmatrix/

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg >/tmp/perkbridge-fuzz.log 2>&1 || { cat /tmp/perkbridge-fuzz.log; exit 1; }; \
	done; echo "fuzz: $(words $(FUZZ_TARGETS)) targets, no crasher"

# make bench: app/bench/loadbench runs the real binary (serve, and a
# worker for the kill) against its own durable PostgreSQL and the sink
# fakes, from its own process over loopback, and prints one table (also
# written to artifacts/bench/latest.md). It fails only on a correctness
# failure. BENCH_SECONDS, BENCH_RATES, BENCH_CT_EVENTS... shorten it
# (app/bench, OptionsFromEnv).
bench:
	$(GO) run ./app/bench/loadbench

# The Go micro-benchmarks (each package's Benchmark functions).
microbench:
	$(GO) run ./app/pglocal/withpg -durable -- $(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

generate:
	$(GO) tool templ generate -path templates
	$(GO) run ./migrations/genriver migrations

# Generated templ code is committed; fail when a .templ file was changed
# without regenerating: generate a copy in a temp folder and compare it with
# the working tree (no git needed, uncommitted work is fine).
check-generated:
	@tmp=$$(mktemp -d) && mkdir -p $$tmp/templates && cp templates/*.templ templates/*.go $$tmp/templates/ && \
	rm -f $$tmp/templates/*_templ.go && \
	$(GO) tool templ generate -path $$tmp/templates >/dev/null 2>&1 && \
	for f in templates/*_templ.go; do \
		if ! cmp -s "$$f" "$$tmp/$$f"; then echo "$$f is out of date with its .templ file: run 'make generate'"; rm -rf $$tmp; exit 1; fi; \
	done; \
	for f in $$tmp/templates/*_templ.go; do \
		if [ ! -f "templates/$$(basename $$f)" ]; then echo "templates/$$(basename $$f) is missing: run 'make generate'"; rm -rf $$tmp; exit 1; fi; \
	done; rm -rf $$tmp

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o perkbridge .

lint:
	gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')
	$(GO) vet $(PKGS)
