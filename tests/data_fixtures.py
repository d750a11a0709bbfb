"""Tiny GenBank/FASTA texts written by the data tests (not a test module)."""
from __future__ import annotations

from pathlib import Path

# 60 bases; positions are 1-based in the GenBank text below.
SEQ60 = "ATGAAACCCGGGTTTTAGCCATTGACGTACGTTAGCAGTCCGATCGATGCATGCAAATAG"


def _origin(seq: str) -> str:
    lines = []
    for i in range(0, len(seq), 60):
        chunk = seq[i:i + 60].lower()
        groups = " ".join(chunk[j:j + 10] for j in range(0, len(chunk), 10))
        lines.append(f"{i + 1:>9} {groups}")
    return "\n".join(lines)


def genbank_record(accession: str = "TEST0001", organism: str = "Testus primus", seq: str = SEQ60,
                   features: str | None = None) -> str:
    if features is None:
        features = (
            '     CDS             1..18\n'
            '                     /gene="abcA"\n'
            '                     /product="test kinase"\n'
            '     tRNA            complement(20..40)\n'
            '                     /product="tRNA-Gly"\n'
            '     CDS             join(42..47,52..60)\n'
            '                     /gene="abcB"\n'
            '                     /product="split protein"\n'
            '     CDS             complement(join(1..3,10..12))\n'
            '                     /product="minus join"\n'
        )
    return (
        f"LOCUS       {accession}                {len(seq)} bp    DNA     linear   BCT 01-JAN-2000\n"
        f"DEFINITION  {organism} test record.\n"
        f"ACCESSION   {accession}\n"
        f"VERSION     {accession}.1\n"
        f"SOURCE      {organism}\n"
        f"  ORGANISM  {organism}\n"
        f"            Bacteria.\n"
        f"FEATURES             Location/Qualifiers\n"
        f"     source          1..{len(seq)}\n"
        f'                     /organism="{organism}"\n'
        f"{features}"
        f"ORIGIN\n{_origin(seq)}\n//\n"
    )


BROKEN_RECORD = (
    "LOCUS       BROKEN1                60 bp    DNA     linear   BCT 01-JAN-2000\n"
    "DEFINITION  broken.\n"
    "ACCESSION   BROKEN1\n"
    "FEATURES             Location/Qualifiers\n"
    "     CDS             1..18\n"
    '                     /product="unterminated\n'
    "ORIGIN\n        1 acgtacgtac\n//\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
