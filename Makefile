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

.PHONY: venv system-deps demo demo-run test test-fast clean-venv

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

# ---- the demo: each stage is a file target, so a second `make demo` redoes only what is missing.
# Released weights (models/released/, `dnahlm release`) are used when `dnahlm release check` passes
# against the data just built: same data, files intact. Otherwise (or with USE_RELEASED=0) the
# tokenizer and the cpu recipes train here, about 25 minutes more.
DNAHLM := $(BIN)/dnahlm
THREADS ?= 2
USE_RELEASED ?= auto
DATA_RECIPE ?= default
# Sized so `make demo` stays near 20 minutes on 2 cores with released weights; `make demo EVAL_KS=1,3,5`
# adds the neighbour-count sweep (about 1.5 min more), KMER_WINDOWS=1000 narrows the next-k-mer intervals.
EVAL_ITEMS ?= 100
# Tasks scored on their whole test split instead of the sample: the closed tasks whose split a
# 2-core machine scores in about two minutes (splice 627 items, 3 labels; feature_type 715, 4
# labels; trna_aa and promoter are whole at 100 anyway). genus_16s (2,460 items x 40 labels, about
# 50 minutes) and product (free generation) keep the sample. Empty: every task gets EVAL_ITEMS.
EVAL_TASK_ITEMS ?= splice=0,feature_type=0
EVAL_KS ?= 3
KMER_WINDOWS ?= 300
ifeq ($(USE_RELEASED),1)
BASE_MODEL := models/released/base
SFT_MODEL := models/released/sft
MIX_DEPS := $(SFT_MODEL)/config.json
else
BASE_MODEL := runs/pretrain/cpu/final
# Tuned with neighbours in 80% of the prompts: its RAG answers beat the 50%-tuned model's on
# splice, trna_aa and genus_16s (docs/results.md).
SFT_MODEL := runs/sft/cpu-rag/final
# refitted when the mixing code changes (a table of another format is refused on load)
MIX_DEPS := $(SFT_MODEL)/config.json dnahlm_rag/retrieval_mix.py
endif
# Task indexes for `batch --task T`; feature_type and product need none: batch retrieves their train
# rows through the finder tuning and eval use (protein evidence; dnahlm_rag.task_retriever).
INDEXED_TASKS := splice promoter trna_aa genus_16s
TASK_INDEXES := $(foreach t,$(INDEXED_TASKS),indexes/$(t)/manifest.json)

demo: venv system-deps data/manifest.json
	@built=$$($(BIN)/python -c "import json; print(json.load(open('data/manifest.json'))['recipe_name'])" 2>/dev/null || echo '(unreadable: data/manifest.json)'); \
	if [ "$$built" != "$(DATA_RECIPE)" ]; then \
	  echo "error: data/ was built with the data recipe '$$built', not DATA_RECIPE=$(DATA_RECIPE): use another workspace (a fresh clone), or remove data/, runs/, indexes/ and reports/ first"; exit 2; fi
	@use=$(USE_RELEASED); \
	if [ "$$use" = auto ]; then \
	  if $(DNAHLM) release check --soft; then use=1; else use=0; echo "== training the tokenizer and the cpu recipes here"; fi; \
	fi; \
	$(MAKE) --no-print-directory demo-run USE_RELEASED=$$use

demo-run: $(SFT_MODEL)/config.json $(SFT_MODEL)/retrieval_mix.json indexes/segments/manifest.json indexes/proteins/manifest.json $(TASK_INDEXES)
	@echo "== five example questions on held-out sequences (model $(SFT_MODEL))"
	$(DNAHLM) examples --model $(SFT_MODEL)
	@echo "== evaluation: RAG vs plain vs baselines on the test splits ($(EVAL_ITEMS) items per task; per task, 0 = all: $(EVAL_TASK_ITEMS))"
	$(DNAHLM) eval --max-items $(EVAL_ITEMS) --task-items "$(EVAL_TASK_ITEMS)" --ks $(EVAL_KS) --base-model $(BASE_MODEL) --sft-model $(SFT_MODEL) --threads $(THREADS) --out reports/eval
	$(DNAHLM) bench next-kmer --model $(BASE_MODEL) --n $(KMER_WINDOWS) --out reports/bench --threads $(THREADS)
	@echo "== done: reports/eval/report.md (evaluation), reports/examples.md (answers), reports/bench/ (next-k-mer)"

