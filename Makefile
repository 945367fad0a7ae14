# convrec: two set-up commands. `make run` starts the main job, `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt 2>/dev/null | cksum | cut -d' ' -f1)
export CONVREC_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: run test test-fast test-slow test-durations lint bench install clean sysdeps

# --no-compile: byte-compiling every installed module (torch, pyspark, transformers...) is left
# to the imports that need it; a fresh install took 224 s compiling (after a pip upgrade), 124 s
# with neither (benchmarks/RESULTS.md)
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet --no-compile -c constraints.txt -e '.[test,bench,docs,spark]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# `make run` installs only what the studio needs (no test, bench, docs or Spark extras)
RUN_STAMP := $(VENV)/.runtime-$(shell cat pyproject.toml constraints.txt 2>/dev/null | cksum | cut -d' ' -f1)
$(RUN_STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -f $(STAMP) || { $(PIP) install --quiet --upgrade pip && $(PIP) install --quiet -c constraints.txt -e . ; }
	rm -f $(VENV)/.runtime-* && touch $(RUN_STAMP)

# bytecode written even where PYTHONDONTWRITEBYTECODE is set (as the tests do): a later start
# reads it instead of compiling every module again (3.9 s against 1.5 s, benchmarks/RESULTS.md)
run: $(RUN_STAMP)
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/convrec studio

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# the studio's browser tests drive Debian's chromium (never a downloaded browser build)
sysdeps:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }

# pytest-xdist: one worker more than the CPUs (at most 4), a test file per worker at a time (so
# that a file's module fixtures are built once; an `xdist_group` for long independent tests), the
# longest first by tests/durations.json (tests/scheduling.py); tests/conftest.py gives each worker
# its share of the threads and its own PostgreSQL database. The extra worker fills the cores while
# the others wait on a notebook kernel, a JVM, a browser or a server (2 cores: 3 workers took the
# suite from 258 to 219 s, benchmarks/RESULTS.md). PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n + 1 : 4 )))
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --maxprocesses 4 --dist loadgroup

# everything CI needs: lint and every test (the slow ones too: the tutorials, the docs build).
# mypy (about 90 s on a fresh clone, one core) checks beside the tests; either failing fails.
# The tests write bytecode even where PYTHONDONTWRITEBYTECODE is set: the install compiles
# nothing, so each of their processes would otherwise compile torch & co. again from source.
# scripts/warm_caches.py writes that bytecode and the numba kernels' cache once, beside mypy,
# before the workers start (each worker compiled the same ~50 s of kernels for itself).
test: $(STAMP) sysdeps
	$(VENV)/bin/ruff check src tests benchmarks
	log=$$(mktemp); $(VENV)/bin/mypy >"$$log" 2>&1 & mypy=$$!; \
	PYTHONDONTWRITEBYTECODE= $(PY) scripts/warm_caches.py || echo "warm caches failed: each test process compiles for itself"; \
	tests=0; PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -q $(PYTEST_PARALLEL) || tests=$$?; \
	typed=0; wait $$mypy || typed=$$?; echo "== mypy"; cat "$$log"; rm -f "$$log"; \
	test $$tests -eq 0 && test $$typed -eq 0

# the edit loop: no slow test, no browser
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q $(PYTEST_PARALLEL) -m 'not slow and not browser'

test-slow: $(STAMP)
	$(VENV)/bin/pytest -q $(PYTEST_PARALLEL) -m slow

# every test's seconds into tests/durations.json, which deals the longest first: commit it when
# tests were added or got much longer or shorter
test-durations: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(VENV)/bin/pytest -q $(PYTEST_PARALLEL) --record-durations

bench: $(STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# the tutorials re-executed with fixed seeds and stored with their outputs
.PHONY: notebooks
notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py

# the documentation site, built strictly into build/site/, the tutorials shown as stored
.PHONY: docs
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
