# Two commands: `make run` (the agent and the dashboard, on an embedded PostgreSQL unless DATABASE_URL is set)
# and `make test` (every test of every project). Both set up what they need on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
STAMP := $(VENV)/.installed
# The installable projects, lowest layer first: each later one may depend on the earlier ones.
PROJECTS := services/database host-agent $(wildcard services/api-gateway)
PYPROJECTS := $(addsuffix /pyproject.toml,$(PROJECTS))
# The host agent's one compiled part (built by its setup.py on install).
COMPILED := host-agent/setup.py host-agent/host_agent/store/_copy_text.c

.PHONY: run test lint bench system-deps venv clean

run: system-deps venv
	services/api-gateway/scripts/run-with-agent.sh $(ARGS)

test: system-deps venv lint
	@set -e; for project in $(PROJECTS); do \
		echo "== $$project"; \
		(cd $$project && $(BIN)/pytest $(PYTEST_ARGS)); \
	done

lint: venv
	$(BIN)/ruff check --config host-agent/pyproject.toml $(PROJECTS) bench

bench: system-deps venv
	$(BIN)/python bench/bench_sync.py --write docs/benchmarks.md
	$(BIN)/python bench/bench_desktop_monitor.py --write docs/benchmarks.md
	$(BIN)/python bench/bench_fs_watcher.py --write docs/benchmarks.md
	$(BIN)/python bench/bench_fleet.py --write docs/benchmarks.md
	$(BIN)/python bench/bench_partitions.py --write docs/benchmarks.md

venv: $(STAMP)

$(STAMP): $(PYPROJECTS) $(COMPILED)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(foreach p,$(PROJECTS),-e '$(p)[dev]')
	touch $(STAMP)

# A C compiler with the SQLite and Python headers (for the host agent's compiled part), PostgreSQL server
# binaries, PgBouncer, Xvfb, a window manager and xdotool (for the X11 tests), Chromium
# (for the dashboard's browser tests).
system-deps:
	@PYTHON=$(PYTHON) scripts/install-system-deps.sh

clean:
	rm -rf $(VENV)
