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
STACK ?= fastmag-lenewblack-dev

.PHONY: help run serve test lint typecheck validate security build pytest bench deploy clean browser-deps

help:
	@echo "make run    run every flow once on the bundled sandbox (simulated Fastmag, Le New Black, AWS)"
	@echo "make test   everything CI checks: lint, types, template, security scans, build, unit/integration/infra tests"
	@echo "make serve  the export API and schedules locally against the sandbox"
	@echo "make bench  benchmarks at catalogue scale (writes bench/results/)"
	@echo "make build  sam build;  make deploy  sam deploy (STACK=$(STACK))"

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

run: $(VENV)/.installed
	$(PY) -m sandbox.run

serve: $(VENV)/.installed
	$(PY) -m sandbox.serve

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

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

pytest: $(VENV)/.installed
	$(PY) -m pytest -n 2 --dist loadfile

# Headless Chromium for the browser test, from Debian's packages (CI runs as root; elsewhere through sudo).
browser-deps:
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; }

test: browser-deps lint typecheck validate security build pytest

bench: $(VENV)/.installed
	$(PY) -m bench

deploy: build
	$(SAM) deploy --config-env $(or $(ENV),dev)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(TOOLS_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
