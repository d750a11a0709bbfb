"""The RAG chain (retriever -> few-shot prompt -> LLM -> parser) and the plain chain.

Both are LangChain runnables over one input dict ``{"question": str, "seq": str}`` (``seq``
already normalised) and return the input plus ``neighbours`` (retrieved ``Document``s, best
first; empty for plain), ``prompt``, ``answer`` and ``finish_reason`` (why generation ended:
``"eos"``, ``"stop"`` or ``"length"``, the last meaning ``max_new_tokens`` was reached). They share one :class:`~dnahlm_rag.llm.DnaHlmLLM`.

Prompt building (documented in ``prompts/README.md``): the query sequence is cut to its first
``query_seq_chars`` bases, each neighbour's to ``example_seq_chars``; neighbours are listed from
the least to the most similar; while the prompt is longer than the model's context minus
``max_new_tokens`` tokens, the least similar example is dropped (the LLM left-truncates as a
last resort). A neighbour's answer is its task label when it has one, else its description without
its organism and coordinates.

``batch`` runs retrieval as one embedding pass + one FAISS search and generation as padded
batches, so batch throughput is far above one-by-one ``invoke``.

With ``mix > 0`` the RAG chain decodes each answer from the model's distribution mixed with its
neighbours' answers (:mod:`dnahlm_rag.retrieval_mix`; every retrieved neighbour votes, shown in
the prompt or not); the output then carries ``mix``, the weight used.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.runnables import Runnable, RunnableConfig

from .data.genbank import transferable
from .fused_retriever import FusedRetriever
from .llm import DnaHlmLLM
from .prompts import PromptTemplate, load_prompt, with_label_hint
from .retrieval_mix import DEFAULT_K
from .retriever import SegmentRetriever


@dataclass
class ChainConfig:
    """Prompt and decoding settings of the chains."""

    k: int = DEFAULT_K  # neighbours retrieved and shown (3: the k the evaluation measures)
    rag_prompt: str = "rag"  # prompts/<name>.vN.txt (newest unless .vN given)
    example_prompt: str = "rag_example"
    plain_prompt: str = "plain"
    query_seq_chars: int = 240  # bases of the query shown in the prompt
    example_seq_chars: int = 48  # bases of each neighbour shown
    stop: list[str] = field(default_factory=lambda: ["\n\n", "###"])
    mix: float = 0.0  # weight of the neighbours' answers in RAG decoding (0: the prompt only)
    # appended to a plain prompt's question on a closed task ("Answer with one of {labels}.";
    # prompts.with_label_hint); "" for none. Set from the prompt style the model was tuned with.
    label_hint: str = ""


class AnswerParser(BaseOutputParser[str]):
    """Strip the completion, cut it at a blank line or ``###``, and snap it to a closed label set.

    With ``labels``, an answer equal to a label (case-insensitive) or starting with exactly one
    label becomes that label; otherwise the text is kept as generated.
    """

    labels: list[str] | None = None

    def parse(self, text: str) -> str:
        ans = text.split("###")[0].split("\n\n")[0].strip()
        if not self.labels:
            return ans
        low = ans.lower()
        for lab in self.labels:
            if low == lab.lower():
                return lab
        starts = [lab for lab in sorted(self.labels, key=len, reverse=True) if low.startswith(lab.lower())]
        return starts[0] if starts else ans

    @property
    def _type(self) -> str:
        return "dnahlm_answer"


class _Sequential(Runnable[dict, dict]):
    """A runnable whose ``batch`` processes a list in one call (no thread pool)."""

    def __init__(self, fn_many: Any, name: str) -> None:
        self.fn_many, self.name = fn_many, name

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.fn_many([input])[0]

    def batch(self, inputs: list[dict], config: Any = None, *, return_exceptions: bool = False, **kwargs: Any) -> list[Any]:
        return self.fn_many(list(inputs)) if inputs else []


def _assign(key: str, fn_many: Any, name: str) -> _Sequential:
    """The input dicts with ``key`` added, ``fn_many`` computing it for the whole batch at once.
    (``RunnablePassthrough.assign`` would batch through ``RunnableParallel``, which invokes item
    by item in a thread pool: one retrieval and one generation per question, 1.5-2x slower.)"""
    return _Sequential(lambda xs: [{**x, key: v} for x, v in zip(xs, fn_many(xs))], name)


def _merge(fn_many: Any, name: str) -> _Sequential:
    """The input dicts updated with the dict ``fn_many`` computes for each (whole batch at once)."""
    return _Sequential(lambda xs: [{**x, **v} for x, v in zip(xs, fn_many(xs))], name)


def neighbour_answer(doc: Document) -> str:
    """What a neighbour answers: its task label when it has one, else the part of its description
    that carries over to a similar sequence (:func:`~dnahlm_rag.data.genbank.transferable`: not
    the neighbour's organism, accession and coordinates, which a copied answer would misattribute
    to the query)."""
    m = doc.metadata
    return str(m.get("label") if m.get("label") not in (None, "") else transferable(doc.page_content))


class PromptBuilder:
    """Renders plain and few-shot prompts that fit the model's context."""

    def __init__(self, llm: DnaHlmLLM, config: ChainConfig) -> None:
        self.llm, self.config = llm, config
        self.rag: PromptTemplate = load_prompt(config.rag_prompt)
        self.example: PromptTemplate = load_prompt(config.example_prompt)
        self.plain: PromptTemplate = load_prompt(config.plain_prompt)

    def _n_tokens(self, text: str) -> int:
        tok = self.llm.loaded.tokenizer
        return len(tok(text, add_special_tokens=False)["input_ids"]) + int(self.llm.prepend_bos)

    def render_plain(self, question: str, seq: str, labels: Sequence[str] | None = None) -> str:
        """The plain prompt. With a closed task's ``labels`` the question carries the style's label
        hint (:func:`~dnahlm_rag.prompts.with_label_hint`) when the prompt still fits the context
        with the tokens to generate (a 40-genus list does not fit a 256-token model: no hint)."""
        seq = seq[: self.config.query_seq_chars]
        hinted = with_label_hint(question, labels, self.config.label_hint)
        if hinted != question:
            prompt = self.plain.format(question=hinted, sequence=seq)
            if self._n_tokens(prompt) <= self.llm.context - self.llm.max_new_tokens:
                return prompt
        return self.plain.format(question=question, sequence=seq)

    def render_rag(self, question: str, seq: str, neighbours: Sequence[Document]) -> str:
        ex_texts = []
        for doc in reversed(list(neighbours)[: self.config.k]):  # least similar first
            ex_texts.append(self.example.format(question=question,
                                                sequence=(doc.metadata.get("seq") or "")[: self.config.example_seq_chars],
                                                answer=neighbour_answer(doc)))
        budget = self.llm.context - self.llm.max_new_tokens
        while True:
            prompt = self.rag.format(examples="".join(ex_texts), question=question,
                                     sequence=seq[: self.config.query_seq_chars])
            if not ex_texts or self._n_tokens(prompt) <= budget:
                return prompt
            ex_texts.pop(0)  # drop the least similar example


