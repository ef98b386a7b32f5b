# Two commands do all set-up on a fresh machine: `make run` and `make test` (README.md).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared

.PHONY: run demo test install install-dev system-deps bench clean

# Runtime only: no torch (DESIGN.md). Re-runs when pyproject.toml changes.
$(VENV)/.runtime: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

# Everything: training (torch pinned to the local CPU build) and test tools.
$(VENV)/.dev: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[train,dev]'
	touch $(VENV)/.runtime $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# Debian packages the project needs (a CJK font for synthetic fly-posters); installed once, as root.
system-deps:
	@bash scripts/system-deps.sh

# The service on 127.0.0.1:8000: SQLite under var/, the newest model in models/, the sample city.
run: $(VENV)/.runtime
	$(BIN)/citypatrol serve --host 127.0.0.1 --port 8000

# In a second terminal while `make run` serves: cameras post frames, violations appear.
demo: $(VENV)/.runtime
	$(BIN)/citypatrol demo --url http://127.0.0.1:8000

test: $(VENV)/.dev system-deps
	$(BIN)/python -m pytest -q

bench: $(VENV)/.dev
	$(BIN)/python bench/detector.py

clean:
	rm -rf $(VENV) var
