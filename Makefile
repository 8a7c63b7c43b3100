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

# espeak-ng speaks the built-in speech data; Chromium runs the lab's browser tests.
# Installed where apt can, else those tests skip and say why.
SYSTEM_PACKAGES := espeak-ng:espeak-ng chromium:chromium
system-deps:
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
	for pair in $(SYSTEM_PACKAGES); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 && continue; \
	  command -v apt-get >/dev/null 2>&1 && \
	  ( $$SUDO apt-get install -y -qq $$pkg >/dev/null 2>&1 || \
	    ( $$SUDO apt-get update -qq >/dev/null 2>&1 && \
	      $$SUDO apt-get install -y -qq $$pkg >/dev/null 2>&1 ) ) || \
	  echo "note: $$pkg could not be installed; the tests that need it will be skipped" \
	       "(sudo apt-get install $$pkg)"; \
	done

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
