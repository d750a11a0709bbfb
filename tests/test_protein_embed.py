"""Protein k-mer embeddings: identity, substitution tolerance of reduced alphabets, shape, persistence."""
from __future__ import annotations

import numpy as np
import pytest

from dnahlm_rag.protein_embed import (ALPHABETS, AMINO_ACIDS, KmerBlock, ProteinEmbedConfig, ProteinEmbedder,
                                      ProteinEmbedError)

# Thioredoxin 1 of E. coli (UniProt P0AA25) and of Bacillus subtilis (P14949): about 50% identical.
TRX_ECOLI = "MSDKIIHLTDDSFDTDVLKADGAILVDFWAEWCGPCKMIAPILDEIADEYQGKLTVAKLNIDQNPGTAPKYGIRGIPTLLLFKNGEVAASKVGALSKGQLKEFLDANLA"
TRX_BSUB = "MAIVKATDQSFSAETSEGVVLADFWAPWCGPCKMIAPVLEELDQEMGDKLKIVKIDVDENQETAGKYGVMSIPTLLVLKDGEVVETSVGFKPKEALQELVNKHL"
# E. coli RecA, first 130 residues (P0A7G6): unrelated to thioredoxin.
RECA = "MAIDENKQKALAAALGQIEKQFGKGSIMRLGEDRSMDVETISTGSLSLDIALGAGGLPMGRIVEIYGPESSGKTTLTLQVIAAAQREGKTCAFIDAEHALDPIYARKLGVDIDNLLCSQPDTGEQALEIC"


def conservative(seq: str, every: int = 3) -> str:
    """Swap every ``every``-th residue for another of its Murphy-10 class (I<->L<->V, D<->E, K<->R, S<->T...)."""
    swap = {"I": "L", "L": "V", "V": "I", "M": "L", "D": "E", "E": "D", "N": "Q", "Q": "N", "K": "R", "R": "K",
            "S": "T", "T": "S", "F": "Y", "Y": "F", "W": "F"}
    return "".join(swap.get(c, c) if i % every == 1 else c for i, c in enumerate(seq))


def fitted(config: ProteinEmbedConfig) -> ProteinEmbedder:
    return ProteinEmbedder(config).fit([TRX_ECOLI, TRX_BSUB, RECA, RECA[::-1], TRX_ECOLI[::-1]])


def test_identical_protein_scores_one_and_unrelated_lower():
    e = fitted(ProteinEmbedConfig())
    v = e.embed([TRX_ECOLI, TRX_ECOLI, TRX_BSUB, RECA])
    assert v[0] @ v[1] == pytest.approx(1.0, abs=1e-5)
    assert v[0] @ v[2] > v[0] @ v[3]  # homolog above unrelated protein


def test_shape_dtype_and_normalisation():
    cfg = ProteinEmbedConfig([KmerBlock("aa20", "111"), KmerBlock("murphy10", "1111", weight=2.0)], dim=512)
    e = fitted(cfg)
    v = e.embed([TRX_ECOLI, RECA, "MK", "XXXX*"])
    assert v.shape == (4, 1024) and v.dtype == np.float32 and v.flags["C_CONTIGUOUS"]
    assert np.allclose(np.linalg.norm(v[:2], axis=1), 1.0, atol=1e-5)
    assert not v[2:].any()  # no whole 3-mer: zero vector, matches nothing
    assert cfg.block_dims() == [512, 512] and e.dim == 1024
    assert ProteinEmbedConfig([KmerBlock("murphy10", "111")], dim=2048).block_dims() == [1000]  # exact, no hashing


def test_reduced_alphabet_tolerates_conservative_substitutions():
    mutant = conservative(TRX_ECOLI)
    assert sum(a != b for a, b in zip(mutant, TRX_ECOLI)) > 20
    full = fitted(ProteinEmbedConfig([KmerBlock("aa20", "111")], dim=8000))
    reduced = fitted(ProteinEmbedConfig([KmerBlock("murphy10", "111")], dim=1000))
    s_full = float(np.prod(full.embed([TRX_ECOLI, mutant]), axis=0).sum())
    s_red = float(np.prod(reduced.embed([TRX_ECOLI, mutant]), axis=0).sum())
    assert s_red == pytest.approx(1.0, abs=1e-5)  # every swap stays inside its class
    assert s_full < 0.5 < s_red


def test_alphabets_partition_the_amino_acids():
    for name, classes in ALPHABETS.items():
        assert sorted("".join(classes)) == sorted(AMINO_ACIDS), name


def test_spaced_pattern_and_hashing_are_deterministic():
    cfg = ProteinEmbedConfig([KmerBlock("murphy10", "11011")], dim=256)
    a, b = fitted(cfg).embed([TRX_BSUB]), fitted(cfg).embed([TRX_BSUB])
    assert np.array_equal(a, b)


@pytest.mark.parametrize("pattern", ["111", "11011", "1001"])
def test_a_spaced_word_never_spans_two_proteins(pattern):
    from dnahlm_rag.protein_embed import _block_words, _joined

    proteins = [TRX_ECOLI[:20], "MKT", TRX_BSUB[:11], "", RECA[:9]]
    block = KmerBlock("aa20", pattern)
    d, w = _block_words(*_joined(proteins), block)
    for i, p in enumerate(proteins):  # the words of the joined collection = those of each protein alone
        alone = _block_words(*_joined([p]), block)[1]
        assert list(w[d == i]) == list(alone) and len(alone) == max(0, len(p) - len(pattern) + 1)


def test_batches_give_the_same_vectors():
    proteins = [TRX_ECOLI, TRX_BSUB, RECA, conservative(RECA)] * 3
    one = ProteinEmbedder(ProteinEmbedConfig(batch=5)).fit(proteins).embed(proteins)
    big = ProteinEmbedder(ProteinEmbedConfig(batch=1000)).fit(proteins).embed(proteins)
    assert np.allclose(one, big, atol=1e-6)


def test_save_load_round_trip(tmp_path):
    e = fitted(ProteinEmbedConfig([KmerBlock("murphy15", "111", weight=0.5)], dim=300, tf="binary"))
    e.save(tmp_path / "emb.json")
    back = ProteinEmbedder.load(tmp_path / "emb.json")
    assert back.config == e.config
    assert np.allclose(back.embed([RECA]), e.embed([RECA]), atol=1e-5)


def test_errors():
    with pytest.raises(ProteinEmbedError):
        ProteinEmbedder(ProteinEmbedConfig([KmerBlock("dayhoff99", "111")]))
    with pytest.raises(ProteinEmbedError):
        ProteinEmbedder(ProteinEmbedConfig([KmerBlock("aa20", "0110")]))
    with pytest.raises(ProteinEmbedError):
        ProteinEmbedder(ProteinEmbedConfig()).embed([RECA])  # idf needed, not fitted
