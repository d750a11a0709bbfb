"""ORF finding: both strands, coordinates, genetic codes, partial ORFs, ambiguity, no ORF."""
from __future__ import annotations

import numpy as np
import pytest

from dnahlm_rag.errors import InvalidSequenceError
from dnahlm_rag.orfs import (END_BONUS, OrfError, check_table, find_orfs, genetic_code_for, start_codons, translate,
                             translate_cds)
from dnahlm_rag.seq import reverse_complement

# A 45-codon gene (seeded random codons) chosen so that no other frame of it, on either strand,
# holds an ORF of 15 codons or more; FLANK puts a stop in every frame of both strands.
GENE = ("ATGACTCCAGAATTTGAAGGCTGGTTTACGTGTATGTTAGCGGCTGATCGGTCAGCAGATTCTGTGTATTATCTTTACTATGCCCTAATT"
        "AAAGCTACCACTCAGTCGACGCTAAAATCGTTAGGTCTTGGTCCATAA")
FLANK = "CTAGCTAGCTAG"


def test_plus_strand_coordinates_and_protein():
    flank5, flank3 = FLANK, FLANK + "A"
    q = flank5 + GENE + flank3
    r = find_orfs(q, min_codons=20)
    best = r.best
    assert best is not None
    assert (best.start, best.end, best.strand) == (len(flank5), len(flank5) + len(GENE), 1)
    assert best.frame == best.start % 3
    assert best.protein == translate(GENE)[:-1]
    assert best.protein == "MTPEFEGWFTCMLAADRSADSVYYLYYALIKATTQSTLKSLGLGP"
    assert best.start_codon == "ATG" and not best.partial5 and not best.partial3
    assert q[best.start:best.end] == GENE


def test_minus_strand_coordinates_map_to_forward_strand():
    flank5, flank3 = "GG" + FLANK, FLANK
    q = flank5 + reverse_complement(GENE) + flank3
    best = find_orfs(q, min_codons=20).best
    assert best is not None and best.strand == -1
    assert (best.start, best.end) == (len(flank5), len(flank5) + len(GENE))
    assert reverse_complement(q[best.start:best.end]) == GENE
    assert best.frame == (len(q) - best.end) % 3
    assert best.protein == translate(GENE)[:-1]


def test_both_strands_searched_and_reported():
    q = FLANK + GENE + FLANK + reverse_complement(GENE) + FLANK
    r = find_orfs(q, min_codons=20, max_orfs=10)
    assert [(o.strand, o.codons) for o in r.orfs] == [(1, 45), (-1, 45)]
    assert {o.strand for o in r.orfs} == {1, -1}
    assert len(r.frames) == 6 and {(f.strand, f.frame) for f in r.frames} == {(s, k) for s in (1, -1) for k in range(3)}


def test_tga_is_stop_in_table_11_but_trp_in_table_4():
    # TGA in frame after 10 codons: table 11 stops there, table 4 (Mycoplasma) reads through.
    q = "ATG" + "GCT" * 10 + "TGA" + "GCT" * 30 + "TAA"
    r11 = find_orfs(q, table=11, min_codons=30, allow_partial=False)
    r4 = find_orfs(q, table=4, min_codons=30, allow_partial=False)
    assert r11.best is None  # ATG..TGA is 11 codons; the 30 codons after TGA have no start codon
    assert r4.best is not None and r4.best.codons == 42 and "W" in r4.best.protein
    assert r4.best.start == 0 and r4.best.end == len(q)
    assert translate("TGA", 11) == "*" and translate("TGA", 4) == "W"


def test_genetic_code_per_organism_group():
    assert genetic_code_for("Escherichia coli K12") == 11
    assert genetic_code_for("Methanosarcina acetivorans C2A") == 11
    assert genetic_code_for("Mycoplasma genitalium G37") == 4
    assert genetic_code_for("Spiroplasma citri") == 4
    assert genetic_code_for("Homo sapiens", organelle="mitochondrion") == 2
    assert genetic_code_for("Homo sapiens") == 1
    assert genetic_code_for("Arabidopsis thaliana", organelle="mitochondrion") == 1
    assert genetic_code_for("Arabidopsis thaliana", organelle="plastid:chloroplast") == 11
    assert genetic_code_for("Danio rerio", lineage=["Eukaryota", "Metazoa", "Chordata", "Vertebrata"],
                            organelle="mitochondrion") == 2
    assert "GTG" in start_codons(11) and start_codons(1) != start_codons(11)


