"""Split policies: organism keys and disjointness, stratified split, hash split, dedup across splits."""
from __future__ import annotations

from collections import Counter

import pytest

from dnahlm_rag.data.recipe import OrganismSplit
from dnahlm_rag.data.splits import (OrganismSplitter, check_disjoint, enforce_disjoint, in_permille, organism_key,
                                    stratified_split)
from dnahlm_rag.errors import RecipeError
from dnahlm_rag.seq import reverse_complement


def test_organism_key_is_species():
    assert organism_key("Escherichia coli K12") == "Escherichia coli"
    assert organism_key("Escherichia  coli str. K-12 substr. MG1655") == "Escherichia coli"
    assert organism_key("Klebsiella sp. 390") == "Klebsiella sp. 390"
    assert organism_key("[Clostridium] difficile 630") == "Clostridium difficile"


def test_organism_splitter_named_and_strains_follow_species():
    sp = OrganismSplitter(OrganismSplit(test=["Escherichia coli"], valid=["Thermococcus kodakaraensis"]), seed=1)
    assert sp.split_of("Escherichia coli 536") == "test"
    assert sp.split_of("Escherichia coli K12") == "test"
    assert sp.split_of("Thermococcus kodakaraensis KOD1") == "valid"
    assert sp.split_of("Bacillus subtilis") == "train"
    assert sp.held_out("Escherichia coli DH1") and not sp.held_out("Bacillus subtilis 168")
    assert sp.mentions_held_out("gi|1|ref|NC_1| Escherichia coli DH1 chromosome") == "Escherichia coli"
    assert sp.mentions_held_out("Vibrio cholerae chromosome I") is None


def test_organism_in_both_splits_is_a_recipe_error():
    with pytest.raises(RecipeError, match="both"):
        OrganismSplitter(OrganismSplit(test=["A b"], valid=["A b c"]), seed=1)


def test_auto_split_is_deterministic_and_disjoint():
    cfg = OrganismSplit(auto_split_unlisted=True, auto_valid_fraction=0.2, auto_test_fraction=0.3)
    names = [f"Genus{i} species{i}" for i in range(200)]
    a = {n: OrganismSplitter(cfg, 7).split_of(n) for n in names}
    b = {n: OrganismSplitter(cfg, 7).split_of(n) for n in names}
    assert a == b
    c = Counter(a.values())
    assert 40 < c["test"] < 80 and 20 < c["valid"] < 60


def test_stratified_split_is_deterministic_and_stratified():
    items = [{"id": str(i), "seq": "A" * (i + 1), "label": "x" if i < 100 else "y"} for i in range(150)]
    s1 = stratified_split(items, 0.1, 0.2, seed=3)
    s2 = stratified_split(items, 0.1, 0.2, seed=3)
    s3 = stratified_split(items, 0.1, 0.2, seed=4)
    assert s1 == s2 and s1 != s3
    assert Counter(it["label"] for it in s1["test"]) == {"x": 20, "y": 10}
    assert Counter(it["label"] for it in s1["valid"]) == {"x": 10, "y": 5}
    assert sum(len(v) for v in s1.values()) == 150


def test_enforce_disjoint_removes_cross_split_and_reverse_complement():
    a, b, c = "ACGTTGCAAC", "GGGCCCAAAT", "TTTTTGGGGA"
    by = {"train": [{"seq": a}, {"seq": b}, {"seq": b}, {"seq": c}],
          "valid": [{"seq": reverse_complement(c)}],
          "test": [{"seq": a}]}
    clean, removed = enforce_disjoint(by)
    assert [it["seq"] for it in clean["train"]] == [b]
    assert removed == {"cross_split": 2, "within_split": 1}
    check_disjoint(clean)
    with pytest.raises(AssertionError):
        check_disjoint(by)


def test_hash_split_is_stable_and_near_rate():
    texts = [f"paragraph number {i}" for i in range(5000)]
    chosen = [t for t in texts if in_permille(t, 100)]
    assert chosen == [t for t in texts if in_permille(t, 100)]
    assert 380 < len(chosen) < 620
