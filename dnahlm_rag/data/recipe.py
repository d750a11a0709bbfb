"""The data recipe: which packages and sources, how much of each, split policies and seeds.

Loaded from ``recipes/data/<name>.toml`` with :func:`load_data_recipe` (strict: an unknown key or
a wrong type is an error naming the key). Sizes are in bases (``*_len``), megabases (``*_mb`` for
DNA) or megabytes (``*_mb`` for English text), as each field says.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..recipes import load_recipe

ALL_TASKS = ["splice", "promoter", "trna_aa", "feature_type", "genus_16s", "product", "next_kmer"]
SPLITS = ("train", "valid", "test")


@dataclass
class OrganismSplit:
    """Which organisms (species keys, see :func:`~.splits.organism_key`) go to valid and test.

    Every other organism goes to train, unless ``auto_split_unlisted`` is set: then unlisted
    organisms are assigned by a hash of their key (deterministic; for builds from a user's own files).
    """

    test: list[str] = field(default_factory=list)
    valid: list[str] = field(default_factory=list)
    auto_split_unlisted: bool = False
    auto_valid_fraction: float = 0.1
    auto_test_fraction: float = 0.2


@dataclass
class PretrainDnaConfig:
    """Pretraining DNA: pieces of ``piece_min..piece_max`` bases (uniform, seeded) cut from runs of
    plain A/C/G/T; at most ``caps_mb[source]`` (else ``default_cap_mb``) megabases per source.
    ``valid_permille`` of the pieces (chosen by a hash of the piece) form the valid split."""

    piece_min: int = 500
    piece_max: int = 3000
    valid_permille: int = 10
    default_cap_mb: float = 5.0
    caps_mb: dict[str, float] = field(default_factory=dict)
    genbank_train_organisms: bool = True  # also cut pieces from train organisms' annotated genomes


@dataclass
class EnglishConfig:
    """Pretraining English: one cleaned paragraph per line; ``valid_permille`` held out by hash;
    at most ``caps_mb[source]`` (else ``default_cap_mb``) megabytes per source."""

    valid_permille: int = 10
    min_chars: int = 30
    default_cap_mb: float = 10.0
    caps_mb: dict[str, float] = field(default_factory=dict)


@dataclass
class StratifiedConfig:
    """Deterministic stratified random split (per class, seeded shuffle, then fractions)."""

    valid_fraction: float = 0.1
    test_fraction: float = 0.2


@dataclass
class FeatureTypeConfig:
    """CDS / tRNA / rRNA / intergenic windows of ``min_len..max_window`` bases.

    A feature longer than ``max_window`` gives one window at a seeded random offset inside it
    (rRNA: up to ``rrna_windows`` non-overlapping windows, the rarest class). Intergenic windows
    come from gaps between annotated features. ``max_per_class[split]`` caps each class (seeded
    reservoir sampling) so classes stay roughly balanced."""

    max_window: int = 500
    min_len: int = 50
    rrna_windows: int = 4
    max_per_class: dict[str, int] = field(default_factory=lambda: {"train": 2000, "valid": 400, "test": 400})


@dataclass
class TrnaConfig:
    max_len: int = 300  # archaeal tRNAs with introns are longer than 76 nt; longer ones are dropped


@dataclass
class ProductConfig:
    """CDS product names; ``seq`` is the first ``max_len`` bases of the CDS (5'->3')."""

    max_len: int = 1200
    min_len: int = 90
    max_items: dict[str, int] = field(default_factory=lambda: {"train": 20000, "valid": 3000, "test": 5000})


@dataclass
class Genus16sConfig:
    """16S genus classification from Combined16SrRNA (needs ``blastdbcmd``)."""

    n_genera: int = 40
    min_species: int = 4        # a genus needs this many species groups to be split by species
    min_per_genus: int = 60
    max_per_genus: int = 150
    max_per_species: int = 20   # one species must not fill a genus
    min_len: int = 1200         # near-full-length 16S only
    max_len: int = 1700
    valid_fraction: float = 0.15
    test_fraction: float = 0.2


@dataclass
class NextKmerConfig:
    """50-nt windows + next ``k`` bases from the held-out region ``[start, end)`` (0-based) of
    record ``record`` in FASTA source ``source``; the region is cut out of pretraining DNA."""

    source: str = "human_chrX"
    record: str = "X"
    start: int = 30_000_000
    end: int = 32_000_000
    window: int = 50
    k: int = 6
    n: dict[str, int] = field(default_factory=lambda: {"train": 20000, "valid": 2000, "test": 4000})


@dataclass
class DataRecipe:
    """Everything ``dnahlm data build`` needs besides the cache and the user's files."""

    name: str = "default"
    seed: int = 1234
    packages: list[str] = field(default_factory=list)
    exclude_sources: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=lambda: list(ALL_TASKS))
    max_segment_len: int = 100_000   # features longer than this are not written as segments
    organisms: OrganismSplit = field(default_factory=OrganismSplit)
    pretrain_dna: PretrainDnaConfig = field(default_factory=PretrainDnaConfig)
    english: EnglishConfig = field(default_factory=EnglishConfig)
    splice: StratifiedConfig = field(default_factory=StratifiedConfig)
    promoter: StratifiedConfig = field(default_factory=StratifiedConfig)
    feature_type: FeatureTypeConfig = field(default_factory=FeatureTypeConfig)
    trna_aa: TrnaConfig = field(default_factory=TrnaConfig)
    product: ProductConfig = field(default_factory=ProductConfig)
    genus_16s: Genus16sConfig = field(default_factory=Genus16sConfig)
    next_kmer: NextKmerConfig = field(default_factory=NextKmerConfig)


