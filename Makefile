# dnahlm-rag: two commands matter.
#   make demo   the main job end to end (creates .venv, fetches data, builds, answers, reports)
#   make test   the test suite
# Everything a fresh machine needs is installed from here; nothing relies on a hand install.

PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= cpu,dev
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU wheel of torch lies on this machine's disk; pip looks there first when the folder exists.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv system-deps demo test test-fast clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install -q $(FIND_LINKS) -e '.[$(EXTRAS)]'
	@touch $@

# ncbi-blast+ gives blastdbcmd (16S database -> FASTA) and the BLAST baselines.
# Installed when we are root and apt-get exists; otherwise the data build says what is missing.
system-deps:
	@if command -v blastdbcmd >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing ncbi-blast+ (Debian)"; \
	  (apt-get install -y -q ncbi-blast+ >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q ncbi-blast+ >/dev/null)) \
	    || echo "warning: could not install ncbi-blast+; 16S tasks and BLAST baselines will be skipped"; \
	else echo "note: ncbi-blast+ not found and not root; 16S tasks and BLAST baselines will be skipped"; fi

demo: venv system-deps
	$(BIN)/dnahlm demo

test: venv system-deps
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not realdata and not slow"

clean-venv:
	rm -rf $(VENV)
