"""StatLog primate splice junctions (mlbench ``DNA.rda``), decoded from its binary encoding.

The R data frame has 180 binary columns ``V1..V180`` and ``Class``. Each of the 60 bases takes 3
columns: ``A = 100``, ``C = 010``, ``G = 001``, ``T = 000`` (so base ``i``, 0-based, is columns
``3i..3i+2``). Classes: ``ei`` = exon->intron boundary (splice **donor**), ``ie`` = intron->exon
(**acceptor**), ``n`` = neither. The boundary lies between positions 30 and 31 (1-based), so a donor
shows ``GT`` at 0-based ``[30, 32)`` and an acceptor ``AG`` at ``[28, 30)``;
:func:`check_consensus` measures this and the build refuses a decoding that does not show it.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DnaHlmError

LABELS = {"ei": "donor", "ie": "acceptor", "n": "neither"}
_CODES = {(1, 0, 0): "A", (0, 1, 0): "C", (0, 0, 1): "G", (0, 0, 0): "T"}


def decode_bits(bits: list[int]) -> str:
    """Decode ``3 * L`` bits (A=100, C=010, G=001, T=000) into an ``L``-base sequence.

    >>> decode_bits([1,0,0, 0,1,0, 0,0,1, 0,0,0])
    'ACGT'
    """
    if len(bits) % 3:
        raise DnaHlmError(f"StatLog row has {len(bits)} bits, not a multiple of 3")
    out = []
    for i in range(0, len(bits), 3):
        code = tuple(bits[i:i + 3])
        if code not in _CODES:
            raise DnaHlmError(f"StatLog bits {code} at base {i // 3} are not one of A=100, C=010, G=001, T=000")
        out.append(_CODES[code])
    return "".join(out)


def read_statlog(path: str | Path) -> list[dict]:
    """Items ``{id, seq, label, meta}`` from ``DNA.rda`` (row order of the file; ids ``statlog-<row>``)."""
    import pyreadr

    frames = pyreadr.read_r(str(path))
    if not frames:
        raise DnaHlmError(f"{path}: no data frame inside")
    df = next(iter(frames.values()))
    bit_cols = [c for c in df.columns if c != "Class"]
    if len(bit_cols) != 180 or "Class" not in df.columns:
        raise DnaHlmError(f"{path}: expected 180 bit columns and Class, got {len(bit_cols)} and {list(df.columns[-1:])}")
    bits = df[bit_cols].astype(str).astype(float).astype(int).to_numpy()  # factors "0"/"1" or doubles
    classes = df["Class"].astype(str).tolist()
    items = []
    for row, (b, cls) in enumerate(zip(bits, classes, strict=True), start=1):
        items.append({"id": f"statlog-{row}", "seq": decode_bits(b.tolist()), "label": LABELS[cls],
                      "meta": {"statlog_class": cls, "row": row}})
    return items


def check_consensus(items: list[dict], min_fraction: float = 0.9) -> dict[str, float]:
    """Fraction of donors with GT at [30,32) and acceptors with AG at [28,30); raise if too low."""
    def frac(label: str, lo: int, motif: str) -> float:
        sel = [it["seq"] for it in items if it["label"] == label]
        return sum(s[lo:lo + 2] == motif for s in sel) / max(1, len(sel))
    got = {"donor_GT": frac("donor", 30, "GT"), "acceptor_AG": frac("acceptor", 28, "AG")}
    if min(got.values()) < min_fraction:
        raise DnaHlmError(f"StatLog decoding does not show the splice consensus ({got}); the file format changed?")
    return got
