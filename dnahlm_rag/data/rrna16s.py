"""16S rRNA genus classification from NCBI's Combined16SrRNA BLAST database.

``blastdbcmd -db <db> -entry all`` streams the database twice: once for accession, length and
title (to choose genera), once for the sequences of the chosen genera. Nothing else is held in
memory. Needs ``blastdbcmd`` (Debian ``ncbi-blast+``); without it the task is skipped with a note.

Titles -> names: the id token is dropped, then the first two words are genus and epithet.
Skipped: titles without ``16S`` (the database also holds 18S), any title containing
"uncultured" or "unidentified", genus words that are not a capitalised Latin genus (``Marine``,
``Bacterium``, ``Candidatus``, family names ending in ``-aceae``), and epithets such as
``bacterium``/``endosymbiont``. Species key: ``Genus epithet``; for ``Genus sp. X`` the strain
``X`` is part of the key (each unnamed strain is its own group).

Sequences: normalized, near-full-length only (``min_len..max_len`` bases, no cutting to a
variable region), pure A/C/G/T only. Identical sequences are kept once; a sequence found under
two genera is dropped. Per genus at most ``max_per_species`` per species and ``max_per_genus``
in all (seeded sampling). The ``n_genera`` most frequent genera with at least ``min_species``
species groups and ``min_per_genus`` sequences form the closed label set.

Split by species: within each genus, species groups (seeded order) fill test, then valid, up to
their fractions; the rest is train. Species whose genome is in the pretraining DNA are forced
into train, so no test 16S comes from a genome the model was pretrained on.
"""
from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import DnaHlmError
from ..seq import normalize_dna
from .recipe import Genus16sConfig
from .splits import organism_key

_GENUS = re.compile(r"^[A-Z][a-z]{2,}$")
_EPITHET = re.compile(r"^[a-z][a-z\-]+\.?$")
_STOP_GENUS = {"Uncultured", "Unidentified", "Bacterium", "Marine", "Alpha", "Beta", "Gamma", "Delta", "Epsilon",
               "Candidatus", "Environmental", "Endosymbiont", "Unknown", "Soil", "Rumen", "Swine", "Human",
               "Mouse", "Eukaryote", "Clone", "Synthetic", "Unclassified", "Antarctic", "Arctic", "Hydrothermal",
               "Glacial", "Cyanobacterium", "Proteobacterium", "Actinobacterium", "Archaeon", "Bacteroidetes",
               "Firmicutes", "Agricultural", "Freshwater", "Sediment", "Symbiont", "Secondary", "Primary"}
_STOP_EPITHET = {"bacterium", "endosymbiont", "symbiont", "archaeon", "clone", "environmental", "uncultured",
                 "isolate", "gene", "proteobacterium", "cyanobacterium", "actinobacterium", "str.", "strain"}


class BlastdbcmdMissing(DnaHlmError):
    """blastdbcmd is not installed."""


@dataclass(frozen=True)
class TitleName:
    genus: str
    species_key: str


def parse_title(title: str) -> TitleName | None:
    """Genus and species key of a Combined16SrRNA title, or None when it is to be skipped.

    >>> parse_title("gb|EF100908| Caldicellulosiruptor hydrothermalis strain 108 16S ribosomal RNA gene")
    TitleName(genus='Caldicellulosiruptor', species_key='Caldicellulosiruptor hydrothermalis')
    >>> parse_title("gb|DQ814843| Uncultured bacterium clone aab54c11 16S ribosomal RNA gene") is None
    True
    """
    low = title.lower()
    if "16s" not in low or "uncultured" in low or "unidentified" in low:
        return None
    words = title.split()
    if words and "|" in words[0]:
        words = words[1:]
    if len(words) < 2:
        return None
    genus, epithet = words[0], words[1]
    if not _GENUS.match(genus) or genus in _STOP_GENUS or genus.endswith(("aceae", "ales")):
        return None
    if epithet in ("sp.", "sp"):
        strain = words[2] if len(words) > 2 and words[2] not in ("16S", "gene", "partial") else ""
        return TitleName(genus, f"{genus} sp. {strain}".strip()) if strain else None
    if not _EPITHET.match(epithet) or epithet in _STOP_EPITHET:
        return None
    return TitleName(genus, f"{genus} {epithet}")


