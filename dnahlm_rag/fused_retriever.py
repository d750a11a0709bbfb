"""``FusedRetriever``: protein-level and DNA-level neighbours of a query, fused into one list.

A query that codes for a protein is searched twice: its best open reading frames
(:func:`~dnahlm_rag.orfs.find_orfs`, both strands, ``table`` 11 unless told: ``ask``/``batch
--genetic-code``; docs/benchmarks.md, "Genetic code of the query"), ORFs of at least
``min_codons`` codons, the best ``max_orfs`` of them) against the protein index
(``indexes/proteins``, translated CDS, searched by exact word cosine, 4-mers and spaced 4-mers,
through its inverted file, :mod:`dnahlm_rag.protein_words`), and the whole sequence
against the DNA index (``indexes/segments``). A query with no ORF that long is searched at the
DNA level only. Each level returns its top ``depth`` hits (protein hits merged over the ORFs by
best cosine); the two lists are fused by ``fusion``:

* ``"rrf"`` (reciprocal-rank fusion): a segment's score is
  ``protein_weight / (rrf_c + rank_p + 1) + dna_weight / (rrf_c + rank_d + 1)`` (ranks 0-based;
  a level that did not return the segment adds nothing), so segments that both levels find rise
  to the top, and otherwise the levels alternate, protein first on ties.
* ``"protein-first"`` (choose a level; the default): every protein hit ahead of every DNA hit,
  each scored by its own level's score; DNA hits fill the list when the protein level returns
  fewer than ``k`` (so the DNA index is searched only for such queries, non-coding ones in practice).

The default, ``protein-first``, was chosen on the *validation* organisms (``bench/bench_protein.py``,
docs/benchmarks.md): without re-scoring, product F1 0.285 against 0.231 for ``rrf`` (c = 60) and
0.246 for c = 5 (with the earlier dense 3-mer candidates it was a tie, 0.180 / 0.176 / 0.182, that
protein-first won on speed: the DNA index is not searched for coding queries); the DNA level
adds nothing for coding queries of unseen species.

With ``rerank = N`` (default 500; 0 turns it off) the protein level's top N candidates by word
cosine (merged over the ORFs, each with the ORF that found it best) are re-scored against that
ORF as ``-log10`` of an E-value (so hits found by ORFs of different lengths compare fairly), and
re-ordered by that score, which becomes the protein ``level_score`` (the cosine moves to
``cosine``). The re-scorer (``rescorer``) is ``"seeded"`` since stop 26
(:class:`~dnahlm_rag.protein_seeds.SeededScorer`): a compiled seed filter scores every candidate's
best ungapped diagonal, and only the word ranking's first 10 and the candidates whose seed alone
reaches E <= 0.01 get a gapped Smith-Waterman alignment (:class:`~dnahlm_rag.protein_align.AlignScorer`,
BLOSUM62, gaps 11/1, BLAST's gapped statistics), about 20 of the 500; the others keep the ungapped
bound. ``"align"`` aligns all N (stop 25's default, N = 50); ``"diagonal"`` is the ungapped
best-diagonal segment of stops 16-24 (:class:`~dnahlm_rag.protein_rerank.DiagonalScorer`). On the
validation organisms product F1 goes from 0.274 (cosine) to 0.312 (diagonal, top 50), 0.316
(alignment, top 50) and 0.316 (seeded, top 500; 0.324 over the top 1,000), and on the test
organisms to 0.352, 0.352 and 0.364, blastx's figure, for a few ms per query (docs/benchmarks.md,
"Protein-level retrieval", phases 5, 8 and 9). Only the best ``depth`` protein hits (at least
``2k``) go on to the fusion, and only they become ``Hit`` objects. Searching only ORFs that do not overlap a better one (a second
gene, not a shadow frame of the first) was tried and dropped: with genetic code 11 for every
query, validation F1 fell from 0.346 to 0.332 (7 of the 8 queries that changed got worse). A vote of
the top 5 hits on the product lowered validation F1 with every candidate design tried (0.285 ->
0.270, 0.323 -> 0.322, 0.180 -> 0.166), so there is none.

A second copy of a feature already shown (:func:`same_feature_key`) is skipped, so the ``k``
neighbours are ``k`` features. Each ``Document`` is :func:`~dnahlm_rag.retriever.hit_to_document`'s (segment metadata, ``seq``)
with ``score`` (rrf: the fused score, higher first; protein-first: ``level_score``, protein hits
first), ``rank``, and:

* ``level``: ``"protein"`` or ``"dna"``, the level that ranked it best (protein on ties);
  ``levels``: every level that returned it; ``level_score``: its score at ``level`` (DNA: cosine;
  protein: ``-log10 E`` of the re-scorer (gapped alignment), also given as ``evalue``, or the word cosine
  with ``rerank = 0``); ``evalue_db``: ``evalue`` times the number of proteins in the index, the
  number of hits this good a search of the whole index expects by chance, as BLAST reports it
  (``evalue`` is one pair's);
* for protein hits, the query ORF that found it, on the query's forward strand, 0-based
  half-open: ``query_start``, ``query_end``, ``query_strand`` (+1/-1), ``query_frame`` (0-2, as in
  :mod:`dnahlm_rag.orfs`), ``orf_partial`` (True when the ORF runs off either end of the query
  without a start or stop codon), ``orf_aa`` (its length in amino acids).

:meth:`FusedRetriever.provenance` gives the lines an answer's provenance shows for a query: which
levels were searched and why, and the ORF problems (no ORF of the minimum length, ambiguous bases
inside codons, stop codons inside the coding frame). Bad DNA is an
:class:`~dnahlm_rag.errors.InvalidSequenceError`; a valid sequence never raises here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr, model_validator

from .errors import DnaHlmError
from .index import Hit, SegmentIndex
from .orfs import DEFAULT_TABLE, Orf, OrfResult, find_orfs
from .protein_align import DEFAULT_RERANK, RESCORERS, make_rescorer
from .protein_seeds import SeededScorer
from .retriever import SegmentRetriever, hit_to_document
from .seq import normalize_dna

FUSIONS = ("rrf", "protein-first")
#: Name of the protein index folder looked for next to a DNA index (``indexes/proteins``).
PROTEIN_INDEX_NAME = "proteins"
#: An ORF covering less than this share of a query whose frame has other stops gets a note.
COVERAGE_NOTE = 0.8


@dataclass(frozen=True)
class QueryOrfs:
    """The ORF analysis of one query: the ORFs searched (best first) and provenance lines."""

    result: OrfResult
    notes: tuple[str, ...]

    @property
    def orfs(self) -> tuple[Orf, ...]:
        return self.result.orfs


def analyse_query(seq: str, *, table: int = DEFAULT_TABLE, min_codons: int = 30, max_orfs: int = 2) -> QueryOrfs:
    """ORFs of a normalised query and the notes its answer's provenance carries (see module doc)."""
    r = find_orfs(seq, table=table, min_codons=min_codons, max_orfs=max_orfs)
    # an ORF read mostly through ambiguous bases (a run of N translates to X, which holds no stop)
    # has no protein to search: it needs min_codons unambiguous codons
    real = tuple(o for o in r.orfs if len(o.protein) - o.ambiguous_codons >= min_codons)
    if len(real) < len(r.orfs):
        note = r.note if real else (f"no ORF of {min_codons} codons with unambiguous bases "
                                    f"({len(r.orfs) - len(real)} read mostly through N or other ambiguous bases)")
        r = replace(r, orfs=real, note=note)
    if not r.orfs:
        return QueryOrfs(r, (f"DNA level only: {r.note}",))
    best = r.orfs[0]
    notes = [f"protein level searched with {len(r.orfs)} ORF(s), genetic code {table}; best: {best.describe()}"]
    amb = [o for o in r.orfs if o.ambiguous_codons]
    for o in amb:
        notes.append(f"ambiguous bases inside {o.ambiguous_codons} codon(s) of ORF {o.start}-{o.end} "
                     f"(translated X, ignored by the protein embedding)")
    frame = next(f for f in r.frames if f.strand == best.strand and f.frame == best.frame)
    other_stops = frame.stops - (0 if best.partial3 else 1)
    cover = (best.end - best.start) / max(1, r.length)
    if other_stops > 0 and cover < COVERAGE_NOTE:
        notes.append(f"the best ORF covers {cover:.0%} of the query; its frame (strand {best.strand:+d} frame "
                     f"{best.frame}) has {other_stops} more stop codon(s): a pseudogene, a frameshift, "
                     f"several genes or a non-coding stretch")
    return QueryOrfs(r, tuple(notes))


