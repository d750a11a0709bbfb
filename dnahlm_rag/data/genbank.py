"""Streaming GenBank/EMBL reading with Biopython, one record at a time, into annotated features.

Coordinates: GenBank/EMBL write 1-based inclusive ``a..b``; Biopython gives 0-based half-open
locations, and that is what :class:`Feature` carries: ``start = a - 1``, ``end = b``. A compound
location (``join(...)``, ``order(...)``) keeps its parts in ``parts`` and spans
``[min start, max end)``; its sequence is Biopython's ``location.extract`` (parts joined in
biological order). ``seq`` is always 5'->3' of the feature: minus-strand features are
reverse-complemented. A feature whose parts lie on both strands gets ``strand = 0`` in ``parts``
terms and is reported with the strand of its first part.

IUPAC codes: record sequences go through :func:`dnahlm_rag.seq.normalize_dna` (upper case, U->T,
ambiguity codes kept); a record with any other letter is malformed. Features keep ambiguity codes
in ``segments.jsonl``; task builders use only pure A/C/G/T sequences.

Malformed input: the file is cut into records at ``//`` lines (and at a ``LOCUS``/``ID`` line that
opens a record while the one before lacks its ``//``) and each record is parsed on its own,
so one bad record is reported (file, record number and name, reason) and skipped while the rest of
the file is still read. Records without sequence (CONTIG-only, ``Seq(None)``) count as malformed.
"""
from __future__ import annotations

import gzip
import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from Bio import BiopythonWarning, SeqIO
from Bio.SeqRecord import SeqRecord

from ..errors import DnaHlmError, InvalidSequenceError
from ..seq import normalize_dna
from .problems import Problems

SKIP_TYPES = {"source", "gene"}  # 'gene' repeats the CDS/RNA span; 'source' is the whole record


@dataclass
class Record:
    """One parsed record: normalized sequence and its features."""

    file: str
    name: str
    accession: str
    organism: str
    description: str
    seq: str
    features: list["Feature"] = field(default_factory=list)
    # (type, location as written, reason) of each feature features_of skipped
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Feature:
    type: str
    start: int            # 0-based, inclusive
    end: int              # 0-based, exclusive
    strand: int           # +1 or -1 (5'->3' direction of ``seq`` on the record)
    parts: list[tuple[int, int, int]]
    seq: str              # 5'->3' of the feature
    qualifiers: dict[str, str]

    @property
    def gene(self) -> str:
        return self.qualifiers.get("gene", "") or self.qualifiers.get("locus_tag", "")

    @property
    def product(self) -> str:
        return self.qualifiers.get("product", "")


#: Byte-order marks of UTF-16/UTF-32 text (no UTF-8 or ASCII file starts with FF FE or FE FF);
#: UTF-32's before UTF-16's, since FF FE 00 00 starts with FF FE.
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
              (b"\xfe\xff", "UTF-16"))