def _stream(db: Path, fmt: str):
    exe = shutil.which("blastdbcmd")
    if exe is None:
        raise BlastdbcmdMissing("blastdbcmd not found (install ncbi-blast+)")
    p = subprocess.Popen([exe, "-db", str(db), "-entry", "all", "-outfmt", fmt], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, bufsize=1 << 20)
    assert p.stdout is not None
    yield from p.stdout
    rc = p.wait()
    if rc != 0:
        raise DnaHlmError(f"blastdbcmd failed on {db}: {p.stderr.read().strip()[:200] if p.stderr else rc}")


def build_genus_16s(db: Path, cfg: Genus16sConfig, seed: int, pretrain_species: set[str]) -> tuple[dict[str, list[dict]], dict]:
    """Items per split and a stats dict. ``db`` is the database path without extension."""
    names: dict[int, TitleName] = {}
    genus_species: dict[str, set[str]] = defaultdict(set)
    genus_n: Counter = Counter()
    stats: Counter = Counter()
    for i, line in enumerate(_stream(db, "%a\t%l\t%t")):
        stats["titles"] += 1
        acc, length, title = (line.rstrip("\n").split("\t", 2) + ["", ""])[:3]
        tn = parse_title(title)
        if tn is None:
            stats["skipped_title"] += 1
            continue
        if not (cfg.min_len <= int(length or 0) <= cfg.max_len):
            stats["skipped_length"] += 1
            continue
        names[i] = tn
        genus_species[tn.genus].add(tn.species_key)
        genus_n[tn.genus] += 1
    eligible = [g for g, n in genus_n.most_common()
                if len(genus_species[g]) >= cfg.min_species and n >= cfg.min_per_genus]
    genera = sorted(eligible[: cfg.n_genera])
    chosen = set(genera)
    # pass 2: sequences of the chosen genera; dedup identical sequences
    by_seq: dict[str, tuple[str, str, str]] = {}  # seq -> (acc, genus, species_key)
    ambiguous: set[str] = set()
    for i, line in enumerate(_stream(db, "%a\t%s")):
        tn = names.get(i)
        if tn is None or tn.genus not in chosen:
            continue
        acc, raw = line.rstrip("\n").split("\t", 1)
        try:
            seq = normalize_dna(raw)
        except DnaHlmError:
            stats["skipped_not_dna"] += 1
            continue
        if set(seq) - set("ACGT"):
            stats["skipped_ambiguous_bases"] += 1
            continue
        if seq in by_seq:
            stats["duplicate_sequence"] += 1
            if by_seq[seq][1] != tn.genus:
                ambiguous.add(seq)
            continue
        by_seq[seq] = (acc, tn.genus, tn.species_key)
    for seq in ambiguous:
        del by_seq[seq]
    stats["dropped_seq_in_two_genera"] = len(ambiguous)
    # per genus: group by species, cap, split by species
    pools: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for seq, (acc, genus, sp) in by_seq.items():
        pools[genus][sp].append((acc, seq))
    out: dict[str, list[dict]] = {"train": [], "valid": [], "test": []}
    forced = {organism_key(s) for s in pretrain_species}
    for genus in genera:
        rng = random.Random(f"{seed}:16s:{genus}")
        species = sorted(pools[genus])
        rng.shuffle(species)
        groups = []
        for sp in species:
            members = sorted(pools[genus][sp])
            rng.shuffle(members)
            groups.append((sp, members[: cfg.max_per_species]))
        total = sum(len(m) for _, m in groups)
        if total > cfg.max_per_genus:  # shrink every species proportionally, at least one each
            scale = cfg.max_per_genus / total
            groups = [(sp, m[: max(1, int(len(m) * scale))]) for sp, m in groups]
            total = sum(len(m) for _, m in groups)
        n = {"test": 0, "valid": 0}
        for sp, members in groups:
            if sp in forced:
                split = "train"
            elif n["test"] < cfg.test_fraction * total:
                split = "test"
            elif n["valid"] < cfg.valid_fraction * total:
                split = "valid"
            else:
                split = "train"
            if split != "train":
                n[split] += len(members)
            for acc, seq in members:
                out[split].append({"id": f"16s-{acc}", "seq": seq, "label": genus, "organism": sp,
                                   "meta": {"accession": acc, "species": sp}})
    stats["genera"] = len(genera)
    stats["eligible_genera"] = len(eligible)
    stats["species_forced_train"] = sum(1 for g in genera for sp in pools[g] if sp in forced)
    return out, dict(stats) | {"labels": genera}