#: Codes :func:`code_hint` may suggest, with whose genes use them and what they read otherwise than
#: table 11: a real gene read with the wrong one falls apart into short ORFs.
HINT_CODES = {
    11: ("bacteria, archaea, plastids", "AGA/AGG as Arg, TGA as a stop"),
    2: ("vertebrate mitochondria", "TGA as Trp"),
    4: ("Mycoplasma, mold/protozoan mitochondria", "TGA as Trp"),
    5: ("invertebrate mitochondria", "TGA as Trp"),
}
#: :func:`code_hint` speaks when the query's code reads at most HINT_LOW of it as its best ORF and
#: another reads at least HINT_HIGH, for queries of at least HINT_MIN_BASES.
HINT_LOW, HINT_HIGH, HINT_MIN_BASES = 0.6, 0.9, 300


def code_hint(seq: str, table: int, min_codons: int = 30) -> str | None:
    """A provenance line suggesting another genetic code when ``table`` cuts a normalised query
    into short ORFs but another code of :data:`HINT_CODES` reads most of it as one (a mitochondrial
    or Mycoplasma gene read with the bacterial code, or a bacterial gene read with a mitochondrial
    one); None otherwise. Measured in docs/benchmarks.md ("Genetic code of the query")."""
    if len(seq) < HINT_MIN_BASES:
        return None

    def cover(t: int) -> float:
        best = find_orfs(seq, table=t, min_codons=min_codons, max_orfs=1).best
        return (best.end - best.start) / len(seq) if best else 0.0

    here = cover(table)
    if here > HINT_LOW:
        return None
    better = [(t, c) for t in HINT_CODES if t != table and (c := cover(t)) >= HINT_HIGH]
    if not better:
        return None
    (t, c), others = better[0], [str(x) for x, _ in better[1:]]
    who, reads = HINT_CODES[t]
    return (f"read with genetic code {table} the best ORF covers {here:.0%} of the query, with code {t} "
            f"{c:.0%} ({reads}): try --genetic-code {t} ({who})" + (f", or {' or '.join(others)}" if others else ""))


