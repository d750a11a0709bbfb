"""Answering questions about sequences, one (``ask``) or many at once, RAG or plain.

Sequence policy: every sequence is normalised with :func:`dnahlm_rag.seq.normalize_dna` (non-DNA
characters and empty sequences are one-line errors). Retrieval embeds the *whole* sequence,
however long (the splice and tRNA embedders read their own window of it); the prompt shows its
first ``query_seq_chars`` bases (the provenance says so when it is cut), and the model reads at
most its context (left-truncated prompt). A closed task's answer is always one of its labels
(:meth:`Answerer._snap_to_labels`). :class:`RoutedAnswerer` picks each question's task from its
wording first (:mod:`dnahlm_rag.task_router`).

Reading batch files is :mod:`dnahlm_rag.inputs`; answering them row by row, resumably, is
:mod:`dnahlm_rag.batch`.

Retrieval mixing: in RAG mode the answer is decoded from the model's distribution mixed with the
neighbours' answers (:mod:`dnahlm_rag.retrieval_mix`) by ``mix``; ``None`` takes the weight fitted
for the model (``retrieval_mix.json``: the task's weight, else the default), or 0 when the model
has no fit.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .chain import ChainConfig, build_chains
from .errors import DnaHlmError
from .fused_retriever import make_retriever
from .inputs import clean_text
from .llm import DnaHlmLLM
from .model_folder import default_model_dir
from .orfs import DEFAULT_TABLE, check_table
from .prompts import names_word
from .seq import gc_content, normalize_dna, rna_note

if TYPE_CHECKING:
    from .task_router import TaskRouter

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
        if labels:  # a closed task: reserve what its labels need, as `dnahlm eval` does, not the open limit
            from .scoring import label_answer_budget

            self.llm.max_new_tokens = min(config.max_new_tokens, label_answer_budget(self.llm.loaded.tokenizer, labels))
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
        limit = self.llm.max_new_tokens
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
        budget = lm.context - self.llm.max_new_tokens
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
                    f"{self.llm.max_new_tokens} for the answer): its first {n - budget} were cut, so the model did "
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
    named = ({lab for lab in labels if names_word(question, lab)}
             | {lab for name, lab in LABEL_NAMES.items() if lab in labels and names_word(question, name)})
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


def task_question_and_labels(data_dir: str | Path, task: str) -> tuple[str, list[str] | None]:
    """The question of ``data/tasks/<task>/task.json`` and its closed label set (classification)."""
    from .instruct import read_task

    t = read_task(data_dir, task)
    return t.question, t.labels
