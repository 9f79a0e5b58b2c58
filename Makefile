# Two commands: `make run` (the agent, on an embedded PostgreSQL unless DATABASE_URL is set)
# and `make test` (every test). Both set up what they need on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench system-deps venv clean

run: system-deps venv
	$(BIN)/reprospective-agent run $(ARGS)

test: system-deps venv
	$(BIN)/ruff check --config host-agent/pyproject.toml host-agent bench
	$(BIN)/pytest host-agent/tests $(PYTEST_ARGS)

bench: system-deps venv
	$(BIN)/python bench/bench_sync.py --write docs/benchmarks.md
	$(BIN)/python bench/bench_desktop_monitor.py --write docs/benchmarks.md
	$(BIN)/python bench/bench_fs_watcher.py --write docs/benchmarks.md

venv: $(STAMP)

$(STAMP): host-agent/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e 'host-agent[dev]'
	touch $(STAMP)

# PostgreSQL server binaries, Xvfb, a window manager and xdotool (for the X11 tests).
system-deps:
	@PYTHON=$(PYTHON) scripts/install-system-deps.sh

clean:
	rm -rf $(VENV)
