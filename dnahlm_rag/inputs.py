"""Reading the inputs of ``batch`` (and ``ask --fasta``): FASTA, JSON lines, GenBank/EMBL.

Files: FASTA (``.fa``, ``.fasta``, ``.fna``, ``.fas``), JSON lines (``.jsonl``: ``id``, ``seq``,
optional ``question``, ``label`` and ``genetic_code``; a row without ``seq`` may have its sequence
pasted into its question, as ``ask`` accepts, :func:`~dnahlm_rag.seq.sequence_in_text`; a row with
both is answered about its ``seq``, and its provenance says the pasted one was ignored), or
GenBank/EMBL, gzipped or not (one row per CDS, or other chosen feature type, with its annotated
product as ``label``; a row's id is ``accession:type:start-end:strand``, 0-based half-open).
A row that cannot be read becomes an :class:`InputRow` with ``error`` set, never an exception, so
the batch goes on; a file that cannot be read at all is a one-line :class:`DnaHlmError`.
Sequences are returned raw: the answerer normalises them.
"""
from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DnaHlmError
from .orfs import DEFAULT_TABLE, check_table
from .seq import pasted_ignored_note, sequence_in_text

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
GENBANK_SUFFIXES = (".gb", ".gbk", ".gbff", ".genbank", ".embl")  # also with .gz


@dataclass
class InputRow:
    id: str
    seq: str | None  # raw, not yet normalised
    question: str | None = None
    label: Any = None
    error: str | None = None  # a row that could not even be read
    notes: list[str] = field(default_factory=list)  # provenance lines about how the row was read
    genetic_code: int | None = None  # its own code (a GenBank CDS's /transl_table, a JSONL row's genetic_code)


def split_lines(text: str) -> list[str]:
    """Lines split at ``\n`` only (``str.splitlines`` also splits at U+2028, U+0085 and other
    characters that JSON allows raw inside strings), without a trailing ``\r`` or a leading
    byte-order mark (concatenated files each bring theirs)."""
    return [(line[:-1] if line.endswith("\r") else line).lstrip("\ufeff") for line in text.split("\n")]


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (bytes that were not UTF-8, or a JSON ``\\ud800`` escape)
    replaced by U+FFFD: they cannot be tokenized nor written as UTF-8."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if not text.isascii() else text


def check_input_file(p: Path) -> Path:
    """``p``, refused with a one-line error when it is a folder, does not exist, or is no regular
    file (``/dev/null``, a named pipe, a device: nothing to read, or read only once)."""
    if p.is_dir():
        raise DnaHlmError(f"{p} is a folder, not a file")
    if not p.exists():
        raise DnaHlmError(f"input file {p} not found")
    if not p.is_file():
        kind = "a named pipe (FIFO)" if p.is_fifo() else "a socket" if p.is_socket() else "a device"
        raise DnaHlmError(f"{p} is not a regular file but {kind}: give a file that holds the input")
    return p


def _read_text(p: Path) -> str:
    """A text input file: UTF-8 with or without a byte-order mark, bad bytes replaced. A gzipped
    file, and a UTF-16 or UTF-32 one (a byte-order mark, or NUL bytes in its first 1,000, as
    Windows Notepad's "Unicode" writes), are one-line errors."""
    from .data.genbank import wide_encoding

    with open(check_input_file(p), "rb") as f:
        head = f.read(1000)
    if head.startswith(b"\x1f\x8b"):
        raise DnaHlmError(f"{p} is gzipped: decompress it first (gzip -d), or name it .gb.gz/.gbk.gz/.embl.gz "
                          "if it is GenBank/EMBL")
    wide = wide_encoding(head)
    if wide or b"\x00" in head:
        what = f"is {wide} text" if wide else "holds NUL bytes (UTF-16 or UTF-32 text, or not text at all)"
        raise DnaHlmError(f"{p} {what}: save it as UTF-8 or ASCII (e.g. iconv -f {wide or 'UTF-16'} -t UTF-8)")
    return p.read_text(encoding="utf-8-sig", errors="replace")


