# Two entry points for people: `make serve` and `make test`. Everything else is their plumbing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/push-service serve $(ARGS)

test: $(STAMP)
	scripts/test-prerequisites
	$(BIN)/ruff check push_service client_sdk tests bench
	$(BIN)/ruff format --check push_service client_sdk tests bench
	$(BIN)/mypy
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix push_service client_sdk tests bench
	$(BIN)/ruff format push_service client_sdk tests bench
	$(BIN)/mypy
