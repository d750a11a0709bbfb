"""``dnahlm data build``: cache (+ the user's files) -> ``data/``, streaming, written atomically.

Order of work (one pass over each input, one record in memory at a time):

1. annotated genomes (GenBank/EMBL): each record takes its organism's split; its features go to
   ``segments.jsonl`` and the genome tasks; train organisms' sequence and feature text also feed
   pretraining DNA and English;
2. FASTA genomes: pretraining DNA, except sources/records of held-out (valid/test) organisms and
   the next_kmer region, from which the next_kmer items are drawn;
3. benchmarks (StatLog splice, E. coli promoters), 16S genera (blastdbcmd);
4. English sources;
5. task files (deduplicated across splits) and ``manifest.json``.

Everything is written into a temporary sibling of ``out`` that replaces ``out`` only when the
whole build succeeded (:func:`dnahlm_rag.atomic.atomic_dir`): an interrupted build leaves the
previous dataset (or none), never a half-written one.
"""
from __future__ import annotations

import glob
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from tqdm import tqdm

from ..atomic import atomic_dir, sha256_file
from ..errors import DnaHlmError
from ..manifest import write_manifest
from ..recipes import to_dict
from .dnacorpus import DnaPieceWriter
from .english import (EnglishWriter, feature_paragraph, go_definitions, obo_definitions, tutorial_paragraphs,
                      wordnet_glosses)
from .fasta import iter_fasta
from .fetch import FETCH_MANIFEST, package_root, read_fetch_manifest
from .genbank import describe, iter_records
from .problems import Problems
from .promoters import read_promoters
from .recipe import SPLITS, DataRecipe
from .rrna16s import BlastdbcmdMissing, build_genus_16s
from .sources import Source, sources_for
from .splits import OrganismSplitter, organism_key, stratified_split
from .statlog import check_consensus, read_statlog
from .tasks import GenomeTasks, next_kmer_items, write_task

STAGE = "data"
FORMAT_VERSION = 1
MB = 1_000_000

POLICIES = {
    "genome_tasks": "split by organism species key (genus + epithet); valid/test species named in the recipe; "
                    "a species is in exactly one split",
    "pretraining_dna": "train organisms only: sources and records of valid/test species (also FASTA sources and "
                       "FASTA headers naming them) and the next_kmer region are excluded; pieces cut from A/C/G/T "
                       "runs; valid pieces chosen by sha1 of the piece",
    "pretraining_english": "GO/SO/ChEBI definitions, Biopython tutorial prose, WordNet glosses, and feature text "
                           "of train organisms only; exact repeats dropped; valid paragraphs chosen by sha1",
    "benchmarks": "StatLog splice and E. coli promoters: stratified random split per class with the recipe seed",
    "genus_16s": "split by species within genus; species in pretraining DNA forced to train; identical "
                 "sequences kept once",
    "next_kmer": "held-out chrX region cut into consecutive train/valid/test blocks; not in pretraining",
    "dedup": "after building, a sequence (strand-blind) in test is removed from valid/train and one in valid "
             "from train; repeats inside a split keep the first copy",
    "iupac": "sequences normalized (upper case, U->T, IUPAC kept); pretraining pieces and task items use only "
             "pure A/C/G/T; segments keep IUPAC codes",
}


def _files(root: Path, src: Source) -> list[Path]:
    out: list[Path] = []
    for pattern in src.paths:
        out += sorted(Path(p) for p in glob.glob(str(root / pattern)))
    return list(dict.fromkeys(out))


def resolve_sources(recipe: DataRecipe, cache: Path) -> tuple[list[tuple[Source, list[Path]]], dict[str, dict]]:
    """Registry sources of the recipe with their files in the cache; error if a package is missing."""
    fetched = read_fetch_manifest(cache)
    missing = [p for p in recipe.packages if p not in fetched or not package_root(cache, p).is_dir()]
    if missing and not fetched and (cache / FETCH_MANIFEST).is_file():
        raise DnaHlmError(f"{cache / FETCH_MANIFEST} is unreadable or lists no package: run "
                          f"`dnahlm data fetch --recipe {recipe.name} --cache {cache}` to rebuild it (nothing is "
                          "downloaded again for packages already in the cache)")
    if missing:
        raise DnaHlmError(f"package {missing[0]} is not in the cache {cache} ({len(missing)} missing): run "
                          f"`dnahlm data fetch --recipe {recipe.name}` first (or build from your own files with "
                          f"--recipe own --genbank/--fasta)")
    out = []
    for src in sources_for(recipe.packages, recipe.exclude_sources):
        out.append((src, _files(package_root(cache, src.package), src)))
    inputs = {p: {k: fetched[p][k] for k in ("version", "deb", "sha256")} for p in recipe.packages}
    return out, inputs


def _nothing_read(option: str, fmt: str, path: Path, problems: Problems) -> DnaHlmError:
    """The error for a user's file that gave no usable record (the build stops: the dataset it
    would replace stays)."""
    first = next((p["reason"] for p in problems.items if p["file"] == str(path)), None)
    return DnaHlmError(f"--{option} {path}: no {fmt} record could be read from it"
                       + (f" (first problem: {first})" if first else " (the file is empty)"))


class _Stats:
    def __init__(self) -> None:
        self.by_source: dict[str, Counter] = defaultdict(Counter)
        self.organisms: dict[str, set[str]] = defaultdict(set)
        self.files: dict[str, list[str]] = defaultdict(list)
        self.notes: list[str] = []


