# charlm: `make report` sets everything up and produces the report; `make test` runs the tests.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first, on its own: PyPI's build for this platform (CUDA on Linux x86_64).
# Users who already have a torch they like can point VENV at their environment.
TORCH ?= torch==2.13.0
PROFILE ?= auto
ARGS ?=

.PHONY: setup data report test lint lab bench clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m charlm data

report: data
	$(PY) -m charlm report --profile $(PROFILE) $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

lint: setup
	$(PY) -m ruff check charlm tests benchmarks

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

bench: data
	$(PY) benchmarks/cpu.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
