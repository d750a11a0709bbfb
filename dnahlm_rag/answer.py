"""Answering questions about sequences: one (``ask``) or many (``batch``), RAG or plain.

Sequence policy: every sequence is normalised with :func:`dnahlm_rag.seq.normalize_dna` (non-DNA
characters and empty sequences are one-line errors). Retrieval embeds the *whole* sequence,
however long (the splice and tRNA embedders read their own window of it); the prompt shows its
first ``query_seq_chars`` bases (the provenance says so when it is cut), and the model reads at
most its context (left-truncated prompt). A closed task's answer is always one of its labels
(:meth:`Answerer._snap_to_labels`).

Batch files: FASTA (``.fa``, ``.fasta``, ``.fna``, ``.fas``), JSON lines (``.jsonl``: ``id``,
``seq``, optional ``question``, ``label`` and ``genetic_code``; a row without ``seq`` may have its sequence pasted
into its question, as ``ask`` accepts, :func:`~dnahlm_rag.seq.sequence_in_text`; a row with both is
answered about its ``seq``, and its provenance says the pasted one was ignored), or GenBank/EMBL
(one row per CDS, or other chosen feature type, with its annotated product as ``label``). Output is JSON
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

Retrieval mixing: in RAG mode the answer is decoded from the model's distribution mixed with the
neighbours' answers (:mod:`dnahlm_rag.retrieval_mix`) by ``mix``; ``None`` takes the weight fitted
for the model (``retrieval_mix.json``: the task's weight, else the default), or 0 when the model
has no fit.
"""
from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_file, check_file_path
from .chain import ChainConfig, build_chains
from .errors import DnaHlmError
from .llm import DnaHlmLLM
from .model_folder import default_model_dir
from .fused_retriever import make_retriever
from .orfs import DEFAULT_TABLE, check_table
from .seq import gc_content, normalize_dna, pasted_ignored_note, rna_note, sequence_in_text

if TYPE_CHECKING:
    from .task_router import TaskRouter

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
GENBANK_SUFFIXES = (".gb", ".gbk", ".gbff", ".genbank", ".embl")  # also with .gz
MODES = ("rag", "plain")
DEFAULT_QUESTION = "What is this DNA sequence?"
#: Queries shorter than this (bases) get a provenance line saying the answer is a guess (the
#: shortest items of any task, splice windows, are 60 bases).
SHORT_QUERY = 20


@dataclass
class AnswerConfig:
    """Everything ``ask`` and ``batch`` need besides their inputs."""

    mode: str = "rag"
    model_dir: str | None = None  # None: the newest released / sft / pretrain folder
    index_dir: str | None = "indexes/segments"
    # "auto": fuse protein-level hits when indexes/proteins sits beside a segments index
    # (dnahlm_rag.fused_retriever); None: DNA level only; or a protein index folder
    protein_index: str | None = "auto"
    # NCBI genetic code of the query's ORFs at the protein level (the fused retriever): 11
    # (bacteria, archaea, plastids), 2 (vertebrate mitochondria), 4 (Mycoplasma), 1 (standard), ...
    # None: 11, or in a batch each row's own code (a GenBank/EMBL CDS's /transl_table, a JSONL row's genetic_code)
    genetic_code: int | None = None
    chain: ChainConfig = field(default_factory=ChainConfig)
    max_new_tokens: int = 32
    temperature: float = 0.0
    seed: int = 0
    batch_size: int = 32
    num_threads: int = 0
    task: str | None = None  # the task the questions belong to (picks its fitted mixing weight)
    # with index_dir None and a task: retrieve from data_dir's train rows of the task through its
    # own neighbour finder (dnahlm_rag.task_retriever), as tuning and evaluation do
    data_dir: str | None = None
    mix: float | None = None  # weight of the neighbours' answers (None: the fitted one)
    # closed tasks: also give every label's probability (``label_probs``; one more forward pass)
    label_probs: bool = False
    # with a task in RAG mode: warn when a query is unlike the task's validation queries
    # (dnahlm_rag.novelty), fitted on up to `novelty_items` valid rows of this data folder
    novelty_data: str | None = None
    novelty_items: int = 200


