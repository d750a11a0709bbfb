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
    seq = _STRIP.sub("", raw).upper().replace("U", "T")
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


# A pasted sequence: base letters (any case, U and N included) with whitespace and digits between
# them (FASTA line breaks, GenBank ORIGIN numbering), not touching other letters.
_PASTED = re.compile(r"(?<![A-Za-z])[ACGTUNacgtun](?:[ACGTUNacgtun\s\d]*[ACGTUNacgtun])?(?![A-Za-z])")
MIN_PASTED = 20  # bases; English words made of a, c, g, t, u, n alone ("a cat can") never reach it


def sequence_in_text(text: str, min_len: int = MIN_PASTED) -> tuple[str, str] | None:
    """A DNA sequence pasted into an English question: ``(question, sequence)`` with the longest run
    of at least ``min_len`` bases cut out of the question (replaced by "this sequence") and
    normalised, or None when the text holds no such run.

    >>> sequence_in_text("What does atgaaacgcattagcaccaccattacc encode?")
    ('What does this sequence encode?', 'ATGAAACGCATTAGCACCACCATTACC')
    >>> sequence_in_text("Is a cat a gene?") is None
    True
    """
    best = None
    for m in _PASTED.finditer(text):
        n = sum(c.isalpha() for c in m.group())
        if n >= min_len and (best is None or n > best[0]):
            best = (n, m)
    if best is None:
        return None
    m = best[1]
    rest = re.sub(r"(?<!\S)>\S*", " ", text[:m.start()])  # a pasted FASTA header's '>id'
    question = " ".join((rest + "this sequence" + text[m.end():]).split())
    return question, normalize_dna(m.group(), what="the sequence in the question")


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
