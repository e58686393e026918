# P2PChat: `make run` starts the whole product on this machine, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
# Quiet, offline CDK: no Node end-of-life banner, no version check (cdk.json turns off notices
# and telemetry).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help deps run test lint synth bench screenshots bootstrap deploy destroy clean

help:
	@echo "make run    start the product at http://localhost:$(PORT) (Ctrl-C stops it)"
	@echo "            TURN=1 make run: with a TURN relay (coturn) on this machine too"
	@echo "make test   install what the tests need and run every test"
	@echo "make synth  synthesize the CDK app offline into cdk.out/"
	@echo "make deploy deploy to the AWS account of your credentials (STAGE=prod for prod)"
	@echo "make bench  run the benchmarks (results: docs/benchmarks.md)"
	@echo "make screenshots  refresh the README's screenshots in docs/ (a test run does not)"
	@echo "make lint   ruff"

$(VENV)/.installed: requirements.txt pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 is missing: install Python 3.11 or newer"; exit 1; }
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 or newer"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(VENV)/.installed node_modules/.installed

run: deps
	@if [ "$${LOCAL_DYNAMODB:-}" != moto ] && [ -z "$${DYNAMODB_ENDPOINT:-}" ]; then scripts/ensure-tools.sh java; fi
	@if [ "$${TURN:-}" = 1 ]; then scripts/ensure-tools.sh coturn; fi
	@PORT=$(PORT) $(PY) -m local

lint: deps
	$(PY) -m ruff check .

test: deps
	@scripts/ensure-tools.sh java chromium coturn nftables
	$(PY) -m ruff check .
	node --test tests/frontend/
	$(PY) -m pytest

synth: deps
	npx --no-install cdk synth -q

# Deployment (needs AWS credentials; see docs/deploy.md). STAGE=dev (default) or prod.
CDK_STAGE := $(if $(STAGE),-c stage=$(STAGE))
bootstrap: deps
	npx --no-install cdk bootstrap

deploy: deps
	npx --no-install cdk deploy $(CDK_STAGE)

destroy: deps
	npx --no-install cdk destroy $(CDK_STAGE)

bench: deps
	@scripts/ensure-tools.sh java chromium coturn
	$(PY) -m bench

# The two browser tests that take the README's screenshots, writing them into docs/.
screenshots: deps
	@scripts/ensure-tools.sh java chromium
	P2PCHAT_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q \
		tests/e2e/test_call.py::test_reload_and_signaling_drop_keep_the_call \
		tests/e2e/test_pages.py::test_lobby_screenshot_keyboard_and_small_screen

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache .hypothesis test-results
