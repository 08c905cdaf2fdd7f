# healthscore task runner: CI, the README and developers all call these targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)
PYTEST_ARGS ?=

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP) ## create .venv and install healthscore with its dev tools

kafka-jars: install ## resolve the Apache Kafka jars with Maven into the cache (once)
	$(BIN)/python -c 'from devtools.local_kafka import ensure_kafka_jars; ensure_kafka_jars()'

lint: install ## ruff lint + format check, import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install ## mypy (strict on scoring and schemas)
	$(BIN)/mypy scoring schemas

unit: install ## fast tests, no broker
	$(BIN)/pytest -m 'not integration and not e2e' $(PYTEST_ARGS)

test: install kafka-jars lint typecheck ## everything CI runs: lint, types, unit, integration, end-to-end
	$(BIN)/pytest $(PYTEST_ARGS)

demo: install kafka-jars ## the main job: score a synthetic portfolio on local Kafka + embedded ClickHouse
	$(BIN)/healthscore demo $(DEMO_ARGS)

worker: install ## run a worker against KAFKA_BOOTSTRAP_SERVERS / CLICKHOUSE_URL
	$(BIN)/healthscore worker

kafka: install kafka-jars ## run a local Kafka broker in the foreground
	$(BIN)/healthscore kafka

schemas: install ## regenerate the JSON Schema files in schemas/json
	$(BIN)/healthscore schemas export

bench: install kafka-jars ## throughput, latency, memory and state size of one worker (~20 min; BENCH_ARGS=--quick for ~5)
	$(BIN)/python -m bench $(BENCH_ARGS)

soak: install kafka-jars ## hostile-input soak: 200k+ events, 1% hostile (issue 9 and 22 kinds), a 101-month backfill, one worker; checks counters, dead letters per reason (topic and ClickHouse), every account scored, no crash, RSS (~3-5 min)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

QUALITY_SET ?= ../shared/churnsim/A
bench-quality: install ## churn and health AUC on a ChurnSim set by its protocol, streaming (QUALITY_SET=dir, QUALITY_ARGS=--accounts 300)
	$(BIN)/python -m bench.quality $(QUALITY_SET) $(QUALITY_ARGS)

PRIORITIES_BASELINE ?= 2ac62eb
bench-priorities: install kafka-jars ## issue 19 on the default demo portfolio, read back from ClickHouse: top-decile tiers, tier changes, alerts per account per month against PRIORITIES_BASELINE's code (the commit before issue 19), alerts after cancellation (~6 min)
	$(BIN)/python -m bench.priorities --baseline $(PRIORITIES_BASELINE) $(PRIORITIES_ARGS)

grafana: install ## regenerate the Grafana boards and provisioning files under dashboards/
	$(BIN)/python -m dashboards.build.generate

format: install ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove local data (var/) and caches; keeps .venv
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help install kafka-jars lint typecheck unit test demo worker kafka schemas grafana bench bench-quality bench-priorities format clean
