"""The segment index: FAISS vectors + JSON-lines docstore + manifest, in ``indexes/<name>/``.

Folder layout (written atomically; format version :data:`FORMAT_VERSION`)::

    indexes/<name>/
      index.faiss      written by faiss.write_index (no pickle)
      docstore.jsonl   one segment per line, row i <-> vector i: id, organism, accession, type,
                       start, end (0-based half-open on the record), strand (+1/-1), gene, product,
                       description, label (task label, or null), split, seq (5'->3', whole)
                       (the text half embeds each row's annotation text: type and product)
      embedder.json    fitted state of the k-mer, protein or site embedder (IDF, means, weights), JSON
      manifest.json    stage "index": level ("dna" or "protein"), embedder (name, versions,
                       params), dim, metric, kind, the source's hashes, count, sha256 of every
                       file above

A **protein index** (``embedder = "protein"``, :func:`protein_records`) has the same layout: its
rows are the CDS segments of the chosen splits, each with two more columns, ``table`` (the NCBI
genetic code it was translated with, :func:`~dnahlm_rag.orfs.genetic_code_for` of its organism)
and ``protein`` (:func:`~dnahlm_rag.orfs.translate_cds`), and its vectors embed the proteins
(:mod:`dnahlm_rag.embed.protein`); ``search`` on it takes protein strings, not DNA. It holds one
more file, ``words.safetensors``: the inverted file of the proteins' exact words (4-mers and
spaced 4-mers, :mod:`dnahlm_rag.protein_words`), through which ``search`` finds the top hits by
word cosine; the FAISS file keeps the dense Murphy-10 3-mer profiles (``search_vectors``).

Search is by inner product (vectors are unit or fused as in :mod:`dnahlm_rag.embed.fusion`).
``flat`` is exact; ``ivf`` (IVF-Flat, ``nprobe`` lists probed), ``hnsw`` and ``pq`` are
approximate. ``pq`` scans 4-bit product-quantizer codes (one code per ``pq_dims`` dimensions,
faiss's SIMD "fast-scan" layout) and re-ranks the best ``k_factor`` x k of them by their exact
inner product (faiss ``IndexRefineFlat``): on the segment index it is the only approximate kind
that reaches recall@10 0.98 against exact search on cross-species queries, and it is faster than
exact search there (docs/benchmarks.md, "Approximate vs exact search"); it keeps the full vectors
for the re-ranking, so it saves time, not memory. With faiss-gpu and a GPU the flat and IVF
indexes are moved to the GPU for search (same results up to float rounding); HNSW and PQ stay on
the CPU (faiss has no GPU HNSW or fast-scan).

Loading checks everything: a missing or corrupt manifest, a file whose hash differs from the
manifest (truncated, edited, half-copied), an unreadable FAISS file, counts that disagree, or an
embedder other than the one expected are one-line :class:`~dnahlm_rag.errors.DnaHlmError`.
"""
from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_dir, sha256_file, write_json
from .embed.fusion import FusedEmbedder, FusionConfig, parse_spec
from .embed.kmer import KmerConfig, KmerEmbedder
from .embed.lm import LMConfig
from .embed.protein import ProteinSeqEmbedder, default_protein_config
from .embed.site import SiteConfig, SiteEmbedder
from .embed.trna import TrnaConfig, TrnaEmbedder
from .embed.text import TextConfig, TextEmbedder, annotation_text
from .errors import DnaHlmError, ManifestError, RecipeError
from .manifest import read_manifest, write_manifest
from .protein_embed import ProteinEmbedConfig
from .protein_words import WORDS_FILE, WordIndex
from .seq import normalize_dna

FORMAT_VERSION = 1
STAGE = "index"
INDEX_FILE, DOCSTORE, EMBEDDER_STATE = "index.faiss", "docstore.jsonl", "embedder.json"
DOC_FIELDS = ("id", "organism", "accession", "type", "start", "end", "strand", "gene", "product",
              "description", "label", "split", "seq")
KINDS = ("flat", "ivf", "hnsw", "pq")
_GPU_RESOURCES: list = []


