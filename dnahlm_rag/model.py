"""The language model: a ``transformers`` GPT-2 built from a recipe's ``[model]`` table.

Choices that hold for every recipe: dropout 0 (small data, short runs), ``gelu_pytorch_tanh``,
PyTorch SDPA attention, tied input/output embeddings, and the special-token ids taken from the
tokenizer (``<|endoftext|>`` is bos and eos, ``<|pad|>`` is pad) rather than GPT-2's defaults,
because a small vocabulary puts them at 0 and 1, not 50256.

:func:`load_lm` (re-exported from :mod:`dnahlm_rag.checkpoint`) loads a trained ``final/`` folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class ModelConfig:
    """GPT-2 shape. Parameters ~ 12 * n_layer * n_embd^2 + (vocab + n_ctx) * n_embd."""

    n_layer: int = 4
    n_embd: int = 256
    n_head: int = 4
    n_ctx: int = 256  # context length in tokens (also the training sequence length)
    vocab_multiple: int = 64  # the embedding is padded to a multiple of this (faster matmuls)


def padded_vocab(n_tokens: int, multiple: int) -> int:
    """``n_tokens`` rounded up to a multiple of ``multiple`` (extra rows are never produced by the tokenizer)."""
    return ((n_tokens + multiple - 1) // multiple) * multiple if multiple > 1 else n_tokens


def gpt2_config(cfg: ModelConfig, vocab_size: int, bos_id: int, eos_id: int, pad_id: int) -> Any:
    """A ``GPT2Config`` for ``cfg`` with the tokenizer's special ids set explicitly."""
    from transformers import GPT2Config

    if cfg.n_embd % cfg.n_head:
        from .errors import RecipeError

        raise RecipeError(f"recipe key 'model.n_head': n_embd {cfg.n_embd} is not divisible by n_head {cfg.n_head}")
    conf = GPT2Config(
        vocab_size=padded_vocab(vocab_size, cfg.vocab_multiple),
        n_positions=cfg.n_ctx,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        activation_function="gelu_pytorch_tanh",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=True,
        use_cache=True,
    )
    conf._attn_implementation = "sdpa"
    return conf


def build_model(cfg: ModelConfig, tokenizer: Any, seed: int = 0) -> Any:
    """A freshly initialised ``GPT2LMHeadModel`` (seeded) sized for ``tokenizer``."""
    import torch
    from transformers import GPT2LMHeadModel

    conf = gpt2_config(cfg, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(conf)
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def count_params(model: Any, non_embedding: bool = False) -> int:
    """Number of parameters (tied embeddings counted once); optionally without position/token embeddings."""
    n = sum(p.numel() for p in model.parameters())
    if non_embedding:
        n -= model.transformer.wpe.weight.numel() + model.transformer.wte.weight.numel()
    return n


def flops_per_token(model: Any, n_ctx: int) -> float:
    """Training FLOPs per token: 6 * (params without position embeddings) + 12 * layers * width * context.

    The usual estimate (PaLM appendix B / nanoGPT): matmuls count 2 FLOPs per multiply-add, the
    backward pass twice the forward; the LM head is included through the tied token embedding.
    """
    conf = model.config
    n = count_params(model) - model.transformer.wpe.weight.numel()
    return 6.0 * n + 12.0 * conf.n_layer * conf.n_embd * n_ctx


def load_lm(folder: str | Path, device: str = "cpu", dtype: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """``(model, tokenizer, meta)`` from a ``final/`` folder (see :func:`dnahlm_rag.checkpoint.load_lm`)."""
    from .checkpoint import load_lm as _load

    return _load(folder, device=device, dtype=dtype)
