"""``dnahlm batch``: answer every row of an input file into a JSON-lines file, resumably.

Input: a file :mod:`dnahlm_rag.inputs` reads (FASTA, JSON lines, GenBank/EMBL; a row that cannot
be read becomes an error row). Output is JSON
lines, one row per input row (a repeated id is an error row of its own), in input order (GenBank:
features in file order, then a row per malformed record; after ``resume``, the retried rows
follow the kept ones), appended and flushed row by row: ``id, question,
mode, task`` (the task answered for, given or routed from the question by
:class:`RoutedAnswerer`; null: none), ``answer, label`` (the gold label when the input has one),
``neighbours`` (id, organism, type, product, label, score), ``error`` (null, or the one-line
reason this row has no answer), with ``label_probs`` on a closed task every label's probability
when asked for (``AnswerConfig.label_probs``, :meth:`Answerer._add_label_probs`), and
``provenance`` when there is any (:meth:`Answerer.answer_many`). A bad row never stops the batch.
With ``resume`` rows already answered (by id) are skipped; rows that had errors are retried; an
OUT that is no batch output is refused, not rewritten (:func:`check_batch_paths`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .answer import Answerer, RoutedAnswerer, neighbour_summary
from .atomic import atomic_file, check_file_path
from .errors import DnaHlmError
from .inputs import check_input_file, split_lines, clean_text, read_inputs
from .seq import normalize_dna, rna_note


#: Keys every row of a batch output has (:func:`run_batch`): how ``--resume`` knows OUT is one.
OUTPUT_KEYS = ("id", "answer", "error")


def check_batch_paths(in_path: str | Path, out_path: str | Path, resume: bool, force: bool) -> None:
    """Refuse, before any work, what would fail late or destroy a file: a missing input, an OUT that
    is a folder, lies under a file, is the input itself, exists without ``--resume``/``--force``, or
    is to be resumed but is no batch output; both flags at once."""
    inp, out = Path(in_path), Path(out_path)
    if resume and force:
        raise DnaHlmError("--resume continues OUT and --force starts it over: give one of them")
    check_input_file(inp)
    check_file_path(out, "--out")
    if out.exists() and os.path.samefile(out, inp):  # a symlink or a hard link to IN too
        raise DnaHlmError(f"--out {out} is the input file: answers go to a file of their own")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DnaHlmError(f"--out {out}: cannot make its folder ({e.strerror or e})") from None
    if out.exists() and out.stat().st_size > 0 and not (resume or force):
        raise DnaHlmError(f"{out} exists: pass --resume to continue it or --force to start over")
    if resume and out.is_file():
        _output_rows(out)  # refuses a file that is not a batch output, before any work


def _output_rows(out_path: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(line, row)`` of each row of an earlier batch output, without a torn last line (an
    interrupted write: the file does not end in a newline, and its last line is cut JSON that
    follows at least one whole row); a file with any other line that is not a batch output row is
    refused."""
    text = out_path.read_text(encoding="utf-8", errors="replace")
    lines = list(enumerate(split_lines(text), 1))
    torn = None if text.endswith("\n") else lines[-1][0]
    rows: list[tuple[str, dict[str, Any]]] = []
    for n, line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if not (isinstance(obj, dict) and all(k in obj for k in OUTPUT_KEYS)):
            if n == torn and obj is None and rows and line.startswith("{"):
                continue
            raise DnaHlmError(f"{out_path}:{n} is not a row of a `dnahlm batch` output: refusing to continue "
                              "(and rewrite) a file that is not one")
        rows.append((line, obj))
    return rows


def answered_ids(out_path: Path) -> set[str]:
    """Ids answered without error in an earlier run; rewrites ``out_path`` keeping only those rows
    (error rows are retried now; :func:`_output_rows` for what is dropped or refused)."""
    if not out_path.is_file():
        return set()
    keep, ids = [], set()
    for line, obj in _output_rows(out_path):
        if obj.get("error") is None and obj["id"] not in ids:
            ids.add(obj["id"])
            keep.append(line)
    with atomic_file(out_path) as f:
        f.write("".join(x + "\n" for x in keep))
    return ids


