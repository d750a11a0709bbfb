"""Tiny fixtures for the retrieval / chain / CLI tests: a 2-layer GPT-2, segments, task files.

The model is random-init (it tests plumbing, not learning): 2 layers x 32 wide, context 512, a
ByteLevel BPE tokenizer (vocab 300) trained here on DNA and English with the project's special
tokens ``<|endoftext|>`` (bos/eos) and ``<|pad|>`` (pad), saved with ``save_pretrained``.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

PRODUCTS = ["DNA polymerase III subunit alpha", "elongation factor Tu", "50S ribosomal protein L2",
            "tRNA-Ala", "16S ribosomal RNA", "ATP synthase subunit beta"]
TYPES = ["CDS", "CDS", "CDS", "tRNA", "rRNA", "CDS"]


def make_tiny_model(folder: Path, context: int = 512, seed: int = 0) -> Path:
    """Train a small byte-level BPE and save a random-init GPT-2 with it into ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    rng = random.Random(seed)
    corpus = ["".join(rng.choice("ACGT") for _ in range(200)) for _ in range(50)]
    corpus += ["### Instruction: What is the product of this gene? ### Input: ### Response:"] * 5
    corpus += [p for p in PRODUCTS] * 3
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>", pad_token="<|pad|>")
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(fast), n_positions=context, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                     pad_token_id=fast.pad_token_id)
    model = GPT2LMHeadModel(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def random_dna(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def mutate(rng: random.Random, seq: str, rate: float) -> str:
    return "".join(rng.choice("ACGT") if rng.random() < rate else b for b in seq)


def make_segments(path: Path, n: int = 40, seed: int = 0) -> list[dict]:
    """Write a tiny ``segments.jsonl`` (architecture contract) with train/valid/test splits."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = i % len(PRODUCTS)
        start = 100 * i
        seq = random_dna(rng, rng.randint(150, 400))
        split = "train" if i % 5 < 3 else ("valid" if i % 5 == 3 else "test")
        rows.append({
            "id": f"NC_TEST.1:{TYPES[t]}:{start}-{start + len(seq)}:{'+' if i % 2 else '-'}",
            "organism": f"Testus organism{i % 4}", "accession": "NC_TEST.1", "type": TYPES[t],
            "start": start, "end": start + len(seq), "strand": 1 if i % 2 else -1,
            "gene": f"gen{i}", "product": PRODUCTS[t],
            "description": f"{TYPES[t]} gen{i} of Testus organism{i % 4}: {PRODUCTS[t]}.",
            "seq": seq, "split": split,
        })
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


_CODONS = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG", "TGA")]


def random_cds(rng: random.Random, codons: int) -> str:
    """ATG + stop-free random codons + TAA: one complete ORF on the + strand."""
    return "ATG" + "".join(rng.choice(_CODONS) for _ in range(codons)) + "TAA"


def make_coding_segments(path: Path, seed: int = 0) -> list[dict]:
    """The tiny fixture's segments with every CDS replaced by a real open reading frame and every
    other segment made non-coding (``CTAG`` repeats put a stop in all six frames every 72 nt)."""
    rows = make_segments(path)
    rng = random.Random(seed)
    for r in rows:
        if r["type"] == "CDS":
            r["seq"] = random_cds(rng, rng.randint(60, 120))
        else:
            r["seq"] = "".join("".join(rng.choice("ACGT") for _ in range(60)) + "CTAGCTAGCTAG" for _ in range(4))
        r["end"] = r["start"] + len(r["seq"])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def make_task(data: Path, name: str = "feature_type", n: int = 30, seed: int = 1) -> dict:
    """Write ``data/tasks/<name>/`` with a classification task whose labels are the segment types."""
    rng = random.Random(seed)
    labels = ["CDS", "tRNA", "rRNA"]
    d = data / "tasks" / name
    d.mkdir(parents=True, exist_ok=True)
    task = {"name": name, "kind": "classification", "labels": labels,
            "question": "What type of feature is this sequence?", "description": "test task",
            "split_policy": "random", "counts": {}}
    for split, m in (("train", n), ("valid", 5), ("test", 5)):
        rows = [{"id": f"{split}{i}", "seq": random_dna(rng, 80), "label": labels[i % 3],
                 "organism": "Testus"} for i in range(m)]
        (d / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        task["counts"][split] = m
    (d / "task.json").write_text(json.dumps(task))
    return task


_CACHE: dict[str, Path] = {}


def session_tmpdir(prefix: str) -> Path:
    """A temporary folder for module-level fixtures (LangChain's standard tests need a path at
    import), removed when the test process exits; pytest's ``tmp_path`` cannot be used there."""
    import atexit
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, d, True)
    return d


def cached_tiny_model() -> Path:
    """One tiny model per test session (in a temporary folder removed at exit)."""
    if "model" not in _CACHE:
        _CACHE["model"] = make_tiny_model(session_tmpdir("dnahlm-tiny-") / "model")
    return _CACHE["model"]


def build_small_index(root: Path, embedder: str = "kmer", kind: str = "flat", n: int = 40,
                      task: str | None = None, model_dir: Path | None = None, name: str = "idx") -> Path:
    """Segments (or a task) under ``root/data`` and an index of their train split in ``root/indexes/name``."""
    from dnahlm_rag.index import IndexConfig, build_index, load_records

    data = root / "data"
    if not (data / "segments.jsonl").exists():
        make_segments(data / "segments.jsonl", n=n)
    if task and not (data / "tasks" / task).exists():
        make_task(data, task)
    cfg = IndexConfig(embedder=embedder)
    cfg.faiss.kind = kind
    docs, source = load_records(data, task=task, splits=["train"])
    out = root / "indexes" / name
    build_index(docs, out, cfg, source, model_dir=model_dir, show_progress=False)
    return out
