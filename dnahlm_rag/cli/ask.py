"""``dnahlm ask`` (one question about one sequence) and ``dnahlm batch`` (many, to JSON lines).

Both fuse protein-level neighbours in when a protein index (``dnahlm index build --embedder
protein``) sits beside the DNA segments index (``indexes/proteins``); ``--protein-index off``
turns that off. ``ask`` prints, for each neighbour, the level that matched and, for protein
hits, the query ORF used (strand, frame, 0-based half-open coordinates on the query), then the
provenance notes (levels searched, ORF problems).
"""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..retrieval_mix import DEFAULT_K

if TYPE_CHECKING:
    from ..answer import Answerer
    from ..task_router import TaskRouter

ORDER = 40


class Mode(str, Enum):
    rag = "rag"
    plain = "plain"


GENETIC_CODE_HELP = ("NCBI genetic code of the query's open reading frames at the protein level: 11 bacteria, archaea "
                     "and plastids (the default); 2 vertebrate mitochondria; 4 Mycoplasma and mold/protozoan "
                     "mitochondria; 5 invertebrate mitochondria; 1 standard (nuclear genes; same amino acids as 11). "
                     "Read with the wrong code, a mitochondrial gene breaks at every TGA into short ORFs.")
PROTEIN_HELP = ("Protein index fused with the DNA one: 'auto' (indexes/proteins beside a segments index, "
                "when built), 'off', or a folder.")


def _protein(value: str) -> str | None:
    return None if value == "off" else value


def level_column(meta: dict) -> str:
    """``dna``, or ``protein +1/f0 0-300`` (query strand, frame, ORF on the query, 0-based
    half-open), with ``partial`` when the ORF runs off the query without a start or stop."""
    if meta.get("level") != "protein":
        return str(meta.get("level") or "dna")
    if meta.get("query_start") is None:  # a task finder's protein-level row (no ORF detail kept)
        return "protein"
    out = f"protein {meta.get('query_strand', 0):+d}/f{meta.get('query_frame')} {meta.get('query_start')}-{meta.get('query_end')}"
    return out + (" partial" if meta.get("orf_partial") else "")


def _index_dir(index: Optional[str], task: Optional[str], root: Path = Path("indexes")) -> str:
    if index:
        p = Path(index)
        return str(p if p.is_dir() or "/" in index else root / index)
    if task and (root / task).is_dir():
        return str(root / task)
    return str(root / "segments")


def _retrieval(index: Optional[str], task: Optional[str], data: Path,
               root: Path = Path("indexes")) -> dict[str, str | None]:
    """``index_dir`` and ``data_dir`` of an :class:`~dnahlm_rag.answer.AnswerConfig`: without
    ``--index``, a task whose neighbours come from a finder with no index folder (product,
    feature_type), or whose index is not built (next_kmer has none), retrieves through the task's
    own finder over its train rows, as tuning and eval do."""
    from ..instruct import INDEXLESS_TASKS

    if task is not None and index is None and (task in INDEXLESS_TASKS or not (root / task).is_dir()):
        return {"index_dir": None, "data_dir": str(data)}
    return {"index_dir": _index_dir(index, task, root), "data_dir": None}


# A routed task answered from the general segment index instead of its own finder: "what does
# this encode?" gets the annotated segments with protein-level hits first and the matching ORF
# shown (issue 7), as the demo's example does; `--task product` uses the product task's finder.
ROUTED_INDEX = {"product": "segments"}


def routed_index(task: Optional[str], root: Path = Path("indexes")) -> Optional[str]:
    """The index a question routed to ``task`` is answered from (:data:`ROUTED_INDEX`, when built), else None."""
    name = ROUTED_INDEX.get(task or "")
    return name if name and (root / name).is_dir() else None