def read_fasta_text(text: str, where: str) -> list[tuple[str, str]]:
    """(id, raw sequence) for each ``>`` record; the id is the header's first word."""
    recs: list[tuple[str, list[str]]] = []
    for n, line in enumerate(split_lines(text), 1):
        if line.startswith(">"):
            recs.append((line[1:].split()[0] if line[1:].split() else f"record{len(recs) + 1}", []))
        elif line.strip() and not line.startswith(";"):
            if not recs:
                raise DnaHlmError(f"{where}:{n}: not FASTA: sequence before the first '>' header")
            recs[-1][1].append(line)
    return [(i, "".join(parts)) for i, parts in recs]


def read_single_fasta(path: str | Path) -> str:
    p = Path(path)
    recs = read_fasta_text(_read_text(p), str(p))
    if len(recs) != 1:
        raise DnaHlmError(f"{p} holds {len(recs)} FASTA records; ask takes exactly one (use `dnahlm batch` for many)")
    return recs[0][1]


def is_genbank_path(path: str | Path) -> bool:
    """Whether a batch input is read as GenBank/EMBL (by its name, ``.gz`` allowed)."""
    name = Path(path).name.lower()
    return Path(name.removesuffix(".gz")).suffix in GENBANK_SUFFIXES


def check_feature_types(feature_types: Sequence[str]) -> None:
    """``--features`` must name feature types that records are read with (not ``gene``/``source``)."""
    from .data.genbank import SKIP_TYPES

    if not feature_types:
        raise DnaHlmError("--features is empty: give feature types such as CDS or CDS,tRNA,rRNA")
    skipped = sorted(set(feature_types) & SKIP_TYPES)
    if skipped:
        raise DnaHlmError(f"--features {','.join(skipped)}: {' and '.join(sorted(SKIP_TYPES))} features are not read "
                          "(a gene repeats its CDS or RNA feature's span, a source is the whole record): "
                          "use CDS, tRNA, rRNA, ncRNA, ...")


def genbank_rows(path: Path, feature_types: Sequence[str] = ("CDS",),
                 genetic_code: int | None = None) -> list[InputRow]:
    """One row per feature of ``feature_types`` in a GenBank/EMBL file (plain or gzipped): id
    ``accession:type:start-end:strand`` (0-based half-open on the record), the feature's sequence
    5'->3', and its annotated product (else gene, else type) as ``label``, to compare answers with.
    A compound location's id lists its parts (:func:`feature_span`).
    A malformed record, or one with none of those features, becomes a row with an ``error``. A
    feature's ``/transl_table`` becomes the row's ``genetic_code`` when ``genetic_code`` is None
    (no code chosen for the run); a chosen one that differs, or a table Biopython does not know,
    gets a note."""
    from .data.genbank import iter_records
    from .data.problems import Problems

    check_feature_types(feature_types)
    problems = Problems(echo=0, keep=1 << 62)  # every malformed record becomes an error row
    rows: list[InputRow] = []
    for rec in iter_records(path, problems):
        feats = [f for f in rec.features if f.type in feature_types]
        skipped = [(t, loc, why) for t, loc, why in rec.skipped if t in feature_types]
        for t, loc, why in skipped:  # a feature that cannot be read is a row of its own, with the reason
            rows.append(InputRow(f"{rec.accession}:{t}:{loc}", None, error=f"{t} feature at {loc} {why}: skipped"))
        if not feats and not skipped:
            rows.append(InputRow(f"{rec.accession}", None, error=f"record {rec.accession} has no "
                                 f"{'/'.join(feature_types)} feature (give whole sequences as FASTA)"))
        for f in feats:
            code, notes = _row_code(f.qualifiers.get("transl_table", ""), genetic_code)
            rows.append(InputRow(f"{rec.accession}:{f.type}:{feature_span(f)}:{'+' if f.strand >= 0 else '-'}", f.seq,
                                 None, f.product or f.gene or f.type, notes=notes, genetic_code=code))
    for item in problems.items:
        rows.append(InputRow(f"{Path(item['file']).name} record {item['record']}", None,
                             error=f"malformed record: {item['reason']}"))
    return rows


def feature_span(f: Any) -> str:
    """A feature's location in a batch row's id: ``start-end`` (0-based half-open on the record),
    or its parts in the order written, ``3980-5386,0-136``, for a compound location (a joined
    gene, or one across the origin of a circular genome, whose overall span would be the whole
    record and the same for every such gene)."""
    if len(f.parts) > 1:
        return ",".join(f"{a}-{b}" for a, b, _ in f.parts)
    return f"{f.start}-{f.end}"


