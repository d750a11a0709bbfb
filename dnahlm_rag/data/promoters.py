"""E. coli promoter benchmark (kernlab ``promotergene.rda``): 106 sequences of 57 nt.

The data frame has ``Class`` (``+`` promoter / ``-`` non-promoter) and 57 columns ``V2..V58``
with one lower-case base each; bases are upper-cased and joined 5'->3' in column order.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DnaHlmError
from ..seq import normalize_dna

LABELS = {"+": "promoter", "-": "non-promoter"}


def read_promoters(path: str | Path) -> list[dict]:
    """Items ``{id, seq, label, meta}`` in file order (ids ``promoter-<row>``)."""
    import pyreadr

    frames = pyreadr.read_r(str(path))
    if not frames:
        raise DnaHlmError(f"{path}: no data frame inside")
    df = next(iter(frames.values()))
    if "Class" not in df.columns:
        raise DnaHlmError(f"{path}: no Class column")
    base_cols = [c for c in df.columns if c != "Class"]
    items = []
    for row, (_, r) in enumerate(df.iterrows(), start=1):
        seq = normalize_dna("".join(str(r[c]) for c in base_cols), what=f"promoter row {row} in {path}")
        items.append({"id": f"promoter-{row}", "seq": seq, "label": LABELS[str(r["Class"])], "meta": {"row": row}})
    return items
