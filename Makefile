# The course's commands. Each target creates and uses the virtual environment in
# .venv (Python 3.11), so a fresh clone needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
# The environment's programs (nbgrader, alembic, jupyter) first; VENV may be relative or absolute.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo test test-fast fixtures release check clean-demo kill-matrix kill-matrix-golden report bench

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -e .
	touch $@

## demo: fill the dataset cache, generate the release, grade the demo class with nbgrader, print the grades
## (COURSE_DIR=path grades in a scratch copy of the course instead of this folder)
COURSE_DIR ?= .
demo: $(VENV)/.installed
	$(PY) -m mlpcourse demo --course-dir $(COURSE_DIR)

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

## kill-matrix: grade the catalogue of bugs and correct variants, write build/kill-matrix/,
## fail if a bug survives, a correct variant loses points, or the golden file differs
kill-matrix: $(VENV)/.installed
	$(PY) -m mlpcourse kill-matrix

## kill-matrix-golden: after reviewing the changes, accept the new kill matrix as the golden
kill-matrix-golden: $(VENV)/.installed
	$(PY) -m mlpcourse kill-matrix --update-golden

## report: after grading, write cell_grades.csv and the class report (build/report/asg01/index.html)
report: $(VENV)/.installed
	$(PY) -m mlpcourse export-cells --course-dir $(COURSE_DIR)
	$(PY) -m mlpcourse report --course-dir $(COURSE_DIR)

## bench: time a training epoch (reference vs PyTorch, scikit-learn, matmul floor) and grading
## (benchmarks/results/*.json, then `python docs/figures.py --write` shows them in docs/benchmarks.md);
## OpenBLAS's core-type override is lifted for the epoch timing only
bench: $(VENV)/.installed
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/epoch.py
	$(PY) benchmarks/grading.py --students 12 --dask-students 6 --rounds 3

## check: fail if fixtures or release/ are stale
check: $(VENV)/.installed
	$(PY) -m mlpcourse fixtures --check
	$(PY) -m mlpcourse release --check

## clean-demo: remove nbgrader's working state from the repository
clean-demo:
	rm -rf submitted feedback gradebook.db grades.csv .nbgrader.log
	find autograded -mindepth 1 ! -name README.md -exec rm -rf {} +