# DATA_RECIPE=other-organisms holds out other test species (recipes/data/); `demo` refuses a data/
# built with another recipe (everything downstream was made from it).
data/manifest.json: | $(STAMP)
	$(DNAHLM) data fetch --recipe $(DATA_RECIPE)
	$(DNAHLM) data build --recipe $(DATA_RECIPE)

runs/tokenizer/manifest.json: data/manifest.json
	$(DNAHLM) tokenizer train

runs/pretrain/cpu/final/config.json: runs/tokenizer/manifest.json
	$(DNAHLM) pretrain --recipe cpu --threads $(THREADS) $$(test -d runs/pretrain/cpu/checkpoint && echo --resume)

# The tuning prompts carry retrieved neighbours, so they are rebuilt (and the model retuned) when the
# code that finds them changes, or the task phrasings, prompt templates and recipe they are written with.
NEIGHBOUR_CODE := dnahlm_rag/instruct.py dnahlm_rag/embed/site.py dnahlm_rag/embed/trna.py \
  dnahlm_rag/protein_neighbours.py dnahlm_rag/protein_words.py dnahlm_rag/coding_neighbours.py \
  dnahlm_rag/orfs.py dnahlm_rag/protein_rerank.py dnahlm_rag/wording_noise.py \
  dnahlm_rag/relabel.py
PROMPT_FILES := $(wildcard prompts/tasks/*.toml prompts/*.txt)
runs/instruct-rag/manifest.json: data/manifest.json $(NEIGHBOUR_CODE) $(PROMPT_FILES) recipes/instruct/rag-heavy.toml
	$(DNAHLM) instruct build --recipe rag-heavy --out runs/instruct-rag

# A killed run resumes; a run tuned on older prompts, an older base or an older recipe is moved to
# runs/sft/cpu-rag.old and tuning starts again, since resuming it would be refused.
SFT_INPUTS := runs/pretrain/cpu/final/config.json runs/instruct-rag/manifest.json recipes/sft/cpu-rag.toml
runs/sft/cpu-rag/final/config.json: $(SFT_INPUTS)
	@ck=runs/sft/cpu-rag/checkpoint/state.json; \
	if [ -f $$ck ] && for f in $(SFT_INPUTS); do [ $$f -nt $$ck ] && break; done; then \
	  echo "== the tuning data, base model or recipe changed since runs/sft/cpu-rag: moved to runs/sft/cpu-rag.old, tuning again"; \
	  rm -rf runs/sft/cpu-rag.old && mv runs/sft/cpu-rag runs/sft/cpu-rag.old; fi
	$(DNAHLM) sft --recipe cpu-rag --instruct runs/instruct-rag --out runs/sft/cpu-rag --threads $(THREADS) \
	  $$(test -d runs/sft/cpu-rag/checkpoint && echo --resume)

indexes/segments/manifest.json: data/manifest.json
	$(DNAHLM) index build --name segments

# The weight of the neighbours' answers in RAG decoding, fitted on the valid splits (about 2-4 min).
$(SFT_MODEL)/retrieval_mix.json: $(MIX_DEPS)
	$(DNAHLM) mix fit --model $(SFT_MODEL) --threads $(THREADS) --quiet

# Protein-level index (translated train CDS, about 10 s): ask/batch fuse it with indexes/segments.
indexes/proteins/manifest.json: data/manifest.json dnahlm_rag/protein_words.py dnahlm_rag/protein_embed.py
	$(DNAHLM) index build --embedder protein --name proteins

# splice items are windows centred on the junction: its index compares them base by base (site
# embedder), as its tuning and evaluation neighbours do; the other task indexes use k-mer profiles.
# Rebuilt when the site embedder changes (a stale one is refused on load).
indexes/splice/manifest.json: data/manifest.json dnahlm_rag/embed/site.py
	$(DNAHLM) index build --task splice --embedder site

# trna_aa items are tRNA genes: its index compares their anticodons (and the amino acid each decodes) first.
indexes/trna_aa/manifest.json: data/manifest.json dnahlm_rag/embed/trna.py
	$(DNAHLM) index build --task trna_aa --embedder trna

indexes/%/manifest.json: data/manifest.json
	$(DNAHLM) index build --task $* --embedder kmer

test: venv system-deps
	$(BIN)/python -m pytest -q

test-fast: venv
	$(BIN)/python -m pytest -q -m "not realdata and not slow"

clean-venv:
	rm -rf $(VENV)
