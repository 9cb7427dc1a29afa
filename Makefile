# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-minimums lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

# Ports of the staff UI and of the local demo review portal: `make demo PORT=8001` when 8000 is
# taken (the demo checks both before doing anything and names a busy one).
PORT        ?= 8000
PORTAL_PORT ?= 8765

demo: install
	$(BIN)/kuchikomi demo --port $(PORT) --portal-port $(PORTAL_PORT)

# pytest arguments. Two pytest-xdist workers by default: much of the suite waits (crawl and
# server processes, slow test sites, Chromium) rather than computes, so even two cores gain (the
# README's suite times). `make test PYTEST_ARGS="-n auto"` on a bigger machine, `PYTEST_ARGS=`
# for one process.
PYTEST_ARGS ?= -n 2

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The quick suite on the lowest versions pyproject.toml allows, in .venv-minimums (README).
test-minimums:
	bash .ci/test-minimums

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .venv-minimums var build *.egg-info