@dataclass
class InputRow:
    id: str
    seq: str | None  # raw, not yet normalised
    question: str | None = None
    label: Any = None
    error: str | None = None  # a row that could not even be read
    notes: list[str] = field(default_factory=list)  # provenance lines about how the row was read
    genetic_code: int | None = None  # its own code (a GenBank CDS's /transl_table, a JSONL row's genetic_code)


def neighbour_summary(doc: Any) -> dict[str, Any]:
    m = doc.metadata
    out = {"id": m.get("id"), "organism": m.get("organism"), "type": m.get("type"),
           "product": m.get("product"), "label": m.get("label"), "score": round(float(m.get("score", 0.0)), 4)}
    if m.get("evalue") is not None:  # a re-scored protein hit: E over the whole index (as shown), and the pair's
        out["evalue"] = float(f"{shown_evalue(m):.2e}")
        out["evalue_pair"] = float(f"{m['evalue']:.2e}")
    out["level"] = m.get("level", "dna")
    if m.get("query_start") is not None:  # the query ORF that found a protein hit (0-based half-open, strand, frame)
        out["query_orf"] = {"start": m["query_start"], "end": m.get("query_end"), "strand": m.get("query_strand"),
                            "frame": m.get("query_frame"), "partial": bool(m.get("orf_partial"))}
    return out


def shown_evalue(meta: dict[str, Any]) -> float | None:
    """The E-value a neighbour is shown and reported with: over the whole protein index
    (``evalue_db``, as BLAST reports it), else the pair's (``evalue``); None for a DNA hit."""
    return meta.get("evalue_db", meta.get("evalue"))


def similarity_text(meta: dict[str, Any]) -> str:
    """How a neighbour's similarity is shown: ``E=3.2e-41`` for a re-scored protein hit
    (:func:`shown_evalue`), else the cosine at the level that matched, to 3 decimals."""
    e = shown_evalue(meta)
    if e is not None:
        return f"E={e:.1e}"
    return f"{meta.get('level_score', meta.get('score', 0.0)):.3f}"


