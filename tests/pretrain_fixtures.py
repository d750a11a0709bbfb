"""A tiny ``data/`` folder and tokenizer from the real fixtures (not a test module).

DNA: the phage lambda genome (tests/fixtures/lambda_virus.fa, 48,502 bases) cut into pieces of
300-1,500 bases; the last 4 kb are held out (``dna.valid.txt``). English: Gene Ontology
definitions (tests/fixtures/go_definitions.txt); the last 25 are held out.
"""
from __future__ import annotations

import random
from pathlib import Path

from dnahlm_rag.manifest import write_manifest

FIXTURES = Path(__file__).parent / "fixtures"


def lambda_genome() -> str:
    lines = (FIXTURES / "lambda_virus.fa").read_text().splitlines()
    return "".join(l.strip() for l in lines if not l.startswith(">")).upper()


def go_definitions() -> list[str]:
    return [l for l in (FIXTURES / "go_definitions.txt").read_text().splitlines() if l.strip()]


def pieces(seq: str, lo: int, hi: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(seq):
        n = rng.randint(lo, hi)
        out.append(seq[i:i + n])
        i += n
    return [p for p in out if len(p) >= 50]


def make_data_dir(root: Path) -> Path:
    """Write ``root/manifest.json`` (stage data) and ``root/pretrain/*.txt``; return ``root``."""
    g = lambda_genome()
    dna_train, dna_valid = pieces(g[:-4000], 300, 1500, 0), pieces(g[-4000:], 300, 1500, 1)
    eng = go_definitions()
    files = {"dna.train": dna_train, "dna.valid": dna_valid, "english.train": eng[:-25], "english.valid": eng[-25:]}
    (root / "pretrain").mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (root / "pretrain" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    write_manifest(root, "data", 1, note="test fixture built from lambda phage + GO definitions")
    return root


import pytest  # noqa: E402

# Test modules import these fixtures by name, which makes each module's copy its own fixture;
# this cache keeps them built once per test session all the same.
_CACHE: dict = {}


@pytest.fixture(scope="session")
def lm_data(tmp_path_factory) -> Path:
    """A ``data/`` folder built from the real fixtures (lambda phage + GO definitions)."""
    if "data" not in _CACHE:
        _CACHE["data"] = make_data_dir(tmp_path_factory.mktemp("lm") / "data")
    return _CACHE["data"]


@pytest.fixture(scope="session")
def lm_tokenizer(lm_data, tmp_path_factory) -> Path:
    """A 1,024-token tokenizer trained on ``lm_data`` (about 2 s)."""
    from dnahlm_rag.tokenizer import TokenizerRecipe, train_tokenizer

    if "tok" not in _CACHE:
        out = tmp_path_factory.mktemp("tok") / "tokenizer"
        train_tokenizer(lm_data, out, TokenizerRecipe(vocab_size=1024), progress=False)
        _CACHE["tok"] = out
    return _CACHE["tok"]


def tiny_recipe(**train):
    """The shipped ``tiny`` recipe with ``train`` overrides (fp32 so that weights compare exactly)."""
    from dnahlm_rag.pretrain import load_pretrain_recipe

    r = load_pretrain_recipe("tiny")
    for k, v in train.items():
        setattr(r.train, k, v)
    return r


@pytest.fixture(scope="session")
def tiny_run(lm_data, lm_tokenizer, tmp_path_factory):
    """One finished ``tiny`` run (40 steps, 1 thread): ``(out_dir, PretrainResult)``."""
    import torch

    from dnahlm_rag.pretrain import pretrain

    if "run" not in _CACHE:
        torch.set_num_threads(1)
        out = tmp_path_factory.mktemp("run") / "tiny"
        _CACHE["run"] = (out, pretrain(tiny_recipe(), lm_data, lm_tokenizer, out, threads=1, progress=False))
    return _CACHE["run"]
