# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed
DEMO_DB ?= data/demo.duckdb

.PHONY: demo test lint bench clean install

# Installs go through uv (from PyPI, into the venv): it downloads and unpacks in
# parallel, several times faster than pip on a fresh machine. pip is the
# fallback when uv cannot be had or fails. `make demo` installs only what the
# console runs on; `make test` adds the dev tools and reference libraries.
define install
	if [ -x $(BIN)/uv ] && $(BIN)/uv pip install -q --python $(BIN)/python $(1); then :; \
	else $(BIN)/python -m pip install -q $(1); fi
endef

$(BIN)/python:
	$(PY) -m venv $(VENV)
	-$(BIN)/python -m pip install -q uv

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(call install,-e .)
	touch $(RUNTIME)

$(STAMP): pyproject.toml | $(BIN)/python
	$(call install,-e '.[dev]')
	touch $(RUNTIME) $(STAMP)

install: $(STAMP)

demo: $(RUNTIME)
	mkdir -p $(dir $(DEMO_DB))
	$(BIN)/avwap --db $(DEMO_DB) demo-data --symbols all --if-empty
	$(BIN)/avwap --db $(DEMO_DB) tui --feed replay

# Two workers, one test file each at a time (files share session fixtures: a
# PostgreSQL server, the demo caches): the suite is CPU-bound and this machine has 2 cores.
# Files go out heaviest first (tests/conftest.py, tests/file_costs.json), not in
# xdist's default order of most tests first, so the workers finish together.
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check storage engine models tui tests bench
	$(BIN)/mypy storage engine models tui

clean:
	rm -rf $(VENV) data *.egg-info