def task_answerer(task: Optional[str], index: Optional[str], data: Path, **settings: object) -> Answerer:
    """The :class:`~dnahlm_rag.answer.Answerer` of ``ask`` and ``batch`` for ``task`` (None: no
    task) over ``index`` (None: the task's own retrieval, :func:`_retrieval`): the task's labels,
    and the novelty check only where it was measured (the task's own index or finder).
    ``settings``: the other :class:`~dnahlm_rag.answer.AnswerConfig` fields."""
    from ..answer import AnswerConfig, Answerer, task_question_and_labels

    labels = task_question_and_labels(data, task)[1] if task else None
    cfg = AnswerConfig(**_retrieval(index, task, data), task=task,  # type: ignore[arg-type]
                       novelty_data=str(data) if task and index is None else None, **settings)
    return Answerer(cfg, labels)


def make_router(task: str, index: Optional[str], data: Path) -> tuple[TaskRouter | None, Optional[str]]:
    """A :class:`~dnahlm_rag.task_router.TaskRouter` when ``task`` is ``auto`` and no ``--index`` is
    given (the index folder already says what to retrieve), else None; and a note when routing was
    wanted but there is no task to route to."""
    from ..errors import DnaHlmError

    if not task.strip():
        raise DnaHlmError("--task is empty: give auto, none or a task name (see --help)")
    if task != "auto" or index is not None:
        return None, None
    from ..task_router import TaskRouter

    try:
        return TaskRouter(data), None
    except DnaHlmError as e:  # no tasks built, or a broken routing bank: answer anyway, and say why
        return None, f"task: none (cannot route: {e}); answering from the general segment index"


def _note_plain_ignores(mode: Mode, mix: Optional[float]) -> None:
    """Say on stderr that --mix means nothing in plain mode (nothing is retrieved to mix in)."""
    if mode is Mode.plain and mix is not None:
        typer.echo("note: --mix applies to rag mode only (plain mode retrieves nothing to mix in); ignored", err=True)


def resolve_task(task: str, question: str, index: Optional[str], data: Path,
                 root: Path = Path("indexes")) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """The task ``ask`` answers for, the index to use (None: the task's default), and a line saying
    how the task was chosen (None: chosen by the user).

    ``task`` is ``auto`` (route the question, :mod:`dnahlm_rag.task_router`; not with ``--index``),
    ``none`` (no task: the general segment index) or a task name."""
    router, note = make_router(task, index, data)
    if router is None:
        return (None if task in ("auto", "none") else task), index, note
    route = router.route(question)
    how = route.describe()
    routed = routed_index(route.task, root)
    if routed:
        how += f", answered from the {routed} index"
    return route.task, routed, how + "; --task T chooses one, --task none the general index"


TASK_EFFECT = ("its fitted mixing weight applies, and neighbours come from its index (product, feature_type and a task "
               "whose index is not built: from its train rows through the finder eval uses).")
ASK_TASK_HELP = ("auto: the task whose wording is nearest the question (none when no task's is near; not with "
                 "--index); none: no task, the general segment index; or a task of data/tasks/ (splice, promoter, trna_aa, "
                 "feature_type, genus_16s, product, next_kmer): answers snap to its labels, " + TASK_EFFECT)


