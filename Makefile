# charlm: `make report` sets everything up and produces the report; `make test` runs the tests
# (`make test-fast`: the unit tests only, without the notebook chain). All create .venv on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first, on its own: PyPI's build for this platform (CUDA on Linux x86_64).
# Users who already have a torch they like can point VENV at their environment.
TORCH ?= torch==2.13.0
PROFILE ?= auto
ARGS ?=

.PHONY: setup data report test test-fast lint lab bench clean-venv lock strip-filter

# What setup installs after torch: pyproject's ranges (the newest versions they allow), or with
# LOCK=1 the exact versions CI tests, from requirements-lock.txt (hashed; any platform, Python
# >= 3.10), and the project itself with --no-deps so that nothing moves. Switching needs a fresh .venv:
# make clean-venv setup LOCK=1. `make lock` rewrites the lock file.
LOCK ?=
LOCK_FILE := requirements-lock.txt
ifdef LOCK
INSTALL := $(PY) -m pip install -q -r $(LOCK_FILE) && $(PY) -m pip install -q --no-deps -e .
else
INSTALL := $(PY) -m pip install -q -e ".[dev,lab]"
endif

$(VENV)/.installed: pyproject.toml $(if $(LOCK),$(LOCK_FILE))
	$(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(INSTALL)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(MAKE) --no-print-directory strip-filter
	touch $@

# git's filter for the notebooks (.gitattributes): outputs stripped when staged, in a checkout
strip-filter:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.nbstripout.clean "$(abspath $(PY)) -m nbstripout --keep-id"; \
	  git config filter.nbstripout.smudge cat; \
	  git config diff.ipynb.textconv "$(abspath $(PY)) -m nbstripout --keep-id -t"; \
	fi

setup: $(VENV)/.installed

data: setup
	$(PY) -m charlm data

report: data
	$(PY) -m charlm report --profile $(PROFILE) $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

# the fast tier: every test not marked slow (the notebook chain, installs, Ray, training runs)
test-fast: setup
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: setup
	$(PY) -m ruff check charlm tests benchmarks notebooks .ci

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

bench: data
	$(PY) benchmarks/cpu.py $(ARGS)

clean-venv:
	rm -rf $(VENV)

# The lock file: every dependency of charlm and its extras (dev, lab, ray, tensorboard), hashed,
# for every platform and Python that pyproject claims (uv pip compile --universal), torch left
# out; versions already locked are kept (ARGS=--upgrade: the newest that fit). .ci/lock.py.
lock:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp"; \
	"$$tmp/bin/python" -m pip install -q uv tomli; \
	"$$tmp/bin/python" .ci/lock.py $(ARGS)