def build_chains(llm: DnaHlmLLM, retriever: SegmentRetriever | None, config: ChainConfig | None = None,
                 labels: list[str] | None = None) -> dict[str, Runnable]:
    """``{"rag": ..., "plain": ...}`` sharing ``llm`` (``rag`` only when a retriever is given)."""
    cfg = config or ChainConfig()
    builder = PromptBuilder(llm, cfg)
    parser = AnswerParser(labels=labels)

    def retrieve_many(xs: list[dict]) -> list[list[Document]]:
        assert retriever is not None
        # each item's own genetic code (None: the retriever's) for the retriever that reads ORFs
        tables = {"tables": [x.get("genetic_code") for x in xs]} if isinstance(retriever, FusedRetriever) else {}
        return retriever.retrieve_many([x["seq"] for x in xs], [x.get("question") for x in xs], k=cfg.k, **tables)

    def generate_many(xs: list[dict], **mixing: Any) -> list[dict[str, str]]:
        res = llm.generate([x["prompt"] for x in xs], stop=cfg.stop, **mixing)
        return [{"answer": parser.parse(g[0].text), "finish_reason": (g[0].generation_info or {}).get("finish_reason")}
                for g in res.generations]

    def generate_mixed(xs: list[dict]) -> list[dict[str, str]]:
        return generate_many(xs, mix=cfg.mix,
                             neighbour_answers=[[neighbour_answer(d) for d in x["neighbours"]] for x in xs])

    chains: dict[str, Runnable] = {
        "plain": (
            _assign("neighbours", lambda xs: [[] for _ in xs], "no_context")
            | _assign("prompt", lambda xs: [builder.render_plain(x["question"], x["seq"], labels) for x in xs], "plain_prompt")
            | _merge(generate_many, "generate")
        )
    }
    if retriever is not None:
        answer_step = (_merge(generate_mixed, "generate_mixed")
                       | _assign("mix", lambda xs: [cfg.mix] * len(xs), "mix_weight")) if cfg.mix > 0 \
            else _merge(generate_many, "generate")
        chains["rag"] = (
            _assign("neighbours", retrieve_many, "retrieve")
            | _assign("prompt", lambda xs: [builder.render_rag(x["question"], x["seq"], x["neighbours"]) for x in xs],
                      "rag_prompt")
            | answer_step
        )
    return chains
