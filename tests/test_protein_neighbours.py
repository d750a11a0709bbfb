"""Protein-level train neighbours of coding tasks (dnahlm_rag/protein_neighbours.py)."""
from __future__ import annotations

import random

from dnahlm_rag.instruct import train_neighbours
from dnahlm_rag.orfs import translate_cds
from dnahlm_rag.protein_neighbours import ProteinTrainNeighbours

# one codon per amino acid, and a synonymous alternative that differs at the third base
CODONS = {"A": ("GCT", "GCG"), "R": ("CGT", "AGA"), "N": ("AAT", "AAC"), "D": ("GAT", "GAC"),
          "E": ("GAA", "GAG"), "G": ("GGT", "GGA"), "H": ("CAT", "CAC"), "I": ("ATT", "ATA"),
          "L": ("CTG", "TTA"), "K": ("AAA", "AAG"), "F": ("TTT", "TTC"), "P": ("CCG", "CCA"),
          "S": ("TCT", "AGC"), "T": ("ACC", "ACA"), "V": ("GTT", "GTA"), "Y": ("TAT", "TAC")}


def cds(protein: str, alt: bool) -> str:
    return "ATG" + "".join(CODONS[a][1 if alt else 0] for a in protein) + "TAA"


def random_protein(rng: random.Random, n: int = 120) -> str:
    return "".join(rng.choice(sorted(CODONS)) for _ in range(n))


def make_rows() -> tuple[list[dict], str, str]:
    rng = random.Random(3)
    target = random_protein(rng)
    rows = [{"id": "same-protein", "seq": cds(target, alt=False), "label": "target kinase"}]
    rows += [{"id": f"other-{i}", "seq": cds(random_protein(rng), alt=True), "label": f"protein {i}"} for i in range(40)]
    query = cds(target, alt=True)  # same protein, a third of its bases changed
    return rows, query, target


def test_synonymous_recoding_is_found_first_and_far_ahead():
    rows, query, target = make_rows()
    assert translate_cds(query) == translate_cds(rows[0]["seq"]) == "M" + target
    prot = ProteinTrainNeighbours(rows).search([query], k=3)[0]
    assert prot[0][0] == 0 and prot[0][1] > 0.9 and len(prot) == 3
    assert [s for _, s in prot] == sorted((s for _, s in prot), reverse=True)
    assert prot[0][1] > 3 * prot[1][1]  # unrelated proteins score far below the homolog


def test_excludes_the_query_row_and_identical_sequences():
    rows, _, _ = make_rows()
    nb = ProteinTrainNeighbours(rows)
    hits = nb.search([rows[0]["seq"], rows[5]["seq"]], k=2, exclude_ids=["same-protein", None])
    assert all(i != 0 for i, _ in hits[0]) and all(i != 5 for i, _ in hits[1])
    assert all(len(h) == 2 for h in hits)


def test_coding_tasks_get_protein_neighbours():
    rows, _, _ = make_rows()
    assert train_neighbours("product", rows).level == "protein"
    assert train_neighbours("feature_type", rows).level == "coding"  # protein evidence decides "CDS"
    assert train_neighbours("promoter", rows).level == "kmer"
    assert train_neighbours("splice", rows).level == "site"