def _chunks(xs: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(xs), n):
        yield xs[i : i + n]


def run_batch(answerer: Answerer | RoutedAnswerer, in_path: str | Path, out_path: str | Path, *, question: str | None = None,
              resume: bool = False, force: bool = False, progress: bool = True,
              feature_types: Sequence[str] = ("CDS",)) -> dict[str, int]:
    """Answer every row of ``in_path`` into ``out_path`` (see the module docstring); returns counts.
    ``feature_types``: the features of a GenBank/EMBL input that become rows."""
    from tqdm import tqdm

    out = Path(out_path)
    check_batch_paths(in_path, out, resume, force)
    rows = read_inputs(in_path, feature_types, answerer.config.genetic_code)
    done = answered_ids(out) if resume else set()
    # rows unreadable as input (a duplicate id among them) are written again: their error rows were dropped
    todo = [r for r in rows if r.id not in done or r.error is not None]
    counts = {"rows": len(rows), "skipped": len(rows) - len(todo), "answered": 0, "errors": 0}
    mode = "a" if resume else "w"
    try:
        with open(out, mode, encoding="utf-8") as f, tqdm(total=len(todo), disable=not progress, unit="q",
                                                         desc=f"batch {answerer.config.mode}") as bar:
            for chunk in _chunks(todo, max(1, answerer.config.batch_size)):
                results: list[dict[str, Any] | None] = [None] * len(chunk)  # by position: ids may repeat
                items, where = [], []
                for j, r in enumerate(chunk):
                    q = clean_text((r.question or question or "").strip())
                    if r.error:
                        results[j] = {"error": r.error}
                        continue
                    if not q:
                        results[j] = {"error": "no question: give one per row or pass --question / --task"}
                        continue
                    try:
                        s = normalize_dna(r.seq or "", what=f"sequence {r.id}")
                    except DnaHlmError as e:
                        results[j] = {"error": str(e)}
                        continue
                    items.append({"question": q, "seq": s, "genetic_code": r.genetic_code})
                    where.append(j)
                if items:
                    try:
                        outs = answerer.answer_many(items)
                    except Exception:  # isolate the failing row(s): answer one by one
                        outs = []
                        for it in items:
                            try:
                                outs.append(answerer.answer_many([it])[0])
                            except Exception as e:  # noqa: BLE001 - recorded per row, the batch goes on
                                outs.append({"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
                    for j, o in zip(where, outs):
                        notes = [*chunk[j].notes, rna_note(chunk[j].seq or "")]
                        if not o.get("error"):
                            o.setdefault("provenance", []).extend(n for n in notes if n)
                        results[j] = o
                for r, o in zip(chunk, results):
                    assert o is not None
                    row = {"id": r.id, "question": (r.question or question), "mode": answerer.config.mode,
                           "task": o.get("task", answerer.config.task), "answer": o.get("answer"), "label": r.label,
                           "neighbours": [neighbour_summary(d) for d in o.get("neighbours", [])],
                           "mix": o.get("mix"), "error": o.get("error")}
                    if "label_probs" in o:
                        row["label_probs"] = o["label_probs"]
                    if o.get("yes_no"):
                        row["yes_no"] = o["yes_no"]
                    if "significant_protein_hit" in o:
                        row["significant_protein_hit"] = o["significant_protein_hit"]
                    if o.get("truncated"):
                        row["truncated"] = True
                    row["provenance"] = o.get("provenance") or []
                    counts["errors" if row["error"] else "answered"] += 1
                    try:
                        line = json.dumps(row, ensure_ascii=False)
                        line.encode("utf-8")
                    except UnicodeEncodeError:  # a lone surrogate left in an id or label: escape it
                        line = json.dumps(row)
                    f.write(line + "\n")
                    f.flush()
                    bar.update(1)
    except OSError as e:  # disk full, ...: the rows flushed so far stay, --resume continues
        raise DnaHlmError(f"cannot write {out} ({e.strerror or e}); the rows written before stay: "
                          "free the space and rerun with --resume") from None
    return counts
