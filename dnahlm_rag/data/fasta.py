"""Streaming FASTA reading: one record in memory at a time, malformed records reported and skipped.

Each record's sequence goes through :func:`dnahlm_rag.seq.normalize_dna`: line breaks and
whitespace removed, upper-cased (soft-masked repeats become ordinary bases), U->T, IUPAC
ambiguity codes (``R Y S W K M B D H V N``) kept. Pretraining then cuts pieces only from runs of
plain A/C/G/T, so N runs and ambiguity codes are split points and never reach the corpus.

A record is malformed (reported with file, record number and id, then skipped) when it is empty
or contains a character that is not DNA (protein letters, punctuation). Text before the first
``>`` is reported once and ignored. Gzip is recognised by its magic bytes.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidSequenceError
from ..seq import normalize_dna
from .genbank import open_text
from .problems import Problems


@dataclass
class FastaRecord:
    id: str
    description: str
    seq: str


def iter_fasta(path: str | Path, problems: Problems) -> Iterator[FastaRecord]:
    """Yield normalized records of ``path``; report and skip malformed ones."""
    path = Path(path)
    header: str | None = None
    chunks: list[str] = []
    n = 0
    preamble = False

    def finish() -> FastaRecord | None:
        assert header is not None
        rid = header.split()[0] if header.split() else ""
        label = f"#{n} ({rid or 'no id'})"
        try:
            seq = normalize_dna("".join(chunks), what=f"record {label}")
        except InvalidSequenceError as e:
            problems.report(path, label, str(e))
            return None
        return FastaRecord(rid or f"record{n}", header, seq)

    with open_text(path) as f:
        for line in f:
            if line.startswith(">"):
                if header is not None and (rec := finish()) is not None:
                    yield rec
                n += 1
                header = line[1:].strip()
                chunks = []
            elif header is None:
                if line.strip() and not preamble:
                    preamble = True
                    problems.report(path, "#0 (before first header)", "text before the first '>' line ignored")
            else:
                chunks.append(line)
    if header is not None and (rec := finish()) is not None:
        yield rec
    if header is None and not preamble:
        problems.report(path, "#0", "no FASTA records (no '>' line)")
