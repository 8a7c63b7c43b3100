# The two commands a newcomer runs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench lint clean system-deps

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/glassnet demo

# espeak-ng speaks the built-in speech data; installed where apt can, else its tests skip.
system-deps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	  command -v apt-get >/dev/null 2>&1 && \
	  ( $$SUDO apt-get install -y -qq espeak-ng >/dev/null 2>&1 || \
	    ( $$SUDO apt-get update -qq >/dev/null 2>&1 && \
	      $$SUDO apt-get install -y -qq espeak-ng >/dev/null 2>&1 ) ) || \
	  echo "note: espeak-ng could not be installed; the speech tests will be skipped" \
	       "(sudo apt-get install espeak-ng)"; }

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

test-all: $(STAMP) system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -m ''

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