def wide_encoding(head: bytes) -> str | None:
    """``"UTF-16"`` or ``"UTF-32"`` when a file's first bytes are that encoding's byte-order mark, else None."""
    return next((name for bom, name in _WIDE_BOMS if head.startswith(bom)), None)


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a plain or gzip-compressed text file (by magic bytes, not by name), UTF-8 with or
    without a byte-order mark; a UTF-16/UTF-32 file (by its byte-order mark) is a one-line error."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    wide = wide_encoding(magic)
    if wide:
        raise DnaHlmError(f"{path} is {wide} text: save it as UTF-8 or ASCII (e.g. iconv -f {wide} -t UTF-8)")
    if magic[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def guess_format(path: str | Path) -> str:
    """``"embl"`` when the first non-blank line starts with ``ID``, else ``"genbank"``."""
    with open_text(path) as f:
        for line in f:
            if line.strip():
                return "embl" if line.startswith("ID ") else "genbank"
    return "genbank"


def _record_texts(path: str | Path) -> Iterator[str]:
    """The file's records as text, cut at ``//`` terminator lines, and before a ``LOCUS``/``ID``
    header line that opens a record while the one before lacks its ``//`` (that record is then
    parsed alone, and reported malformed, instead of swallowing the next one)."""
    buf: list[str] = []
    header = False  # buf holds a header line
    with open_text(path) as f:
        for line in f:
            opens = line.startswith(("LOCUS ", "ID   "))
            if opens and header:
                yield "".join(buf)
                buf, header = [], False
            buf.append(line)
            header = header or opens
            if line.startswith("//"):
                yield "".join(buf)
                buf, header = [], False
    if any(line.strip() for line in buf):
        yield "".join(buf)


def _first_name(text: str) -> str:
    for line in text.splitlines():
        if line.startswith(("LOCUS", "ID ")):
            parts = line.split()
            return parts[1].rstrip(";") if len(parts) > 1 else "?"
    return "?"


def _qualifiers(feat) -> dict[str, str]:
    out = {}
    for key in ("gene", "locus_tag", "product", "function", "note", "anticodon", "organism", "EC_number", "transl_table"):
        v = feat.qualifiers.get(key)
        if v:
            out[key] = " ".join(" ".join(v).split())
    return out


def record_organism(rec: SeqRecord, override: str | None = None) -> str:
    """Organism name: the registry's override, the ORGANISM line, or the source feature."""
    if override:
        return override
    org = rec.annotations.get("organism") or ""
    if org.strip() in ("", "."):
        org = ""
        for f in rec.features:
            if f.type == "source" and f.qualifiers.get("organism"):
                org = f.qualifiers["organism"][0]
                break
    return " ".join(org.split()) or "unknown organism"


def features_of(rec: SeqRecord, seq: str, problems: Problems | None = None, file: str = "",
                skipped: list[tuple[str, str, str]] | None = None) -> list[Feature]:
    """Features of ``rec`` (minus ``source``/``gene``) with 0-based coordinates and 5'->3' sequence.

    A feature pointing into another record (``join(AB123.1:1..100, ...)``) or outside the sequence is
    skipped (not a malformed record: the rest of the record is fine); ``skipped``, when given,
    receives ``(type, location, reason)`` for each."""
    out: list[Feature] = []
    n = len(seq)
    for f in rec.features:
        if f.type in SKIP_TYPES or f.location is None:
            continue
        loc = f.location
        parts = loc.parts
        if any(p.ref for p in parts) or int(loc.start) < 0 or int(loc.end) > n or int(loc.end) <= int(loc.start):
            if skipped is not None:
                why = ("points into another record" if any(p.ref for p in parts) else
                       f"lies outside the record's {n} bases" if int(loc.end) > n or int(loc.start) < 0 else "is empty")
                skipped.append((f.type, str(loc), why))
            continue
        fseq = loc.extract(seq)
        strand = parts[0].strand if parts[0].strand in (1, -1) else 1
        out.append(Feature(
            type=f.type, start=int(loc.start), end=int(loc.end), strand=strand,
            parts=[(int(p.start), int(p.end), p.strand if p.strand in (1, -1) else 1) for p in parts],
            seq=fseq, qualifiers=_qualifiers(f),
        ))
    return out


def _parse_failure(e: Exception) -> str:
    """A one-line reason for a record Biopython could not read, in the words of the file format
    rather than of Biopython's classes where the class says more than its message."""
    if type(e).__name__ == "UndefinedSequenceError":
        return "no sequence could be read (the ORIGIN/SQ section is missing, empty or malformed)"
    return f"{type(e).__name__}: {e}"


def iter_records(path: str | Path, problems: Problems, fmt: str | None = None,
                 organism: str | None = None) -> Iterator[Record]:
    """Parse ``path`` record by record; report and skip malformed ones. Streaming: one record in memory."""
    path = Path(path)
    fmt = fmt or guess_format(path)
    for i, text in enumerate(_record_texts(path), start=1):
        label = f"#{i} ({_first_name(text)})"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BiopythonWarning)
                rec = SeqIO.read(io.StringIO(text), fmt)
            raw = str(rec.seq)
        except Exception as e:  # Biopython raises ValueError/UndefinedSequenceError/... on bad records
            problems.report(path, label, _parse_failure(e))
            continue
        if rec.annotations.get("molecule_type", "").lower() == "protein":
            problems.report(path, label, "protein record (GenPept), not DNA")
            continue
        try:
            seq = normalize_dna(raw, what=f"record {label}")
        except InvalidSequenceError as e:
            problems.report(path, label, str(e))
            continue
        acc = rec.id if rec.id and rec.id != "<unknown id>" else rec.name
        try:
            skipped: list[tuple[str, str, str]] = []
            feats = features_of(rec, seq, problems, str(path), skipped)
        except Exception as e:  # a location Biopython accepted but cannot extract
            problems.report(path, label, f"feature table: {type(e).__name__}: {e}")
            continue
        yield Record(file=str(path), name=rec.name, accession=acc, organism=record_organism(rec, organism),
                     description=rec.description, seq=seq, features=feats, skipped=skipped)