@dataclass
class FaissConfig:
    """How vectors are indexed and searched."""

    kind: str = "flat"  # flat (exact) | ivf | hnsw | pq
    nlist: int = 0  # IVF lists; 0 chooses about 4 * sqrt(n)
    nprobe: int = 32  # IVF lists probed per query
    hnsw_m: int = 32  # HNSW links per node
    ef_construction: int = 80
    ef_search: int = 128
    pq_dims: int = 2  # pq: dimensions per 4-bit code (d must divide by it, else 1 is used)
    k_factor: int = 30  # pq: candidates re-ranked exactly = k_factor x k
    threads: int = 0  # faiss OpenMP threads; 0 leaves the default
    use_gpu: bool = True  # move flat/IVF indexes to the GPU when faiss sees one
    # ivf/hnsw: at build, the least nprobe / ef_search whose recall@10 against exact search reaches
    # this on held-out queries (the valid split) replaces the two above (ann_effort.py); 0 keeps them
    target_recall: float = 0.98
    calibration_queries: int = 512  # held-out records searched for it (a seeded sample)

    @property
    def calibrates(self) -> bool:
        """Whether a build chooses the search effort on held-out records (ivf/hnsw, a target set)."""
        return self.kind in ("ivf", "hnsw") and self.target_recall > 0


