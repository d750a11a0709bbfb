"""One byte-level BPE tokenizer for DNA and English (``dnahlm tokenizer train``).

Pre-tokenization is a single regex split followed by the byte-level mapping:

* a run of plain bases ``[ACGT]`` that is a word on its own (not glued to other letters) is cut
  into chunks of at most ``dna_chunk`` bases from its start (default 6), each one pre-token, so
  BPE merges learn DNA words inside chunks and a 2 kb run is never one giant pre-token; with 6-base
  chunks the vocabulary holds every 6-mer and a run is tiled into whole 6-mers (a fixed tiling
  that a language model learns far better than longer variable-length DNA tokens, docs/benchmarks.md);
* everything else follows the GPT-2 split (contractions, `` ?letters``, `` ?digits``,
  `` ?punctuation``, whitespace), so English keeps its word boundaries ("instruction" is never
  merged with its neighbours). A word made only of A/C/G/T ("GATA", "CAT") is read as DNA.

Special tokens: ``<|endoftext|>`` (id 0; bos, eos and document separator) and ``<|pad|>`` (id 1;
padding only, never a separator).

The saved folder (``runs/tokenizer/``) holds ``tokenizer.json``, ``tokenizer_config.json`` and
``special_tokens_map.json`` (what ``transformers.AutoTokenizer.from_pretrained(folder)`` reads)
plus ``manifest.json`` (stage ``tokenizer``) with the corpus hashes and the measured metrics.

>>> pre_tokenize_str("ACGT" * 20, dna_chunk=32)[:3]
['ACGTACGTACGTACGTACGTACGTACGTACGT', 'ACGTACGTACGTACGTACGTACGTACGTACGT', 'ACGTACGTACGTACGT']
>>> pre_tokenize_str("the GATA factor", dna_chunk=32)
['the', ' GATA', ' factor']
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import atomic_dir, sha256_file
from .errors import DnaHlmError, ManifestError
from .manifest import check_replaceable, read_manifest, write_manifest
from .recipes import load_recipe, to_dict

EOT = "<|endoftext|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = [EOT, PAD]  # ids 0 and 1, in this order
TOKENIZER_STAGE = "tokenizer"
TOKENIZER_FORMAT = 1

#: The GPT-2 pre-tokenizer regex (as in ``tokenizers.pre_tokenizers.ByteLevel(use_regex=True)``).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def split_pattern(dna_chunk: int) -> str:
    """The pre-tokenizer regex: DNA chunks of at most ``dna_chunk`` bases first, then GPT-2.

    The DNA alternative is an atomic group (no backtracking to a shorter chunk) that only matches
    when the chunk is followed by another base, a non-letter, or the end: ``GATTACAX`` is therefore
    one English word, while a long run of bases is cut every ``dna_chunk`` bases. The alternative is
    only tried where a word starts (the regex scans left to right and ``\\p{L}+`` eats whole words),
    so ``sCAT`` stays one word too.
    """
    if dna_chunk < 1:
        raise DnaHlmError(f"dna_chunk must be >= 1, got {dna_chunk}")
    return rf"(?> ?[ACGT]{{1,{dna_chunk}}})(?=[ACGT]|[^\p{{L}}]|$)|" + GPT2_PATTERN


@dataclass
class TokenizerRecipe:
    """How the tokenizer is trained (``recipes/tokenizer/<name>.toml``)."""

    vocab_size: int = 12288  # total, special tokens included; 12k: see docs/benchmarks.md
    dna_chunk: int = 6  # longest DNA pre-token in bases (a chunk boundary is a token boundary)
    dna_sample_mb: float = 6.0  # MB of dna.train.txt sampled for training (evenly spread lines)
    english_sample_mb: float = 6.0  # MB of english.train.txt sampled for training
    min_frequency: int = 2  # a pair must occur this often to be merged
    eval_dna_mb: float = 1.0  # MB of dna.valid.txt used for the held-out metrics
    eval_english_mb: float = 1.0  # MB of english.valid.txt used for the held-out metrics


def build_tokenizer(dna_chunk: int = 6) -> Any:
    """An untrained ``tokenizers.Tokenizer`` with this module's pre-tokenizer and decoder."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split_pattern(dna_chunk)), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def pre_tokenize_str(text: str, dna_chunk: int = 6) -> list[str]:
    """The pre-tokens of ``text`` as plain strings (before the byte-level mapping)."""
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(split_pattern(dna_chunk)), behavior="isolated")
    return [piece for piece, _ in split.pre_tokenize_str(text)]


