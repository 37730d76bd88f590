# 12345 front door — `make run` to try it, `make test` to prove it. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1
# no telemetry or error reports leave the machine (and none could: only registries are reachable)
export RASA_TELEMETRY_ENABLED := false
TRAIN_DATA := data/nlu data/rules data/responses
STAMP := $(VENV)/.installed

.PHONY: help setup browser postgres nginx train run test test-fast lint typecheck lint-content validate eval bench report seed clean
.PHONY: export import ship rollback learn

help: ## this list
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements/rasa-wheels.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements.lock
	@# rasa 3.6 says Python <3.11; its dependencies (pinned above) all have 3.11 wheels
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --ignore-requires-python -r requirements/rasa-wheels.txt
	@touch $@

setup: $(STAMP) ## create .venv from the lock file (idempotent)
	@test -f .env || cp .env.example .env

browser: ## Debian's chromium for the browser tests (Playwright drives it; nothing is downloaded) and a Chinese font
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@# without a CJK font, Chinese pages render as boxes and the report's charts fall back to Latin labels
	@fc-list :lang=zh | grep -q . || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; }

postgres: ## Debian's PostgreSQL server for the production-mode tests (each run makes a throwaway cluster)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

nginx: ## Debian's nginx for the scale and fault tests (they run deploy/nginx/hotline.conf; no service is started)
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

train: setup ## train the model, only when data, domain or config changed
	@$(BIN)/python -m bot.ops.training

run: setup train ## start Redis, Rasa (5005), actions (5055) and the desk (5080); Ctrl-C stops all
	@$(BIN)/python -m bot.ops.launch migrate
	@set -a; source .env; set +a; exec $(BIN)/honcho start -f Procfile

test: setup browser postgres nginx train ## everything CI runs: lint, types and imports, data validation, content check, pytest, conversation tests
	$(BIN)/ruff check . && $(BIN)/ruff format --check . >/dev/null
	@$(MAKE) --no-print-directory typecheck
	$(BIN)/rasa data validate --fail-on-warnings --data $(TRAIN_DATA) >/dev/null
	$(BIN)/python -m bot.ops.content_check
	$(BIN)/pytest
	$(BIN)/python -m bot.ops.training --test-stories

test-fast: setup ## unit tests only (no stack)
	$(BIN)/pytest -m "not stack and not browser"

lint: setup ## ruff (security, logging, no print) and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup ## mypy (strict for bot/core and bot/infra) and the import contracts (lint-imports)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

lint-content: setup ## the content check over every response a citizen can receive
	$(BIN)/python -m bot.ops.content_check

validate: setup ## ops: data, content, conflicts, then train and compare with the committed figures
	$(BIN)/python -m bot.ops.validate

export: setup ## ops: FAQ catalogue to a spreadsheet (FILE=results/catalogue.xlsx; a directory: CSV)
	$(BIN)/python -m bot.ops.spreadsheet export $(or $(FILE),results/catalogue.xlsx)

import: setup ## ops: validate the edited spreadsheet and write it back to the YAML (FILE=...)
	$(BIN)/python -m bot.ops.spreadsheet import $(or $(FILE),results/catalogue.xlsx)

ship: setup ## ops: load the model `make validate` passed into the running Rasa processes (RASA_URLS)
	@set -a; if [ -f .env ]; then source .env; fi; set +a; $(BIN)/python -m bot.ops.ship $(if $(MODEL),--model $(MODEL))

rollback: setup ## ops: put the previous model back into the running Rasa processes
	@set -a; if [ -f .env ]; then source .env; fi; set +a; $(BIN)/python -m bot.ops.ship --rollback

learn: setup ## ops: unclear messages of a period, grouped, to label (FROM= TO=); APPLY=file adds the labels
	@set -a; if [ -f .env ]; then source .env; fi; set +a; $(BIN)/python -m bot.ops.learn $(if $(APPLY),--apply $(APPLY),$(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO)))

eval: setup ## held-out evaluation per kind (docs/quality.md)
	$(BIN)/python -m bot.ops.evaluate

bench: setup train ## load test on its own stack (or ARGS="--rasa-url URL"); figures in docs/performance.md
	$(BIN)/python -m bench $(ARGS)

report: setup ## supervision report for a date range (FROM=2026-11-01 TO=2026-11-30)
	@# the same settings as `make run` (DATABASE_URL, DESK_API_TOKEN, ports) from .env
	@set -a; [ ! -f .env ] || source .env; set +a; $(BIN)/python -m bot.reports $(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO))

seed: setup ## play a realistic day through the running stack (`make run`), then write today's report
	@set -a; [ ! -f .env ] || source .env; set +a; $(BIN)/python -m bot.ops.seed

clean: ## remove trained models and local state (not .venv)
	rm -rf models var .pytest_cache
