# Two commands on a fresh machine: `make plan` (offline plan of the dev stack) and `make test`.
# Neither downloads the Pulumi CLI or its plugins: the program runs under Pulumi's mocks.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
PLAN_ARGS ?=
PYTEST_ARGS ?=

.PHONY: plan test lint bench tools clean lab e2e

plan: $(VENV)/.installed
	$(PY) -m offline.plan --stack $(STACK) --throwaway-ssh-key $(PLAN_ARGS)

test: $(VENV)/.installed tools lint
	cd approver && go vet ./... && go test ./...
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@unformatted=$$(gofmt -l approver); if [ -n "$$unformatted" ]; then echo "gofmt: $$unformatted" >&2; exit 1; fi

bench: $(VENV)/.installed
	$(PY) -m bench.graph
	$(PY) -m bench.approver

# The real tools the artifact tests run: shellcheck and systemd-analyze, from Debian as root;
# anywhere else, what to install. Go (1.22 or newer) builds and tests the renewal approver;
# Debian's is older, so it is not installed from there.
tools:
	@missing=""; for tool in shellcheck systemd-analyze; do \
		command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing shellcheck and systemd from Debian"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck systemd >/dev/null; \
	else \
		echo "make test runs shellcheck and systemd-analyze on what the program writes; this machine lacks:$$missing." >&2; \
		echo "Install them (Debian, Ubuntu: apt-get install shellcheck systemd; Fedora: dnf install ShellCheck systemd; Arch: pacman -S shellcheck systemd), or run 'sudo make tools', then make test again." >&2; \
		exit 1; \
	fi
	@command -v go >/dev/null || { echo "make test builds the renewal approver (approver/) with Go 1.22 or newer, which this machine lacks: install it from https://go.dev/dl/" >&2; exit 1; }

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The lab (lab/, docs/lab.md): the real Pulumi CLI, control plane and kubelet, built from
# Go modules into .lab/; then the scenarios through it, as root. Neither is part of `make test`.
lab: $(VENV)/.installed
	$(PY) -m lab.build
	$(PY) -m lab.pulumi_home setup
	cd lab/go/providers && go vet ./... && go test ./...
	cd lab/go/langhost && go vet ./...

e2e: $(VENV)/.installed
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

clean:
	rm -rf build .pytest_cache .hypothesis