def sample_lines(path: str | Path, mb: float, offset: int = 0) -> list[str]:
    """About ``mb`` MB of non-empty lines of ``path``, taken evenly across the file (every k-th line).

    Deterministic: the same file and size give the same lines. Spreading the sample matters because
    data files may be ordered by organism or source. ``mb <= 0`` means the whole file. ``offset``
    picks which of the k disjoint samples to take (lines ``i`` with ``i % k == offset % k``), so a
    run that continues another can read lines the first never saw.
    """
    path = Path(path)
    size = path.stat().st_size
    stride = 1 if mb <= 0 or size <= mb * 1e6 else max(1, math.ceil(size / (mb * 1e6)))
    pick = offset % stride
    out: list[str] = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % stride == pick:
                line = line.rstrip("\n")
                if line:
                    out.append(line)
    return out


def head_lines(path: str | Path, mb: float) -> list[str]:
    """The first non-empty lines of ``path`` until about ``mb`` MB (all for ``mb <= 0``)."""
    out: list[str] = []
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            out.append(line)
            n += len(line) + 1
            if mb > 0 and n >= mb * 1e6:
                break
    return out


def pretrain_files(data_dir: str | Path) -> dict[str, Path]:
    """The four pretraining text files of a ``data/`` folder, checked to exist."""
    d = Path(data_dir)
    read_manifest(d, "data")
    files = {k: d / "pretrain" / f"{k}.txt" for k in ("dna.train", "dna.valid", "english.train", "english.valid")}
    for k, p in files.items():
        if not p.is_file():
            raise ManifestError(f"{p} is missing: rebuild the data stage (dnahlm data build)")
    return files


def measure(tokenizer: Any, dna: list[str], english: list[str]) -> dict[str, Any]:
    """Held-out metrics of a tokenizer (a ``tokenizers.Tokenizer`` or a HF fast tokenizer).

    * ``dna_bases_per_token``: bases / tokens over ``dna`` (each line encoded on its own);
    * ``english_tokens_per_word``: tokens / whitespace-separated words over ``english``;
    * ``dna_round_trip`` / ``english_round_trip``: every line decodes back to itself exactly;
    * ``encode_mb_per_s``: bytes of all lines / seconds of one-line-at-a-time encoding (1 thread),
      and ``encode_batch_mb_per_s`` for ``encode_batch`` (the library's own threads).
    """
    tok = getattr(tokenizer, "_tokenizer", tokenizer)
    lines = dna + english
    nbytes = sum(len(s.encode()) for s in lines)
    t0 = time.perf_counter()
    single = [tok.encode(s, add_special_tokens=False).ids for s in lines]
    t1 = time.perf_counter()
    tok.encode_batch(lines, add_special_tokens=False)
    t2 = time.perf_counter()
    dna_ids, en_ids = single[: len(dna)], single[len(dna):]
    dna_tokens = sum(map(len, dna_ids))
    en_tokens = sum(map(len, en_ids))
    words = sum(len(s.split()) for s in english)
    bases = sum(map(len, dna))
    return {
        "dna_lines": len(dna),
        "dna_bases": bases,
        "dna_tokens": dna_tokens,
        "dna_bases_per_token": round(bases / dna_tokens, 4) if dna_tokens else None,
        "english_lines": len(english),
        "english_words": words,
        "english_tokens": en_tokens,
        "english_tokens_per_word": round(en_tokens / words, 4) if words else None,
        "dna_round_trip": all(tok.decode(i, skip_special_tokens=False) == s for i, s in zip(dna_ids, dna)),
        "english_round_trip": all(tok.decode(i, skip_special_tokens=False) == s for i, s in zip(en_ids, english)),
        "encode_mb_per_s": round(nbytes / 1e6 / max(t1 - t0, 1e-9), 3),
        "encode_batch_mb_per_s": round(nbytes / 1e6 / max(t2 - t1, 1e-9), 3),
    }