class Answerer:
    """Holds the one generator, the retriever (RAG mode) and the chains."""

    def __init__(self, config: AnswerConfig, labels: list[str] | None = None) -> None:
        if config.mode not in MODES:
            raise DnaHlmError(f"unknown mode {config.mode!r}: expected rag or plain")
        self.config = config
        if config.genetic_code is not None:
            check_table(config.genetic_code)  # an unknown code fails before any model loads
        model_dir = Path(config.model_dir) if config.model_dir else default_model_dir()
        # An instruction-tuned model carries the prompt style it was trained with; use it.
        from .instruct import read_prompt_style

        style = read_prompt_style(model_dir)
        if style is not None:
            trained = style.chain_config()
            trained.k = config.chain.k  # how many neighbours to show stays the caller's choice
            config.chain = trained
        if config.mode == "rag":
            from .retrieval_mix import MixTable

            table = MixTable.load(model_dir) if config.mix is None else None
            config.chain.mix = config.mix if config.mix is not None else (table.lam_for(config.task) if table else 0.0)
        self.llm = DnaHlmLLM(model_dir=str(model_dir), max_new_tokens=config.max_new_tokens,
                             temperature=config.temperature, seed=config.seed,
                             batch_size=config.batch_size, num_threads=config.num_threads)
        _ = self.llm.loaded  # fail early on a bad model folder
        self.retriever = None
        if config.mode == "rag":
            if config.index_dir:
                self.retriever = make_retriever(config.index_dir, model_dir=str(model_dir), k=config.chain.k,
                                                protein=config.protein_index,
                                                table=config.genetic_code or DEFAULT_TABLE)
            elif config.task and config.data_dir:
                from .task_retriever import TaskRetriever

                self.retriever = TaskRetriever(data_dir=config.data_dir, task=config.task, k=config.chain.k)
            else:
                raise DnaHlmError("rag mode needs an index (--index NAME); or use --mode plain")
        self.labels = labels
        self.chain = build_chains(self.llm, self.retriever, config.chain, labels)[config.mode]
        self.novelty = self._fit_novelty() if self.retriever is not None and config.task and config.novelty_data else None

    def _reads_orfs(self) -> bool:
        """Whether this answerer's retrieval reads ORFs with a query's genetic code (only the fused
        retriever's protein level does)."""
        from .fused_retriever import FusedRetriever

        return isinstance(self.retriever, FusedRetriever)

    def _genetic_code_note(self, code: int | None) -> str | None:
        """A provenance line when a genetic code other than the default was asked for (``--genetic-code``
        or a batch row's own code) but nothing here reads ORFs with it."""
        if code in (None, DEFAULT_TABLE) or self._reads_orfs():
            return None
        why = ("plain mode retrieves nothing" if self.retriever is None else
               f"task {self.config.task}'s own neighbour finder reads ORFs with code {DEFAULT_TABLE}, as its train rows"
               if self.config.task and not self.config.index_dir else "this index has no protein level")
        return f"genetic code {code} not used: {why}"

    def _fit_novelty(self) -> Any:
        """A :class:`~dnahlm_rag.novelty.NoveltyCheck` of the task from evenly spaced valid rows
        (None when the task has no valid split). The general segment index has none: calibrated on
        valid segments it flagged 8% of base-shuffled test segments (docs/benchmarks.md)."""
        from .instruct import read_split
        from .novelty import NoveltyCheck

        assert self.config.task and self.config.novelty_data
        try:
            rows = read_split(self.config.novelty_data, self.config.task, "valid")
        except DnaHlmError:
            return None
        step = max(1, len(rows) // max(1, self.config.novelty_items))
        seqs = [r["seq"] for r in rows[::step][:self.config.novelty_items]]
        return NoveltyCheck.fit(self.config.task, self.retriever, seqs)

    def answer_many(self, items: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Run the chain on normalised ``{"question", "seq"}`` items (batched). An output may also
        have ``provenance`` (lines): the fused retriever's (levels searched, ORF problems) or a tRNA
        index's (the anticodon read), a closed task's free generation replaced by its most probable
        label, the novelty warning, a query under ``SHORT_QUERY`` bases, a prompt showing only the
        first ``query_seq_chars`` bases, a query with no A/C/G/T, protein hits no better than chance
        (:func:`~dnahlm_rag.fused_retriever.significance_note`); ``yes_no`` when a closed task's
        question asks yes or no about one label (:func:`yes_no`); ``truncated`` when an open answer
        reached ``max_new_tokens``."""
        outs = self.chain.batch(items)
        if self.labels and self.config.label_probs:
            self._add_label_probs(outs)
        if self.labels:
            self._snap_to_labels(outs)
            for it, o in zip(items, outs):
                verdict = yes_no(it.get("question", ""), o.get("answer"), self.labels)
                if verdict:
                    o["yes_no"] = verdict
        if hasattr(self.retriever, "provenance"):
            for it, o in zip(items, outs):
                lines = self.retriever.provenance(it["seq"], table=it.get("genetic_code")) if self._reads_orfs() \
                    else self.retriever.provenance(it["seq"])
                if lines:
                    o["provenance"] = lines + o.get("provenance", [])
        if self.config.mode == "rag":
            from .fused_retriever import protein_evalues, significance_note

            for o in outs:
                note = significance_note(o.get("neighbours") or [])
                if note:
                    o.setdefault("provenance", []).append(note)
                if protein_evalues(o.get("neighbours") or []):
                    o["significant_protein_hit"] = note is None
        if self.novelty is not None:
            for it, o in zip(items, outs):
                note = self.novelty.note(o.get("neighbours") or [], len(it["seq"]))
                for line in (note, self.novelty.length_note(len(it["seq"]))):
                    if line:
                        o.setdefault("provenance", []).append(line)
        self._note_cut_prompts(outs)
        for it, o in zip(items, outs):
            note = self._genetic_code_note(it.get("genetic_code") or self.config.genetic_code)
            if note:
                o.setdefault("provenance", []).append(note)
        shown = self.config.chain.query_seq_chars
        for it, o in zip(items, outs):
            if len(it["seq"]) < SHORT_QUERY:
                o.setdefault("provenance", []).append(
                    f"the sequence is only {len(it['seq'])} bases long: too short to say much about; "
                    "treat the answer as a guess")
            if len(it["seq"]) > shown:
                o.setdefault("provenance", []).append(
                    f"retrieval used all {len(it['seq'])} bases; the model's prompt shows the first {shown}")
        if not self.labels:
            self._note_long_answers(outs)
        if self.retriever is not None:
            for it, o in zip(items, outs):
                if not o.get("neighbours") and not any(b in it["seq"] for b in "ACGT"):
                    o.setdefault("provenance", []).append(
                        "the sequence has no unambiguous base (A/C/G/T): nothing to compare, so no neighbours "
                        "were retrieved and the model answered alone")
        return outs

    def _note_long_answers(self, outs: list[dict[str, Any]]) -> None:
        """``truncated`` (True) and a provenance line on an open answer whose generation stopped
        at ``max_new_tokens`` (``finish_reason == "length"``), not at end of text or a stop
        string: the answer may be cut."""
        limit = self.config.max_new_tokens
        for o in outs:
            if o.get("finish_reason") == "length":
                o["truncated"] = True
                o.setdefault("provenance", []).append(
                    f"the answer reached the limit of {limit} tokens and may be cut short (--max-new-tokens)")

    def _note_cut_prompts(self, outs: list[dict[str, Any]]) -> None:
        """A provenance line for each prompt longer than the model's context minus the answer's
        tokens: the generator keeps only its end (:func:`~dnahlm_rag.generator.prompt_ids`), so the
        model did not see its start (the instruction, the first neighbours)."""
        lm = self.llm.loaded
        budget = lm.context - self.config.max_new_tokens
        prompts = [o.get("prompt") for o in outs]
        sized = [(o, p) for o, p in zip(outs, prompts) if isinstance(p, str)]
        if not sized or budget < 1:
            return
        lengths = [len(ids) + int(self.llm.prepend_bos) for ids in
                   lm.tokenizer([p for _, p in sized], add_special_tokens=False)["input_ids"]]
        for (o, _), n in zip(sized, lengths):
            if n > budget:
                o.setdefault("provenance", []).append(
                    f"the prompt has {n} tokens and the model reads {budget} (its {lm.context}-token context less "
                    f"{self.config.max_new_tokens} for the answer): its first {n - budget} were cut, so the model did "
                    "not see all of the instruction and neighbours (fewer neighbours, -k, or a shorter question help)")

    def _snap_to_labels(self, outs: list[dict[str, Any]]) -> None:
        """A closed task's answer is one of its labels: a free generation that is none (the model
        alone, with no neighbour to mix in, can generate anything) is replaced by the most probable
        label by label scoring, and the provenance says so."""
        assert self.labels is not None
        off = [o for o in outs if o.get("answer") not in self.labels]
        scored = [o for o in off if "label_probs" not in o]
        if scored:
            self._add_label_probs(scored)
        for o in off:
            best = next(iter(o["label_probs"]))
            o.setdefault("provenance", []).append(
                f"the generated answer {str(o.get('answer'))[:40]!r} is none of the task's labels: answered with "
                f"the most probable label by label scoring, {best} (p = {o['label_probs'][best]:.2f})")
            o["answer"] = best
        for o in scored:
            if not self.config.label_probs:
                del o["label_probs"]

    def _add_label_probs(self, outs: list[dict[str, Any]]) -> None:
        """``label_probs`` of each output: every allowed label's probability after the prompt it
        was answered from, most probable first; in RAG mode with mixing, the mixture of the
        model's and the neighbours' answer distributions that decoding used
        (:func:`~dnahlm_rag.retrieval_mix.mix_label_probs`), else the model's alone."""
        from .chain import neighbour_answer
        from .retrieval_mix import NeighbourPrior, mix_label_probs
        from .scoring import score_labels

        lm = self.llm.loaded
        assert self.labels is not None
        scored = score_labels(lm, [o["prompt"] for o in outs], self.labels, batch_size=self.config.batch_size,
                              prepend_bos=self.llm.prepend_bos)
        for o, sc in zip(outs, scored):
            mixed = bool(o.get("mix") and o.get("neighbours"))
            prior = NeighbourPrior.from_answers(lm.tokenizer, [neighbour_answer(d) for d in o["neighbours"]]) \
                if mixed else NeighbourPrior([])
            probs = mix_label_probs(sc, prior, float(o["mix"]) if mixed else 0.0)  # weight 0: the model's alone
            o["label_probs"] = {lab: round(p, 4) for lab, p in sorted(probs.items(), key=lambda x: -x[1])}

    def ask(self, question: str, seq: str) -> dict[str, Any]:
        if not question or not question.strip():
            raise DnaHlmError("the question is empty")
        s = normalize_dna(seq, what="the query sequence")
        out = self.answer_many([{"question": clean_text(question.strip()), "seq": s}])[0]
        if rna_note(seq):
            out.setdefault("provenance", []).append(rna_note(seq))
        out["seq_len"] = len(s)
        out["shown_len"] = min(len(s), self.config.chain.query_seq_chars)
        out.setdefault("provenance", []).append(sequence_facts(s))
        return out


_YES_NO_START = re.compile(r"^\s*(is|are|does|do|could|can|might|would|will|was|has|should)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\bnot\b|n't\b|\bnever\b", re.IGNORECASE)
#: Other names of labels a question may use: the amino acids' full names (trna_aa's labels are
#: three-letter codes: "Is this a leucine tRNA?" names Leu).
LABEL_NAMES = {"alanine": "Ala", "arginine": "Arg", "asparagine": "Asn", "aspartate": "Asp", "aspartic acid": "Asp",
               "cysteine": "Cys", "glutamine": "Gln", "glutamate": "Glu", "glutamic acid": "Glu", "glycine": "Gly",
               "histidine": "His", "isoleucine": "Ile", "leucine": "Leu", "lysine": "Lys", "methionine": "Met",
               "phenylalanine": "Phe", "proline": "Pro", "serine": "Ser", "threonine": "Thr", "tryptophan": "Trp",
               "tyrosine": "Tyr", "valine": "Val", "selenocysteine": "Sec", "pyrrolysine": "Pyl"}


def yes_no(question: str, answer: Any, labels: Sequence[str] | None) -> str | None:
    """``"yes"`` or ``"no"`` when ``question`` asks yes or no about exactly one of a closed task's
    ``labels`` ("Is this a splice donor?": starts with is/are/does/do/could/can/... and names one
    label as a whole word, case aside, or by another name of :data:`LABEL_NAMES`): whether
    ``answer`` is that label. Else None: an open question, one naming several labels ("donor or
    acceptor?"), or a negated one ("Is this not a donor?", which a plain yes would answer wrongly)."""
    if not labels or not isinstance(question, str) or not _YES_NO_START.match(question) or _NEGATION.search(question):
        return None

    def says(word: str) -> bool:
        return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", question, re.IGNORECASE) is not None

    named = {lab for lab in labels if says(lab)} | {lab for name, lab in LABEL_NAMES.items() if lab in labels and says(name)}
    if len(named) != 1:
        return None
    return "yes" if str(answer) == next(iter(named)) else "no"


def sequence_facts(seq: str) -> str:
    """One line of facts computed from a normalised sequence: its length and GC content (over
    A/C/G/T; ambiguous bases left out), with the count of other bases when there are any."""
    acgt = sum(seq.count(b) for b in "ACGT")
    other = len(seq) - acgt
    return (f"sequence: {len(seq)} bases, GC {100.0 * gc_content(seq):.1f}%"
            + (f" ({other} ambiguous bases not counted)" if other else "")
            if acgt else f"sequence: {len(seq)} bases, none of them A/C/G/T")


class RoutedAnswerer:
    """Answers each question with the :class:`Answerer` of the task its wording routes to
    (:class:`~dnahlm_rag.task_router.TaskRouter`; ``None``: no task, the general index), one
    Answerer per task made by ``make(task)`` on first use. Each output gets ``task``.

    Has the ``config`` (mode, batch size) and ``answer_many`` that :func:`run_batch` uses."""

    def __init__(self, router: TaskRouter, make: Callable[[str | None], Answerer], config: AnswerConfig) -> None:
        self.router, self.make, self.config = router, make, config
        self.answerers: dict[str | None, Answerer] = {}
        self.failed: dict[str | None, str] = {}  # task -> why its Answerer could not be made (tried once)

    def answer_many(self, items: list[dict[str, str]]) -> list[dict[str, Any]]:
        routes = [r.task for r in self.router.route_many([it["question"] for it in items])]
        outs: list[dict[str, Any]] = [{} for _ in items]
        for task in dict.fromkeys(routes):  # each task once, in order of first appearance
            idx = [i for i, t in enumerate(routes) if t == task]
            if task not in self.answerers and task not in self.failed:
                try:
                    self.answerers[task] = self.make(task)
                except DnaHlmError as e:  # e.g. a task whose index or train rows are missing
                    self.failed[task] = f"cannot answer as task {task}: {e}"
            if task in self.failed:
                for i in idx:
                    outs[i] = {"error": self.failed[task], "task": task, "neighbours": []}
                continue
            for i, o in zip(idx, self.answerers[task].answer_many([items[i] for i in idx])):
                outs[i] = {**o, "task": task}
        return outs


# ----------------------------------------------------------------------------------------------
# Reading inputs
# ----------------------------------------------------------------------------------------------
def _lines(text: str) -> list[str]:
    """Lines split at ``\n`` only (``str.splitlines`` also splits at U+2028, U+0085 and other
    characters that JSON allows raw inside strings), without a trailing ``\r`` or a leading
    byte-order mark (concatenated files each bring theirs)."""
    return [(line[:-1] if line.endswith("\r") else line).lstrip("\ufeff") for line in text.split("\n")]


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (bytes that were not UTF-8, or a JSON ``\\ud800`` escape)
    replaced by U+FFFD: they cannot be tokenized nor written as UTF-8."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if not text.isascii() else text


def _input_file(p: Path) -> Path:
    """``p``, refused with a one-line error when it is a folder, does not exist, or is no regular
    file (``/dev/null``, a named pipe, a device: nothing to read, or read only once)."""
    if p.is_dir():
        raise DnaHlmError(f"{p} is a folder, not a file")
    if not p.exists():
        raise DnaHlmError(f"input file {p} not found")
    if not p.is_file():
        kind = "a named pipe (FIFO)" if p.is_fifo() else "a socket" if p.is_socket() else "a device"
        raise DnaHlmError(f"{p} is not a regular file but {kind}: give a file that holds the input")
    return p


def _read_text(p: Path) -> str:
    """A text input file: UTF-8 with or without a byte-order mark, bad bytes replaced. A gzipped
    file, and a UTF-16 or UTF-32 one (a byte-order mark, or NUL bytes in its first 1,000, as
    Windows Notepad's "Unicode" writes), are one-line errors."""
    from .data.genbank import wide_encoding

    with open(_input_file(p), "rb") as f:
        head = f.read(1000)
    if head.startswith(b"\x1f\x8b"):
        raise DnaHlmError(f"{p} is gzipped: decompress it first (gzip -d), or name it .gb.gz/.gbk.gz/.embl.gz "
                          "if it is GenBank/EMBL")
    wide = wide_encoding(head)
    if wide or b"\x00" in head:
        what = f"is {wide} text" if wide else "holds NUL bytes (UTF-16 or UTF-32 text, or not text at all)"
        raise DnaHlmError(f"{p} {what}: save it as UTF-8 or ASCII (e.g. iconv -f {wide or 'UTF-16'} -t UTF-8)")
    return p.read_text(encoding="utf-8-sig", errors="replace")


def read_fasta_text(text: str, where: str) -> list[tuple[str, str]]:
    """(id, raw sequence) for each ``>`` record; the id is the header's first word."""
    recs: list[tuple[str, list[str]]] = []
    for n, line in enumerate(_lines(text), 1):
        if line.startswith(">"):
            recs.append((line[1:].split()[0] if line[1:].split() else f"record{len(recs) + 1}", []))
        elif line.strip() and not line.startswith(";"):
            if not recs:
                raise DnaHlmError(f"{where}:{n}: not FASTA: sequence before the first '>' header")
            recs[-1][1].append(line)
    return [(i, "".join(parts)) for i, parts in recs]


def read_single_fasta(path: str | Path) -> str:
    p = Path(path)
    recs = read_fasta_text(_read_text(p), str(p))
    if len(recs) != 1:
        raise DnaHlmError(f"{p} holds {len(recs)} FASTA records; ask takes exactly one (use `dnahlm batch` for many)")
    return recs[0][1]


def is_genbank_path(path: str | Path) -> bool:
    """Whether a batch input is read as GenBank/EMBL (by its name, ``.gz`` allowed)."""
    name = Path(path).name.lower()
    return Path(name.removesuffix(".gz")).suffix in GENBANK_SUFFIXES


def check_feature_types(feature_types: Sequence[str]) -> None:
    """``--features`` must name feature types that records are read with (not ``gene``/``source``)."""
    from .data.genbank import SKIP_TYPES

    if not feature_types:
        raise DnaHlmError("--features is empty: give feature types such as CDS or CDS,tRNA,rRNA")
    skipped = sorted(set(feature_types) & SKIP_TYPES)
    if skipped:
        raise DnaHlmError(f"--features {','.join(skipped)}: {' and '.join(sorted(SKIP_TYPES))} features are not read "
                          "(a gene repeats its CDS or RNA feature's span, a source is the whole record): "
                          "use CDS, tRNA, rRNA, ncRNA, ...")


def genbank_rows(path: Path, feature_types: Sequence[str] = ("CDS",),
                 genetic_code: int | None = None) -> list[InputRow]:
    """One row per feature of ``feature_types`` in a GenBank/EMBL file (plain or gzipped): id
    ``accession:type:start-end:strand`` (0-based half-open on the record), the feature's sequence
    5'->3', and its annotated product (else gene, else type) as ``label``, to compare answers with.
    A compound location's id lists its parts (:func:`feature_span`).
    A malformed record, or one with none of those features, becomes a row with an ``error``. A
    feature's ``/transl_table`` becomes the row's ``genetic_code`` when ``genetic_code`` is None
    (no code chosen for the run); a chosen one that differs, or a table Biopython does not know,
    gets a note."""
    from .data.genbank import iter_records
    from .data.problems import Problems

    check_feature_types(feature_types)
    problems = Problems(echo=0, keep=1 << 62)  # every malformed record becomes an error row
    rows: list[InputRow] = []
    for rec in iter_records(path, problems):
        feats = [f for f in rec.features if f.type in feature_types]
        skipped = [(t, loc, why) for t, loc, why in rec.skipped if t in feature_types]
        for t, loc, why in skipped:  # a feature that cannot be read is a row of its own, with the reason
            rows.append(InputRow(f"{rec.accession}:{t}:{loc}", None, error=f"{t} feature at {loc} {why}: skipped"))
        if not feats and not skipped:
            rows.append(InputRow(f"{rec.accession}", None, error=f"record {rec.accession} has no "
                                 f"{'/'.join(feature_types)} feature (give whole sequences as FASTA)"))
        for f in feats:
            code, notes = _row_code(f.qualifiers.get("transl_table", ""), genetic_code)
            rows.append(InputRow(f"{rec.accession}:{f.type}:{feature_span(f)}:{'+' if f.strand >= 0 else '-'}", f.seq,
                                 None, f.product or f.gene or f.type, notes=notes, genetic_code=code))
    for item in problems.items:
        rows.append(InputRow(f"{Path(item['file']).name} record {item['record']}", None,
                             error=f"malformed record: {item['reason']}"))
    return rows


def feature_span(f: Any) -> str:
    """A feature's location in a batch row's id: ``start-end`` (0-based half-open on the record),
    or its parts in the order written, ``3980-5386,0-136``, for a compound location (a joined
    gene, or one across the origin of a circular genome, whose overall span would be the whole
    record and the same for every such gene)."""
    if len(f.parts) > 1:
        return ",".join(f"{a}-{b}" for a, b, _ in f.parts)
    return f"{f.start}-{f.end}"


def _row_code(given: str, chosen: int | None) -> tuple[int | None, list[str]]:
    """A row's genetic code (``given``: a GenBank feature's ``/transl_table`` or a JSONL row's
    ``genetic_code``, maybe empty) when no code was ``chosen`` for the run, and the notes on a
    conflict or an unknown table."""
    if not given:
        return None, []
    if chosen is not None:
        return None, [] if given == str(chosen) else [
            f"the row gives genetic code {given}, but ORFs were read with genetic code {chosen} (--genetic-code)"]
    try:
        return check_table(int(given)), []
    except (ValueError, DnaHlmError):
        return None, [f"the record's /transl_table={given} is no genetic code Biopython knows: read with {DEFAULT_TABLE}"]


def _known_code(code: Any) -> bool:
    """Whether a JSONL row's ``genetic_code`` is an NCBI table number Biopython knows."""
    try:
        return isinstance(code, int) and not isinstance(code, bool) and check_table(code) == code
    except DnaHlmError:
        return False


def read_inputs(path: str | Path, feature_types: Sequence[str] = ("CDS",),
                genetic_code: int | None = None) -> list[InputRow]:
    """Rows of a FASTA, JSONL or GenBank/EMBL batch file (:func:`genbank_rows`, one row per feature
    of ``feature_types``, with its ``/transl_table`` unless ``genetic_code`` is chosen); unreadable
    rows carry an ``error``."""
    p = _input_file(Path(path))
    rows: list[InputRow] = []
    if is_genbank_path(p):
        try:
            rows = genbank_rows(p, feature_types, genetic_code)
        except (OSError, EOFError, UnicodeError, zlib.error) as e:  # a corrupt or truncated gzip stream
            raise DnaHlmError(f"{p}: cannot read it ({type(e).__name__}: {e}); no row was answered") from None
    elif p.suffix.lower() in FASTA_SUFFIXES:
        rows = [InputRow(i, s) for i, s in read_fasta_text(_read_text(p), str(p))]
    elif p.suffix.lower() == ".jsonl":
        for n, line in enumerate(_lines(_read_text(p)), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except (json.JSONDecodeError, ValueError, RecursionError) as e:  # RecursionError: nested too deep
                rows.append(InputRow(f"line{n}", None, error=f"line {n} is not a JSON object ({str(e)[:200]})"))
                continue
            rid = clean_text(str(obj.get("id", f"line{n}")))
            seq, question = obj.get("seq"), obj.get("question")
            question = clean_text(question) if isinstance(question, str) else question
            pasted = sequence_in_text(question) if isinstance(question, str) else None
            notes: list[str] = []
            if pasted is not None and not isinstance(seq, str):  # a sequence pasted into the question
                question, seq = pasted
            elif pasted is not None:  # the row's own 'seq' wins, as --seq does in ask
                notes.append(pasted_ignored_note(len(pasted[1]), "'seq'"))
            if question is not None and not isinstance(question, str):
                rows.append(InputRow(rid, None, None, obj.get("label"), f"line {n}: 'question' is not a string"))
                continue
            bad_seq = None if isinstance(seq, str) else \
                "the row has no 'seq' (a question needs a sequence)" if seq is None else \
                f"line {n}: 'seq' is a {type(seq).__name__}, not a string"
            code = obj.get("genetic_code")
            if code is not None and not _known_code(code):
                rows.append(InputRow(rid, None, question, obj.get("label"),
                                     f"line {n}: 'genetic_code' {code!r} is no NCBI genetic code Biopython knows"))
                continue
            code, code_notes = _row_code("" if code is None else str(code), genetic_code)
            rows.append(InputRow(rid, seq if isinstance(seq, str) else None, question, obj.get("label"), bad_seq,
                                 notes + code_notes, code))
    else:
        raise DnaHlmError(f"{p}: unknown input type {p.suffix!r}; expected FASTA ({', '.join(FASTA_SUFFIXES)}), .jsonl "
                          f"or GenBank/EMBL ({', '.join(GENBANK_SUFFIXES)}, gzipped or not)")
    if not rows:
        raise DnaHlmError(f"{p} holds no records")
    seen: set[str] = set()
    for r in rows:
        if r.id in seen and r.error is None:
            r.error = f"duplicate id {r.id!r} (ids must be unique for --resume)"
        seen.add(r.id)
    return rows


#: Keys every row of a batch output has (:func:`run_batch`): how ``--resume`` knows OUT is one.
OUTPUT_KEYS = ("id", "answer", "error")


def check_batch_paths(in_path: str | Path, out_path: str | Path, resume: bool, force: bool) -> None:
    """Refuse, before any work, what would fail late or destroy a file: a missing input, an OUT that
    is a folder, lies under a file, is the input itself, exists without ``--resume``/``--force``, or
    is to be resumed but is no batch output; both flags at once."""
    inp, out = Path(in_path), Path(out_path)
    if resume and force:
        raise DnaHlmError("--resume continues OUT and --force starts it over: give one of them")
    _input_file(inp)
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
    lines = list(enumerate(_lines(text), 1))
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


def task_question_and_labels(data_dir: str | Path, task: str) -> tuple[str, list[str] | None]:
    """The question of ``data/tasks/<task>/task.json`` and its closed label set (classification)."""
    from .instruct import read_task

    t = read_task(data_dir, task)
    return t.question, t.labels
