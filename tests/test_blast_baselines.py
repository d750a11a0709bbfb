"""The BLAST baselines of the evaluation (dnahlm_rag/blast_baselines.py)."""
from __future__ import annotations

import random
import shutil

import pytest

from dnahlm_rag.blast_baselines import best_blast_hits, blastx_top_hit
from dnahlm_rag.evaluate import EvalConfig, TaskContext, plan_cells
from rag_fixtures import random_cds


def test_best_blast_hits_keeps_the_highest_bit_score_per_query():
    out = "q0\tt3\t50.1\nq0\tt7\t88.0\nq0\tt3\t20.0\nq2\ts5\t31.5\n"
    assert best_blast_hits(out) == {0: (88.0, 7), 2: (31.5, 5)}
    assert best_blast_hits("") == {}


def test_blastx_baseline_names_the_protein_through_silent_changes(tmp_path):
    """Train CDS vs items that keep the protein but change every third base: blastn sees a third
    of the bases changed, blastx the same protein. Only the task of translated items gets the cell."""
    if not (shutil.which("blastx") and shutil.which("makeblastdb")):
        pytest.skip("blastx not installed")
    rng = random.Random(0)
    synonyms = {"GCT": "GCC", "GCC": "GCA", "GCA": "GCG", "GCG": "GCT", "CTG": "CTC", "CTC": "CTG", "GGT": "GGC",
                "GGC": "GGT", "GTT": "GTC", "GTC": "GTT", "TCT": "TCC", "TCC": "TCT", "ACT": "ACC", "ACC": "ACT"}
    train = [{"id": f"t{i}", "seq": random_cds(rng, 120), "label": f"protein {i}", "organism": "Escherichia coli"}
             for i in range(12)]
    items = []
    for i in (3, 7, 11):
        s = train[i]["seq"]
        codons = [synonyms.get(s[j:j + 3], s[j:j + 3]) for j in range(0, len(s), 3)]
        items.append({"id": f"q{i}", "seq": "".join(codons), "label": f"protein {i}", "organism": "Escherichia coli"})
    tc = TaskContext(name="product", closed=False, labels=None, question="q", spec={}, train=train, items=items,
                     neighbours=[[0]] * 3, majority="protein 0", items_sha="s")
    preds, extra = blastx_top_hit(tc, tmp_path, threads=1)
    assert preds == ["protein 3", "protein 7", "protein 11"]
    assert extra["hit_rate"] == 1.0 and extra["genetic_codes"] == [11]
    cfg = EvalConfig(modes=["blastx", "majority"], ks=[3])
    assert [c.mode for c in plan_cells(tc, cfg, have_blast=True)] == ["blastx", "majority"]
    tc.name = "splice"
    assert [c.mode for c in plan_cells(tc, cfg, have_blast=True)] == ["majority"]