_KIND_WORDS = {
    "CDS": "protein-coding sequence", "tRNA": "transfer RNA gene", "rRNA": "ribosomal RNA gene",
    "ncRNA": "non-coding RNA gene", "tmRNA": "transfer-messenger RNA gene", "misc_feature": "annotated region",
    "exon": "exon", "intron": "intron", "mRNA": "messenger RNA", "repeat_region": "repeat region",
    "misc_RNA": "RNA gene", "regulatory": "regulatory region", "promoter": "promoter",
    "rep_origin": "origin of replication", "mobile_element": "mobile element", "5'UTR": "5' untranslated region",
    "3'UTR": "3' untranslated region", "sig_peptide": "signal peptide coding region", "mat_peptide": "mature peptide coding region",
}


def describe(feature: Feature, organism: str, accession: str) -> str:
    """An English sentence built from the feature's qualifiers (GenBank 1-based coordinates in it)."""
    kind = _KIND_WORDS.get(feature.type, f"{feature.type} feature")
    q = feature.qualifiers
    s = f"A {kind}"
    if q.get("gene"):
        s += f" ({q['gene']})"
    if feature.product:
        s += (" encoding " if feature.type == "CDS" else " for ") + feature.product
    strand = "plus" if feature.strand == 1 else "minus"
    s += f" in {organism}, {accession} {feature.start + 1}..{feature.end} on the {strand} strand ({len(feature.seq)} nt)."
    if q.get("function"):
        s += f" Function: {q['function'].rstrip('.')}."
    if q.get("note"):
        s += f" Note: {q['note'].rstrip('.')}."
    return s


_WHERE = re.compile(r", \S+ \d+\.\.\d+ on the (?:plus|minus) strand \(\d+ nt\)\.")


def transferable(description: str) -> str:
    """What a :func:`describe` sentence says about the sequence itself, fit to answer for a
    *similar* sequence: the clause naming the organism, accession and coordinates, and the free-text
    note, are dropped (they say where this copy was found, not what it is); the function stays.
    Text not made by :func:`describe` comes back unchanged.

    >>> transferable("A protein-coding sequence (thrA) encoding aspartate kinase in Escherichia coli K-12, "
    ...              "NC_000913.3 337..2799 on the plus strand (2463 nt). Function: enzyme. Note: GO terms.")
    'A protein-coding sequence (thrA) encoding aspartate kinase. Function: enzyme.'
    """
    m = _WHERE.search(description)
    if m is None:
        return description
    cut = description.rfind(" in ", 0, m.start())  # organism names do not hold " in "; products may
    if cut < 0:
        return description
    rest = description[m.end():]
    note = rest.find(" Note: ")
    return description[:cut] + "." + (rest[:note] if note >= 0 else rest)
