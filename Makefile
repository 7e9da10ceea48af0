# The two commands of the README: `make run` and `make test`. Each installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON313 := $(shell bash .ci/find-python313)
VENV := .venv
SAM_VENV := .venv-sam
TOOLS_VENV := .venv-tools
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)
# sam build looks for python3.13 on PATH.
export PATH := $(dir $(PYTHON313)):$(PATH)
SAM := $(SAM_VENV)/bin/sam
# make deploy's inputs (tools/deploy_command.py): ENV picks samconfig.toml's section; STACK, SCHEDULES=on|off,
# ALARM_EMAIL and PARAMS="Key=Value …" are passed only when given, so a deploy keeps the stack's other values.
ENV ?= dev
DEPLOY_ARGS = --env "$(ENV)" --stack "$(STACK)" --schedules "$(SCHEDULES)" --alarm-email "$(ALARM_EMAIL)" \
	--parameter "$(PARAMS)" --sam "$(SAM)"
# The brand-owned configuration's names, as template.yaml derives them from the stack name (override when the
# stack was deployed with SettingsParameterName / CredentialsSecretName / ApiAccessSecretName).
CONFIG_STACK = $(or $(STACK),fastmag-lenewblack-$(ENV))
SETTINGS_PARAMETER ?= /$(CONFIG_STACK)/brand/settings
CREDENTIALS_SECRET_ID ?= $(CONFIG_STACK)/brand/credentials
API_ACCESS_SECRET_ID ?= $(CONFIG_STACK)/brand/api-access
CONFIG_ENV = SETTINGS_PARAMETER="$(SETTINGS_PARAMETER)" CREDENTIALS_SECRET_ID="$(CREDENTIALS_SECRET_ID)" \
	API_ACCESS_SECRET_ID="$(API_ACCESS_SECRET_ID)"

.PHONY: help install run serve test lint typecheck validate security build pytest bench deploy deploy-command schedules \
	configure configure-secret show-settings clean browser-deps

help:
	@echo "make run    run every flow once on the bundled sandbox (simulated Fastmag, Le New Black, AWS)"
	@echo "make test   everything CI checks: lint, types, template, security scans, build, unit/integration/infra tests"
	@echo "make serve  the export API and schedules locally against the sandbox"
	@echo "make install  .venv with the connector installed (editable): .venv/bin/connector from any directory"
	@echo "make bench  benchmarks at catalogue scale (writes bench/results/)"
	@echo "make build  sam build"
	@echo "make deploy [ENV=dev|prod] [STACK=name] [SCHEDULES=on|off] [ALARM_EMAIL=a@b.c] [PARAMS='Key=Value …']"
	@echo "           sam deploy with samconfig's parameters plus these (DRY_RUN=1 or make deploy-command: print it)"
	@echo "make schedules SCHEDULES=on|off [ENV=…] [STACK=…]   switch the stock and orders schedules"
	@echo "make configure SETTINGS=FILE [ENV=…] [STACK=…]      validate, then write the settings document"
	@echo "make configure-secret SECRET=credentials|api-access FILE=path   write a secret (never echoed)"
	@echo "make show-settings [ENV=…] [STACK=…]                the live settings, secrets masked"

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	rm -rf $(VENV)
	$(PYTHON313) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	rm -rf $(SAM_VENV)
	$(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

$(TOOLS_VENV)/.installed: requirements-tools.txt
	rm -rf $(TOOLS_VENV)
	$(PYTHON313) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	touch $@

# The repository as a package, editable (pyproject.toml): `.venv/bin/connector` and `.venv/bin/connector-sandbox`
# work from any directory without PYTHONPATH. Installed once per venv (a new venv removes the script, so it runs
# again); `make install` after a pull that adds an entry point.
$(VENV)/bin/connector: | $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --editable .

install: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --editable .

run: $(VENV)/.installed $(VENV)/bin/connector
	$(PY) -m sandbox.run $(if $(SEED),--seed $(SEED))

serve: $(VENV)/.installed $(VENV)/bin/connector
	$(PY) -m sandbox.serve

# lint-imports checks the layering (pyproject.toml's [tool.importlinter]); PYTHONPATH above puts the layer on the path.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy --strict layers/common/connector

validate: $(VENV)/.installed $(SAM_VENV)/.installed
	$(SAM) validate --lint --template template.yaml
	$(VENV)/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml

# checkov over the template (skips and their reasons: .checkov.yaml; BC_SKIP_MAPPING: no download of guidelines),
# bandit over the layer and the handlers (skips: inline `nosec` with the reason beside it, none in its config).
security: $(TOOLS_VENV)/.installed
	BC_SKIP_MAPPING=TRUE $(TOOLS_VENV)/bin/checkov --config-file .checkov.yaml
	$(TOOLS_VENV)/bin/bandit -q -c pyproject.toml -r layers/common/connector functions

build: $(SAM_VENV)/.installed
	$(SAM) build --template template.yaml --build-dir .aws-sam/build

# A file per worker at a time (module-scoped fixtures are built once), in collection order: the long tests first
# (tests/conftest.py). pytest's "no tests" exit (5) still fails make.
pytest: $(VENV)/.installed $(VENV)/bin/connector
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# Headless Chromium for the browser test, from Debian's packages (CI runs as root; elsewhere through sudo).
browser-deps:
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; }

test: browser-deps lint typecheck validate security build pytest

# RUNS: timed runs per scenario, reported by their medians (default 5).
bench: $(VENV)/.installed
	$(PY) -m bench $(if $(RUNS),--runs $(RUNS)) $(if $(SCALE),--skus $(SCALE))

deploy-command:
	@$(PYTHON313) tools/deploy_command.py $(DEPLOY_ARGS)

ifdef DRY_RUN
deploy: deploy-command
else
deploy: build
	$(PYTHON313) tools/deploy_command.py $(DEPLOY_ARGS) --run
endif

schedules:
	@test "$(SCHEDULES)" = on || test "$(SCHEDULES)" = off || { echo "give SCHEDULES=on or SCHEDULES=off"; exit 2; }
	$(MAKE) deploy SCHEDULES=$(SCHEDULES)

configure: $(VENV)/.installed
	@test -n "$(SETTINGS)" || { echo "give SETTINGS=FILE (start from: .venv/bin/connector settings --defaults)"; exit 2; }
	$(CONFIG_ENV) $(PY) -m connector settings --write "$(SETTINGS)"

configure-secret: $(VENV)/.installed
	@test -n "$(SECRET)" && test -n "$(FILE)" || { echo "give SECRET=credentials|api-access FILE=path"; exit 2; }
	@$(CONFIG_ENV) $(PY) -m connector secret --write "$(SECRET)" "$(FILE)"

show-settings: $(VENV)/.installed
	@$(CONFIG_ENV) $(PY) -m connector settings --show

clean:
	rm -rf $(VENV) $(SAM_VENV) $(TOOLS_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
