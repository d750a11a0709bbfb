"""``SegmentRetriever``: a LangChain ``BaseRetriever`` over a :class:`~dnahlm_rag.index.SegmentIndex`.

The query string is a DNA sequence (normalised with :func:`dnahlm_rag.seq.normalize_dna`; not
DNA is an :class:`~dnahlm_rag.errors.InvalidSequenceError`). An optional ``question`` keyword
(``retriever.invoke(seq, question=...)``) joins the query for ``+text`` indexes. Each
``Document`` has the segment's description as ``page_content`` and metadata ``id, organism,
accession, type, start, end`` (0-based half-open), ``strand`` (+1/-1), ``gene, product, label,
score`` (inner product, higher is closer) and ``rank``; the sequence itself is in
``metadata["seq"]`` for few-shot prompts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, model_validator

from .index import Hit, SegmentIndex
from .seq import normalize_dna

META_FIELDS = ("id", "organism", "accession", "type", "start", "end", "strand", "gene", "product", "label", "seq")


def hit_to_document(hit: Hit) -> Document:
    meta = {k: hit.doc.get(k) for k in META_FIELDS}
    meta.update(score=hit.score, rank=hit.rank)
    return Document(page_content=hit.doc.get("description") or "", metadata=meta, id=str(hit.doc["id"]))


class SegmentRetriever(BaseRetriever):
    """Top-``k`` known segments nearest a query sequence (and question).

    Build with ``SegmentRetriever(index=SegmentIndex.load(dir), k=4)`` or
    ``SegmentRetriever(index_dir="indexes/NAME", k=4)``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: SegmentIndex | None = None
    index_dir: str | None = None
    model_dir: str | None = None  # needed only by lm-embedder indexes
    k: int = 4

    @model_validator(mode="after")
    def _load(self) -> "SegmentRetriever":
        if self.index is None:
            if self.index_dir is None:
                raise ValueError("SegmentRetriever needs index= or index_dir=")
            self.index = SegmentIndex.load(Path(self.index_dir), model_dir=self.model_dir)
        return self

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, question: str | None = None, **_: Any) -> list[Document]:
        seq = normalize_dna(query, what="query sequence")
        assert self.index is not None
        hits = self.index.search([seq], [question], k=k or self.k)[0]
        return [hit_to_document(h) for h in hits]

    def retrieve_many(self, seqs: list[str], questions: list[str | None] | None = None,
                      k: int | None = None) -> list[list[Document]]:
        """Batched retrieval (one embedding pass and one FAISS search) for normalised sequences."""
        assert self.index is not None
        return [[hit_to_document(h) for h in hits] for hits in self.index.search(seqs, questions, k=k or self.k)]

    def provenance(self, query: str) -> list[str]:
        """What the index's embedder read in a normalised query, for the answer's provenance (its
        ``query_notes``: the anticodon for the tRNA embedder, :mod:`dnahlm_rag.embed.trna`); nothing
        for embedders without notes."""
        assert self.index is not None
        notes = getattr(self.index.embedder.seq, "query_notes", None)
        return notes(query) if notes is not None else []
