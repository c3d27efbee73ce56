# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= data/demo.duckdb

.PHONY: demo test lint bench clean install

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p $(dir $(DEMO_DB))
	$(BIN)/avwap --db $(DEMO_DB) demo-data --symbols all --if-empty
	$(BIN)/avwap --db $(DEMO_DB) tui --feed replay

# Two workers, one test file each at a time (files share session fixtures: a
# PostgreSQL server, the demo caches): the suite is CPU-bound and this machine has 2 cores.
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check storage engine models tui tests bench
	$(BIN)/mypy storage engine models tui

clean:
	rm -rf $(VENV) data *.egg-info
