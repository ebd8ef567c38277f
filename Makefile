# mlsteward: `make demo` runs the platform on this machine; `make test` runs every check.
#
# Both targets create .venv when it is missing and install the package into it in editable
# mode; a stamp file per extra skips the reinstall until pyproject.toml changes.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
MLSTEWARD := $(BIN)/mlsteward
DEMO_HOST := 127.0.0.1
DEMO_PORT ?= 8470
DEMO_URL := http://$(DEMO_HOST):$(DEMO_PORT)
# apt-get needs root: use sudo unless we are root already.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help demo test lint

help:
	@echo "make demo   install mlsteward[server,sklearn,pandas,data] into $(VENV), create the"
	@echo "            database and an administrator 'admin' (password printed once), run the"
	@echo "            fraud-detection loop (mlsteward demo fraud), serve $(DEMO_URL)"
	@echo "make test   install mlsteward[dev] into $(VENV) (and Chromium if missing), then"
	@echo "            ruff check, ruff format --check, mypy and pytest"
	@echo "make lint   ruff and mypy only"

# A current pip: the one bundled with older Pythons fails to resolve the [dev] extras.
$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip

# [dev] includes [server], so a current dev install satisfies the demo too.
$(VENV)/.installed-server: pyproject.toml | $(BIN)/python
	@if [ $(VENV)/.installed-dev -nt pyproject.toml ]; then :; else \
		echo "==> installing mlsteward[server] into $(VENV)"; \
		$(PIP) install -q -e '.[server]'; \
	fi
	@touch $@

# [dev] includes [torch]: PyTorch's CPU build goes in first, by exact version (this
# machine kind keeps that file on disk), so the range in [torch] is already satisfied and pip
# never fetches a multi-GB CUDA build.
TORCH_CPU := torch==2.13.0
# pytest processes: one per core (a test module stays in one process, so its module-scoped
# servers and Spark sessions start once).
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@echo "==> installing $(TORCH_CPU) and mlsteward[dev] into $(VENV)"
	@$(PIP) install -q '$(TORCH_CPU)'
	@$(PIP) install -q -e '.[dev]'
	@touch $@

# The browser tests drive Debian's Chromium through Playwright.
/usr/bin/chromium:
	@echo "==> installing chromium (for the browser tests)"
	@$(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends chromium \
	|| { $(SUDO) apt-get update \
		&& $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends chromium; }

# The demo trains scikit-learn models on pandas frames and profiles them: [server] plus the
# [sklearn,pandas,data] extras (a current dev install has them all).
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	@if [ $(VENV)/.installed-dev -nt pyproject.toml ]; then :; else \
		echo "==> installing mlsteward[server,sklearn,pandas,data] into $(VENV)"; \
		$(PIP) install -q -e '.[server,sklearn,pandas,data]'; \
	fi
	@touch $@

# small: 6,000 training rows and one model kind; full: 20,000 rows and three kinds.
DEMO_ROWS ?= full

# The fraud loop runs before the server starts, so its timeline comes first and the login
# banner last; a failed loop is reported and the platform is served anyway.
demo: $(VENV)/.installed-demo
	@$(MLSTEWARD) db upgrade
	@password="$$($(MLSTEWARD) users create-admin admin --if-no-admin)" || exit 1; \
	$(MLSTEWARD) demo fraud --rows $(DEMO_ROWS) --no-keep-running \
		|| echo "==> the fraud demo failed (see above); serving the platform anyway"; \
	if [ -n "$$password" ]; then \
		echo; \
		echo "  ============================================================"; \
		echo "   mlsteward demo: $(DEMO_URL)"; \
		echo "   administrator:  admin"; \
		echo "   password:       $$password"; \
		echo "   (shown only this once: store it now)"; \
		echo "   the fraud loop: project 'fraud' in the web UI"; \
		echo "  ============================================================"; \
		echo; \
	else \
		echo "==> an administrator exists already: log in at $(DEMO_URL)/login with its"; \
		echo "    password (to set a new one: $(MLSTEWARD) users set-password admin)"; \
		echo "    the fraud loop: project 'fraud' in the web UI"; \
	fi
	@$(MLSTEWARD) server --host $(DEMO_HOST) --port $(DEMO_PORT) --auth-mode required

LINT := echo "==> ruff check" && $(BIN)/ruff check \
	&& echo "==> ruff format --check" && $(BIN)/ruff format --check \
	&& echo "==> mypy" && $(BIN)/mypy

lint: $(VENV)/.installed-dev
	@$(LINT)

test: $(VENV)/.installed-dev /usr/bin/chromium
	@$(LINT)
	@echo "==> pytest" && $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile
