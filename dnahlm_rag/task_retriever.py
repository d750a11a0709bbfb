"""``TaskRetriever``: a LangChain ``BaseRetriever`` over a task's TRAIN rows, through the task's own
neighbour finder (:func:`~dnahlm_rag.instruct.train_neighbours`).

Some tasks find their neighbours with a finder that has no index folder: ``product`` at the
protein level (:mod:`dnahlm_rag.protein_neighbours`) and ``feature_type`` with protein-level
evidence deciding what codes (:mod:`dnahlm_rag.coding_neighbours`); these are
:data:`~dnahlm_rag.instruct.INDEXLESS_TASKS`. ``dnahlm batch --task T`` (without ``--index``)
answers them with this retriever, so a batch shows exactly the neighbours that tuning, mixing
and ``dnahlm eval`` use. The finder is built from ``data/tasks/<task>/train.jsonl`` when the
retriever is made (about 1-2 s for these tasks).

Each ``Document`` has the row's ``id``, ``organism``, ``label``, ``seq``, ``score`` (the finder's:
``-log10 E`` at the protein level, also given as ``evalue`` and, times the finder's number of
proteins, ``evalue_db``; else cosine), ``rank`` and ``level``
(the finder's level; for a finder with ``search_levels``, such as ``CodingNeighbours``, the level
each query's neighbours actually came from); ``page_content`` is empty (a neighbour answers with
its label).
"""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr, model_validator

from .errors import DnaHlmError
from .seq import normalize_dna


class TaskRetriever(BaseRetriever):
    """Top-``k`` train rows of ``task`` nearest a query sequence, by the task's neighbour finder."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    data_dir: str = "data"
    task: str
    k: int = 4
    _rows: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _finder: Any = PrivateAttr(default=None)
    _n_proteins: int = PrivateAttr(default=0)

    @model_validator(mode="after")
    def _load(self) -> "TaskRetriever":
        from .instruct import read_split, train_neighbours

        self._rows = read_split(self.data_dir, self.task, "train")
        if not self._rows:
            raise DnaHlmError(f"task {self.task!r} has an empty train split: nothing to retrieve")
        self._finder = train_neighbours(self.task, self._rows)
        from .protein_words import WordIndex

        words = [w for w in (getattr(self._finder, "index", None), getattr(self._finder, "words", None))
                 if isinstance(w, WordIndex)]  # a protein-level finder's word index: one row per protein
        self._n_proteins = len(words[0]) if words else 0
        return self

    def _document(self, i: int, score: float, rank: int, level: str) -> Document:
        row = self._rows[i]
        meta = {"id": row["id"], "organism": row.get("organism"), "label": row.get("label"), "seq": row["seq"],
                "score": score, "rank": rank, "level": level}
        if level == "protein":  # these finders score protein hits as -log10 E
            meta["evalue"] = 10.0 ** -score
            meta["evalue_db"] = meta["evalue"] * self._n_proteins  # as the fused retriever's (its module doc)
        return Document(page_content="", metadata=meta, id=str(row["id"]))

    def retrieve_many(self, seqs: list[str], questions: list[str | None] | None = None,
                      k: int | None = None) -> list[list[Document]]:
        """Batched retrieval for normalised sequences (``questions`` are not used by these finders)."""
        levelled = getattr(self._finder, "search_levels", None)
        if levelled is not None:
            found = levelled(seqs, k or self.k)
        else:
            level = str(getattr(self._finder, "level", "kmer"))
            found = [(level, hits) for hits in self._finder.search(seqs, k or self.k)]
        return [[self._document(i, s, r, level) for r, (i, s) in enumerate(hits)] for level, hits in found]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, **_: Any) -> list[Document]:
        seq = normalize_dna(query, what="query sequence")
        return self.retrieve_many([seq], k=k)[0]
