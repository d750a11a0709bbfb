"""Fixtures for the instruction-tuning tests (not a test module): real-sequence tasks and a tiny base model.

Tasks are cut from the phage lambda genome (tests/fixtures/lambda_virus.fa), so a learning test
sees real sequence: ``gc`` (closed: is a 60-nt window's GC content above the genome median),
``half`` (closed, held out of training entirely: which half of the genome the window is from) and
``nextb`` (open text: the 4 bases after a 40-nt window). The base model is a freshly initialised
2 x 32 GPT-2 (context 256) with a 512-token byte-level BPE trained here with the project's
tokenizer code, saved as a ``final/`` folder by the project's checkpoint code.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from dnahlm_rag.manifest import write_manifest

from pretrain_fixtures import go_definitions, lambda_genome, pieces

TASK_TOMLS = {
    "gc": '''task = "gc"
version = 1
answer = "labels"
train = true

[[phrasings]]
id = "task"
text = "{question}"

[[phrasings]]
id = "rich"
text = "Is this {length}-nt window GC-rich or AT-rich? Answer {labels}."

[[phrasings]]
id = "content"
text = "Classify the base composition of this DNA: {labels}."

[[phrasings]]
id = "unseen"
text = "GC or AT rich?"
held_out = true
''',
    "half": '''task = "half"
version = 1
answer = "labels"
train = false

[[phrasings]]
id = "task"
text = "{question}"

[[phrasings]]
id = "which"
text = "From which half of the genome is this window? Answer {labels}."
''',
    "nextb": '''task = "nextb"
version = 1
answer = "text"
train = true

[[phrasings]]
id = "task"
text = "{question}"

[[phrasings]]
id = "continue"
text = "Continue this sequence by 4 bases."

[[phrasings]]
id = "unseen"
text = "Next four bases?"
held_out = true
''',
}


def _gc(s: str) -> float:
    return (s.count("G") + s.count("C")) / max(len(s), 1)


def make_task_data(root: Path, n_train: int = 120, seed: int = 0) -> Path:
    """``root/data`` (manifest, tasks gc/half/nextb with train/valid/test) and ``root/task_prompts/*.toml``."""
    g = lambda_genome()
    rng = random.Random(seed)
    data = root / "data"
    starts = rng.sample(range(0, len(g) - 100), 3 * n_train)
    windows = [(s, g[s:s + 60]) for s in starts]
    median = sorted(_gc(w) for _, w in windows)[len(windows) // 2]
    specs = {
        "gc": ("classification", ["GC-rich", "AT-rich"], "Is this sequence GC-rich or AT-rich?",
               [(f"gc{s}", w, "GC-rich" if _gc(w) > median else "AT-rich") for s, w in windows]),
        "half": ("classification", ["left", "right"], "Which half of the lambda genome is this window from?",
                 [(f"half{s}", w, "left" if s < len(g) // 2 else "right") for s, w in windows]),
        "nextb": ("generation", None, "What are the next 4 bases?",
                  [(f"nx{s}", g[s:s + 40], g[s + 40:s + 44]) for s, _ in windows]),
    }
    for name, (kind, labels, question, rows) in specs.items():
        d = data / "tasks" / name
        d.mkdir(parents=True, exist_ok=True)
        splits = {"train": rows[:n_train], "valid": rows[n_train:n_train + 30], "test": rows[n_train + 30:n_train + 60]}
        spec = {"name": name, "kind": kind, "question": question, "description": "lambda fixture",
                "split_policy": "random", "counts": {k: len(v) for k, v in splits.items()}}
        if labels:
            spec["labels"] = labels
        (d / "task.json").write_text(json.dumps(spec))
        for split, rs in splits.items():
            (d / f"{split}.jsonl").write_text("".join(json.dumps({"id": i, "seq": s, "label": lab}) + "\n" for i, s, lab in rs))
    write_manifest(data, "data", 1, note="sft test fixture (lambda phage windows)")
    tp = root / "task_prompts"
    tp.mkdir(parents=True, exist_ok=True)
    for name, text in TASK_TOMLS.items():
        (tp / f"{name}.toml").write_text(text)
    return data


def make_base_model(root: Path, n_ctx: int = 256) -> Path:
    """A ``final/``-style folder: tokenizer (512 tokens) + random-init 2 x 32 GPT-2 + dnahlm.json."""
    from dnahlm_rag.atomic import sha256_file
    from dnahlm_rag.checkpoint import save_final
    from dnahlm_rag.model import ModelConfig, build_model
    from dnahlm_rag.tokenizer import TokenizerRecipe, load_tokenizer, save_tokenizer, train_bpe

    tok_dir = root / "tokenizer"
    tok_dir.mkdir(parents=True, exist_ok=True)
    texts = pieces(lambda_genome(), 300, 1500, 0) + go_definitions()
    texts += ["### Instruction:\nIs this sequence GC-rich or AT-rich?\n\n### Input:\nACGT\n\n### Response:\nGC-rich"] * 20
    save_tokenizer(train_bpe(texts, TokenizerRecipe(vocab_size=512)), tok_dir)
    tok = load_tokenizer(tok_dir, check_manifest=False)
    model = build_model(ModelConfig(n_layer=2, n_embd=32, n_head=2, n_ctx=n_ctx), tok, seed=0)
    out = root / "base"
    save_final(out, model, tok_dir, {"recipe_name": "fixture", "tokenizer_sha256": sha256_file(tok_dir / "tokenizer.json"),
                                      "step": 0})
    return out