def test_no_orf_is_a_result_not_a_crash():
    r = find_orfs("CTAG" * 30, min_codons=30)  # a stop every 4 codons in all six frames
    assert not r.found and r.best is None and r.orfs == ()
    assert "no open reading frame of at least 30 codons" in r.note
    assert sum(f.stops for f in r.frames) > 0


def test_frames_report_internal_stops():
    q = FLANK + GENE[:60] + "TAGTAGTAG" + GENE[60:] + FLANK  # premature stops in frame 0
    r = find_orfs(q, min_codons=10, max_orfs=10)
    f0 = next(f for f in r.frames if (f.strand, f.frame) == (1, 0))
    assert f0.stops >= 2
    assert all("*" not in o.protein for o in r.orfs)


def test_ambiguous_bases_translate_to_x_and_are_counted():
    q = FLANK + GENE[:30] + "N" + GENE[31:] + FLANK
    best = find_orfs(q, min_codons=20).best
    assert best is not None and best.strand == 1
    assert best.ambiguous_codons == 1 and best.protein[10] == "X"
    clean = find_orfs(FLANK + GENE + FLANK, min_codons=20).best
    assert clean is not None and best.score == clean.score - 1
    assert "1 ambiguous codon" in best.describe()


def test_partial_orfs_for_fragments():
    frag = GENE[30:-30]  # no start codon, no stop: a gene fragment
    assert len(frag) % 3 == 0
    r = find_orfs(frag, min_codons=20)
    best = r.best
    assert best is not None and best.partial5 and best.partial3 and best.start_codon is None
    assert (best.start, best.end, best.strand) == (0, len(frag), 1)
    assert best.protein == translate(GENE[30:-30])
    strict = find_orfs(frag, min_codons=20, allow_partial=False)
    assert not any(o.start == 0 and o.end == len(frag) and o.strand == 1 for o in strict.orfs)


def test_complete_orf_beats_slightly_longer_shadow_frame():
    # A complete ORF gains END_BONUS per proven end over an open stretch of the other strand.
    r = find_orfs("ATG" + "GCT" * 40 + "TAA", min_codons=30)
    assert END_BONUS > 0 and r.best is not None and r.best.strand == 1 and r.best.protein.startswith("MAAA")


def test_translate_cds():
    assert translate_cds("GTGAAATAA") == "MK"           # alternative start reads as Met, stop dropped
    assert translate_cds("ATGTGAAAATAA") == "M*K"       # internal stop kept
    assert translate_cds("ATGTGAAAATAA", table=4) == "MWK"
    assert translate_cds("AT") == ""


def test_bad_input():
    with pytest.raises(InvalidSequenceError):
        find_orfs("ATGQQQ")
    with pytest.raises(OrfError):
        find_orfs(GENE, table=99)
    assert check_table(2) == 2
    with pytest.raises(OrfError, match="known to Biopython: 1, 2, 3"):
        check_table(7)
    with pytest.raises(OrfError):
        find_orfs(GENE, min_codons=0)


def test_longest_open_stretch_is_the_longest_stop_free_run_of_six_translated_frames():
    import random

    from dnahlm_rag.orfs import longest_open_stretch

    r = random.Random(3)
    for table in (11, 4):
        for _ in range(30):
            seq = "".join(r.choice("ACGT") for _ in range(r.randint(0, 200)))
            runs = [len(x) for st in (seq, reverse_complement(seq)) for f in range(3)
                    for x in translate(st, table, f).split("*")]
            assert longest_open_stretch(seq, table) == max(runs, default=0)
    assert longest_open_stretch("GCC" * 40) == 40  # no frame of either strand has a stop


