"""``dnahlm index build``: embed annotated segments (or a task's items) into ``indexes/NAME/``.

``--embedder protein`` builds the protein index (default name ``proteins``): the CDS segments of
the chosen splits translated per organism's genetic code, embedded as protein k-mer profiles;
``ask``/``batch`` use it beside the DNA index it sits next to.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

ORDER = 30


class Embedder(str, Enum):
    kmer = "kmer"
    lm = "lm"
    kmer_text = "kmer+text"
    lm_text = "lm+text"
    protein = "protein"
    site = "site"
    trna = "trna"


class Kind(str, Enum):
    flat = "flat"
    ivf = "ivf"
    hnsw = "hnsw"
    pq = "pq"


def _held_out(data: Path, task: Optional[str], cfg: Any) -> list[dict[str, Any]]:
    """The valid split's records (not indexed), to choose an ivf/hnsw index's search effort on."""
    from ..errors import DnaHlmError
    from ..index import load_records, protein_records

    if "valid" in cfg.splits:
        why = "the valid split is indexed: no held-out records"
    else:
        try:
            rows, _ = load_records(data, task=task, splits=["valid"])
            return protein_records(rows, cfg.protein_min_aa) if cfg.embedder == "protein" else rows
        except DnaHlmError:
            why = "no valid-split records"
    typer.echo(f"{why} to choose the search effort on; nprobe {cfg.faiss.nprobe}, ef_search {cfg.faiss.ef_search} "
               "from the recipe")
    return []


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Build retrieval indexes over annotated segments (FAISS + JSON docstore).",
                        no_args_is_help=True)

    @group.command("build")
    def build(
        data: Annotated[Path, typer.Option(help="Data folder (segments.jsonl, tasks/).")] = Path("data"),
        name: Annotated[Optional[str], typer.Option(help="Index name: writes indexes/NAME/ (default: the task name, 'proteins' for --embedder protein, else 'segments').")] = None,
        embedder: Annotated[Optional[Embedder], typer.Option(help="Embedder (default: the recipe's, kmer+text); protein: translated CDS segments, a protein-level index; site: base-by-base windows centred on a site (splice); trna: a tRNA's anticodon and the amino acid it decodes (trna_aa).")] = None,
        splits: Annotated[str, typer.Option(help="Comma-separated splits to index (evaluation: train only).")] = "train",
        kind: Annotated[Optional[Kind], typer.Option(help="flat (exact inner product, the default) or approximate: ivf or hnsw (their search effort is chosen at build so that recall@10 against exact search reaches faiss.target_recall, 0.98, on the valid split's records), or pq (4-bit product-quantizer codes scanned, the best 30 x k re-ranked exactly; recall@10 0.99 on the segment index at half the time of flat, docs/benchmarks.md).")] = None,
        task: Annotated[Optional[str], typer.Option(help="Index data/tasks/TASK/<split>.jsonl (items keep their labels) instead of segments.jsonl.")] = None,
        model: Annotated[Optional[Path], typer.Option(help="Checkpoint folder for the lm embedder (default: the newest model).")] = None,
        recipe: Annotated[str, typer.Option(help="recipes/index/<NAME>.toml or a path.")] = "default",
        out_root: Annotated[Path, typer.Option(help="Folder holding the indexes.")] = Path("indexes"),
    ) -> None:
        """Build indexes/NAME/: index.faiss, docstore.jsonl, embedder.json and manifest.json (atomically)."""
        from ..atomic import check_dir_path
        from ..errors import DnaHlmError
        from ..index import IndexConfig, build_index, check_index_config, load_records, protein_records
        from ..model_folder import default_model_dir
        from ..recipes import load_recipe

        if name is not None and (name.strip() in ("", ".", "..") or "/" in name or "\\" in name):
            raise DnaHlmError(f"--name {name!r}: give a plain folder name (no '/'), written under {out_root}")
        cfg = load_recipe(IndexConfig, "index", recipe)
        if embedder is not None:
            cfg.embedder = embedder.value
        if kind is not None:
            cfg.faiss.kind = kind.value
        cfg.splits = [s.strip() for s in splits.split(",") if s.strip()]
        if not cfg.splits:
            raise DnaHlmError(f"--splits {splits!r} names no split: give e.g. train (or train,valid)")
        check_index_config(cfg)
        model_dir = None
        if cfg.embedder.startswith("lm"):
            model_dir = model or default_model_dir()
        protein = cfg.embedder == "protein"
        if protein and task:
            raise DnaHlmError("the protein index is built from segments.jsonl's CDS: drop --task")
        out = check_dir_path(out_root / (name or task or ("proteins" if protein else "segments")))  # before the work
        docs, source = load_records(data, task=task, splits=cfg.splits)
        if protein:
            docs = protein_records(docs, cfg.protein_min_aa)
        held_out = _held_out(data, task, cfg) if cfg.faiss.calibrates else []
        typer.echo(f"indexing {len(docs)} records ({', '.join(cfg.splits)}) with {cfg.embedder}, {cfg.faiss.kind}")
        m = build_index(docs, out, cfg, source, model_dir=model_dir, held_out=held_out)
        typer.echo(f"wrote {out}: {m['count']} vectors x {m['dim']} dims, {m['seconds']['total']:.1f} s "
                   f"(embed {m['seconds']['embed']:.1f} s)")
        cal = m["faiss"].get("calibration")
        if cal:
            knob = "nprobe" if cal["kind"] == "ivf" else "ef_search"
            typer.echo(f"search effort {knob} = {cal['effort']}: recall@{cal['k']} {cal['recall']:.3f} against exact "
                       f"search on {cal['queries']} held-out valid records ({cal['ms_per_query']:.2f} ms/query); target "
                       f"{cal['target']}" + ("" if cal["met"] else " NOT met at the largest effort tried"))

    app.add_typer(group, name="index")
