"""Split policies: by organism, stratified random, by hash; and the cross-split dedup check.

* **By organism** (tasks from annotated genomes): an organism's key is its species — genus plus
  epithet (``"Escherichia coli K12"`` -> ``"Escherichia coli"``; for ``"Genus sp. X"`` the strain
  is kept: ``"Klebsiella sp. 390"``). The recipe names the valid and test species explicitly; all
  other species go to train (or, with ``auto_split_unlisted``, by a hash of the key). Splitting by
  species rather than strain keeps two strains of one species out of different splits.
* **Stratified random** (StatLog, promoters): per class, a seeded shuffle then fractions.
* **By hash** (pretraining pieces, English paragraphs): ``sha1(text)`` decides; the same text
  always lands in the same split.
* **Dedup across splits**: after a task is built, a sequence (compared strand-blind: a sequence
  and its reverse complement are the same key) that occurs in test is removed from valid and
  train, one in valid from train; duplicates inside a split keep their first copy. Removals are
  counted in the manifest.
"""
from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from collections.abc import Callable

from ..seq import canonical
from .recipe import SPLITS, OrganismSplit

_WS = re.compile(r"\s+")


def organism_key(name: str) -> str:
    """Species key of an organism name (see module docstring)."""
    words = _WS.sub(" ", name.replace("[", "").replace("]", "")).strip().split(" ")
    if len(words) >= 2 and words[1] in ("sp.", "sp"):
        return " ".join(words[:3])
    return " ".join(words[:2])


def hash_unit(text: str, salt: str = "") -> float:
    """A deterministic number in [0, 1) from ``sha1(salt + text)``."""
    h = hashlib.sha1((salt + text).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def in_permille(text: str, permille: int) -> bool:
    """True for about ``permille``/1000 of texts, decided by hash (pretraining valid split)."""
    h = hashlib.sha1(text.encode()).digest()
    return int.from_bytes(h[:4], "big") % 1000 < permille


class OrganismSplitter:
    """Maps an organism name to ``train``/``valid``/``test`` by its species key."""

    def __init__(self, cfg: OrganismSplit, seed: int):
        self.cfg = cfg
        self.seed = seed
        self.test = {organism_key(o) for o in cfg.test}
        self.valid = {organism_key(o) for o in cfg.valid}
        overlap = self.test & self.valid
        if overlap:
            from ..errors import RecipeError
            raise RecipeError(f"recipe: organism {sorted(overlap)[0]!r} is in both organisms.test and organisms.valid")
        self.seen: dict[str, str] = {}

    def split_of(self, organism: str) -> str:
        key = organism_key(organism)
        if key in self.test:
            s = "test"
        elif key in self.valid:
            s = "valid"
        elif self.cfg.auto_split_unlisted:
            u = hash_unit(key, f"{self.seed}:organism:")
            s = ("test" if u < self.cfg.auto_test_fraction
                 else "valid" if u < self.cfg.auto_test_fraction + self.cfg.auto_valid_fraction else "train")
        else:
            s = "train"
        self.seen[key] = s
        return s

    def held_out(self, organism: str) -> bool:
        """True when the organism's genome must stay out of pretraining (valid or test)."""
        return self.split_of(organism) != "train"

    def mentions_held_out(self, text: str) -> str | None:
        """The held-out species named in ``text`` (a FASTA header), if any."""
        low = text.lower()
        for key in sorted(self.test | self.valid):
            if key.lower() in low:
                return key
        return None


def stratified_split(items: list[dict], valid_fraction: float, test_fraction: float, seed: int,
                     key: Callable[[dict], str] = lambda it: it["label"]) -> dict[str, list[dict]]:
    """Per class: seeded shuffle, first ``test_fraction`` to test, next ``valid_fraction`` to valid."""
    by_class: dict[str, list[dict]] = defaultdict(list)
    for it in items:
        by_class[key(it)].append(it)
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for cls in sorted(by_class):
        group = list(by_class[cls])
        random.Random(f"{seed}:{cls}").shuffle(group)
        n_test = round(len(group) * test_fraction)
        n_valid = round(len(group) * valid_fraction)
        out["test"] += group[:n_test]
        out["valid"] += group[n_test:n_test + n_valid]
        out["train"] += group[n_test + n_valid:]
    return out


def enforce_disjoint(by_split: dict[str, list[dict]]) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """Remove sequences shared across splits (test > valid > train) and repeats inside a split.

    Returns the cleaned splits and ``{"cross_split": n, "within_split": n}`` removal counts."""
    seen: set[str] = set()
    removed = {"cross_split": 0, "within_split": 0}
    out: dict[str, list[dict]] = {}
    for split in ("test", "valid", "train"):
        local: set[str] = set()
        kept = []
        for it in by_split.get(split, []):
            k = canonical(it["seq"])
            if k in local:
                removed["within_split"] += 1
            elif k in seen:
                removed["cross_split"] += 1
            else:
                local.add(k)
                kept.append(it)
        seen |= local
        out[split] = kept
    return {s: out[s] for s in SPLITS}, removed


def check_disjoint(by_split: dict[str, list[dict]]) -> None:
    """Assert that no sequence (strand-blind) is in two splits; used after writing, as a guard."""
    keys = {s: {canonical(it["seq"]) for it in by_split.get(s, [])} for s in SPLITS}
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        both = keys[a] & keys[b]
        assert not both, f"{len(both)} sequences in both {a} and {b}"
