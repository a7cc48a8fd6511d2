# Everything a fresh clone needs, in one place: `make translate`, `make test`.
PYTHON ?= python3
VENV ?= .venv
# A pinned torch: on machines that carry a local CPU build of 2.13.0 pip takes it in
# seconds, where an unpinned torch would pull several GB of CUDA packages.
# Elsewhere, override it: make test TORCH='torch' (or a CUDA build of your choice).
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup translate test clean

$(BIN)/.ja2en-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,formats]"
	touch $@

# The tests also cover --engine ray, so they need the ray extra; `make translate` does not.
$(BIN)/.ja2en-ray-installed: $(BIN)/.ja2en-installed
	$(BIN)/python -m pip install --quiet -e ".[test,formats,ray]"
	touch $@

setup: $(BIN)/.ja2en-installed

translate: setup
	$(BIN)/ja2en translate seeds/

test: setup $(BIN)/.ja2en-ray-installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
