# Perkbridge: the two commands are `make demo` (run the app) and `make test`
# (run every test). Both start a private PostgreSQL from the machine's
# binaries when DATABASE_URL / TEST_DATABASE_URL are unset.
GO ?= go
PKGS ?= ./...

.PHONY: demo test bench generate check-generated build lint help

help:
	@echo "make demo   run the app with a demo store and sandbox Klaviyo/CleverTap (http://127.0.0.1:8080)"
	@echo "make test   run every test against a throwaway PostgreSQL"
	@echo "make bench  run the benchmarks with their reference limits"
	@echo "make build  build ./perkbridge"

demo:
	PORT=$${PORT:-8080} $(GO) run . demo

# One PostgreSQL cluster for the whole run (withpg sets TEST_DATABASE_URL);
# every test package clones its databases from one migrated template.
test: check-generated
	$(GO) run ./app/pglocal/withpg -- $(GO) test -count=1 -timeout 30m $(PKGS)

bench:
	$(GO) run ./app/pglocal/withpg -durable -- $(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

generate:
	$(GO) tool templ generate
	$(GO) run ./migrations/genriver migrations

# Generated templ code is committed; fail when a .templ file was changed
# without regenerating (templ's own CI recipe, without needing a git diff).
check-generated:
	@$(GO) tool templ generate -path templates >/dev/null 2>&1 || true
	@if [ -d .git ] && ! git diff --quiet -- 'templates/*_templ.go' 2>/dev/null; then \
		echo "templates/*_templ.go are out of date with the .templ files: run 'make generate' and commit"; \
		git --no-pager diff --stat -- 'templates/*_templ.go'; exit 1; fi

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o perkbridge .

lint:
	gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')
	$(GO) vet $(PKGS)