def test_open_frame_evalue_is_calibrated_on_random_sequence():
    """Over random sequences the expected count behaves as an E-value: P(E <= x) is about x (at most
    it) for small x; a real gene's full-length frame is far below chance; a short window is not."""
    import random

    from dnahlm_rag.orfs import open_frame_evalue

    r = random.Random(5)
    e = np.array([open_frame_evalue("".join(r.choice("ACGT") for _ in range(450))) for _ in range(500)])
    assert np.mean(e <= 0.1) < 0.15 and np.mean(e <= 0.01) < 0.03
    assert np.mean(e <= 1.0) > 0.3  # not a test that never passes
    gene = "ATG" + "".join(r.choice(["GCT", "AAA", "GGC", "CTG", "GAA", "ATC", "CGT"]) for _ in range(200)) + "TAA"
    assert open_frame_evalue(gene) < 1e-3
    assert open_frame_evalue(gene[:60]) > 0.5  # 20 open codons: chance explains them
    assert open_frame_evalue("NNNNNN") == float("inf") or open_frame_evalue("NNNNNN") >= 1


def _spelt_out(seq: str, table: int, min_codons: int, allow_partial: bool) -> list[tuple]:
    """Every ORF of the module doc's rules 1-6, read codon by codon from the translated frames:
    (score, start, end, strand, frame, protein, partial5, partial3, ambiguous codons)."""
    starts = set(start_codons(table))
    out = []
    for strand, s in ((1, seq), (-1, reverse_complement(seq))):
        for frame in range(3):
            aa = translate(s, table, frame)
            codons = [s[frame + 3 * i:frame + 3 * i + 3] for i in range(len(aa))]
            a = 0
            for end in [i for i, x in enumerate(aa) if x == "*"] + [len(aa)]:
                p3 = end == len(aa)
                if end - a >= min_codons and (allow_partial or not p3):
                    if a == 0 and allow_partial:
                        first, has_start = 0, codons[0] in starts
                    else:
                        first = next((i for i in range(a, end) if codons[i] in starts), None)
                        has_start = True
                    if first is not None and end - first >= min_codons:
                        prot = ("M" if has_start else aa[first]) + aa[first + 1:end]
                        amb = aa[first:end].count("X")  # a start codon is never ambiguous
                        a_s, b_s = frame + 3 * first, frame + 3 * (end if p3 else end + 1)
                        lo, hi = (a_s, b_s) if strand == 1 else (len(seq) - b_s, len(seq) - a_s)
                        score = end - first - amb + END_BONUS * (has_start + (not p3))
                        out.append((score, lo, hi, strand, frame, prot, not has_start, p3, amb))
                a = end + 1
    return sorted(out, key=lambda o: (-o[0], o[6] or o[7], -o[3], o[1]))


@pytest.mark.parametrize("table,min_codons,allow_partial", [(11, 30, True), (11, 3, True), (4, 5, False), (2, 1, True)])
def test_compiled_scan_equals_the_rules_spelt_out(table, min_codons, allow_partial):
    rng = np.random.default_rng(table * 100 + min_codons)
    seqs = ["".join(rng.choice(list("ACGT"), size=int(n))) for n in rng.integers(1, 400, size=120)]
    seqs = [s if i % 3 else "".join(c if rng.random() > 0.05 else rng.choice(list("NRYKMSWBDHV")) for c in s)
            for i, s in enumerate(seqs)] + [GENE, FLANK + GENE + FLANK, "N" * 90, "ATG" + "N" * 60 + "TAA"]
    for s in seqs:
        want = _spelt_out(s, table, min_codons, allow_partial)
        got = find_orfs(s, table=table, min_codons=min_codons, max_orfs=1000, allow_partial=allow_partial)
        assert [(o.score, o.start, o.end, o.strand, o.frame, o.protein, o.partial5, o.partial3, o.ambiguous_codons)
                for o in got.orfs] == want, s
        assert sum(f.longest_orf > 0 for f in got.frames) == len({(o[3], o[4]) for o in want})