def register(app: typer.Typer) -> None:
    @app.command("ask")
    def ask(
        question: Annotated[str, typer.Argument(help="The question, in English (a sequence of 20+ bases pasted into it is used as the sequence).")],
        seq: Annotated[Optional[str], typer.Option("--seq", help="The DNA sequence (A C G T, IUPAC codes allowed).")] = None,
        fasta: Annotated[Optional[Path], typer.Option("--fasta", help="A FASTA file with exactly one record.")] = None,
        mode: Annotated[Mode, typer.Option(help="rag: retrieve neighbours as few-shot context; plain: the model alone.")] = Mode.rag,
        k: Annotated[int, typer.Option("-k", "--k", min=1, max=32, help="Neighbours retrieved, shown and mixed into the answer (default 3: the k `dnahlm eval` measures and `mix fit` fits the mixing weights at).")] = DEFAULT_K,
        model: Annotated[Optional[Path], typer.Option(help="Checkpoint folder (default: the newest released / sft / pretrain model).")] = None,
        index: Annotated[Optional[str], typer.Option(help="Index name under indexes/ (or a folder); default: the task's, else 'segments'.")] = None,
        task: Annotated[str, typer.Option(help=ASK_TASK_HELP)] = "auto",
        data: Annotated[Path, typer.Option(help="Data folder (tasks, their labels and train rows).")] = Path("data"),
        max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest answer, in tokens.")] = 32,
        seed: Annotated[int, typer.Option(help="Seed (matters only with --temperature > 0).")] = 0,
        temperature: Annotated[float, typer.Option(min=0.0, help="0: greedy.")] = 0.0,
        protein_index: Annotated[str, typer.Option(help=PROTEIN_HELP)] = "auto",
        genetic_code: Annotated[Optional[int], typer.Option(help=GENETIC_CODE_HELP)] = None,
        mix: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="RAG: weight of the neighbours' answers mixed into decoding (default: the weight `dnahlm mix fit` chose for the model, else 0).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (question, task and how it was chosen, answer, label probabilities, provenance, neighbours) instead of text.")] = False,
    ) -> None:
        """Answer QUESTION about one sequence; print the answer, then the neighbours it was built from.

        The task is read from the question's wording unless --task is given (the line `task: ...` says which and why); closed tasks also print their labels' probabilities, and a yes/no question about one label ("Is this a splice donor?") is answered Yes or No first. The provenance says how the answer was reached and when to doubt it: a query unlike its task's known sequences, protein hits no better than chance (E > 0.01 over the whole index), a low-complexity reading frame. The sequence comes from --seq, --fasta, or is pasted into the question itself.

        Example: dnahlm ask "What does this gene encode?" --fasta gene.fa
        """  # noqa: E501 - one paragraph per line: the help renders line breaks as they are
        from ..answer import similarity_text
        from ..inputs import read_single_fasta
        from ..chain import ChainConfig
        from ..errors import DnaHlmError
        from ..orfs import check_table
        from ..seq import MIN_PASTED, normalize_dna, pasted_ignored_note, sequence_in_text

        pasted = sequence_in_text(question)
        if pasted is not None and (seq is not None or fasta is not None):
            typer.echo("note: " + pasted_ignored_note(len(pasted[1]), "--seq" if seq is not None else "--fasta"), err=True)
        elif pasted is not None:  # the sequence was pasted into the question itself
            question, seq = pasted
            typer.echo(f"note: took the {len(seq)}-base sequence from the question; asking: {question!r}", err=True)
        if (seq is None) == (fasta is None):
            raise DnaHlmError("a question needs a sequence: pass exactly one of --seq ACGT... or --fasta FILE "
                              f"(or paste at least {MIN_PASTED} bases into the question)")
        raw = seq if seq is not None else read_single_fasta(fasta)  # type: ignore[arg-type]
        normalize_dna(raw, what="the query sequence")  # bad input fails before any model loads
        if genetic_code is not None:
            check_table(genetic_code)
        _note_plain_ignores(mode, mix)
        if not question.strip():
            raise DnaHlmError("the question is empty")
        chosen, index, how = resolve_task(task, question, index, data)
        if how:
            typer.echo(how, err=True)
        out = task_answerer(chosen, index, data, mode=mode.value, model_dir=str(model) if model else None,
                            chain=ChainConfig(k=k), max_new_tokens=max_new_tokens, seed=seed, temperature=temperature,
                            protein_index=_protein(protein_index), genetic_code=genetic_code, mix=mix,
                            label_probs=True).ask(question, raw)
        if as_json:
            from ..answer import neighbour_summary

            typer.echo(json.dumps({
                "question": question, "task": chosen, "route": how, "mode": mode.value, "answer": out["answer"],
                "yes_no": out.get("yes_no"), "truncated": bool(out.get("truncated")),
                "significant_protein_hit": out.get("significant_protein_hit"),
                "label_probs": out.get("label_probs"), "mix": out.get("mix"), "provenance": out.get("provenance", []),
                "seq_len": out["seq_len"], "shown_len": out["shown_len"],
                "neighbours": [neighbour_summary(d) for d in out["neighbours"]],
            }, ensure_ascii=False))
            return
        guess = ("no significant protein hit" if out.get("significant_protein_hit") is False
                 else "the sequence has no A/C/G/T" if not any(b in raw.upper() for b in "ACGT") else "")
        typer.echo((f"{out['yes_no'].capitalize()}: {out['answer']}" if out.get("yes_no") else str(out["answer"]))
                   + (f"  (a guess: {guess}, see the provenance)" if guess else ""))
        if out.get("label_probs"):
            shown = list(out["label_probs"].items())[:3]
            n_labels = len(out["label_probs"])
            typer.echo("label probabilities: " + ", ".join(f"{lab} {p:.2f}" for lab, p in shown)
                       + (f" (and {n_labels - 3} more; the answer is always one of the task's {n_labels} labels, "
                          f"listed in {data / 'tasks' / str(chosen) / 'task.json'})" if n_labels > 3 else ""))
        if out.get("mix") == 1.0 and out.get("neighbours"):  # at weight 1 the mixture is the neighbours' vote
            typer.echo(f"(mixing weight 1.00: the answer{' and its probabilities are' if out.get('label_probs') else ' is'} "
                       f"the vote of the {len(out['neighbours'])} neighbours' answers; --mix 0: the model alone)", err=True)
        elif out.get("mix") and out.get("neighbours"):
            typer.echo(f"(decoded with the neighbours' answers mixed in at weight {out['mix']:.2f}; --mix 0: the model alone)",
                       err=True)
        if out.get("provenance"):
            typer.echo("\nprovenance:")
            for line in out["provenance"]:
                typer.echo(f"  {line}")
        if out["neighbours"]:
            fused = any("level" in d.metadata for d in out["neighbours"])
            labelled = not any(d.metadata.get("product") or d.metadata.get("type") for d in out["neighbours"])
            what = "id, organism, label, " if labelled else "id, organism, type, product, "  # a task's train rows: labels
            typer.echo("\nneighbours (" + what + ("level, " if fused else "") + "similarity):")
            for d in out["neighbours"]:
                m = d.metadata
                cols = [m.get("id"), m.get("organism"), m.get("label")] if labelled else \
                    [m.get("id"), m.get("organism"), m.get("type"), m.get("product") or m.get("label")]
                if fused:
                    cols.append(level_column(m))
                typer.echo("  " + "\t".join(str(c) if c else "-" for c in cols) + "\t" + similarity_text(m))
            from ..fused_retriever import SIGNIFICANT_E, protein_evalues

            if protein_evalues(out["neighbours"]):
                typer.echo("  (E: protein hits this good expected by chance in a search of the whole protein index; "
                           f"significant at <= {SIGNIFICANT_E:g}. Other hits: cosine.)")

    @app.command("batch")
    def batch(
        inp: Annotated[Path, typer.Argument(metavar="IN", help="FASTA (.fa/.fasta/.fna), JSON lines (id, seq, question, label, genetic_code), or GenBank/EMBL (.gb/.gbk/.gbff/.embl, gzipped or not: one row per feature of --features, its annotated product as label, its /transl_table as genetic code).")],
        out: Annotated[Path, typer.Option("--out", help="Output JSON lines, one row per input row.")],
        task: Annotated[str, typer.Option(help="auto: each row's task from its question's wording, as in `ask` (not with --index; the row's "
                                                "`task` in OUT says which); none: the general segment index; or a task of data/tasks/: rows "
                                                "without a question get its question, answers snap to its labels, " + TASK_EFFECT)] = "auto",
        question: Annotated[Optional[str], typer.Option(help="Question for rows that carry none.")] = None,
        mode: Annotated[Mode, typer.Option(help="rag or plain.")] = Mode.rag,
        k: Annotated[int, typer.Option("-k", "--k", min=1, max=32, help="Neighbours per question (default 3, as in `ask`).")] = DEFAULT_K,
        model: Annotated[Optional[Path], typer.Option(help="Checkpoint folder (default: the newest model).")] = None,
        index: Annotated[Optional[str], typer.Option(help="Index under indexes/ (default: the task's, else 'segments'; product and feature_type: the task's train rows through the neighbour finder eval uses).")] = None,
        data: Annotated[Path, typer.Option(help="Data folder (tasks, their labels and train rows).")] = Path("data"),
        resume: Annotated[bool, typer.Option(help="Skip rows already answered in OUT (by id); retry rows with errors.")] = False,
        force: Annotated[bool, typer.Option(help="Overwrite an existing OUT.")] = False,
        batch_size: Annotated[int, typer.Option(min=1, help="Questions per generation batch.")] = 32,
        max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest answer, in tokens (as in ask; a row whose answer reaches it gets \"truncated\": true).")] = 32,
        seed: Annotated[int, typer.Option(help="Seed (same seed, same output).")] = 0,
        temperature: Annotated[float, typer.Option(min=0.0, help="0: greedy.")] = 0.0,
        protein_index: Annotated[str, typer.Option(help=PROTEIN_HELP)] = "auto",
        genetic_code: Annotated[Optional[int], typer.Option(help=GENETIC_CODE_HELP + " Without this option each row's own code when it has one: a GenBank/EMBL CDS's /transl_table, a JSON-lines row's genetic_code.")] = None,
        mix: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="RAG: weight of the neighbours' answers mixed into decoding (default: the weight `dnahlm mix fit` chose for the model, else 0).")] = None,
        features: Annotated[str, typer.Option(help="GenBank/EMBL input: comma-separated feature types that become rows.")] = "CDS",
        probs: Annotated[bool, typer.Option("--probs", help="Closed-label tasks: add every label's probability to each row (`label_probs`; one more forward pass per batch).")] = False,
    ) -> None:
        """Answer every record of IN into OUT (JSON lines); bad rows get an error and the batch goes on."""
        from ..answer import AnswerConfig, Answerer, RoutedAnswerer, task_question_and_labels
        from ..batch import check_batch_paths, run_batch
        from ..inputs import FASTA_SUFFIXES, check_feature_types, is_genbank_path
        from ..chain import ChainConfig
        from ..errors import DnaHlmError
        from ..orfs import check_table

        check_batch_paths(inp, out, resume, force)  # before the models load
        if genetic_code is not None:
            check_table(genetic_code)
        _note_plain_ignores(mode, mix)
        feature_types = [t.strip() for t in features.split(",") if t.strip()]
        if is_genbank_path(inp):  # --features means nothing for FASTA or JSON lines
            check_feature_types(feature_types)
        if question is None and task in ("auto", "none") and (is_genbank_path(inp) or inp.suffix.lower() in FASTA_SUFFIXES):
            raise DnaHlmError(f"{inp}: FASTA and GenBank/EMBL records carry no question: pass --question "
                              "'What does this gene encode?' or --task T (its question)")

        def make(t: Optional[str], idx: Optional[str]) -> Answerer:
            return task_answerer(t, idx, data, mode=mode.value, model_dir=str(model) if model else None,
                                 chain=ChainConfig(k=k), max_new_tokens=max_new_tokens, seed=seed,
                                 temperature=temperature, batch_size=batch_size, protein_index=_protein(protein_index),
                                 genetic_code=genetic_code, mix=mix, label_probs=probs)

        router, note = make_router(task, index, data)
        if note:
            typer.echo(note, err=True)
        answerer: Answerer | RoutedAnswerer
        if router is not None:
            answerer = RoutedAnswerer(router, lambda t: make(t, routed_index(t)),
                                      AnswerConfig(mode=mode.value, batch_size=batch_size, genetic_code=genetic_code))
        else:
            fixed = None if task in ("auto", "none") else task
            if fixed:
                question = question or task_question_and_labels(data, fixed)[0]
            answerer = make(fixed, index)
        counts = run_batch(answerer, inp, out, question=question, resume=resume, force=force,
                           feature_types=feature_types)
        typer.echo(f"{out}: {counts['answered']} answered, {counts['errors']} errors, {counts['skipped']} skipped "
                   f"(already answered), {counts['rows']} rows in {inp}")
        if counts["errors"] and not counts["answered"] and not counts["skipped"]:
            raise DnaHlmError(f"every row of {inp} failed: see the `error` field of the rows in {out}")
