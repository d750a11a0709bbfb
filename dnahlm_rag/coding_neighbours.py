"""Nearest train rows of a feature-type task, with the protein level deciding what codes.

Items of ``feature_type`` are DNA windows (at most 500 nt) of CDS, tRNA, rRNA and intergenic
regions, from organisms that are not in the train split. K-mer profiles mostly see how related
two organisms are: on the validation organisms (an archaeon and a mitochondrion) their k = 3 vote
called 137 of 391 non-coding windows "CDS" and was right for 58% of all windows. Whether a window
codes for protein is better judged at the protein level, which is how :class:`CodingNeighbours`
finds a query's neighbours:

0. First: if the query's nearest non-coding row by k-mer profile is labelled
   ``conserved_label`` ("rRNA") with cosine at least ``min_conserved``, the neighbours are the
   non-coding rows of step 3, whatever the protein level says. Ribosomal RNA genes are conserved
   at the DNA level across species, and their windows hold long ORFs that reach ``min_evidence``
   by chance (on the valid split all 19 rRNA windows did, and were called CDS).
1. The query's open reading frames (:func:`~dnahlm_rag.orfs.find_orfs`: both strands, code
   ``table``, at least ``min_codons`` codons, the best ``max_orfs``) are searched against the ORFs
   of the train rows labelled ``coding_label`` ("CDS"), by exact word cosine
   (:class:`~dnahlm_rag.protein_words.WordIndex`), and the top ``rerank`` candidates re-scored by
   :class:`~dnahlm_rag.protein_rerank.DiagonalScorer` (``-log10 E`` of the best ungapped diagonal).
2. If the best of those scores reaches ``min_evidence``, and the query's longest stop-free stretch
   (any of the six frames) is longer than chance explains, expected at most ``max_open_e`` times
   in a random sequence of the query's length and base composition
   (:func:`~dnahlm_rag.orfs.open_frame_evalue`), the neighbours are the CDS rows so found, best
   first (one entry per row, its best ORF's score). The first test alone is passed by chance: with
   up to 3 ORFs and 50 candidates a random sequence reaches ``min_evidence`` 86-100% of the time,
   about as often as a real gene of an unseen organism (docs/benchmarks.md, "Coding evidence for
   feature_type"); a window inside a gene is open from end to end, which chance rarely is.
3. Otherwise the neighbours are the nearest rows *not* labelled ``coding_label``, by canonical k-mer
   profile (:class:`~dnahlm_rag.instruct.TrainNeighbours`; score: cosine).

So "CDS" comes only from protein-level evidence; a window with none is compared with the non-coding
kinds. Train rows with no CDS ORF of ``min_codons`` (or no non-CDS rows) leave nothing to weigh:
then every query gets plain k-mer neighbours over all rows. ``min_evidence`` (2.0, a pairwise E-value of 0.01) was chosen on the validation split
(docs/benchmarks.md, "Coding evidence for feature_type"): there 97% of CDS windows and 22% of the
others reach it. ``min_conserved`` (0.17) was chosen on the validation split too and checked by
leaving each train organism out (same section): the k = 3 vote 0.826 -> 0.839 on valid, 0.694 ->
0.711 over the held-out train organisms. ``max_open_e`` (0.3) was chosen on the validation split
at stop 23 among 1, 0.3, 0.1, 0.03 and 0.01 (the k = 3 vote 0.839 -> 0.887) and checked by leaving
each train organism out (0.711 -> 0.836, better for each of the 11 organisms). A coding gene with
no homolog among the train CDS windows (an orphan) is missed by design and answered from the
non-coding kinds, and so is a window of a gene whose open frame is not longer than chance (a
short window, or a GC-rich genome whose frames seldom meet a stop).

Same interface as ``TrainNeighbours``: ``search(seqs, k, exclude_ids)`` gives, per query, up to
``k`` ``(row index, score)`` pairs, best first, never the query's own row nor a row with the very
same sequence; ``level`` is ``"coding"``. :meth:`CodingNeighbours.evidence` gives the best protein
score of each query, for provenance and the benchmark; :meth:`CodingNeighbours.search_levels` also
says which level each query's neighbours came from.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .instruct import TrainNeighbours, is_other
from .orfs import DEFAULT_TABLE, find_orfs, open_frame_evalue
from .protein_rerank import DiagonalScorer
from .protein_words import WordIndex

#: The label whose rows are searched at the protein level.
CODING_LABEL = "CDS"
#: ``-log10 E`` the best protein hit must reach to call a window coding (chosen on valid).
MIN_EVIDENCE = 2.0
#: The non-coding label conserved at the DNA level, and the k-mer cosine of its nearest row that
#: overrides the protein level (step 0 of the module doc; chosen on valid).
CONSERVED_LABEL = "rRNA"
MIN_CONSERVED = 0.17
#: Step 2 also needs the query's longest stop-free stretch to be this unlikely in a random sequence
#: of its length and composition (:func:`~dnahlm_rag.orfs.open_frame_evalue`); None: no such check.
MAX_OPEN_E: float | None = 0.3


class CodingNeighbours:
    """Protein-level evidence first, k-mer neighbours among the non-coding rows otherwise (module doc)."""

    level = "coding"

    def __init__(self, rows: list[dict[str, Any]], min_evidence: float = MIN_EVIDENCE, rerank: int = 50,
                 table: int = DEFAULT_TABLE, min_codons: int = 30, max_orfs: int = 3,
                 coding_label: str = CODING_LABEL, conserved_label: str = CONSERVED_LABEL,
                 min_conserved: float | None = MIN_CONSERVED, max_open_e: float | None = MAX_OPEN_E) -> None:
        """``min_conserved=None`` turns step 0 (the conserved-label check) off, ``max_open_e=None``
        the open-frame check of step 2."""
        self.rows, self.min_evidence, self.rerank = rows, min_evidence, rerank
        self.max_open_e = max_open_e
        self.conserved_label, self.min_conserved = conserved_label, min_conserved
        self.table, self.min_codons, self.max_orfs = table, min_codons, max_orfs
        coding = [i for i, r in enumerate(rows) if str(r.get("label")) == coding_label]
        self.orf_row: list[int] = []  # the row of each indexed ORF
        proteins: list[str] = []
        for i in coding:
            for orf in self._orfs(rows[i]["seq"]):
                proteins.append(orf.protein)
                self.orf_row.append(i)
        self.other = [i for i, r in enumerate(rows) if str(r.get("label")) != coding_label]
        self.words: WordIndex | None = None
        self.scorer: DiagonalScorer | None = None
        if proteins and self.other:
            self.words, self.scorer = WordIndex.build(proteins), DiagonalScorer(proteins)
        else:  # no coding ORF to compare with (or nothing else): plain k-mer neighbours over all rows
            self.other = list(range(len(rows)))
        self.dna = TrainNeighbours([rows[i] for i in self.other])

    def _orfs(self, seq: str) -> list[Any]:
        return find_orfs(seq, table=self.table, min_codons=self.min_codons, max_orfs=self.max_orfs).orfs

    def _protein_hits(self, seq: str, exclude: str | None) -> list[tuple[int, float]]:
        """CDS rows found by the query's ORFs, ``(row index, -log10 E)``, best first, one per row."""
        orfs = self._orfs(seq) if self.words is not None else []
        if not orfs:
            return []
        assert self.words is not None and self.scorer is not None
        _, ids = self.words.search([o.protein for o in orfs], min(len(self.orf_row), self.rerank))
        best: dict[int, float] = {}
        for orf, cand in zip(orfs, ids):
            cand = [int(c) for c in cand if c >= 0 and is_other(self.rows[self.orf_row[int(c)]], seq, exclude)]
            # candidate order, not score order: rows first seen earlier win ties in the final sort,
            # which decides the neighbours (and so the tuning data) when E-values are equal
            for c, s in zip(cand, self.scorer.score(orf.protein, cand) if cand else []):
                row = self.orf_row[c]
                if float(s) > best.get(row, -np.inf):
                    best[row] = float(s)
        return sorted(best.items(), key=lambda x: -x[1])

    def evidence(self, seqs: Sequence[str]) -> list[float]:
        """The best protein-level ``-log10 E`` of each query: 0.0 when it has no ORF or no candidate
        shares a word with it; below 0 when the best candidate shares no diagonal segment."""
        return [max([s for _, s in self._protein_hits(q, None)] or [0.0]) for q in seqs]

    def search_levels(self, seqs: Sequence[str], k: int, exclude_ids: Sequence[str | None] | None = None,
                      batch: int = 512) -> list[tuple[str, list[tuple[int, float]]]]:
        """Per query, the level its neighbours came from (``"protein"``: CDS rows by protein
        evidence, scores ``-log10 E``; ``"dna"``: k-mer neighbours, scores cosine) and up to ``k``
        ``(row index, score)``, best first (module docstring)."""
        exclude = list(exclude_ids) if exclude_ids is not None else [None] * len(seqs)
        # the non-coding k-mer neighbours of every query: step 0 reads them, step 3 returns them
        found = self.dna.search(list(seqs), k, exclude_ids=exclude, batch=batch) if seqs else []
        out: list[tuple[str, list[tuple[int, float]]]] = []
        for j, seq in enumerate(seqs):
            dna = [(self.other[i], s) for i, s in found[j]]
            if self.min_conserved is not None and dna and dna[0][1] >= self.min_conserved \
                    and str(self.rows[dna[0][0]].get("label")) == self.conserved_label:
                out.append(("dna", dna))
                continue
            if self.max_open_e is not None and open_frame_evalue(seq, self.table) > self.max_open_e:
                out.append(("dna", dna))  # no open frame longer than chance: no protein to search for
                continue
            hits = self._protein_hits(seq, exclude[j])
            out.append(("protein", hits[:k]) if hits and hits[0][1] >= self.min_evidence else ("dna", dna))
        return out

    def search(self, seqs: Sequence[str], k: int, exclude_ids: Sequence[str | None] | None = None,
               batch: int = 512) -> list[list[tuple[int, float]]]:
        """Up to ``k`` ``(row index, score)`` per query, best first (module docstring)."""
        return [hits for _, hits in self.search_levels(seqs, k, exclude_ids, batch)]
