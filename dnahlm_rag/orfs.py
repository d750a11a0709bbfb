"""Open reading frames of a DNA query on both strands, and CDS translation.

A researcher's query is usually a coding sequence, often only a fragment of one, from an organism
that is not in the index. This module finds the frames worth translating so that retrieval can
work at the protein level (:mod:`dnahlm_rag.protein_embed`).

Conventions
-----------
* Coordinates are 0-based, half-open ``[start, end)`` on the query's **forward** strand, whatever
  the ORF's strand. An ORF's ``end - start`` is a multiple of 3 and includes its stop codon when it
  has one.
* ``strand`` is ``+1`` (read the query as given) or ``-1`` (read its reverse complement).
* ``frame`` (0, 1 or 2) is the offset of the first codon from the 5' end of the strand that is read:
  on ``+1`` it is ``start % 3``; on ``-1`` it is ``(len(query) - end) % 3``.
* Genetic codes are NCBI translation tables taken from Biopython (``Bio.Data.CodonTable``), with
  their stop and start codons. Which table applies is chosen per organism group by
  :func:`genetic_code_for` (table 11 by default).

What counts as an ORF (the rules, in order)
-------------------------------------------
1. Each of the six frames is cut at its in-frame stop codons into stop-free stretches.
2. A stretch that follows a stop codon (its 5' boundary lies inside the query) starts at its first
   start codon of the table; without one it yields no ORF (the ATG-less tail of some other gene).
3. A stretch that reaches the 5' end of the strand has no upstream stop in the query: the gene may
   begin before the fragment, so with ``allow_partial`` the ORF starts at the first whole codon and
   is marked ``partial5`` (unless that first codon is itself a start codon, which makes it complete).
4. A stretch that reaches the 3' end without a stop codon is marked ``partial3`` (allowed with
   ``allow_partial``); otherwise the ORF ends after its stop codon.
5. An ORF is kept when its protein (stop excluded) has at least ``min_codons`` codons.
6. Score = protein length in codons, minus codons that contain an ambiguous base (those translate
   to ``X``), plus ``END_BONUS`` (5) for each end that is proven: a start codon at the 5' end, a
   stop codon at the 3' end. The bonus makes a complete ORF beat a stop-free stretch of the other
   strand that is at most 10 codons longer (such "shadow" frames are common in GC-rich genomes,
   whose antisense strand rarely spells TAA/TAG/TGA). ORFs are ranked by score, then
   complete-before-partial, then ``+1`` before ``-1``, then by start; the best ``max_orfs`` are kept.

The frames are read by one compiled loop per strand (numba; tests/test_orfs.py checks it against
these rules spelt out): about 0.25 ms per query where the numpy version took 0.8 (stop 27).

Ambiguous bases: a codon with any base other than A/C/G/T translates to ``X`` (never to a stop) and
is counted in ``ambiguous_codons``. A query with no ORF long enough gives a result whose ``orfs``
is empty and whose ``note`` says so; the six :class:`FrameSummary` entries still report each
frame's stop codons ("frames with stops"), so a pseudogene or frame-shifted read is visible.

>>> r = find_orfs("ATG" + "GCT" * 40 + "TAA", min_codons=30)
>>> (r.orfs[0].start, r.orfs[0].end, r.orfs[0].strand, r.orfs[0].frame, r.orfs[0].protein[:4])
(0, 126, 1, 0, 'MAAA')
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from Bio.Data import CodonTable

from .errors import DnaHlmError
from .seq import normalize_dna, reverse_complement

#: Default table: bacteria, archaea and plant plastids (NCBI table 11).
DEFAULT_TABLE = 11
#: Score bonus (codons) for each proven end of an ORF: a start codon 5', a stop codon 3'.
END_BONUS = 5.0

# Mollicutes that read TGA as Trp (NCBI table 4). Phytoplasma and Acholeplasma use table 11.
_TABLE4_GENERA = ("mycoplasma", "mycoplasmoides", "mesomycoplasma", "metamycoplasma", "mycoplasmopsis",
                  "spiroplasma", "ureaplasma", "mesoplasma", "entomoplasma")
# Used only when no lineage is given: genera whose mitochondria use the vertebrate code (table 2).
_VERTEBRATE_GENERA = ("homo", "pan", "gorilla", "pongo", "macaca", "mus", "rattus", "bos", "sus", "ovis",
                      "capra", "equus", "canis", "felis", "gallus", "danio", "xenopus", "oryzias",
                      "takifugu", "salmo", "oncorhynchus")
# Used only when no lineage is given: eukaryotic genera whose nuclear genes use table 1.
_EUKARYOTE_GENERA = _VERTEBRATE_GENERA + ("arabidopsis", "oryza", "zea", "drosophila", "caenorhabditis",
                                          "saccharomyces", "schizosaccharomyces", "plasmodium",
                                          "dictyostelium", "reclinomonas", "chlamydomonas")


class OrfError(DnaHlmError):
    """A bad ORF-finding request (unknown genetic code, nonsensical minimum length)."""


def genetic_code_for(organism: str = "", *, lineage: Sequence[str] = (), organelle: str | None = None) -> int:
    """NCBI translation table for an organism group.

    Rules (first match wins; names are matched case-insensitively):

    * organelle (or organism text) mentions a plastid/chloroplast: **11** (plant plastid);
    * mitochondrion: vertebrates (``Vertebrata`` in ``lineage``, or a known vertebrate genus when
      no lineage is given) **2**; fungi (``Fungi`` in lineage or genus *Saccharomyces*) **3**;
      other animals (``Metazoa``) **5**; everything else (plants, protists) **1**;
    * genus *Mycoplasma*, *Spiroplasma*, *Ureaplasma*, *Mesoplasma*, *Entomoplasma* (and the 2018
      *Mycoplasma* splits): **4** (TGA = Trp);
    * eukaryotic nuclear genes (``Eukaryota`` in lineage, or a known eukaryotic genus): **1**;
    * anything else (bacteria, archaea, unknown): **11**.

    Tables 1 and 11 assign the same amino acids and differ only in their start codons.
    """
    org = organism.lower()
    genus = org.split()[0] if org.split() else ""
    lin = {x.lower() for x in lineage}
    place = (organelle or "").lower() + " " + org
    if any(w in place for w in ("chloroplast", "plastid", "apicoplast", "cyanelle")):
        return 11
    if "mitochondri" in place:
        if "vertebrata" in lin or (not lin and genus in _VERTEBRATE_GENERA):
            return 2
        if "fungi" in lin or (not lin and genus in ("saccharomyces",)):
            return 3
        if "metazoa" in lin:
            return 5
        return 1
    if genus in _TABLE4_GENERA or (lin & {"mycoplasmataceae", "spiroplasmataceae"}):
        return 4
    if "eukaryota" in lin or (not lin and genus in _EUKARYOTE_GENERA):
        return 1
    return DEFAULT_TABLE


@dataclass(frozen=True)
class _Code:
    """A translation table as lookups over codon indices 0..63 (16*b1 + 4*b2 + b3, A=0 C=1 G=2 T=3);
    index 64 stands for any codon containing an ambiguous base."""

    table: int
    aa: np.ndarray     # (65,) uint8 ASCII amino acid, '*' for stops, 'X' at 64
    stop: np.ndarray   # (65,) bool
    start: np.ndarray  # (65,) bool


_BASE_INDEX = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _BASE_INDEX[_b] = _i
_CODONS = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT"]


@lru_cache(maxsize=None)
def _code(table: int) -> _Code:
    try:
        t = CodonTable.unambiguous_dna_by_id[table]
    except KeyError:
        known = ", ".join(str(k) for k in sorted(CodonTable.unambiguous_dna_by_id))
        raise OrfError(f"unknown genetic code table {table}; NCBI tables known to Biopython: {known}") from None
    aa = np.frombuffer(("".join(t.forward_table.get(c, "*") for c in _CODONS) + "X").encode(), dtype=np.uint8)
    stop = np.array([c in t.stop_codons for c in _CODONS] + [False])
    start = np.array([c in t.start_codons for c in _CODONS] + [False])
    return _Code(table, aa.copy(), stop, start)


def check_table(table: int) -> int:
    """``table`` when Biopython knows it as an NCBI genetic code, else an :class:`OrfError` naming the known ones."""
    _code(table)
    return table


def start_codons(table: int) -> tuple[str, ...]:
    """Start codons of an NCBI table (from Biopython), e.g. ATG, GTG, TTG, ... for table 11."""
    return tuple(CodonTable.unambiguous_dna_by_id[_code(table).table].start_codons)


def codon_indices(seq: str, frame: int = 0) -> np.ndarray:
    """Codon indices (0..63, 64 = contains a non-ACGT base) of upper-case DNA read from ``frame``.

    Trailing bases that do not fill a codon are ignored. Returns an int16 array of length
    ``(len(seq) - frame) // 3``.
    """
    n = max(0, (len(seq) - frame) // 3)
    b = _BASE_INDEX[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)[frame:frame + 3 * n]].reshape(n, 3)
    idx = b[:, 0].astype(np.int16) * 16 + b[:, 1] * 4 + b[:, 2]
    idx[(b == 4).any(axis=1)] = 64
    return idx


def translate(seq: str, table: int = DEFAULT_TABLE, frame: int = 0) -> str:
    """Translate upper-case DNA from ``frame`` with an NCBI table: stops as ``*``, ambiguous codons ``X``."""
    return _code(table).aa[codon_indices(seq, frame)].tobytes().decode()


def translate_cds(seq: str, table: int = DEFAULT_TABLE) -> str:
    """Protein of an annotated CDS (``seq`` 5'->3'): a start codon of the table reads as ``M``,
    a terminal stop is dropped, internal stops stay ``*`` (pseudogenes, recoded Sec/Pyl), trailing
    bases that do not fill a codon are ignored."""
    code = _code(table)
    idx = codon_indices(seq.upper())
    if idx.size == 0:
        return ""
    aa = code.aa[idx]
    if code.start[idx[0]]:
        aa[0] = ord("M")
    if code.stop[idx[-1]]:
        aa = aa[:-1]
    return aa.tobytes().decode()


def longest_open_stretch(seq: str, table: int = DEFAULT_TABLE) -> int:
    """Codons in the longest stop-free stretch of any of the six frames of upper-case DNA
    (start codons not required, stretches may run off either end; ambiguous codons count as open)."""
    code = _code(table)
    best = 0
    for s in (seq, reverse_complement(seq)):
        for frame in range(3):
            idx = codon_indices(s, frame)
            bounds = np.concatenate(([-1], np.flatnonzero(code.stop[idx]), [idx.size]))
            if bounds.size > 1:
                best = max(best, int((np.diff(bounds) - 1).max()))
    return best


def open_frame_evalue(seq: str, table: int = DEFAULT_TABLE) -> float:
    """How many stop-free stretches as long as the query's longest (:func:`longest_open_stretch`)
    a random sequence of the same length and base composition would hold, over its six frames.

    Bases are drawn independently with the query's A/C/G/T frequencies; a codon is a stop of
    ``table`` with probability ``p`` (on the reverse strand: codons whose reverse complement is a
    stop). A frame of ``M`` codons holds about ``(1 + (M - n) p) (1 - p)^n`` maximal stretches of at
    least ``n`` codons (one may start at the frame's first codon, one after each stop); the sum over
    the six frames is the expected count (at most a few for any query). Small values (well under 1)
    say the open frame is longer than chance explains: a protein-coding gene, or a shadow of one.
    """
    n = longest_open_stretch(seq, table)
    acgt = [seq.count(b) for b in "ACGT"]
    tot = sum(acgt)
    if n == 0 or tot == 0:
        return float("inf") if n == 0 else 6.0
    f = dict(zip("ACGT", (c / tot for c in acgt)))
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    stops = [c for c, is_stop in zip(_CODONS, _code(table).stop[:64]) if is_stop]
    p_fwd = sum(f[c[0]] * f[c[1]] * f[c[2]] for c in stops)
    p_rev = sum(f[comp[c[2]]] * f[comp[c[1]]] * f[comp[c[0]]] for c in stops)
    e = 0.0
    for p in (p_fwd, p_rev):
        for frame in range(3):
            m = max(0, (len(seq) - frame) // 3)
            if m >= n:
                e += (1.0 + (m - n) * p) * (1.0 - p) ** n
    return e


@dataclass(frozen=True)
class Orf:
    """One open reading frame; coordinates on the query's forward strand (see module docstring)."""

    start: int
    end: int
    strand: int
    frame: int
    protein: str           # translation, stop excluded; partial5 ORFs do not start with M
    start_codon: str | None  # the 5' codon when it is a start codon of the table, else None
    partial5: bool          # runs off the strand's 5' end without a start codon
    partial3: bool          # runs off the strand's 3' end without a stop codon
    ambiguous_codons: int   # codons with a non-ACGT base (translated X)
    score: float

    @property
    def codons(self) -> int:
        return len(self.protein)

    def describe(self) -> str:
        """One line for provenance, e.g. ``ORF 0-126 strand +1 frame 0, 41 aa, complete``."""
        kind = "complete" if not (self.partial5 or self.partial3) else \
            "partial " + "+".join(s for s, p in (("5'", self.partial5), ("3'", self.partial3)) if p)
        amb = f", {self.ambiguous_codons} ambiguous codon(s)" if self.ambiguous_codons else ""
        return f"ORF {self.start}-{self.end} strand {self.strand:+d} frame {self.frame}, {self.codons} aa, {kind}{amb}"


@dataclass(frozen=True)
class FrameSummary:
    """One of the six frames translated end to end: how many stops and ambiguous codons it has."""

    strand: int
    frame: int
    codons: int
    stops: int            # in-frame stop codons anywhere in the frame
    ambiguous_codons: int
    longest_orf: int      # codons of the longest ORF found in this frame (0 if none)


@dataclass(frozen=True)
class OrfResult:
    """ORFs of one query, best first, plus the six frame summaries and a note for provenance."""

    length: int
    table: int
    min_codons: int
    orfs: tuple[Orf, ...]
    frames: tuple[FrameSummary, ...]
    note: str

    @property
    def found(self) -> bool:
        return bool(self.orfs)

    @property
    def best(self) -> Orf | None:
        return self.orfs[0] if self.orfs else None


@lru_cache(maxsize=1)
def _scan_kernel() -> Any:
    """The compiled strand scan (numba: compiled on first use, then kept in numba's cache beside
    this module, as :mod:`dnahlm_rag.protein_seeds` keeps its kernels)."""
    from numba import njit

    @njit(cache=True)
    def scan(bases, stop, start, min_codons, allow_partial):  # pragma: no cover - compiled
        """ORFs of the three frames of one strand (``bases``: 0-3 for A/C/G/T, 4 for any other
        base; ``stop``/``start``: flags per codon index 0-64) by rules 1-5 of the module doc, as
        rows (frame, first codon, codon end excl. stop, has_start, partial5, partial3, ambiguous
        codons), and per frame (codons, stops, ambiguous codons, longest ORF in codons)."""
        rows = np.empty((len(bases) + 3, 7), np.int64)  # at most one ORF per codon and frame, plus each frame's last
        frames = np.zeros((3, 4), np.int64)
        m = 0
        for f in range(3):
            n = max(0, (len(bases) - f) // 3)
            a, first_start, amb, amb_at_start, longest, stops = 0, -1, 0, 0, 0, 0
            c0 = -1
            for i in range(n + 1):
                c = 64
                if i < n:
                    p = f + 3 * i
                    b1, b2, b3 = bases[p], bases[p + 1], bases[p + 2]
                    if b1 < 4 and b2 < 4 and b3 < 4:
                        c = b1 * 16 + b2 * 4 + b3
                    if i == 0:
                        c0 = c
                    if not stop[c]:
                        if start[c] and first_start < 0:
                            first_start, amb_at_start = i, amb
                        if c == 64:
                            amb += 1
                        continue
                    stops += 1
                # a stop-free stretch [a, i) ends here (at a stop codon, or at the frame's end)
                if i - a >= min_codons and (allow_partial or i != n):
                    if a == 0 and allow_partial:
                        first, has_start, amb_first = 0, 1 if start[c0] else 0, 0
                    else:
                        first, has_start, amb_first = first_start, 1, amb_at_start
                    if first >= 0 and i - first >= min_codons:
                        rows[m, 0], rows[m, 1], rows[m, 2], rows[m, 3] = f, first, i, has_start
                        rows[m, 4], rows[m, 5], rows[m, 6] = 1 - has_start, 1 if i == n else 0, amb - amb_first
                        m += 1
                        longest = max(longest, i - first)
                a, first_start = i + 1, -1
            frames[f, 0], frames[f, 1], frames[f, 2], frames[f, 3] = n, stops, amb, longest
        return rows[:m], frames

    return scan


def _placed(row: list[int], strand: int, length: int) -> tuple[int, int, float]:
    """Forward-strand ``[start, end)`` (stop codon included when present) and score (module doc,
    rule 6) of one row of the strand scan; ``length``: the query's."""
    frame, first, b, has_start, _, p3, amb = row
    a_s, b_s = frame + 3 * first, frame + 3 * (b if p3 else b + 1)  # strand coordinates
    start, end = (a_s, b_s) if strand == 1 else (length - b_s, length - a_s)
    return start, end, float(b - first - amb + END_BONUS * (has_start + (not p3)))


def _orf(s: str, strand: int, row: list[int], code: _Code, placed: tuple[int, int, float]) -> Orf:
    """The :class:`Orf` of one row of the strand scan (``s``: the strand read; ``placed``: its
    :func:`_placed`)."""
    frame, first, b, has_start, p5, p3, amb = row
    a_s = frame + 3 * first
    protein = code.aa[codon_indices(s[a_s:frame + 3 * b])].copy()
    if has_start:
        protein[0] = ord("M")
    start, end, score = placed
    return Orf(start, end, strand, frame, protein.tobytes().decode(), s[a_s:a_s + 3] if has_start else None,
               bool(p5), bool(p3), amb, score)


def find_orfs(query: str, *, table: int = DEFAULT_TABLE, min_codons: int = 30, max_orfs: int = 3,
              allow_partial: bool = True) -> OrfResult:
    """ORFs of ``query`` on both strands, best first (rules and score in the module docstring).

    ``query`` is normalised with :func:`dnahlm_rag.seq.normalize_dna` (so bad letters raise
    :class:`~dnahlm_rag.errors.InvalidSequenceError`). ``min_codons`` counts the protein (stop
    excluded). Never raises for a valid sequence without ORFs: the result says so in ``note``.
    """
    if min_codons < 1:
        raise OrfError(f"min_codons must be at least 1, got {min_codons}")
    if max_orfs < 1:
        raise OrfError(f"max_orfs must be at least 1, got {max_orfs}")
    code = _code(table)
    seq = normalize_dna(query, what="query")
    L = len(seq)
    strands = {1: seq, -1: reverse_complement(seq)}
    found: list[tuple[tuple[float, bool, int, int], int, str, list[int], tuple[int, int, float]]] = []
    frames: list[FrameSummary] = []
    scan = _scan_kernel()
    for strand, s in strands.items():
        rows, stats = scan(_BASE_INDEX[np.frombuffer(s.encode("ascii"), dtype=np.uint8)], code.stop, code.start,
                           min_codons, allow_partial)
        for row in rows.tolist():
            placed = _placed(row, strand, L)  # (start, end, score): the sort key below, then the Orf's
            found.append(((-placed[2], bool(row[4] or row[5]), -strand, placed[0]), strand, s, row, placed))
        frames.extend(FrameSummary(strand, f, *(int(x) for x in stats[f])) for f in range(3))
    found.sort(key=lambda x: x[0])
    kept = tuple(_orf(s, strand, row, code, placed) for _, strand, s, row, placed in found[:max_orfs])
    if kept:
        note = f"{len(found)} ORF(s) of at least {min_codons} codons (table {table}); best: {kept[0].describe()}"
    else:
        f = min(frames, key=lambda x: (x.stops, -x.codons))
        note = (f"no open reading frame of at least {min_codons} codons on either strand (table {table}, "
                f"{L} nt); fewest stops: strand {f.strand:+d} frame {f.frame} with {f.stops} stop(s)")
    return OrfResult(L, table, min_codons, kept, tuple(frames), note)

