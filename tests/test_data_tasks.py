"""Task builders: labels, windows, intergenic sampling, next_kmer blocks, writing with dedup."""
from __future__ import annotations

import json
import random

from dnahlm_rag.data.genbank import Feature, Record
from dnahlm_rag.data.recipe import DataRecipe, NextKmerConfig
from dnahlm_rag.data.tasks import GenomeTasks, informative_product, next_kmer_items, trna_amino_acid, write_task
from dnahlm_rag.seq import reverse_complement


def test_trna_amino_acid_names():
    assert trna_amino_acid("tRNA-Ala") == "Ala"
    assert trna_amino_acid("tRNA-fMet") == "Met"
    assert trna_amino_acid("tRNA-Leu(caa)") == "Leu"
    assert trna_amino_acid("tRNA-Ile2") == "Ile"
    assert trna_amino_acid("tRNA-Xxx") is None and trna_amino_acid("16S ribosomal RNA") is None


def test_informative_products():
    assert informative_product("DNA polymerase III subunit alpha")
    for p in ("hypothetical protein", "Uncharacterized protein YbaB", "putative protein", "protein", "DUF1234 family"):
        assert not informative_product(p), p


def _record() -> Record:
    rng = random.Random(5)
    seq = "".join(rng.choice("ACGT") for _ in range(3000))
    def feat(t, a, b, s, product):
        fs = seq[a:b] if s == 1 else reverse_complement(seq[a:b])
        return Feature(t, a, b, s, [(a, b, s)], fs, {"product": product})
    feats = [feat("CDS", 100, 1300, 1, "DNA gyrase subunit A"), feat("tRNA", 1500, 1576, -1, "tRNA-Gly"),
             feat("rRNA", 1700, 2900, 1, "16S ribosomal RNA"), feat("CDS", 2950, 2990, 1, "hypothetical protein")]
    return Record("f.gbk", "R1", "R1.1", "Testus primus", "", seq, feats)


def test_genome_tasks_windows_and_intergenic():
    r = DataRecipe()
    r.feature_type.max_window = 500
    rec = _record()
    gt = GenomeTasks(r)
    gt.add_record(rec, "train")
    ft = gt.feature_type.by_split()["train"]
    labels = [it["label"] for it in ft]
    assert labels.count("CDS") == 1 and labels.count("tRNA") == 1 and labels.count("rRNA") == 2
    assert all(len(it["seq"]) <= 500 for it in ft)
    cds = next(it for it in ft if it["label"] == "CDS")
    assert cds["seq"] in rec.seq[100:1300]
    for it in ft:
        if it["label"] == "intergenic":
            m = it["meta"]
            gaps = [(1300, 1500), (1576, 1700), (2900, 2950)]   # between features, never before/after them
            assert any(a <= m["start"] and m["end"] <= b for a, b in gaps)
    trna = gt.trna.by_split()["train"]
    assert [(t["label"], t["seq"]) for t in trna] == [("Gly", reverse_complement(rec.seq[1500:1576]))]
    prod = gt.product.by_split()["train"]
    assert [p["label"] for p in prod] == ["DNA gyrase subunit A"] and len(prod[0]["seq"]) == 1200


def test_next_kmer_blocks_are_disjoint_and_labels_follow():
    rng = random.Random(2)
    seq = "".join(rng.choice("ACGT") for _ in range(20000))
    cfg = NextKmerConfig(source="s", record="r", start=1000, end=19000, n={"train": 200, "valid": 50, "test": 50})
    items = next_kmer_items(seq, cfg, seed=1)
    spans = {s: [(it["meta"]["start"], it["meta"]["start"] + 56) for it in items[s]] for s in items}
    assert {s: len(v) for s, v in items.items()} == {"train": 200, "valid": 50, "test": 50}
    assert max(b for _, b in spans["train"]) <= min(a for a, _ in spans["valid"])
    assert max(b for _, b in spans["valid"]) <= min(a for a, _ in spans["test"])
    assert all(1000 <= a and b <= 19000 for v in spans.values() for a, b in v)
    it = items["test"][0]
    p = it["meta"]["start"]
    assert it["seq"] == seq[p:p + 50] and it["label"] == seq[p + 50:p + 56]


def test_write_task_dedups_and_writes_files(tmp_path):
    by = {"train": [{"id": "a", "seq": "ACGTAC", "label": "x"}, {"id": "b", "seq": "GGGTTT", "label": "y"}],
          "valid": [], "test": [{"id": "c", "seq": "GTACGT", "label": "x"}]}   # c = revcomp(a)
    res = write_task(tmp_path, "promoter", by, labels=["x", "y"])
    assert res["counts"] == {"train": 1, "valid": 0, "test": 1}
    assert res["dedup_removed"]["cross_split"] == 1
    meta = json.loads((tmp_path / "promoter" / "task.json").read_text())
    assert meta["kind"] == "classification" and meta["labels"] == ["x", "y"] and meta["question"]
    lines = (tmp_path / "promoter" / "train.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["b"]


def test_write_task_keeps_one_item_per_id(tmp_path):
    # The same CDS shipped in two input files gives two items with one id (sequences may differ
    # between record versions): ids must stay unique keys, across splits too.
    by_split = {
        "train": [{"id": "A:CDS:0-9:+", "seq": "ATGAAATAA", "label": "x"},
                  {"id": "A:CDS:0-9:+", "seq": "ATGCCCTAA", "label": "x"}],
        "valid": [],
        "test": [{"id": "A:CDS:0-9:+", "seq": "ATGGGGTAA", "label": "x"}],
    }
    info = write_task(tmp_path, "product", by_split)
    ids = [json.loads(line)["id"] for s in ("train", "valid", "test")
           for line in (tmp_path / "product" / f"{s}.jsonl").read_text().splitlines()]
    assert ids == ["A:CDS:0-9:+"]
    assert info["dedup_removed"]["duplicate_id_train"] == 2