class FusedRetriever(BaseRetriever):
    """Top-``k`` segments for a DNA query from the protein and DNA indexes (rules: module doc).

    Build with ``FusedRetriever(index_dir="indexes/segments", protein_index_dir="indexes/proteins")``
    or with loaded ``index=`` / ``protein_index=``. Without a DNA index (``index_dir=None``) it is
    protein-only: queries without an ORF get no documents.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: SegmentIndex | None = None
    index_dir: str | None = None
    protein_index: SegmentIndex | None = None
    protein_index_dir: str | None = None
    model_dir: str | None = None  # needed only by lm-embedder DNA indexes
    k: int = 4
    table: int = DEFAULT_TABLE  # genetic code of the query ORFs
    min_codons: int = 30  # shortest ORF searched at the protein level (amino acids, stop excluded)
    max_orfs: int = 2  # best ORFs per query searched
    depth: int = 20  # hits fetched per level before fusion (at least k)
    fusion: str = "protein-first"  # chosen on the validation organisms (module docstring)
    rrf_c: float = 60.0
    protein_weight: float = 1.0
    dna_weight: float = 1.0
    rerank: int = DEFAULT_RERANK  # top-N protein hits re-scored (module doc); 0: off
    rescorer: str = "seeded"  # seeded: alignment where seeds call for it (protein_seeds); align: every candidate; diagonal

    _scorer: Any = PrivateAttr(default=None)
    _positions: dict[str, int] = PrivateAttr(default_factory=dict)  # id -> row, FAISS-only protein indexes
    # the last retrieve_many call's query analyses, by (sequence, code, min_codons, max_orfs): an answer's provenance,
    # made right after its retrieval, reads them instead of finding the same ORFs again
    _last_analyses: dict[tuple[str, int, int, int], QueryOrfs] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _load(self) -> "FusedRetriever":
        if self.fusion not in FUSIONS:
            raise DnaHlmError(f"unknown fusion {self.fusion!r}: expected one of {', '.join(FUSIONS)}")
        if self.rerank < 0:
            raise DnaHlmError(f"rerank must be >= 0 (0: off), not {self.rerank}")
        if self.rescorer not in RESCORERS:
            raise DnaHlmError(f"unknown re-scorer {self.rescorer!r}: expected one of {', '.join(RESCORERS)}")
        if self.protein_index is None:
            if self.protein_index_dir is None:
                raise ValueError("FusedRetriever needs protein_index= or protein_index_dir=")
            self.protein_index = SegmentIndex.load(Path(self.protein_index_dir), expect_embedder="protein")
        if self.protein_index.level != "protein":
            raise DnaHlmError(f"{self.protein_index.folder} is a {self.protein_index.embedder_name} index, "
                              "not a protein one: build it with `dnahlm index build --embedder protein`")
        if self.index is None and self.index_dir is not None:
            self.index = SegmentIndex.load(Path(self.index_dir), model_dir=self.model_dir)
        if self.index is not None:
            if self.index.level != "dna":
                raise DnaHlmError(f"{self.index.folder} is a protein index; the DNA index must be a DNA one")
            src_p = self.protein_index.manifest.get("source", {}).get("files")
            src_d = self.index.manifest.get("source", {}).get("files")
            if src_p and src_d and src_p.get("segments.jsonl") and src_d.get("segments.jsonl") \
                    and src_p["segments.jsonl"] != src_d["segments.jsonl"]:
                raise DnaHlmError(f"{self.protein_index.folder} and {self.index.folder} were built from different "
                                  "segments.jsonl files: rebuild one of them")
        return self

    # -- the query side ------------------------------------------------------------------------
    def analyse(self, seq: str, table: int | None = None) -> QueryOrfs:
        """ORFs of a normalised query with this retriever's settings (``table``: the query's own
        genetic code, else the retriever's)."""
        code = table or self.table
        found = self._last_analyses.get((seq, code, self.min_codons, self.max_orfs))
        return found if found is not None else \
            analyse_query(seq, table=code, min_codons=self.min_codons, max_orfs=self.max_orfs)

    def provenance(self, query: str, table: int | None = None) -> list[str]:
        """Provenance lines for a query (levels searched, fusion, ORF problems)."""
        seq = normalize_dna(query, what="query sequence")
        q = self.analyse(seq, table)
        lines = list(q.notes)
        hint = code_hint(seq, table or self.table, self.min_codons)
        if hint:
            lines.append(hint)
        if q.orfs and (share := low_complexity_share(q.orfs[0].protein)) > LOW_SHARE:
            lines.append(f"the best ORF is of low complexity ({share:.0%} of its residues in {LOW_WINDOW}-residue windows "
                         f"of under {LOW_BITS} bits, as SEG masks them): its protein hits reflect composition, not "
                         "descent, whatever their E-value")
        if q.orfs and self.index is not None:
            lines.append("protein and DNA hits fused by reciprocal-rank fusion" if self.fusion == "rrf" else
                         "protein-first: DNA-level hits only fill in below the protein hits")
        elif q.orfs:
            lines.append("protein level only (no DNA index)")
        return lines

    def scorer(self) -> Any:
        """The re-scorer over the protein index's proteins (rows addressed by position), built on
        first use (about 1 s for 40k proteins)."""
        if self._scorer is None:
            assert self.protein_index is not None
            self._scorer = make_rescorer(self.rescorer, [str(d.get("protein") or "") for d in self.protein_index.docs])
        return self._scorer

    def _candidates(self, proteins: list[str], depth: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each protein's top ``depth`` rows of the protein index by word cosine: (int64
        positions, float64 cosines), best first. Read from the word index's arrays, so no ``Hit``
        is made for the hundreds of candidates only the re-scorer sees."""
        assert self.protein_index is not None
        if self.protein_index.words is not None:
            scores, ids = self.protein_index.words.search(proteins, depth)
            keep = ids >= 0
            return [(i[m], s[m].astype(np.float64)) for s, i, m in zip(scores, ids, keep)]
        # an index without a word file (FAISS only): through its Hits, by id -> position
        if not self._positions:
            self._positions = {str(d["id"]): i for i, d in enumerate(self.protein_index.docs)}
        pos = self._positions
        return [(np.array([pos[str(h.doc["id"])] for h in hs], dtype=np.int64), np.array([h.score for h in hs]))
                for hs in self.protein_index.search(proteins, k=depth)]

    def _rescore(self, found: list[tuple[np.ndarray, np.ndarray]], orfs: list[Orf], keep: int
                 ) -> list[tuple[Hit, Orf, float | None]]:
        """One query's protein hits, best first, the ``keep`` best only, from its ORFs' candidates
        (``found[i]``: ORF ``orfs[i]``'s positions and cosines). A candidate several ORFs found
        counts once, with its best cosine and that ORF. With ``rerank`` the top ``rerank`` by
        cosine are re-scored by their ORF's ``-log10 E`` (each Hit's score; the cosine comes
        third) and the rest dropped; without, the cosine orders them (third: None)."""
        assert self.protein_index is not None
        if not found:
            return []
        pos = np.concatenate([p for p, _ in found])
        cos = np.concatenate([c for _, c in found])
        orf_of = np.concatenate([np.full(p.size, i) for i, (p, _) in enumerate(found)])
        order = np.lexsort((orf_of, -cos))  # best cosine first, the earlier ORF on ties
        _, first = np.unique(pos[order], return_index=True)
        order = order[np.sort(first)]  # each position once, at its best cosine
        docs = self.protein_index.docs
        if not self.rerank:
            return [(Hit(docs[int(pos[j])], float(cos[j]), r), orfs[int(orf_of[j])], None)
                    for r, j in enumerate(order[:keep])]
        order = order[:self.rerank]
        scorer = self.scorer()
        scores = np.zeros(order.size)
        for i in np.unique(orf_of[order]):
            mine = orf_of[order] == i
            if isinstance(scorer, SeededScorer):  # aligned whatever their seeds: the query's first, not each ORF's
                scores[mine] = scorer.score(orfs[int(i)].protein, pos[order[mine]],
                                            always=int(mine[:scorer.always].sum()))
            else:
                scores[mine] = scorer.score(orfs[int(i)].protein, pos[order[mine]])
        best = np.argsort(-scores, kind="stable")[:keep]  # equal scores keep the cosine order
        return [(Hit(docs[int(pos[order[r]])], float(scores[r]), int(r)), orfs[int(orf_of[order[r]])],
                 float(cos[order[r]])) for r in best]

    # -- retrieval -----------------------------------------------------------------------------
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, question: str | None = None, **_: Any) -> list[Document]:
        seq = normalize_dna(query, what="query sequence")
        return self.retrieve_many([seq], [question], k=k)[0]

    def retrieve_many(self, seqs: list[str], questions: list[str | None] | None = None,
                      k: int | None = None, tables: list[int | None] | None = None) -> list[list[Document]]:
        """Batched retrieval for normalised sequences: one protein and one DNA search in all.
        ``tables``: each query's genetic code (None: the retriever's ``table``)."""
        k = k or self.k
        depth = max(k, self.depth)  # hits per level into the fusion
        codes = [t or self.table for t in tables or [None] * len(seqs)]
        analyses = [self.analyse(s, t) for s, t in zip(seqs, codes)]
        self._last_analyses = {(s, c, self.min_codons, self.max_orfs): a for s, c, a in zip(seqs, codes, analyses)}
        flat = [(qi, o) for qi, a in enumerate(analyses) for o in a.orfs]
        assert self.protein_index is not None
        found = self._candidates([o.protein for _, o in flat], max(depth, self.rerank)) if flat else []
        per_query: list[list[int]] = [[] for _ in seqs]  # each query's rows of flat / found
        for row, (qi, _) in enumerate(flat):
            per_query[qi].append(row)
        dna: list[list[Hit]] = [[] for _ in seqs]
        if self.index is not None:
            # protein-first never shows a DNA hit below k protein hits: search DNA only where needed
            distinct = [np.unique(np.concatenate([found[r][0] for r in rows])).size if rows else 0 for rows in per_query]
            need = [i for i in range(len(seqs)) if self.fusion == "rrf" or distinct[i] < k]
            if need:
                qs = questions or [None] * len(seqs)
                for i, hits in zip(need, self.index.search([seqs[i] for i in need], [qs[i] for i in need], k=depth)):
                    dna[i] = hits
        # into the fusion: depth protein hits, at least 2k (copies of a feature shown are skipped)
        return [self._fuse(self._rescore([found[r] for r in rows], [flat[r][1] for r in rows], max(depth, 2 * k)), d, k)
                for rows, d in zip(per_query, dna)]

    def _fuse(self, prot: list[tuple[Hit, Orf, float | None]], dna: list[Hit], k: int) -> list[Document]:
        """The top ``k`` of both levels' hits, fused (module doc), as Documents. ``prot``: protein
        hits best first, each with its ORF and, when re-scored, its cosine."""
        entries: dict[str, dict[str, Any]] = {}
        for r, (h, orf, cosine) in enumerate(prot):
            s = self.protein_weight / (self.rrf_c + r + 1) if self.fusion == "rrf" else h.score
            entries[str(h.doc["id"])] = {"hit": h, "orf": orf, "score": s, "level": "protein", "cosine": cosine,
                                         "level_score": h.score, "best": s, "levels": ["protein"]}
        for r, h in enumerate(dna):
            s = self.dna_weight / (self.rrf_c + r + 1) if self.fusion == "rrf" else h.score
            key = str(h.doc["id"])
            e = entries.get(key)
            if e is None:
                entries[key] = {"hit": h, "orf": None, "score": s, "level": "dna", "level_score": h.score,
                                "best": s, "levels": ["dna"]}
                continue
            e["levels"].append("dna")
            if self.fusion == "rrf":
                e["score"] += s
                if s > e["best"]:  # the DNA level ranked it better
                    e.update(level="dna", level_score=h.score, best=s)
        if self.fusion == "rrf":
            ranked = sorted(entries.values(), key=lambda e: (-e["score"], e["level"] != "protein"))
        else:  # protein-first: the levels' scores are in different units; never compared
            ranked = sorted(entries.values(), key=lambda e: (e["level"] != "protein", -e["score"]))
        docs: list[Document] = []
        seen: set[tuple[str, str]] = set()
        for e in ranked:  # only the k shown become Documents (the slow part)
            if len(docs) == k:
                break
            key = same_feature_key(e["hit"].doc)
            if key in seen:  # the same feature read from a second copy of its record (EMBL and GenBank)
                continue
            seen.add(key)
            doc = hit_to_document(Hit(e["hit"].doc, float(e["score"]), len(docs)))
            m = doc.metadata
            m.update(level=e["level"], levels=e["levels"], level_score=float(e["level_score"]))
            if e.get("cosine") is not None:  # re-scored: level_score is -log10 E
                m["cosine"] = float(e["cosine"])
                if e["level"] == "protein":
                    m["evalue"] = float(10.0 ** -e["level_score"])
                    m["evalue_db"] = m["evalue"] * len(self.protein_index or ())
            orf: Orf | None = e["orf"]
            if orf is not None:
                m.update(query_start=orf.start, query_end=orf.end, query_strand=orf.strand, query_frame=orf.frame,
                         orf_partial=bool(orf.partial5 or orf.partial3), orf_aa=orf.codons)
            docs.append(doc)
        return docs


#: Low-complexity windows, as SEG finds them: LOW_WINDOW residues whose composition has under
#: LOW_BITS bits of Shannon entropy (SEG's defaults: 12 and 2.2).
LOW_WINDOW, LOW_BITS = 12, 2.2
#: An ORF with more than this share of its residues in such windows is said to be of low complexity:
#: 7 of 1,500 validation CDS (0.47%) and 2 of 1,500 test CDS have their best ORF above it; poly-A
#: (poly-Lys), (AT)n and (CAG)n read in any frame are at 1.0 (docs/benchmarks.md, "Significance").
LOW_SHARE = 0.5


def low_complexity_share(protein: str) -> float:
    """Share of ``protein``'s residues inside a window of :data:`LOW_WINDOW` residues whose
    composition has under :data:`LOW_BITS` bits of entropy (0.0 for a protein shorter than a window)."""
    import numpy as np

    n = len(protein)
    if n < LOW_WINDOW:
        return 0.0
    codes = np.frombuffer(protein.encode("ascii", "replace"), dtype=np.uint8)
    onehot = codes[:, None] == np.unique(codes)[None, :]  # residue x letter
    counts = np.lib.stride_tricks.sliding_window_view(onehot, LOW_WINDOW, axis=0).sum(axis=2)  # window x letter
    p = counts / LOW_WINDOW
    bits = -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)).sum(axis=1)
    # residue i lies in a low window when one starts in [i - LOW_WINDOW + 1, i]: a full convolution
    # of the low window starts (n - LOW_WINDOW + 1 of them) with a window of ones has n entries
    covered = np.convolve((bits < LOW_BITS).astype(np.int64), np.ones(LOW_WINDOW, dtype=np.int64))
    return float((covered > 0).mean())


def same_feature_key(row: dict[str, Any]) -> tuple[str, str]:
    """Rows of the same feature share this key: the id without the ``#n`` that ``data build`` adds
    to a repeated id (the same record from two files, such as an EMBL and a GenBank copy), and
    the sequence (a repeated id with another sequence, a joined location with the same span, is
    another feature)."""
    return re.sub(r"#\d+$", "", str(row.get("id"))), str(row.get("seq") or row.get("protein") or "")


#: A protein-level hit counts as significant when ``evalue_db`` <= this. Measured through the
#: shipped retriever over the demo's 39,066 proteins (docs/benchmarks.md, "Significance of
#: protein hits"): no shuffled valid CDS (0 of 400) and no random sequence (0 of 300) had a best
#: hit this good, against 51.7% of valid and 66.5% of test CDS (59.8% and 74.0% with stop 26's
#: seed filter, the null rows still at 0); set on the valid and null sets.
SIGNIFICANT_E = 0.01


def protein_evalues(docs: Sequence[Document]) -> list[float]:
    """The ``evalue_db`` of each neighbour that has one: the re-scored protein-level hits (this
    retriever and :class:`~dnahlm_rag.task_retriever.TaskRetriever` set it on those only)."""
    return [float(d.metadata["evalue_db"]) for d in docs if d.metadata.get("evalue_db") is not None]


def significance_note(docs: Sequence[Document]) -> str | None:
    """A provenance line when a query's protein-level neighbours are no better than chance: the
    best ``evalue_db`` among ``docs`` is above :data:`SIGNIFICANT_E`. None when it is below, or
    when no neighbour is a protein hit with an E-value (a DNA-level or non-coding answer)."""
    evalues = protein_evalues(docs)
    if not evalues or min(evalues) <= SIGNIFICANT_E:
        return None
    return (f"no significant protein hit: the best, E = {min(evalues):.2g} (hits this good expected by chance in a "
            f"search of the whole index; significant: E <= {SIGNIFICANT_E:g}), is what an unrelated or shuffled "
            "sequence also finds: the sequence may not code for a protein of a family in the index, so treat "
            "the answer as a guess")


def protein_index_beside(index_dir: str | Path) -> Path | None:
    """``<parent of index_dir>/proteins`` when it holds a built index and ``index_dir`` is a DNA
    index over segments (task indexes keep their labelled neighbours: no protein fusion)."""
    import json

    d = Path(index_dir)
    p = d.parent / PROTEIN_INDEX_NAME
    if p.resolve() == d.resolve() or not (p / "manifest.json").is_file():
        return None
    try:
        m = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return None  # the DNA index's own load reports what is wrong with it
    if m.get("source", {}).get("task") is not None:
        return None
    return p


def make_retriever(index_dir: str, *, model_dir: str | None = None, k: int = 4,
                   protein: str | None = "auto", table: int = DEFAULT_TABLE) -> BaseRetriever:
    """The retriever ``ask``/``batch`` use: fused when a protein index applies, else DNA only.

    ``protein``: ``"auto"`` (fuse with :func:`protein_index_beside` when there is one), ``None``
    or ``"off"`` (DNA only), or a protein index folder. ``table``: the NCBI genetic code the
    query's ORFs are read with (fused only).
    """
    pdir: Path | None = None
    if protein == "auto":
        pdir = protein_index_beside(index_dir)
    elif protein not in (None, "off"):
        pdir = Path(protein)
        if not pdir.is_dir():
            raise DnaHlmError(f"no protein index at {pdir}: build one with `dnahlm index build --embedder protein`")
    if pdir is None:
        return SegmentRetriever(index_dir=index_dir, model_dir=model_dir, k=k)
    return FusedRetriever(index_dir=index_dir, protein_index_dir=str(pdir), model_dir=model_dir, k=k, table=table)