def load_data_recipe(name_or_path: str | Path) -> DataRecipe:
    """Load ``recipes/data/<name>.toml`` (or a path) and check its task names."""
    from ..errors import RecipeError

    r = load_recipe(DataRecipe, "data", name_or_path)
    bad = [t for t in r.tasks if t not in ALL_TASKS]
    if bad:
        raise RecipeError(f"recipe key 'tasks': unknown task {bad[0]!r}; known: {', '.join(ALL_TASKS)}")
    for key, d in (("feature_type.max_per_class", r.feature_type.max_per_class),
                   ("product.max_items", r.product.max_items), ("next_kmer.n", r.next_kmer.n)):
        unknown = set(d) - set(SPLITS)
        if unknown:
            raise RecipeError(f"recipe key {key!r}: unknown split {sorted(unknown)[0]!r}; use train/valid/test")
    if r.pretrain_dna.piece_min > r.pretrain_dna.piece_max or r.pretrain_dna.piece_min < 1:
        raise RecipeError("recipe key 'pretrain_dna.piece_min': must be >= 1 and <= piece_max")
    _check_numbers(r)
    return r


def _check_numbers(r: DataRecipe) -> None:
    """Sizes, caps, fractions and counts in range (a NaN fails every comparison, so it is refused too)."""
    from ..errors import RecipeError

    def in_range(key: str, value: float, lo: float, hi: float = math.inf) -> None:
        if not lo <= value <= hi:
            raise RecipeError(f"recipe key {key!r}: expected {lo} .. {hi}, got {value}" if hi < math.inf else
                              f"recipe key {key!r}: expected a number >= {lo}, got {value}")

    in_range("max_segment_len", r.max_segment_len, 1)
    for sect in ("pretrain_dna", "english"):
        c = getattr(r, sect)
        in_range(f"{sect}.valid_permille", c.valid_permille, 0, 1000)
        in_range(f"{sect}.default_cap_mb", c.default_cap_mb, 0)
        for name, mb in c.caps_mb.items():
            in_range(f"{sect}.caps_mb.{name}", mb, 0)
    in_range("english.min_chars", r.english.min_chars, 0)
    o = r.organisms
    for sect, a, b in (("splice", r.splice.valid_fraction, r.splice.test_fraction),
                       ("promoter", r.promoter.valid_fraction, r.promoter.test_fraction),
                       ("genus_16s", r.genus_16s.valid_fraction, r.genus_16s.test_fraction),
                       ("organisms", o.auto_valid_fraction, o.auto_test_fraction)):
        prefix = f"{sect}.auto_" if sect == "organisms" else f"{sect}."
        in_range(prefix + "valid_fraction", a, 0, 1)
        in_range(prefix + "test_fraction", b, 0, 1 - a)
    ft = r.feature_type
    in_range("feature_type.min_len", ft.min_len, 1)
    in_range("feature_type.max_window", ft.max_window, ft.min_len)
    in_range("feature_type.rrna_windows", ft.rrna_windows, 1)
    in_range("trna_aa.max_len", r.trna_aa.max_len, 1)
    in_range("product.min_len", r.product.min_len, 1)
    in_range("product.max_len", r.product.max_len, r.product.min_len)
    g = r.genus_16s
    for key in ("n_genera", "min_species", "min_per_genus", "max_per_species", "min_len"):
        in_range(f"genus_16s.{key}", getattr(g, key), 1)
    in_range("genus_16s.max_per_genus", g.max_per_genus, g.min_per_genus)
    in_range("genus_16s.max_len", g.max_len, g.min_len)
    nk = r.next_kmer
    in_range("next_kmer.start", nk.start, 0)
    in_range("next_kmer.end", nk.end, nk.start + 1)
    in_range("next_kmer.window", nk.window, 1)
    in_range("next_kmer.k", nk.k, 1)
    for key, d in (("feature_type.max_per_class", ft.max_per_class), ("product.max_items", r.product.max_items),
                   ("next_kmer.n", nk.n)):
        for split, n in d.items():
            in_range(f"{key}.{split}", n, 0)
