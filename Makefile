# `make test` is the whole suite: a virtual environment, the package with its test extras, a Docker
# engine and the test image (scripts/engine.sh installs and starts them where none is), then pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint engine venv compose test-versions clean bench bench-web demo browser web-assets web-demo

venv: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[web,test,lint]'
	touch $(STAMP)

engine:
	bash scripts/engine.sh

test: venv engine compose browser web-assets
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Debian's Chromium for the browser tests of `threadpty web` (never a downloaded browser);
# THREADPTY_SKIP_BROWSER=1 skips it and them.
browser:
	bash scripts/browser.sh

# xterm.js from npm, pinned by package-lock.json, copied into threadpty/web/static/ (not committed).
web-assets: threadpty/web/static/.built

threadpty/web/static/.built: package.json package-lock.json scripts/web_assets.py
	$(PYTHON) scripts/web_assets.py
	touch $@

# `threadpty web` against a demo container (made here, removed on Ctrl-C); prints the URL to open.
web-demo: venv engine web-assets
	bash scripts/web-demo.sh

# docker-compose 1.29.2 with threadpty as its dockerpty, in .venv-compose, for tests/test_compose.py
# (a no-op once it is current). THREADPTY_SKIP_COMPOSE=1 skips it and those tests.
compose:
	@if [ -n "$$THREADPTY_SKIP_COMPOSE" ] && [ "$$THREADPTY_SKIP_COMPOSE" != 0 ]; then \
		echo "compose: skipped (THREADPTY_SKIP_COMPOSE is set)"; \
	else bash scripts/compose.sh; fi

lint: venv
	$(BIN)/ruff check threadpty tests
	$(BIN)/ruff format --check threadpty
	$(BIN)/mypy

# Unit tests and a short integration smoke on every CPython 3.9+ that pyenv has here.
test-versions: engine
	bash scripts/test-versions.sh

# A shell in a throwaway container, through threadpty (everything set up first, as for the tests).
demo: venv engine
	$(BIN)/threadpty run -it --rm --network none threadpty-test/busybox:latest /bin/sh

clean:
	rm -rf $(VENV) .venv-* build *.egg-info .pytest_cache .mypy_cache .ruff_cache node_modules threadpty/web/static

# Benchmarks beside the Docker CLI, dockerpty 0.4.1 and a raw socket loop (bench/run.py). Their own
# venv: dockerpty (and six, pexpect) must never become dependencies of threadpty.
# `make bench BENCH_ARGS=--quick` takes about 2 minutes; the full run about 15.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): setup.cfg setup.py pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e . 'dockerpty==0.4.1' six pexpect
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) engine bench-web
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

# `threadpty web` beside wetty (npm, pinned by bench/web/package-lock.json, in bench/web/node_modules)
# and terminado (PyPI), in a venv of their own (bench/web_run.py; about 5 minutes, --quick 1.5).
BENCH_WEB_VENV := .venv-bench-web
BENCH_WEB_STAMP := $(BENCH_WEB_VENV)/.installed

$(BENCH_WEB_STAMP): setup.cfg setup.py pyproject.toml bench/web/package-lock.json
	test -x $(BENCH_WEB_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_WEB_VENV)
	$(BENCH_WEB_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_WEB_VENV)/bin/python -m pip install -q -e '.[web]' terminado
	cd bench/web && npm ci --no-audit --no-fund
	touch $@

# Of `make bench`'s BENCH_ARGS only --quick applies here; BENCH_WEB_ARGS for the rest.
BENCH_WEB_ARGS ?= $(filter --quick,$(BENCH_ARGS))

bench-web: $(BENCH_WEB_STAMP) engine web-assets
	$(BENCH_WEB_VENV)/bin/python -W ignore::DeprecationWarning bench/web_run.py $(BENCH_WEB_ARGS)
