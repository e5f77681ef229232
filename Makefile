# `make run`: a fresh machine to a served app. `make test`: the whole suite on SQLite and PostgreSQL.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT

.PHONY: run test install install-test lint browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund && touch $@; \
	else echo "!! npm not found: the BPMN diagram viewer will be unavailable" >&2; fi

install: $(VENV)/.installed node_modules/.installed

run: install
	$(BIN)/crm setup
	$(BIN)/crm serve --port $(PORT)

$(VENV)/.test-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# Debian's chromium for the browser tests (Playwright drives /usr/bin/chromium; nothing is downloaded by Playwright).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  (apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1 \
	   || (apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-noto-cjk >/dev/null)) \
	  || echo "!! could not install chromium: browser tests will be skipped" >&2; \
	else echo "!! /usr/bin/chromium missing and not root: browser tests will be skipped" >&2; fi

install-test: install $(VENV)/.test-installed browser

lint: install-test
	$(BIN)/ruff check .

test: install-test lint
	TEST_DB=sqlite $(BIN)/pytest
	TEST_DB=postgresql $(BIN)/pytest

bench: install-test
	$(BIN)/python bench/engine_throughput.py

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache
