"""BLAST baselines of the evaluation (``dnahlm eval`` systems ``blast`` and ``blastx``) and the
parser of BLAST's tabular output the benches share.

``blast``: each item's best ``blastn`` hit (bit score) in a nucleotide database of the task's TRAIN
items. ``blastx``: each item, translated in six frames with its organism's genetic code, against
the TRAIN items translated (tasks whose items are CDS, ``evaluate.TRANSLATED_TASKS``). The answer
is the hit's label; an item without a hit gets the majority label. Debian's ncbi-blast+ provides
the programs; without them the cells are skipped (``blast_available``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .evaluate import TaskContext


def blast_available(program: str = "blastn") -> bool:
    return all(shutil.which(x) for x in (program, "makeblastdb"))


def best_blast_hits(tabular: str) -> dict[int, tuple[float, int]]:
    """{query number: (bit score, subject number)} of the best hit per query in BLAST's
    ``-outfmt "6 qseqid sseqid bitscore"`` output, ids written as one letter and a number (``q<i>``, ``t<j>``)."""
    best: dict[int, tuple[float, int]] = {}
    for line in tabular.splitlines():
        q, s, bits = line.split("\t")
        qi, si, b = int(q[1:]), int(s[1:]), float(bits)
        if qi not in best or b > best[qi][0]:
            best[qi] = (b, si)
    return best


def _threads(threads: int) -> int:
    """BLAST threads: ``threads``, or every core when it is 0."""
    return threads if threads > 0 else (os.cpu_count() or 1)


def _hit_labels(tc: TaskContext, best: dict[int, tuple[float, int]]) -> tuple[list[str | None], dict[str, Any]]:
    """Each item's answer, the label of its best hit's train row or the majority label, and the hit rate."""
    preds: list[str | None] = [str(tc.train[best[i][1]]["label"]) if i in best else tc.majority
                               for i in range(len(tc.items))]
    return preds, {"hit_rate": len(best) / max(1, len(tc.items)), "no_hit_fallback": "majority label"}


def blast_top_hit(tc: TaskContext, work: Path, threads: int = 0) -> tuple[list[str | None], dict[str, Any]]:
    """Label of the best-scoring blastn hit of each item in a database of the train split.

    ``threads`` (0: all cores) split the queries between blastn threads (``-mt_mode 1``), which
    changes nothing in the hits, only the wall time (the 16S task was 97 s of a 350 s report on one).
    """
    threads = _threads(threads)
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp_s:
        tmp = Path(tmp_s)
        with open(tmp / "train.fa", "w") as f:
            for i, r in enumerate(tc.train):
                f.write(f">t{i}\n{r['seq']}\n")
        with open(tmp / "query.fa", "w") as f:
            for i, r in enumerate(tc.items):
                f.write(f">q{i}\n{r['seq']}\n")
        subprocess.run(["makeblastdb", "-in", str(tmp / "train.fa"), "-dbtype", "nucl", "-out", str(tmp / "db")],
                       check=True, capture_output=True)
        median = float(np.median([len(r["seq"]) for r in tc.items])) if tc.items else 0.0
        btask = "blastn-short" if median < 100 else "blastn"
        res = subprocess.run(["blastn", "-task", btask, "-query", str(tmp / "query.fa"), "-db", str(tmp / "db"),
                              "-outfmt", "6 qseqid sseqid bitscore", "-max_target_seqs", "5", "-evalue", "10",
                              "-num_threads", str(threads), "-mt_mode", "1"], check=True, capture_output=True, text=True)
    preds, extra = _hit_labels(tc, best_blast_hits(res.stdout))
    return preds, {"blast_task": btask, **extra}


def blastx_top_hit(tc: TaskContext, work: Path, threads: int = 0) -> tuple[list[str | None], dict[str, Any]]:
    """Label of the best-scoring blastx hit of each item among the train items translated.

    Train CDS are translated with their organism's genetic code (:func:`~dnahlm_rag.orfs.genetic_code_for`;
    the ones under 10 amino acids are left out); items are searched in six frames, one blastx run
    per genetic code among them (``-query_gencode``), e-value 10 as the ``blast`` baseline.
    """
    from .orfs import genetic_code_for, translate_cds

    threads = _threads(threads)
    work.mkdir(parents=True, exist_ok=True)
    by_code: dict[int, list[int]] = {}
    for i, r in enumerate(tc.items):
        by_code.setdefault(genetic_code_for(str(r.get("organism") or "")), []).append(i)
    best: dict[int, tuple[float, int]] = {}
    with tempfile.TemporaryDirectory(dir=work) as tmp_s:
        tmp = Path(tmp_s)
        with open(tmp / "train.faa", "w") as f:
            for j, r in enumerate(tc.train):
                protein = translate_cds(r["seq"], genetic_code_for(str(r.get("organism") or "")))
                if len(protein) >= 10:
                    f.write(f">t{j}\n{protein}\n")
        subprocess.run(["makeblastdb", "-in", str(tmp / "train.faa"), "-dbtype", "prot", "-out", str(tmp / "db")],
                       check=True, capture_output=True)
        for code, idx in sorted(by_code.items()):
            with open(tmp / "query.fa", "w") as f:
                for i in idx:
                    f.write(f">q{i}\n{tc.items[i]['seq']}\n")
            res = subprocess.run(["blastx", "-query", str(tmp / "query.fa"), "-db", str(tmp / "db"),
                                  "-query_gencode", str(code), "-outfmt", "6 qseqid sseqid bitscore",
                                  "-max_target_seqs", "5", "-evalue", "10", "-num_threads", str(threads),
                                  "-mt_mode", "1"], check=True, capture_output=True, text=True)
            best.update(best_blast_hits(res.stdout))
    preds, extra = _hit_labels(tc, best)
    return preds, {**extra, "genetic_codes": sorted(by_code)}
