# Two entry points, both doing all set-up on a fresh machine:
#   make train   train the paper's proposed 100-layer PlainNet on the embedded digits data
#   make test    lint + the test suite (what CI runs)
VENV ?= .venv
PY := $(VENV)/bin/python
# Datasets already converted to plainnet's cache format, beside the checkout (CI has them too).
export PLAINNET_DATA ?= $(abspath ../shared/data)

.PHONY: train test bench keras clean

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

train: $(VENV)/.installed
	$(VENV)/bin/plainnet train

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

# Speed: plainnet train with its defaults against the loop a user writes (docs/performance.md).
bench: $(VENV)/.installed
	$(PY) benchmarks/bench_defaults.py

keras: .venv-keras/.installed

.venv-keras/.installed: benchmarks/keras-requirements.txt
	python3 -m venv .venv-keras
	.venv-keras/bin/python -m pip install --quiet -r benchmarks/keras-requirements.txt
	touch $@

clean:
	rm -rf $(VENV) .venv-keras runs .pytest_cache .ruff_cache
