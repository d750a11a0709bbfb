"""Nearest train rows of a coding-sequence task at the protein level.

Items of a coding task (``product``: the first 1,200 nt of an annotated CDS, 5'->3', frame 0)
come from organisms that are not in the train split, and genes of distant species share little
at the DNA level: the k-mer neighbours of :class:`~dnahlm_rag.instruct.TrainNeighbours` carry
the right product for about 1% of the test items. Here both sides are translated
(:func:`~dnahlm_rag.orfs.translate_cds`, bacterial table 11), searched by exact word cosine
(:class:`~dnahlm_rag.protein_words.WordIndex`, its idf learnt from the train proteins), and the
top ``rerank`` candidates (1,000) re-scored through the seed filter and a gapped alignment where
it calls for one (:class:`~dnahlm_rag.protein_seeds.SeededScorer`; ``rescorer="align"``: every
candidate aligned, stop 25's re-scorer over the top 200; ``"diagonal"``: the ungapped
:class:`~dnahlm_rag.protein_rerank.DiagonalScorer` of stops 16-24), as the ``proteins`` index of
``ask`` does (docs/benchmarks.md, "Protein-level retrieval").

Same interface as ``TrainNeighbours``: ``search(seqs, k, exclude_ids)`` gives, per query, up to
``k`` ``(row index, score)`` pairs, best first, never the query's own row nor a row with the
very same sequence. Scores are the re-scorer's ``-log10 E``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .instruct import is_other
from .orfs import DEFAULT_TABLE, translate_cds
from .protein_align import TASK_RERANK, make_rescorer
from .protein_words import WordIndex


class ProteinTrainNeighbours:
    """Protein-level nearest train rows of a CDS task (module docstring)."""

    level = "protein"

    def __init__(self, rows: list[dict[str, Any]], rerank: int = TASK_RERANK, table: int = DEFAULT_TABLE,
                 rescorer: str = "seeded") -> None:
        self.rows = rows
        self.rerank = rerank
        self.table = table
        self.proteins = [translate_cds(r["seq"], table) for r in rows]
        self.index = WordIndex.build(self.proteins)
        self.scorer = make_rescorer(rescorer, self.proteins) if rerank > 0 else None

    def search(self, seqs: Sequence[str], k: int, exclude_ids: Sequence[str | None] | None = None,
               batch: int = 512) -> list[list[tuple[int, float]]]:
        """Up to ``k`` ``(row index, score)`` per query, best first (module docstring)."""
        out: list[list[tuple[int, float]]] = []
        exclude = list(exclude_ids) if exclude_ids is not None else [None] * len(seqs)
        want = min(len(self.rows), max(k + 2, self.rerank))
        for a in range(0, len(seqs), batch):
            prots = [translate_cds(s, self.table) for s in seqs[a:a + batch]]
            scores, ids = self.index.search(prots, want)
            for j, (srow, irow) in enumerate(zip(scores, ids)):
                seq, ex = seqs[a + j], exclude[a + j]
                hits = [(int(i), float(s)) for s, i in zip(srow, irow) if i >= 0 and is_other(self.rows[int(i)], seq, ex)]
                if self.scorer is not None and hits and prots[j]:
                    hits = self.scorer.rank(prots[j], [i for i, _ in hits[:self.rerank]])
                out.append(hits[:k])
        return out
