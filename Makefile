# `make test` is the whole suite: a virtual environment, the package with its test extras, a Docker
# engine and the test image (scripts/engine.sh installs and starts them where none is), then pytest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint engine venv test-versions clean demo

venv: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,lint]'
	touch $(STAMP)

engine:
	bash scripts/engine.sh

test: venv engine
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
	rm -rf $(VENV) .venv-* build *.egg-info .pytest_cache .mypy_cache .ruff_cache