def build_dataset(recipe: DataRecipe, out: str | Path = "data", cache: str | Path = "cache",
                  genbank_files: list[Path] | None = None, fasta_files: list[Path] | None = None,
                  progress: bool = True) -> dict:
    """Build the dataset folder ``out`` from the cache and the user's files; return the manifest."""
    t0 = time.time()
    cache, out = Path(cache), Path(out)
    sources, inputs = resolve_sources(recipe, cache)
    user_files = []
    for kind, files in (("genbank", genbank_files or []), ("fasta", fasta_files or [])):
        for p in files:
            p = Path(p)
            if not p.is_file():
                raise DnaHlmError(f"--{kind} {p}: no such file")
            user_files.append({"kind": kind, "path": str(p), "sha256": sha256_file(p)})
    if genbank_files:
        sources.append((Source("user_genbank", "(user)", (), "genbank", what="--genbank files"), [Path(p) for p in genbank_files]))
    if fasta_files:
        sources.append((Source("user_fasta", "(user)", (), "fasta", what="--fasta files"), [Path(p) for p in fasta_files]))
    if not sources:
        raise DnaHlmError("nothing to build: the recipe names no packages and no --genbank/--fasta files were given")

    splitter = OrganismSplitter(recipe.organisms, recipe.seed)
    problems = Problems()
    st = _Stats()
    tasks_out: dict[str, dict] = {}
    want = set(recipe.tasks)
    dna_cfg, en_cfg = recipe.pretrain_dna, recipe.english

    def dna_cap(name: str) -> int:
        return int(dna_cfg.caps_mb.get(name, dna_cfg.default_cap_mb) * MB)

    def en_cap(name: str) -> int:
        return int(en_cfg.caps_mb.get(name, en_cfg.default_cap_mb) * MB)

    by_kind: dict[str, list[tuple[Source, list[Path]]]] = defaultdict(list)
    for src, files in sources:
        by_kind[src.kind].append((src, files))
        st.files[src.name] = [str(f) for f in files]
        if not files:
            st.notes.append(f"source {src.name}: no files matched {list(src.paths)} in package {src.package}")

    with atomic_dir(out) as tmp:
        (tmp / "pretrain").mkdir()
        (tmp / "tasks").mkdir()
        f_dna = {s: open(tmp / "pretrain" / f"dna.{s}.txt", "w") for s in ("train", "valid")}
        f_en = {s: open(tmp / "pretrain" / f"english.{s}.txt", "w", encoding="utf-8") for s in ("train", "valid")}
        f_seg = open(tmp / "segments.jsonl", "w", encoding="utf-8")
        try:
            dna = DnaPieceWriter(f_dna["train"], f_dna["valid"], dna_cfg.piece_min, dna_cfg.piece_max,
                                 dna_cfg.valid_permille, recipe.seed)
            english = EnglishWriter(f_en["train"], f_en["valid"], en_cfg.valid_permille, en_cfg.min_chars)
            genome_tasks = GenomeTasks(recipe)
            seg_ids: set[str] = set()
            seg_counts: Counter = Counter()
            pretrain_species: set[str] = set()
            total_steps = sum(len(v) for v in by_kind.values())
            bar = tqdm(total=total_steps, desc="data build", unit="source", disable=not progress)

            # 1. annotated genomes
            for src, files in by_kind["genbank"] + by_kind["embl"]:
                bar.set_postfix_str(src.name)
                problems.source = src.name
                c = st.by_source[src.name]
                for path in files:
                    records_before = c["records"]
                    for rec in iter_records(path, problems, fmt=src.kind if src.kind == "embl" else None,
                                            organism=src.organism):
                        split = splitter.split_of(rec.organism)
                        c["records"] += 1
                        c["bases"] += len(rec.seq)
                        st.organisms[src.name].add(organism_key(rec.organism))
                        for f in rec.features:
                            c["features"] += 1
                            if len(f.seq) > recipe.max_segment_len:
                                c["features_too_long"] += 1
                                continue
                            sid = f"{rec.accession}:{f.type}:{f.start}-{f.end}:{'+' if f.strand == 1 else '-'}"
                            base, k = sid, 1
                            while sid in seg_ids:
                                k += 1
                                sid = f"{base}#{k}"
                            seg_ids.add(sid)
                            seg = {"id": sid, "organism": rec.organism, "accession": rec.accession, "type": f.type,
                                   "start": f.start, "end": f.end, "strand": f.strand, "gene": f.gene,
                                   "product": f.product, "description": describe(f, rec.organism, rec.accession),
                                   "seq": f.seq, "split": split, "source": src.name}
                            if len(f.parts) > 1:
                                seg["parts"] = [list(p) for p in f.parts]
                            f_seg.write(json.dumps(seg, ensure_ascii=False) + "\n")
                            seg_counts[split] += 1
                            seg_counts[f"type:{f.type}"] += 1
                            c["segments"] += 1
                            if split == "train" and (p := feature_paragraph(f)) is not None:
                                english.add("genbank_features", p, en_cap("genbank_features"))
                        genome_tasks.add_record(rec, split)
                        if split == "train" and dna_cfg.genbank_train_organisms:
                            got = dna.add(src.name, rec.seq, dna_cap(src.name))
                            if got:
                                pretrain_species.add(organism_key(rec.organism))
                        elif split != "train":
                            c["records_held_out_of_pretraining"] += 1
                    if src.name == "user_genbank" and c["records"] == records_before:
                        raise _nothing_read("genbank", "GenBank/EMBL", path, problems)
                    bar.update(1)

            # 2. FASTA genomes -> pretraining DNA (+ next_kmer)
            nk = recipe.next_kmer
            nk_items = None
            for src, files in by_kind["fasta"]:
                bar.set_postfix_str(src.name)
                problems.source = src.name
                c = st.by_source[src.name]
                if src.organism and splitter.held_out(src.organism):
                    c["skipped_held_out_organism"] = 1
                    st.notes.append(f"source {src.name} ({src.organism}) left out of pretraining: a valid/test organism")
                    bar.update(len(files))
                    continue
                is_nk = "next_kmer" in want and src.name == nk.source
                for path in files:
                    if dna.room(src.name, dna_cap(src.name)) < dna_cfg.piece_min and (not is_nk or nk_items is not None):
                        bar.update(1)
                        continue  # source full: do not even open the file
                    records_before = c["records"]
                    for fr in iter_fasta(path, problems):
                        c["records"] += 1
                        c["bases"] += len(fr.seq)
                        if splitter.mentions_held_out(fr.description) is not None:
                            c["records_naming_held_out_organism"] += 1
                            continue
                        exclude = []
                        if is_nk and fr.id == nk.record:
                            if nk.end > len(fr.seq) or nk.start >= nk.end:
                                raise DnaHlmError(f"recipe next_kmer region {nk.start}-{nk.end} is outside record "
                                                  f"{nk.record} ({len(fr.seq)} bases) of {src.name}")
                            nk_items = next_kmer_items(fr.seq, nk, recipe.seed)
                            exclude = [(nk.start, nk.end)]
                            c["next_kmer_region_excluded_bases"] = nk.end - nk.start
                        if dna.room(src.name, dna_cap(src.name)) >= dna_cfg.piece_min:
                            dna.add(src.name, fr.seq, dna_cap(src.name), exclude)
                        elif not is_nk or nk_items is not None:
                            break  # source full: stop reading it
                    if src.name == "user_fasta" and c["records"] == records_before:
                        raise _nothing_read("fasta", "FASTA", path, problems)
                    bar.update(1)
                if dna.bases[src.name] and src.organism:
                    pretrain_species.add(organism_key(src.organism))
                if src.organism:
                    st.organisms[src.name].add(organism_key(src.organism))
            for name, n in dna.bases.items():
                st.by_source[name]["pretrain_dna_bases"] = n

            # 3. benchmarks
            for src, files in by_kind["statlog_rda"]:
                if "splice" in want and files:
                    items = read_statlog(files[0])
                    consensus = check_consensus(items)
                    st.by_source[src.name]["items"] = len(items)
                    tasks_out["splice"] = write_task(tmp / "tasks", "splice", stratified_split(
                        items, recipe.splice.valid_fraction, recipe.splice.test_fraction, recipe.seed),
                        labels=["donor", "acceptor", "neither"], extra={"consensus_check": consensus})
                bar.update(len(files))
            for src, files in by_kind["promoter_rda"]:
                if "promoter" in want and files:
                    items = read_promoters(files[0])
                    st.by_source[src.name]["items"] = len(items)
                    tasks_out["promoter"] = write_task(tmp / "tasks", "promoter", stratified_split(
                        items, recipe.promoter.valid_fraction, recipe.promoter.test_fraction, recipe.seed),
                        labels=["promoter", "non-promoter"])
                bar.update(len(files))
            for src, files in by_kind["blastdb16s"]:
                bar.set_postfix_str(src.name)
                if "genus_16s" in want and files:
                    db = files[0].with_suffix("")
                    try:
                        items16, stats16 = build_genus_16s(db, recipe.genus_16s, recipe.seed, pretrain_species)
                        labels16 = stats16.pop("labels")
                        st.by_source[src.name].update({k: v for k, v in stats16.items() if isinstance(v, int)})
                        tasks_out["genus_16s"] = write_task(tmp / "tasks", "genus_16s", items16, labels=labels16,
                                                            extra={"source_stats": stats16})
                    except BlastdbcmdMissing as e:
                        tasks_out["genus_16s"] = {"skipped": f"{e}; install Debian ncbi-blast+ and rebuild"}
                bar.update(len(files))

            # 4. English
            readers = {"go_sqlite": go_definitions, "obo": obo_definitions, "tutorial": tutorial_paragraphs,
                       "wordnet": wordnet_glosses}
            for kind, reader in readers.items():
                for src, files in by_kind[kind]:
                    bar.set_postfix_str(src.name)
                    for path in files:
                        for para in reader(path):
                            st.by_source[src.name]["paragraphs_read"] += 1
                            english.add(src.name, para, en_cap(src.name))
                        bar.update(1)
            for name, n in english.bytes.items():
                st.by_source[name]["english_bytes"] = n
            bar.close()

            # 5. tasks from genomes, next_kmer; notes for tasks that could not be built
            gt = genome_tasks
            if "trna_aa" in want:
                tasks_out["trna_aa"] = write_task(tmp / "tasks", "trna_aa", gt.trna.by_split())
            if "feature_type" in want:
                tasks_out["feature_type"] = write_task(tmp / "tasks", "feature_type", gt.feature_type.by_split(),
                                                       labels=["CDS", "tRNA", "rRNA", "intergenic"])
            if "product" in want:
                tasks_out["product"] = write_task(tmp / "tasks", "product", gt.product.by_split())
            if "next_kmer" in want:
                if nk_items is not None:
                    tasks_out["next_kmer"] = write_task(tmp / "tasks", "next_kmer", nk_items,
                                                        extra={"region": {"source": nk.source, "record": nk.record,
                                                                          "start": nk.start, "end": nk.end}})
                else:
                    tasks_out["next_kmer"] = {"skipped": f"source {nk.source} record {nk.record} not in this build"}
            needs = {"splice": "statlog_rda", "promoter": "promoter_rda", "genus_16s": "blastdb16s"}
            for task, kind in needs.items():
                if task in want and task not in tasks_out:
                    tasks_out[task] = {"skipped": f"no {kind} source in this build (package not in the recipe)"}
        finally:
            for f in (*f_dna.values(), *f_en.values(), f_seg):
                f.close()

        org_splits = dict(sorted(splitter.seen.items()))
        for split in ("valid", "test"):
            named = {organism_key(o) for o in getattr(recipe.organisms, split)}
            absent = sorted(named - set(org_splits))
            if absent:
                st.notes.append(f"{split} organisms named in the recipe but absent from the inputs: {absent}")
        manifest = write_manifest(
            tmp, STAGE, FORMAT_VERSION,
            recipe_name=recipe.name, seed=recipe.seed, recipe=to_dict(recipe),
            inputs={"packages": inputs, "user_files": user_files},
            policies=POLICIES,
            held_out_organisms={"valid": sorted(k for k, v in org_splits.items() if v == "valid"),
                                "test": sorted(k for k, v in org_splits.items() if v == "test")},
            organism_splits=org_splits,
            sources={src.name: {"package": src.package, "kind": src.kind, "what": src.what,
                                "files": len(files), **dict(st.by_source[src.name]),
                                "organisms": sorted(st.organisms[src.name])[:50],
                                "malformed": problems.counts.get(src.name, 0)}
                     for src, files in sources},
            pretrain={
                "dna": {"train_bases": dna.split_bases["train"], "valid_bases": dna.split_bases["valid"],
                        "train_pieces": dna.pieces["train"], "valid_pieces": dna.pieces["valid"],
                        "per_source_bases": dict(dna.bases), "species": sorted(pretrain_species)},
                "english": {"train_bytes": english.split_bytes["train"], "valid_bytes": english.split_bytes["valid"],
                            "train_paragraphs": english.lines["train"], "valid_paragraphs": english.lines["valid"],
                            "per_source_bytes": dict(english.bytes), "dropped": dict(english.dropped)},
            },
            sizes={"dna_mb": round(sum(dna.split_bases.values()) / MB, 3),
                   "english_mb": round(sum(english.split_bytes.values()) / MB, 3)},
            segments={"total": sum(v for k, v in seg_counts.items() if not k.startswith("type:")),
                      "per_split": {s: seg_counts[s] for s in SPLITS},
                      "per_type": dict(sorted(((k[5:], v) for k, v in seg_counts.items() if k.startswith("type:")),
                                              key=lambda kv: -kv[1]))},
            tasks=tasks_out,
            dropped={"genome_tasks": dict(genome_tasks.dropped)},
            malformed={"total": problems.total, "per_source": dict(problems.counts), "first": problems.items},
            notes=st.notes,
            build_seconds=round(time.time() - t0, 1),
        )
    return manifest
