"""``DnaHlmLLM``: our GPT-2 checkpoint as a LangChain ``LLM``.

``_call`` returns only the completion (never the prompt). Greedy by default; ``temperature > 0``
samples, seeded per prompt (``seed`` + the prompt's text), so the same seed gives the same output
whatever the batch. Prompts longer than ``context - max_new_tokens`` tokens are cut on the left,
so the response marker at the end survives. Stop sequences cut the completion before the first
one. ``batch``/``generate`` over many prompts run as padded batches of ``batch_size``; each
``Generation`` of ``generate`` carries ``generation_info={"finish_reason": "eos" | "stop" | "length"}``
(``"length"``: generation stopped at ``max_new_tokens``, so the text may be cut short).

Retrieval mixing (:mod:`dnahlm_rag.retrieval_mix`): ``generate(prompts, neighbour_answers=[[...], ...],
mix=lam)`` decodes each prompt from ``lam * p_nb + (1 - lam) * p_lm``, where ``p_nb`` follows that
prompt's neighbours' answers (plain strings, one list per prompt).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from langchain_core.outputs import Generation, LLMResult
from pydantic import PrivateAttr

from . import generator
from .embed.lm import model_fingerprint


class DnaHlmLLM(LLM):
    """A LangChain LLM over a ``save_pretrained`` GPT-2 folder (see :mod:`dnahlm_rag.generator`)."""

    model_dir: str
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # with sampling: keep the k most likely tokens (0: all)
    seed: int = 0
    batch_size: int = 16
    prepend_bos: bool = True  # prompts start like a pretraining document (after <|endoftext|>)
    device: str = "cpu"
    dtype: str = "float32"
    num_threads: int = 0  # torch threads (0: torch's default)

    _loaded: Any = PrivateAttr(default=None)
    _fingerprint: str | None = PrivateAttr(default=None)

    @property
    def loaded(self) -> generator.LoadedModel:
        if self._loaded is None:
            self._loaded = generator.load_checkpoint(self.model_dir, self.device, self.dtype, self.num_threads)
        return self._loaded

    @property
    def context(self) -> int:
        return self.loaded.context

    @property
    def _llm_type(self) -> str:
        return "dnahlm-gpt2"

    @property
    def _identifying_params(self) -> Mapping[str, Any]:
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model_dir)
        return {"model_dir": self.model_dir, "model_sha256": self._fingerprint,
                "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "top_k": self.top_k, "seed": self.seed, "prepend_bos": self.prepend_bos}

    def _complete(self, prompts: list[str], stop: list[str] | None, **kwargs: Any) -> list[generator.Completion]:
        from .retrieval_mix import NeighbourPrior

        answers = kwargs.get("neighbour_answers")
        priors = [NeighbourPrior.from_answers(self.loaded.tokenizer, a) for a in answers] if answers is not None else None
        return generator.complete(
            self.loaded, prompts,
            max_new_tokens=int(kwargs.get("max_new_tokens", self.max_new_tokens)),
            stop=stop, temperature=float(kwargs.get("temperature", self.temperature)),
            top_k=int(kwargs.get("top_k", self.top_k)), seed=int(kwargs.get("seed", self.seed)),
            batch_size=self.batch_size, prepend_bos=self.prepend_bos,
            priors=priors, mix=float(kwargs.get("mix", 0.0)),
        )

    def _call(self, prompt: str, stop: list[str] | None = None,
              run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> str:
        return self._complete([prompt], stop, **kwargs)[0].text

    def _generate(self, prompts: list[str], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> LLMResult:
        done = self._complete(list(prompts), stop, **kwargs)
        return LLMResult(generations=[[Generation(text=c.text, generation_info={"finish_reason": c.finish_reason})]
                                      for c in done])
