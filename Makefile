# The two commands: `make run` (service on 127.0.0.1:8000, or PORT=..., embedded SQLite, development mode)
# and `make test` (lint, types and the whole test suite on SQLite and PostgreSQL).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# `make run PORT=8080` serves on another port.
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install openapi clean

$(STAMP): pyproject.toml setup.py services/hashshare/matching/_kernel.pyx
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	HASHSHARE_DEV_MODE=$${HASHSHARE_DEV_MODE-1} $(BIN)/hashshare db upgrade
	HASHSHARE_DEV_MODE=$${HASHSHARE_DEV_MODE-1} $(BIN)/hashshare serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check services tests benchmarks
	$(BIN)/ruff format --check services tests benchmarks
	$(BIN)/mypy --strict services/hashshare
	$(BIN)/pytest -n auto --dist loadgroup

openapi: $(STAMP)
	$(BIN)/hashshare openapi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