def train_bpe(texts: list[str], recipe: TokenizerRecipe, show_progress: bool = False) -> Any:
    """Train the byte-level BPE on ``texts`` (each one document); return a ``tokenizers.Tokenizer``."""
    from tokenizers import pre_tokenizers, trainers

    if recipe.vocab_size < 256 + len(SPECIAL_TOKENS):
        raise DnaHlmError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)} (bytes + special tokens), got {recipe.vocab_size}")
    tok = build_tokenizer(recipe.dna_chunk)
    trainer = trainers.BpeTrainer(
        vocab_size=recipe.vocab_size,
        min_frequency=recipe.min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def save_tokenizer(tok: Any, folder: Path) -> None:
    """Write the HF files (``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json``)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT, pad_token=PAD, unk_token=None)
    fast.model_max_length = 1_000_000_000  # the model, not the tokenizer, limits the context
    fast.save_pretrained(str(folder))
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    stm = folder / "special_tokens_map.json"
    if not stm.exists():  # transformers 5 may fold it into tokenizer_config.json; keep the classic file too
        stm.write_text(json.dumps({"bos_token": EOT, "eos_token": EOT, "pad_token": PAD}, indent=2) + "\n")


def train_tokenizer(data_dir: str | Path, out_dir: str | Path, recipe: TokenizerRecipe,
                    recipe_name: str = "default", progress: bool = True) -> dict[str, Any]:
    """Train on ``data_dir/pretrain``, measure on the valid files, write ``out_dir``; return the manifest."""
    check_replaceable(out_dir, TOKENIZER_STAGE)
    files = pretrain_files(data_dir)
    data_manifest_hash = sha256_file(Path(data_dir) / "manifest.json")
    dna = sample_lines(files["dna.train"], recipe.dna_sample_mb)
    english = sample_lines(files["english.train"], recipe.english_sample_mb)
    if not dna or not english:
        raise DnaHlmError(f"{data_dir}/pretrain has no DNA or no English training lines")
    t0 = time.perf_counter()
    tok = train_bpe(dna + english, recipe, show_progress=progress)
    train_s = time.perf_counter() - t0
    dna_valid = head_lines(files["dna.valid"], recipe.eval_dna_mb)
    en_valid = head_lines(files["english.valid"], recipe.eval_english_mb)
    metrics = measure(tok, dna_valid, en_valid)
    with atomic_dir(out_dir) as tmp:
        save_tokenizer(tok, tmp)
        return write_manifest(
            tmp, TOKENIZER_STAGE, TOKENIZER_FORMAT,
            recipe_name=recipe_name,
            recipe=to_dict(recipe),
            data_manifest_sha256=data_manifest_hash,
            inputs={k: {"path": str(p), "sha256": sha256_file(p)} for k, p in files.items()},
            sample={"dna_lines": len(dna), "dna_bytes": sum(map(len, dna)),
                    "english_lines": len(english), "english_bytes": sum(len(s.encode()) for s in english)},
            vocab_size=tok.get_vocab_size(),
            special_tokens={EOT: tok.token_to_id(EOT), PAD: tok.token_to_id(PAD)},
            train_seconds=round(train_s, 2),
            metrics=metrics,
            tokenizer_sha256=sha256_file(tmp / "tokenizer.json"),
        )


def load_tokenizer_recipe(name_or_path: str | Path = "default") -> TokenizerRecipe:
    return load_recipe(TokenizerRecipe, "tokenizer", name_or_path)


def tokenizer_hash(folder: str | Path) -> str:
    """SHA-256 of ``folder/tokenizer.json``: what a checkpoint records to refuse a foreign tokenizer."""
    p = Path(folder) / "tokenizer.json"
    if not p.is_file():
        raise ManifestError(f"{folder} has no tokenizer.json: run `dnahlm tokenizer train` first")
    return sha256_file(p)


def load_tokenizer(folder: str | Path, check_manifest: bool = True) -> Any:
    """A ``transformers.PreTrainedTokenizerFast`` from a tokenizer folder (or a model's ``final/``).

    Checks the special tokens: ``<|endoftext|>`` is bos and eos, ``<|pad|>`` is pad, and they differ.
    """
    from transformers import PreTrainedTokenizerFast

    folder = Path(folder)
    if check_manifest:
        read_manifest(folder, TOKENIZER_STAGE, TOKENIZER_FORMAT)
    tokenizer_hash(folder)
    tok = PreTrainedTokenizerFast.from_pretrained(str(folder))
    if tok.eos_token != EOT or tok.bos_token != EOT or tok.pad_token != PAD or tok.pad_token_id == tok.eos_token_id:
        raise ManifestError(f"{folder}: special tokens are not {EOT} (bos/eos) and {PAD} (pad)")
    return tok


def stats(folder: str | Path, data_dir: str | Path | None = None, dna_mb: float = 1.0, english_mb: float = 1.0) -> dict[str, Any]:
    """Metrics of a trained tokenizer: the recorded ones, or re-measured on ``data_dir``'s valid files."""
    m = read_manifest(folder, TOKENIZER_STAGE, TOKENIZER_FORMAT)
    if data_dir is None:
        return {"vocab_size": m["vocab_size"], **m["metrics"]}
    files = pretrain_files(data_dir)
    tok = load_tokenizer(folder)
    return {"vocab_size": len(tok), **measure(tok, head_lines(files["dna.valid"], dna_mb), head_lines(files["english.valid"], english_mb))}


__all__ = [
    "EOT", "PAD", "TokenizerRecipe", "build_tokenizer", "pre_tokenize_str", "split_pattern", "train_bpe",
    "train_tokenizer", "measure", "load_tokenizer", "load_tokenizer_recipe", "tokenizer_hash", "sample_lines", "head_lines", "stats",
]
