# Two commands on a fresh machine: `make demo` (the main job) and `make test` (everything).
# Both create .venv when it is missing and install llmkit with its dev extras into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.llmkit-installed
PYTEST_ARGS ?=
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: install demo test lint types pytest cassettes bench clean notebooks

# A path-based editable install (editable_mode=compat): mypy and pyright can then see llmkit
# from a script anywhere, which setuptools' default import-hook install hides from them.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' \
	  --config-settings editable_mode=compat
	@# JupyterLab in this venv opens the py:percent notebooks as notebooks on double-click
	$(VENV)/bin/jupytext-config --settings-file $(LAB_SETTINGS) set-default-viewer python
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m llmkit demo

lint: $(STAMP)
	$(VENV)/bin/ruff check llmkit tests benchmarks notebooks
	$(VENV)/bin/ruff format --check llmkit tests benchmarks notebooks

types: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint types pytest

cassettes: $(STAMP)
	$(PY) -m llmkit record --all

bench: $(STAMP)
	$(PY) benchmarks/overhead.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