def _row_code(given: str, chosen: int | None) -> tuple[int | None, list[str]]:
    """A row's genetic code (``given``: a GenBank feature's ``/transl_table`` or a JSONL row's
    ``genetic_code``, maybe empty) when no code was ``chosen`` for the run, and the notes on a
    conflict or an unknown table."""
    if not given:
        return None, []
    if chosen is not None:
        return None, [] if given == str(chosen) else [
            f"the row gives genetic code {given}, but ORFs were read with genetic code {chosen} (--genetic-code)"]
    try:
        return check_table(int(given)), []
    except (ValueError, DnaHlmError):
        return None, [f"the record's /transl_table={given} is no genetic code Biopython knows: read with {DEFAULT_TABLE}"]


def _known_code(code: Any) -> bool:
    """Whether a JSONL row's ``genetic_code`` is an NCBI table number Biopython knows."""
    try:
        return isinstance(code, int) and not isinstance(code, bool) and check_table(code) == code
    except DnaHlmError:
        return False


def read_inputs(path: str | Path, feature_types: Sequence[str] = ("CDS",),
                genetic_code: int | None = None) -> list[InputRow]:
    """Rows of a FASTA, JSONL or GenBank/EMBL batch file (:func:`genbank_rows`, one row per feature
    of ``feature_types``, with its ``/transl_table`` unless ``genetic_code`` is chosen); unreadable
    rows carry an ``error``."""
    p = check_input_file(Path(path))
    rows: list[InputRow] = []
    if is_genbank_path(p):
        try:
            rows = genbank_rows(p, feature_types, genetic_code)
        except (OSError, EOFError, UnicodeError, zlib.error) as e:  # a corrupt or truncated gzip stream
            raise DnaHlmError(f"{p}: cannot read it ({type(e).__name__}: {e}); no row was answered") from None
    elif p.suffix.lower() in FASTA_SUFFIXES:
        rows = [InputRow(i, s) for i, s in read_fasta_text(_read_text(p), str(p))]
    elif p.suffix.lower() == ".jsonl":
        for n, line in enumerate(split_lines(_read_text(p)), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except (json.JSONDecodeError, ValueError, RecursionError) as e:  # RecursionError: nested too deep
                rows.append(InputRow(f"line{n}", None, error=f"line {n} is not a JSON object ({str(e)[:200]})"))
                continue
            rid = clean_text(str(obj.get("id", f"line{n}")))
            seq, question = obj.get("seq"), obj.get("question")
            question = clean_text(question) if isinstance(question, str) else question
            pasted = sequence_in_text(question) if isinstance(question, str) else None
            notes: list[str] = []
            if pasted is not None and not isinstance(seq, str):  # a sequence pasted into the question
                question, seq = pasted
            elif pasted is not None:  # the row's own 'seq' wins, as --seq does in ask
                notes.append(pasted_ignored_note(len(pasted[1]), "'seq'"))
            if question is not None and not isinstance(question, str):
                rows.append(InputRow(rid, None, None, obj.get("label"), f"line {n}: 'question' is not a string"))
                continue
            bad_seq = None if isinstance(seq, str) else \
                "the row has no 'seq' (a question needs a sequence)" if seq is None else \
                f"line {n}: 'seq' is a {type(seq).__name__}, not a string"
            code = obj.get("genetic_code")
            if code is not None and not _known_code(code):
                rows.append(InputRow(rid, None, question, obj.get("label"),
                                     f"line {n}: 'genetic_code' {code!r} is no NCBI genetic code Biopython knows"))
                continue
            code, code_notes = _row_code("" if code is None else str(code), genetic_code)
            rows.append(InputRow(rid, seq if isinstance(seq, str) else None, question, obj.get("label"), bad_seq,
                                 notes + code_notes, code))
    else:
        raise DnaHlmError(f"{p}: unknown input type {p.suffix!r}; expected FASTA ({', '.join(FASTA_SUFFIXES)}), .jsonl "
                          f"or GenBank/EMBL ({', '.join(GENBANK_SUFFIXES)}, gzipped or not)")
    if not rows:
        raise DnaHlmError(f"{p} holds no records")
    seen: set[str] = set()
    for r in rows:
        if r.id in seen and r.error is None:
            r.error = f"duplicate id {r.id!r} (ids must be unique for --resume)"
        seen.add(r.id)
    return rows
