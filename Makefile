# The course's commands. Each target creates and uses the virtual environment in
# .venv (Python 3.11), so a fresh clone needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test test-fast fixtures release check clean-demo

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -e .
	touch $@

## demo: generate the release, grade the demo class with nbgrader, print the grades
demo: $(VENV)/.installed
	$(PY) -m mlpcourse demo

## test: the whole test suite (what CI runs)
test: $(VENV)/.installed
	$(PY) -m pytest

## test-fast: the suite without the whole-notebook runs
test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow"

## fixtures: recompute the test fixtures from the master notebook
fixtures: $(VENV)/.installed
	$(PY) -m mlpcourse fixtures

## release: regenerate release/ with nbgrader generate_assignment
release: $(VENV)/.installed
	$(PY) -m mlpcourse release

## check: fail if fixtures or release/ are stale
check: $(VENV)/.installed
	$(PY) -m mlpcourse fixtures --check
	$(PY) -m mlpcourse release --check

## clean-demo: remove nbgrader's working state from the repository
clean-demo:
	rm -rf submitted feedback gradebook.db grades.csv .nbgrader.log
	find autograded -mindepth 1 ! -name README.md -exec rm -rf {} +