@dataclass
class IndexConfig:
    """Recipe for ``dnahlm index build`` (``recipes/index/<name>.toml``)."""

    embedder: str = "kmer+text"  # kmer | lm | kmer+text | lm+text | protein | site | trna
    splits: list[str] = field(default_factory=lambda: ["train"])
    kmer: KmerConfig = field(default_factory=KmerConfig)
    site: SiteConfig = field(default_factory=SiteConfig)  # the site embedder (centred windows: splice)
    trna: TrnaConfig = field(default_factory=TrnaConfig)  # the tRNA embedder (anticodon: trna_aa)
    protein: ProteinEmbedConfig = field(default_factory=default_protein_config)  # m10-k3, 1000 dims
    protein_min_aa: int = 10  # protein index: CDS whose translation is shorter (amino acids) are left out
    text: TextConfig = field(default_factory=TextConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    faiss: FaissConfig = field(default_factory=FaissConfig)


@dataclass
class Hit:
    """One retrieved segment: its docstore row, inner-product score and rank (0 = best)."""

    doc: dict[str, Any]
    score: float
    rank: int


# --------------------------------------------------------------------------------------------
# Reading the records to index
# --------------------------------------------------------------------------------------------
def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON-lines file; a bad line is an error naming file and line."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                raise DnaHlmError(f"{path}:{n}: not UTF-8 text (a JSON-lines file is UTF-8)") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as e:  # RecursionError: nested too deep
                raise DnaHlmError(f"{path}:{n}: not valid JSON ({getattr(e, 'msg', 'nested too deep')})") from None
            if not isinstance(obj, dict):
                raise DnaHlmError(f"{path}:{n}: expected a JSON object per line")
            yield obj


def _doc(rec: dict[str, Any], where: str, **extra: Any) -> dict[str, Any]:
    if "id" not in rec or "seq" not in rec:
        raise DnaHlmError(f"{where}: record lacks 'id' or 'seq'")
    if not isinstance(rec["seq"], str):
        raise DnaHlmError(f"{where}: record {rec['id']}: 'seq' is {json.dumps(rec['seq'])[:40]}, "
                          "expected a string of DNA")
    d = {k: rec.get(k) for k in DOC_FIELDS}
    d.update({k: v for k, v in extra.items() if v is not None})
    d["id"] = str(d["id"])
    d["seq"] = normalize_dna(str(rec["seq"]), what=f"record {d['id']} in {where}")
    if not d.get("description"):
        d["description"] = f"{d['label']}" if d.get("label") is not None else (d.get("product") or "")
    return d


def load_records(data_dir: str | Path = "data", task: str | None = None,
                 splits: Sequence[str] = ("train",)) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Docstore rows to index and a description of their source (with hashes).

    Without ``task``: ``data/segments.jsonl`` filtered to ``splits``. With ``task``:
    ``data/tasks/<task>/<split>.jsonl`` for each split, whose ``label`` is kept (for the kNN
    baseline and few-shot answers); ``meta`` fields (type, product, description, ...) fill the
    docstore columns when present.
    """
    data = Path(data_dir)
    source: dict[str, Any] = {"data_dir": str(data), "splits": list(splits), "task": task, "files": {}}
    if (data / "manifest.json").is_file():
        source["data_manifest_sha256"] = sha256_file(data / "manifest.json")
    docs: list[dict[str, Any]] = []
    if task is None:
        path = data / "segments.jsonl"
        if not path.is_file():
            raise DnaHlmError(f"{path} not found: build the data first (dnahlm data build)")
        source["files"][path.name] = sha256_file(path)
        want = set(splits)
        for rec in read_jsonl(path):
            if rec.get("split") in want:
                docs.append(_doc(rec, str(path)))
    else:
        tdir = data / "tasks" / task
        if not (tdir / "task.json").is_file():
            known = sorted(p.name for p in (data / "tasks").glob("*") if p.is_dir()) if (data / "tasks").is_dir() else []
            raise DnaHlmError(f"no task {task!r} in {data / 'tasks'}; known: {', '.join(known) or 'none'}")
        source["files"]["task.json"] = sha256_file(tdir / "task.json")
        for split in splits:
            path = tdir / f"{split}.jsonl"
            if not path.is_file():
                raise DnaHlmError(f"{path} not found: task {task!r} has no {split!r} split")
            source["files"][f"{split}.jsonl"] = sha256_file(path)
            for rec in read_jsonl(path):
                meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
                merged = {**{k: meta.get(k) for k in DOC_FIELDS if k in meta}, **rec}
                docs.append(_doc(merged, str(path), split=split))
    if not docs:
        where = data / "segments.jsonl" if task is None else data / "tasks" / task
        raise DnaHlmError(f"nothing to index: no records in split(s) {', '.join(splits) or '(none given)'} of {where}")
    seen: set[str] = set()
    for d in docs:
        if d["id"] in seen:
            raise DnaHlmError(f"duplicate id {d['id']!r} in the records to index")
        seen.add(d["id"])
    return docs, source


def protein_records(docs: list[dict[str, Any]], min_aa: int = 10) -> list[dict[str, Any]]:
    """The CDS rows of ``docs`` with their translation, for a protein index.

    Each kept row gains ``table`` (NCBI genetic code, :func:`~dnahlm_rag.orfs.genetic_code_for`
    of its organism: 11 unless the organism is a known table-4 or eukaryotic genus, ...) and
    ``protein`` (:func:`~dnahlm_rag.orfs.translate_cds` of its ``seq``: first codon as M when it
    is a start codon, terminal stop dropped, internal stops ``*``). Rows that are not CDS, or
    whose protein has fewer than ``min_aa`` amino acids, are left out.
    """
    from .orfs import genetic_code_for, translate_cds

    out = []
    for d in docs:
        if d.get("type") != "CDS":
            continue
        table = genetic_code_for(str(d.get("organism") or ""))
        protein = translate_cds(d["seq"], table)
        if len(protein) >= min_aa:
            out.append({**d, "table": table, "protein": protein})
    if not out:
        raise DnaHlmError(f"nothing to index at the protein level: no CDS of at least {min_aa} amino acids "
                          "in the chosen records")
    return out


def level_of(spec: str) -> str:
    """``"protein"`` for the protein embedder, else ``"dna"``."""
    return "protein" if spec == "protein" else "dna"


# --------------------------------------------------------------------------------------------
# Embedders from a spec / from a manifest
# --------------------------------------------------------------------------------------------
def make_embedder(spec: str, config: IndexConfig, model_dir: str | Path | None = None) -> FusedEmbedder:
    """A fresh (unfitted) embedder for ``spec``; ``lm`` needs ``model_dir``."""
    if spec == "protein":
        return FusedEmbedder(ProteinSeqEmbedder(config.protein))
    if spec == "site":
        return FusedEmbedder(SiteEmbedder(config.site))
    if spec == "trna":
        return FusedEmbedder(TrnaEmbedder(config.trna))
    seq_name, with_text = parse_spec(spec)
    if seq_name == "kmer":
        seq: Any = KmerEmbedder(config.kmer)
    else:
        if model_dir is None:
            raise DnaHlmError("the lm embedder needs a model folder (--model DIR)")
        from .embed.lm import LMEmbedder

        seq = LMEmbedder(model_dir, config.lm)
    text = TextEmbedder(config.text) if with_text else None
    return FusedEmbedder(seq, text, config.fusion)


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - a broken install
        raise DnaHlmError("faiss is not installed: pip install -e '.[cpu]' (or '.[gpu]')") from None
    return faiss


def _make_faiss(vecs: np.ndarray, cfg: FaissConfig) -> Any:
    faiss = _faiss()
    n, d = vecs.shape
    if cfg.kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif cfg.kind == "ivf":
        nlist = cfg.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vecs)
        index.nprobe = min(cfg.nprobe, nlist)
    elif cfg.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = cfg.ef_construction
        index.hnsw.efSearch = cfg.ef_search
    elif cfg.kind == "pq":
        if n < 16 * 39:
            raise DnaHlmError(f"a pq index needs at least {16 * 39} vectors to train its codes, got {n}: use --kind flat")
        per = cfg.pq_dims if cfg.pq_dims > 0 and d % cfg.pq_dims == 0 else 1
        codes = faiss.IndexPQFastScan(d, d // per, 4, faiss.METRIC_INNER_PRODUCT)
        codes.train(vecs)
        index = faiss.IndexRefineFlat(codes)  # keeps a reference to `codes`; both get the vectors
        index.k_factor = float(cfg.k_factor)
    else:
        raise DnaHlmError(f"unknown index kind {cfg.kind!r}: expected one of {', '.join(KINDS)}")
    index.add(vecs)
    return index


def maybe_to_gpu(index: Any, cfg: FaissConfig) -> Any:
    """Move a flat or IVF index to GPU 0 when faiss was built with GPU support and sees a GPU."""
    faiss = _faiss()
    if not cfg.use_gpu or cfg.kind in ("hnsw", "pq") or not hasattr(faiss, "StandardGpuResources"):
        return index
    if faiss.get_num_gpus() < 1:
        return index
    res = faiss.StandardGpuResources()
    _GPU_RESOURCES.append(res)  # must outlive the GPU index
    return faiss.index_cpu_to_gpu(res, 0, index)


def check_index_config(config: IndexConfig) -> None:
    """Counts of the FAISS section in range (a NaN or a negative count is refused, not indexed)."""
    f = config.faiss
    for key, lo in (("nlist", 0), ("nprobe", 1), ("hnsw_m", 2), ("ef_construction", 1), ("ef_search", 1),
                    ("pq_dims", 0), ("k_factor", 1), ("threads", 0)):
        if getattr(f, key) < lo:
            raise RecipeError(f"recipe key 'faiss.{key}': must be >= {lo}, got {getattr(f, key)}")
    if not 0.0 <= f.target_recall <= 1.0:
        raise RecipeError(f"recipe key 'faiss.target_recall': must lie in [0, 1], got {f.target_recall}")
    if f.calibration_queries < 1:
        raise RecipeError(f"recipe key 'faiss.calibration_queries': must be >= 1, got {f.calibration_queries}")
    if config.protein_min_aa < 0:
        raise RecipeError(f"recipe key 'protein_min_aa': must be >= 0, got {config.protein_min_aa}")
    if config.faiss.kind not in KINDS:
        raise RecipeError(f"recipe key 'faiss.kind': expected one of {', '.join(KINDS)}, got {config.faiss.kind!r}")


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------
def build_index(docs: list[dict[str, Any]], out_dir: str | Path, config: IndexConfig,
                source: dict[str, Any], model_dir: str | Path | None = None,
                show_progress: bool = True, held_out: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Embed ``docs``, index them and write ``out_dir`` atomically; returns the manifest.

    With ``config.embedder == "protein"`` the rows must come from :func:`protein_records` (their
    ``protein`` column is embedded). ``held_out``: records of the same kind that are not indexed
    (the valid split); an ivf or hnsw index chooses its search effort on them
    (:func:`~dnahlm_rag.ann_effort.calibrate`, ``faiss.target_recall``), and the manifest's
    ``faiss.calibration`` records what was measured (null when nothing was calibrated).
    """
    faiss = _faiss()
    check_index_config(config)
    if config.faiss.threads > 0:
        faiss.omp_set_num_threads(config.faiss.threads)
    t0 = time.perf_counter()
    emb = make_embedder(config.embedder, config, model_dir)
    level = level_of(config.embedder)
    if level == "protein":
        if any("protein" not in d for d in docs):
            raise DnaHlmError("a protein index needs translated CDS rows (index.protein_records)")
        seqs = [d["protein"] for d in docs]
    else:
        seqs = [d["seq"] for d in docs]
    if isinstance(emb.seq, (KmerEmbedder, ProteinSeqEmbedder)):
        emb.seq.fit(seqs)
    elif isinstance(emb.seq, SiteEmbedder) and emb.seq.supervised:
        if any(d.get("label") is None for d in docs):
            raise DnaHlmError("the site embedder's mi weights are fitted on labelled windows: build it from a "
                              "task (--task T), or set [site] weighting = \"gauss\" in the recipe")
        emb.seq.fit(seqs, [str(d["label"]) for d in docs])
    t_fit = time.perf_counter()
    svecs = emb.seq.embed(seqs)
    t_seq = time.perf_counter()
    if emb.text is not None:
        tvecs = emb.text.embed([annotation_text(d) for d in docs], show_progress=show_progress)
        vecs = np.concatenate([svecs, tvecs], axis=1).astype(np.float32)
    else:
        vecs = svecs
    t_embed = time.perf_counter()
    index = _make_faiss(vecs, config.faiss)
    t_index = time.perf_counter()
    calibration = None
    if config.faiss.calibrates and held_out:
        from .ann_effort import calibrate, sample_rows

        rows = sample_rows(list(held_out), config.faiss.calibration_queries)
        queries = emb.embed_queries([d["protein"] if level == "protein" else d["seq"] for d in rows])
        calibration = calibrate(index, config.faiss.kind, vecs, queries, config.faiss.target_recall)
    nprobe = calibration.effort if calibration and calibration.kind == "ivf" else config.faiss.nprobe
    ef_search = calibration.effort if calibration and calibration.kind == "hnsw" else config.faiss.ef_search
    t_calibrate = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        faiss.write_index(index, str(tmp / INDEX_FILE))
        with open(tmp / DOCSTORE, "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
        files = [INDEX_FILE, DOCSTORE]
        if isinstance(emb.seq, KmerEmbedder):
            emb.seq.save(tmp / EMBEDDER_STATE)
            files.append(EMBEDDER_STATE)
        elif isinstance(emb.seq, (ProteinSeqEmbedder, SiteEmbedder)):
            write_json(tmp / EMBEDDER_STATE, emb.seq.state())
            files.append(EMBEDDER_STATE)
        extra: dict[str, Any] = {}
        if level == "protein":
            words = WordIndex.build(seqs)
            words.save(tmp / WORDS_FILE)
            files.append(WORDS_FILE)
            extra["words"] = words.describe()
            extra["translation"] = {"tables": dict(sorted(Counter(int(d["table"]) for d in docs).items())),
                                    "rule": "orfs.genetic_code_for(organism); orfs.translate_cds",
                                    "min_aa": config.protein_min_aa}
        manifest = write_manifest(
            tmp, STAGE, FORMAT_VERSION, level=level, **extra,
            embedder=emb.describe(), dim=int(vecs.shape[1]), metric="inner_product",
            kind=config.faiss.kind,
            faiss={"kind": config.faiss.kind, "nprobe": nprobe, "ef_search": ef_search,
                   "nlist": int(getattr(index, "nlist", 0)), "pq_dims": config.faiss.pq_dims,
                   "k_factor": config.faiss.k_factor,
                   "calibration": calibration.to_json() if calibration else None},
            model_dir=str(model_dir) if model_dir is not None else None,
            source=source, count=len(docs),
            files={name: sha256_file(tmp / name) for name in files},
            seconds={"fit": round(t_fit - t0, 3), "embed": round(t_embed - t_fit, 3),
                     "embed_seq": round(t_seq - t_fit, 3), "embed_text": round(t_embed - t_seq, 3),
                     "index": round(t_index - t_embed, 3), "calibrate": round(t_calibrate - t_index, 3),
                     "total": round(time.perf_counter() - t0, 3)},
        )
    return manifest


# --------------------------------------------------------------------------------------------
# Load and search
# --------------------------------------------------------------------------------------------
class SegmentIndex:
    """A loaded, checked index folder: FAISS index, docstore rows and the query embedder."""

    def __init__(self, folder: Path, manifest: dict[str, Any], index: Any, docs: list[dict[str, Any]],
                 embedder: FusedEmbedder, words: WordIndex | None = None) -> None:
        self.folder, self.manifest, self.index, self.docs, self.embedder = folder, manifest, index, docs, embedder
        self.words = words  # protein indexes: exact word inverted file, used by search()

    @property
    def embedder_name(self) -> str:
        return str(self.manifest["embedder"]["name"])

    @property
    def level(self) -> str:
        """``"protein"`` (rows are translated CDS, queries are proteins) or ``"dna"``."""
        return level_of(self.embedder_name)

    def __len__(self) -> int:
        return len(self.docs)

    @classmethod
    def load(cls, folder: str | Path, expect_embedder: str | None = None, model_dir: str | Path | None = None,
             config: IndexConfig | None = None) -> "SegmentIndex":
        """Load and check ``folder``; ``expect_embedder`` (e.g. ``"kmer"``) must match the manifest."""
        faiss = _faiss()
        folder = Path(folder)
        if not folder.is_dir():
            raise DnaHlmError(f"no index at {folder}: build one with `dnahlm index build --name {folder.name}`")
        m = read_manifest(folder, STAGE, FORMAT_VERSION)
        try:
            name, dim, count, files = m["embedder"]["name"], int(m["dim"]), int(m["count"]), dict(m["files"])
        except (KeyError, TypeError, ValueError):
            raise ManifestError(f"{folder}/manifest.json lacks embedder/dim/count/files: rebuild the index") from None
        if not {INDEX_FILE, DOCSTORE} <= set(files):
            raise ManifestError(f"{folder}/manifest.json lists no hash of {INDEX_FILE} and {DOCSTORE}: "
                                "rebuild the index")
        if expect_embedder is not None and expect_embedder != name:
            raise DnaHlmError(f"index {folder} was built with embedder {name!r}, not {expect_embedder!r}: "
                              f"rebuild it with --embedder {expect_embedder}")
        for fname, digest in files.items():
            p = folder / fname
            if not p.is_file():
                raise DnaHlmError(f"index {folder} is missing {fname}: rebuild it")
            if sha256_file(p) != digest:
                raise DnaHlmError(f"index {folder}: {fname} does not match its manifest hash "
                                  f"(truncated or modified): rebuild the index")
        try:
            index = faiss.read_index(str(folder / INDEX_FILE))
        except RuntimeError as e:
            raise DnaHlmError(f"index {folder}: cannot read {INDEX_FILE} ({str(e).splitlines()[0][:120]})") from None
        docs = list(read_jsonl(folder / DOCSTORE))
        if index.ntotal != count or len(docs) != count or index.d != dim:
            raise DnaHlmError(f"index {folder}: {index.ntotal} vectors of dim {index.d} and {len(docs)} docs, "
                              f"manifest says {count} of dim {dim}: rebuild it")
        cfg = config or IndexConfig()
        try:  # a hand-edited or foreign manifest: one line, not a KeyError/TypeError from deep inside
            fm = m.get("faiss", {})
            fcfg = FaissConfig(kind=m.get("kind", "flat"), nprobe=int(fm.get("nprobe", cfg.faiss.nprobe)),
                               ef_search=int(fm.get("ef_search", cfg.faiss.ef_search)), use_gpu=cfg.faiss.use_gpu)
            embedder = _embedder_from_manifest(folder, m, model_dir)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ManifestError(f"index {folder}: manifest.json or {EMBEDDER_STATE} is malformed "
                                f"({type(e).__name__}: {str(e)[:120]}): rebuild the index") from None
        if hasattr(index, "nprobe"):
            index.nprobe = fcfg.nprobe
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = fcfg.ef_search
        index = maybe_to_gpu(index, fcfg)
        if embedder.dim != dim:
            raise DnaHlmError(f"index {folder}: embedder gives {embedder.dim} dims, index holds {dim}: rebuild it")
        words = WordIndex.load(folder / WORDS_FILE) if WORDS_FILE in files else None
        if words is not None and len(words) != count:
            raise DnaHlmError(f"index {folder}: {WORDS_FILE} holds {len(words)} proteins, manifest says {count}: rebuild it")
        return cls(folder, m, index, docs, embedder, words)

    def search_vectors(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS search: (scores, row ids), each ``(n, k)``; ids are -1 where fewer than k exist."""
        k = max(1, min(k, len(self.docs)))
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def search(self, seqs: Sequence[str], questions: Sequence[str | None] | None = None, k: int = 4) -> list[list[Hit]]:
        """Top-``k`` segments for each normalised query sequence (and optional question).

        On a protein index (:attr:`level` ``"protein"``) the queries are protein strings, searched
        through the exact word inverted file when the index has one (scores: word cosine). A query
        whose sequence embeds to the zero vector (nothing to compare: all N/IUPAC codes, or shorter
        than every k-mer) gets no hits, since every score would be 0 and the order arbitrary.
        """
        if not seqs:
            return []
        if self.words is not None:
            scores, ids = self.words.search(list(seqs), max(1, min(k, len(self.docs))))
            return [[Hit(self.docs[int(j)], float(s), r) for r, (s, j) in enumerate(zip(srow, irow)) if j >= 0]
                    for srow, irow in zip(scores, ids)]
        q = self.embedder.embed_queries(list(seqs), questions)
        empty = ~np.any(q[:, :self.embedder.seq.dim] != 0, axis=1)
        scores, ids = self.search_vectors(q, k)
        return [[] if none else [Hit(self.docs[int(j)], float(s), r) for r, (s, j) in enumerate(zip(srow, irow)) if j >= 0]
                for srow, irow, none in zip(scores, ids, empty)]


def _embedder_from_manifest(folder: Path, m: dict[str, Any], model_dir: str | Path | None) -> FusedEmbedder:
    e = m["embedder"]
    seq_name = e["seq"]["name"]
    if seq_name == "protein":
        return FusedEmbedder(ProteinSeqEmbedder.from_state(_manifest_state(folder, e)))
    if seq_name == "site":
        _check_version(folder, e, "site", SiteEmbedder.version)
        return FusedEmbedder(SiteEmbedder.from_state(_manifest_state(folder, e)))
    if seq_name == "trna":
        _check_version(folder, e, "tRNA", TrnaEmbedder.version)
        return FusedEmbedder(TrnaEmbedder(TrnaConfig(**e["seq"]["params"])))
    if seq_name == "kmer":
        seq: Any = KmerEmbedder.from_state(_manifest_state(folder, e))
    elif seq_name == "lm":
        from .embed.lm import LMConfig as _LMC
        from .embed.lm import LMEmbedder, model_fingerprint

        mdir = Path(model_dir or m.get("model_dir") or "")
        want = e["seq"]["params"]["model_sha256"]
        if not mdir.is_dir() or model_fingerprint(mdir) != want:
            raise DnaHlmError(f"index {folder} was built with the lm embedder of model {want[:12]}, and "
                              f"{mdir} is not that model: pass --model with it or rebuild the index")
        p = e["seq"]["params"]
        seq = LMEmbedder(mdir, _LMC(layer=p["layer"], max_tokens=p["max_tokens"]))
        _check_version(folder, e, "lm", seq.version)
    else:
        raise DnaHlmError(f"index {folder}: unknown embedder {seq_name!r}: rebuild it")
    text = None
    if "text" in e:
        tp = dict(e["text"]["params"])
        if tp.pop("model", None) != "all-MiniLM-L6-v2" or e["text"]["version"] != TextEmbedder.version:
            raise DnaHlmError(f"index {folder}: text embedder {e['text']} is not the one this code has: rebuild it")
        text = TextEmbedder(TextConfig(**tp))
    fusion = FusionConfig(**e["fusion"]) if "fusion" in e else FusionConfig()
    return FusedEmbedder(seq, text, fusion)


def _check_version(folder: Path, e: dict[str, Any], what: str, version: int) -> None:
    """The manifest's sequence embedder must be this code's ``version`` of it."""
    if e["seq"]["version"] != version:
        raise DnaHlmError(f"index {folder}: {what} embedder v{e['seq']['version']}, this code has v{version}: rebuild")


def _manifest_state(folder: Path, e: dict[str, Any]) -> dict[str, Any]:
    """The fitted embedder state beside the index, checked against the manifest's params."""
    state = _read_state(folder)
    if state.get("config") != e["seq"]["params"]:
        raise DnaHlmError(f"index {folder}: {EMBEDDER_STATE} disagrees with the manifest: rebuild it")
    return state


def _read_state(folder: Path) -> dict[str, Any]:
    try:
        state = json.loads((folder / EMBEDDER_STATE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DnaHlmError(f"index {folder}: cannot read {EMBEDDER_STATE} ({err}): rebuild it") from None
    if not isinstance(state, dict):
        raise DnaHlmError(f"index {folder}: {EMBEDDER_STATE} is not a JSON object: rebuild it")
    return state
