"""DNA sequence normalisation: the one place that decides what counts as DNA.

Documented normalisation, applied to every sequence that enters the system (user queries, FASTA,
GenBank):

* whitespace and digits are removed (pasted GenBank ``ORIGIN`` blocks and FASTA line breaks);
* letters are upper-cased (soft-masked repeats in lower case become ordinary bases);
* ``U`` (RNA) becomes ``T``;
* IUPAC ambiguity codes ``R Y S W K M B D H V`` and ``N`` are accepted and kept; by policy they
  are either kept, replaced by ``N``, or used as split points (see :func:`split_on_ambiguous`);
* gap characters ``-`` and ``.`` are removed;
* anything else (protein letters such as ``E F I L P Q``, punctuation) is an error that names the
  first offending character and its 0-based position.

Examples
--------
>>> normalize_dna("acgu nn\\n")
'ACGTNN'
>>> reverse_complement("AACGTN")
'NACGTT'
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from .errors import InvalidSequenceError

BASES = "ACGT"
IUPAC_AMBIGUOUS = "RYSWKMBDHVN"
IUPAC = BASES + IUPAC_AMBIGUOUS
_COMPLEMENT = str.maketrans("ACGTRYSWKMBDHVN", "TGCAYRSWMKVHDBN")
_STRIP = re.compile(r"[\s0-9\-.]+")
_VALID = re.compile(f"[{IUPAC}]*")
_ACGT_RUNS = re.compile(r"[ACGT]+")


def normalize_dna(raw: str, *, what: str = "sequence") -> str:
    """Return ``raw`` as upper-case IUPAC DNA, or raise :class:`InvalidSequenceError`.

    ``what`` names the input in the error message (for example ``"record chr1 in x.fa"``).
    An empty result is an error: an empty sequence cannot be asked about.
    """
    stripped = _STRIP.sub("", raw)
    if not stripped.isascii():  # before upper(): "ß".upper() is "SS", "ſ" (long s) "S", both valid codes
        i = next(i for i, c in enumerate(stripped) if not c.isascii())
        raise InvalidSequenceError(f"{what} is not DNA: character {stripped[i]!r} at position {i} (0-based, after "
                                   f"removing whitespace); expected A, C, G, T, U or IUPAC codes {IUPAC_AMBIGUOUS}")
    seq = stripped.upper().replace("U", "T")
    if not seq:
        raise InvalidSequenceError(f"{what} is empty: expected DNA letters (A, C, G, T; IUPAC codes allowed)")
    m = _VALID.match(seq)
    assert m is not None
    if m.end() != len(seq):
        bad = seq[m.end()]
        raise InvalidSequenceError(
            f"{what} is not DNA: character {bad!r} at position {m.end()} (0-based, after removing "
            f"whitespace); expected A, C, G, T, U or IUPAC codes {IUPAC_AMBIGUOUS}"
        )
    return seq


def rna_note(raw: str) -> str | None:
    """The provenance line for a query given as RNA (:func:`normalize_dna` reads U as T), else None."""
    return "the sequence holds U (RNA): read as DNA, U as T" if "U" in raw or "u" in raw else None


def pasted_ignored_note(pasted_len: int, given: str) -> str:
    """The note that a sequence pasted into the question was ignored for the one ``given`` apart
    (``--seq`` or ``--fasta`` of ``ask``, a batch row's ``'seq'``)."""
    return (f"the question holds a {pasted_len}-base sequence too; answering about the one of {given} "
            "(the pasted one is ignored)")


_BASE_WORD = re.compile(r"[ACGTUNacgtun]+")
_PUNCT = "?!,;:.()[]{}\"'"
MIN_PASTED = 20  # bases; English words made of a, c, g, t, u, n alone ("a cat can") never reach it
MIN_CHUNK = 5  # a shorter word of base letters joins a pasted run only after a line break


def sequence_in_text(text: str, min_len: int = MIN_PASTED) -> tuple[str, str] | None:
    """A DNA sequence pasted into an English question: ``(question, sequence)`` with the longest run
    of at least ``min_len`` bases cut out of the question (replaced by "this sequence"), or None
    when the text holds no such run. The sequence is upper-cased without its whitespace and
    numbers, but still raw otherwise: an RNA ``U`` stays for :func:`rna_note` to see, as with a
    sequence given on its own (:func:`normalize_dna` then reads it as ``T``).

    A run is a sequence of whitespace-separated words of base letters (any case, U and N
    included), with numbers between them (GenBank ``ORIGIN`` numbering); a word shorter than
    ``MIN_CHUNK`` joins only after a line break (the end of a pasted FASTA record), so the "a" of
    "... is ACGT...ACGT a donor?" stays English. A FASTA header (``>id ...``) line before the run is
    dropped from the question.

    >>> sequence_in_text("What does atgaaacgcattagcaccaccattacc encode?")
    ('What does this sequence encode?', 'ATGAAACGCATTAGCACCACCATTACC')
    >>> sequence_in_text("Is a cat a gene?") is None
    True
    """
    runs: list[tuple[int, int, int]] = []  # (bases, start, end) in text
    cur: list[int] | None = None  # [bases, start, end]
    prev_end = 0
    for m in re.finditer(r"\S+", text):
        lead = len(m.group()) - len(m.group().lstrip(_PUNCT))
        core = m.group().strip(_PUNCT)
        a, b = m.start() + lead, m.start() + lead + len(core)
        gap = text[prev_end:m.start()]
        prev_end = m.end()
        is_bases = bool(core) and _BASE_WORD.fullmatch(core) is not None
        joins = is_bases and lead == 0 and (len(core) >= MIN_CHUNK or (cur is not None and "\n" in gap))
        if cur is not None and (joins or (core.isdigit() and m.group() == core)):
            if is_bases:  # the word continues the run ...
                cur[0] += len(core)
                cur[2] = b
            if m.group() != core:  # ... and punctuation after it ends the run ("... GTACGT?")
                runs.append((cur[0], cur[1], cur[2]))
                cur = None
            continue
        if cur is not None:
            runs.append((cur[0], cur[1], cur[2]))
            cur = None
        if is_bases and len(core) >= MIN_CHUNK:
            cur = [len(core), a, b]
            if b < m.end():  # punctuation after it ends the run
                runs.append((cur[0], cur[1], cur[2]))
                cur = None
    if cur is not None:
        runs.append((cur[0], cur[1], cur[2]))
    runs = [r for r in runs if r[0] >= min_len]
    if not runs:
        return None
    n, a, b = max(runs, key=lambda r: r[0])
    before = re.sub(r"(?m)^\s*>.*$", " ", text[:a])  # a pasted FASTA header line
    question = " ".join((before + "this sequence" + text[b:]).split())
    return question, _STRIP.sub("", text[a:b]).upper()  # only base letters, digits and whitespace


def reverse_complement(seq: str) -> str:
    """Reverse complement of upper-case IUPAC DNA (ambiguity codes map to their complements)."""
    return seq.translate(_COMPLEMENT)[::-1]


def canonical(seq: str) -> str:
    """The lexicographically smaller of a sequence and its reverse complement (strand-blind key)."""
    rc = reverse_complement(seq)
    return min(seq, rc)


def acgt_runs(seq: str, min_len: int = 1) -> Iterator[tuple[int, str]]:
    """Yield ``(start, run)`` for maximal runs of plain A/C/G/T at least ``min_len`` long.

    ``start`` is the 0-based offset of the run in ``seq``. Any other character (N runs, IUPAC
    codes) splits the sequence; this is how pretraining text is cut out of genomes.
    """
    for m in _ACGT_RUNS.finditer(seq):
        if m.end() - m.start() >= min_len:
            yield m.start(), m.group()


def split_on_ambiguous(seq: str, min_len: int = 1) -> list[str]:
    """Pieces of ``seq`` between non-ACGT characters, each at least ``min_len`` long."""
    return [run for _, run in acgt_runs(seq, min_len)]


def gc_content(seq: str) -> float:
    """Fraction of G+C among A/C/G/T (ambiguity codes ignored); 0.0 for no plain bases."""
    acgt = sum(seq.count(b) for b in BASES)
    return (seq.count("G") + seq.count("C")) / acgt if acgt else 0.0
