# office365_calendar_sync: developer and CI entry points.
#   make test   set up .venv, run the pure tests and (when an Odoo 18 server is found) the Odoo
#               tests, upgrade and uninstall checks; last line "N passed, N failed"
#   make lint   ruff (lint + format check) and pylint-odoo's mandatory checks, via pre-commit
#   make demo / bench / soak   run tools/demo.py, tools/bench.py, tools/soak.py (ARGS=...)
#   make bench-scale  cost per item from 100 to 20,000 items; charts in build/bench, docs/bench
#   make test-dates   the Odoo suite under several fixed "today" values (faketime)
#   make screenshots  the README's screenshots, taken by the browser tours (docs/screenshots)
#   make clean  remove build output and caches (make distclean also removes .venv)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.requirements-test.stamp
LINT_STAMP := $(VENV)/.requirements-lint.stamp

.PHONY: help test test-pure test-odoo test-dates screenshots lint format demo bench bench-scale soak clean distclean venv

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

# The virtual environment for the pure tests and the tools. On a bare Debian python3 the venv
# module may lack ensurepip: install python3-venv then (root only).
$(VPY):
	@echo "== creating $(VENV) with $(PYTHON)"
	@if ! $(PYTHON) -m venv $(VENV); then \
		rm -rf $(VENV); \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "== python3 -m venv failed: installing python3-venv from Debian"; \
			DEBIAN_FRONTEND=noninteractive apt-get update; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv; \
			$(PYTHON) -m venv $(VENV); \
		else \
			echo "!! $(PYTHON) -m venv failed: install your distribution's python3-venv" >&2; \
			exit 1; \
		fi; \
	fi

$(VENV_STAMP): $(VPY) requirements.txt requirements-test.txt
	@echo "== installing requirements-test.txt into $(VENV)"
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@

$(LINT_STAMP): $(VPY) requirements-lint.txt
	@echo "== installing requirements-lint.txt into $(VENV)"
	$(VPY) -m pip install --quiet --disable-pip-version-check -r requirements-lint.txt
	@touch $@

venv: $(VENV_STAMP)

test: $(VENV_STAMP)
	$(VPY) tools/run_tests.py

test-pure: $(VENV_STAMP)
	$(VPY) tools/run_tests.py --pure-only

test-odoo: $(VENV_STAMP)
	$(VPY) tools/run_tests.py --odoo-only

test-dates: $(VENV_STAMP)
	$(VPY) tools/test_dates.py $(ARGS)

# The browser tours (tests/test_tour.py) in headless Chromium, keeping the screenshots they take
# in docs/screenshots (other runs drop them).
screenshots: $(VENV_STAMP)
	O365_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(VPY) tools/run_tests.py --odoo-only \
		--test-tags /office365_calendar_sync:TestPreferencesTour

# Check only: never rewrites files. `make format` applies ruff's fixes and formatting.
lint: $(LINT_STAMP)
	$(VENV)/bin/pre-commit run --all-files

format: $(LINT_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: $(VENV_STAMP)
	$(VPY) tools/demo.py $(ARGS)

bench: $(VENV_STAMP)
	$(VPY) tools/bench.py $(ARGS)

# Not part of CI (the 20,000-item sizes take long): writes build/bench/*.png, copied to docs/bench.
bench-scale: $(VENV_STAMP)
	$(VPY) tools/bench_scale.py --docs docs/bench $(ARGS)

soak: $(VENV_STAMP)
	$(VPY) tools/soak.py $(ARGS)

clean:
	rm -rf build .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
