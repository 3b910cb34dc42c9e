# The two commands a new user needs: `make dev` and `make test` (README.md).
# Everything else is a step they call, or a tool for people who work on the project.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=
export AWS_DEFAULT_REGION ?= us-east-1

PY_SOURCES := layers/common/lucent devtools functions tests bench

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# --- environments ------------------------------------------------------------------------------

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# The SAM CLI pins older boto3 and pydantic than the functions use: it gets its own venv.
$(SAM_VENV)/.installed: requirements/sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/sam.txt
	@touch $@

# checkov pins dozens of packages (its own boto3 among them): it gets its own venv as well.
$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	@touch $@

tests/browser/node_modules/.installed: tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	@touch $@

# The official MCP clients (TypeScript SDK, Inspector CLI) that tests/integration/test_mcp_clients.py
# runs against the local API (docs/mcp.md). `npm install --no-save` installs the locked versions:
# `npm ci` refuses this lock because vite names an optional Windows-only package the registry
# mirror here does not serve (napi-windows-process-start-time).
tests/mcp/node_modules/.installed: tests/mcp/package.json tests/mcp/package-lock.json
	npm install --prefix tests/mcp --no-save --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create or refresh .venv with the pinned dependencies

# --- the two commands ----------------------------------------------------------------------------

.PHONY: dev
dev: $(VENV)/.installed ## Run every API locally on http://127.0.0.1:$${PORT:-3000} with embedded AWS
	$(BIN)/lucent dev

.PHONY: test
test: lint typecheck validate pytest bench-quick ## Everything CI runs: lint, types, template checks, tests, a quick bench

# --- steps ---------------------------------------------------------------------------------------

.PHONY: lint
lint: $(VENV)/.installed ## ruff lint and format check
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)

.PHONY: fmt
fmt: $(VENV)/.installed ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)

.PHONY: typecheck
typecheck: $(VENV)/.installed ## mypy (strict) over the layer, functions, tooling and bench
	$(BIN)/mypy

# checkov drops resources whose Condition is false with the parameters' defaults, so it reads the
# template a second time with CanaryEnabled's default turned to "true" to see the canary too.
CHECKOV_CANARY_TEMPLATE := .lucent/checkov/template-canary-on.yaml

.PHONY: validate
validate: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## cfn-lint, sam validate --lint and checkov on template.yaml
	$(BIN)/cfn-lint template.yaml
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --config-file .checkov.yaml -f template.yaml
	@mkdir -p $(dir $(CHECKOV_CANARY_TEMPLATE))
	sed '/^  CanaryEnabled:$$/,/^  [A-Za-z]/ s/Default: "false"/Default: "true"/' template.yaml > $(CHECKOV_CANARY_TEMPLATE)
	@! cmp -s template.yaml $(CHECKOV_CANARY_TEMPLATE) || { echo "error: CanaryEnabled's default not found in template.yaml" >&2; exit 1; }
	$(CHECKOV_VENV)/bin/checkov --quiet --config-file .checkov.yaml -f $(CHECKOV_CANARY_TEMPLATE)

# Browser tests need Debian's chromium and npm (.ci/run installs chromium; npm comes with node);
# the official JavaScript MCP clients need npm. Where one is missing its tests are left out with a
# notice, unless LUCENT_REQUIRE_BROWSER=1 (CI), where that is a failure: CI skips nothing.
.PHONY: pytest
pytest: $(VENV)/.installed ## Run the test suite
	@leave_out=""; \
	if ! command -v npm >/dev/null; then leave_out="not browser and not node"; \
	  echo "notice: npm not found: leaving out the browser and JavaScript-client tests" >&2; \
	elif ! [ -x "$(CHROMIUM)" ]; then leave_out="not browser"; \
	  echo "notice: $(CHROMIUM) not found: leaving out the browser tests" >&2; \
	  echo "notice: install Debian's chromium (apt-get install chromium) to run them" >&2; \
	fi; \
	if [ -n "$$leave_out" ] && [ "$${LUCENT_REQUIRE_BROWSER:-0}" = 1 ]; then \
	  echo "error: LUCENT_REQUIRE_BROWSER=1 but a tool the tests need is missing" >&2; exit 1; \
	fi; \
	if command -v npm >/dev/null; then $(MAKE) --no-print-directory tests/mcp/node_modules/.installed; fi; \
	if [ -z "$$leave_out" ]; then \
	  $(MAKE) --no-print-directory tests/browser/node_modules/.installed; \
	  $(BIN)/pytest $(PYTEST_ARGS); \
	else \
	  $(BIN)/pytest -m "$$leave_out" $(PYTEST_ARGS); \
	fi

# The functions run on python3.12 in Lambda (template.yaml); the tooling on 3.11+. pyenv keeps
# its interpreters off PATH unless selected, so look there first.
PY312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12))

.venv-py312/.installed: pyproject.toml
	@test -n "$(PY312)" || { echo "error: python3.12 (the Lambda runtime) not found" >&2; exit 1; }
	@test -x .venv-py312/bin/python || $(PY312) -m venv .venv-py312
	.venv-py312/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# By folder: tests/unit (the layer and the functions, in-process) and tests/integration (over
# sockets: moto's server, the local API). Only the browser tests stay on the tooling's Python.
.PHONY: test-py312
test-py312: .venv-py312/.installed ## The unit and integration tests again under python3.12 (Lambda's)
	.venv-py312/bin/pytest -q tests/unit tests/integration $(if $(shell command -v npm),,-m 'not node')

.PHONY: invoke
invoke: $(VENV)/.installed ## Run one function in-process on an event: make invoke FN=IngestFunction EVENT=events/...
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json" >&2; exit 2; }
	$(BIN)/lucent invoke $(FN) $(EVENT)

.PHONY: replay
replay: $(VENV)/.installed ## Replay events/ as HTTP requests against the local API (URL=... for another)
	$(BIN)/lucent replay $(if $(URL),--url $(URL),)

# Commit both outputs together: tests/unit/test_bench_report.py checks that they agree.
.PHONY: bench
bench: $(VENV)/.installed .venv-py312/.installed ## Measure speed, memory and accuracy; writes bench/results.json and docs/performance.md's results
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.report

# Every section on small samples (~15 s of CPU), writing nothing: a bench that measures nothing
# fails here, in `make test`, instead of in the next person's `make bench`.
.PHONY: bench-quick
bench-quick: $(VENV)/.installed $(if $(PY312),.venv-py312/.installed,) ## Every bench section on small samples; fails if one measures nothing
	$(BIN)/python -m bench.run --quick

# sam build runs without containers but needs the runtime's interpreter (python3.12) on PATH.
.PHONY: build
build: $(SAM_VENV)/.installed ## sam build (no containers; needs python3.12)
	PATH="$(if $(PY312),$(dir $(PY312)):,)$$PATH" $(SAM_VENV)/bin/sam build --template template.yaml

.PHONY: clean
clean: ## Remove virtualenvs, build output and local state
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .venv-py312 .aws-sam .lucent tests/browser/node_modules .mypy_cache .ruff_cache
