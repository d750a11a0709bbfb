"""The next-k-mer context benchmark (``dnahlm bench next-kmer``).

Items: ``data/tasks/next_kmer/<split>.jsonl``, 50-nt windows of a human chrX region held out of
pretraining; ``label`` holds the next 6 bases, the target for ``k`` is ``label[:k]`` (no overlap
with the window), ``k = 1..6``. A system predicts one k-mer per window; the score is the share of
exact matches. Systems:

* **chance**: ``4^-k`` (a uniform guess).
* **Markov**: an order-``m`` model (:class:`dnahlm_rag.markov.MarkovModel`) counted on an evenly
  spread sample of the pretraining DNA (``data/pretrain/dna.train.txt``); the order ``m`` and the
  smoothing are chosen on the benchmark's VALID split (bits per target base), never on test. Its
  prediction is the exact argmax over all ``4^k`` continuations of ``prod_j P(b_j | m bases before)``.
* **LM**: the language model's argmax over all ``4^k`` continuations ``c`` of
  ``log P(tokens(window + c))``, each candidate tokenized as the *full string* (BPE cuts the end of
  the window differently depending on what follows, so scoring ``tokens(c)`` after
  ``tokens(window)`` would score strings the model never sees). All candidates share a common
  token prefix (at least ``<|endoftext|>`` and the window's first pre-token); it runs once, its KV
  cache is repeated over the candidates, and only the differing suffix tokens run, batched. The
  suffixes form a trie: only the distinct suffix prefixes (minus the final token) are run, and
  each candidate's score is ``log P(prefix) + sum_j log P(s_j | prefix, s_<j)``, in nats, equal to
  a full forward pass of the candidate (:func:`score_naive`, the reference used by the tests).
  Ties go to the first candidate in ``ACGT`` order.

Published figures on the same kind of task (human chr21, 50-nt windows, k = 6) are printed beside
ours (:data:`PUBLISHED_K6`); they are other models on another chromosome, a point of reference,
not a like-for-like comparison.

**Tokenizer ablation** (:func:`run_ablation`): the same small pretraining budget (the ``tiny``
recipe on DNA only, ``dna_fraction = 1``, more steps) with three tokenizers: the project's BPE, single
bases (:func:`build_kmer_tokenizer` with ``k = 1``) and non-overlapping 6-mers (``k = 6``). Both
alternatives are ordinary ``tokenizer.json`` folders (with a ``tokenizer`` manifest) that
``dnahlm pretrain --tokenizer DIR`` consumes unchanged. Overlapping 6-mers cannot be expressed
as a ``tokenizers`` pipeline (a pre-tokenizer partitions the text; it cannot emit overlapping
pieces), see :data:`OVERLAPPING_KMER_HOOK`.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DnaHlmError

TASK = "next_kmer"
KS = (1, 2, 3, 4, 5, 6)
BASES = "ACGT"

#: Published k = 6 accuracies on human chr21 50-nt windows (the issue's reference figures).
PUBLISHED_K6 = {
    "best BPE model (published)": 0.02,
    "another BPE model (published)": 0.006,
    "fixed k-mer models (published, at most)": 0.004,
    "TF-IDF baseline (published)": 0.011,
}

OVERLAPPING_KMER_HOOK = (
    "overlapping 6-mers need a pretraining hook: (1) a text transform applied to every DNA line before "
    "encoding (e.g. 'ACGTACG' -> 'ACGTAC CGTACG', one token per base position) that packing.encode_documents "
    "and this benchmark both call, and (2) a bases-per-token override for validation, because "
    "pretrain.finalize checks that the A/C/G/T characters of the scored tokens equal the held-out bases "
    "(an overlapping 6-mer token carries one new base, not six)"
)


def all_kmers(k: int) -> list[str]:
    """The ``4^k`` k-mers in ``ACGT`` lexicographic order (``k = 0`` gives ``[""]``)."""
    return ["".join(p) for p in itertools.product(BASES, repeat=k)]


# --------------------------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------------------------


def read_items(data_dir: str | Path, split: str = "test", n: int = 0, seed: int = 0) -> list[dict[str, Any]]:
    """Up to ``n`` rows (0 = all; a seeded sample, kept in file order) of the next-k-mer split."""
    from .instruct import read_split

    rows = read_split(data_dir, TASK, split)
    for r in rows:
        if len(r["label"]) < max(KS) or set(r["seq"] + r["label"]) - set(BASES):
            raise DnaHlmError(f"next_kmer item {r['id']}: expected A/C/G/T and a label of {max(KS)} bases")
    if n and len(rows) > n:
        keep = sorted(random.Random(seed).sample(range(len(rows)), n))
        rows = [rows[i] for i in keep]
    return rows


# --------------------------------------------------------------------------------------------
# Markov baseline
# --------------------------------------------------------------------------------------------


def _log_table(counts: np.ndarray, alpha: float) -> np.ndarray:
    """``log P(b | context)`` (float64[4^m, 4]) from order-m counts with add-alpha smoothing."""
    c = counts.astype(np.float64)
    return np.log((c + alpha) / (c.sum(axis=1, keepdims=True) + 4 * alpha))


def markov_continuation_logprobs(contexts: Sequence[str], k: int, m: int, table: np.ndarray,
                                 chunk: int = 64) -> np.ndarray:
    """``log P(c | context)`` for every context and every k-mer ``c`` (float64[N, 4^k]) under order ``m``.

    ``table``: the ``(4^m, 4)`` log-probability table; each base of ``c`` is conditioned on the ``m``
    bases before it (the end of the context, then ``c``'s own bases). Contexts must be at least ``m`` long.
    """
    from .markov import encode_bases

    cands = np.array([[BASES.index(ch) for ch in c] for c in all_kmers(k)], dtype=np.int64).reshape(4 ** k, k)
    out = np.empty((len(contexts), 4 ** k), dtype=np.float64)
    for a in range(0, len(contexts), chunk):
        ctx = np.stack([encode_bases(s[len(s) - m:] if m else "").astype(np.int64) for s in contexts[a:a + chunk]])
        ctx = ctx.reshape(len(ctx), m)
        n = len(ctx)
        seq = np.concatenate([np.broadcast_to(ctx[:, None, :], (n, 4 ** k, m)),
                              np.broadcast_to(cands[None], (n, 4 ** k, k))], axis=2)  # (n, 4^k, m + k)
        lp = np.zeros((n, 4 ** k))
        for j in range(k):
            code = np.zeros((n, 4 ** k), dtype=np.int64)
            for i in range(m):
                code = code * 4 + seq[:, :, j + i]
            lp += table[code, seq[:, :, m + j]]
        out[a:a + n] = lp
    return out


@dataclass
class MarkovFit:
    """The chosen order and smoothing, and the search on the valid split."""

    m: int
    alpha: float
    table: np.ndarray
    search: list[dict[str, Any]] = field(default_factory=list)
    train_bases: int = 0


def fit_markov(train_lines: list[str], valid_items: list[dict[str, Any]], m_max: int = 10,
               alphas: Sequence[float] = (0.01, 0.1, 0.5, 1.0), progress: bool = False) -> MarkovFit:
    """Count order ``m_max`` once (lower orders are its marginals); choose ``(m, alpha)`` by the mean
    bits per target base of the 6 label bases of ``valid_items``."""
    from tqdm import tqdm

    if not train_lines:
        raise DnaHlmError("the Markov baseline has no training DNA")
    full = _fit_counts(train_lines, m_max)
    best: tuple[float, int, float] | None = None
    search = []
    K = max(KS)
    from .markov import encode_bases

    # (n, m_max + K): the m_max bases before the label, then the K label bases
    codes = np.stack([encode_bases(it["seq"][len(it["seq"]) - m_max:] + it["label"][:K]).astype(np.int64)
                      for it in valid_items]) if valid_items else np.zeros((0, m_max + K), dtype=np.int64)
    for m in tqdm(range(m_max + 1), desc="markov order", disable=not progress, leave=False):
        ctx = np.zeros((len(codes), K), dtype=np.int64)  # order-m context code of each label base
        for i in range(m):
            ctx = ctx * 4 + codes[:, m_max - m + i:m_max - m + i + K]
        for alpha in alphas:
            table = _log_table(full.counts[m], alpha)
            bits = -float(table[ctx, codes[:, m_max:]].sum()) / math.log(2)  # log P of the K label bases
            bpb = bits / (K * max(1, len(valid_items)))
            search.append({"m": m, "alpha": alpha, "valid_bits_per_base": round(bpb, 5)})
            if best is None or bpb < best[0]:
                best = (bpb, m, alpha)
    assert best is not None
    _, m, alpha = best
    return MarkovFit(m=m, alpha=alpha, table=_log_table(full.counts[m], alpha), search=search,
                     train_bases=sum(map(len, train_lines)))


def _fit_counts(lines: list[str], k: int, chunk_bases: int = 8_000_000) -> Any:
    """``MarkovModel.fit(lines, k)`` with one ``bincount`` per ~8 Mb of lines instead of one per line.

    Same counts (contexts never span two lines); ``MarkovModel.fit`` allocates a ``4^(k+1)`` array
    per line, which at ``k = 10`` and ~10k lines costs minutes.
    """
    from .markov import MarkovModel, _context_codes, encode_bases

    top = np.zeros(4 ** (k + 1), dtype=np.int64)
    parts: list[np.ndarray] = []
    size = 0
    for i, line in enumerate(lines):
        a = encode_bases(line).astype(np.int64)
        if len(a) > k:
            parts.append(_context_codes(a, k) * 4 + a[k:])
            size += len(a)
        if parts and (size >= chunk_bases or i == len(lines) - 1):
            top += np.bincount(np.concatenate(parts), minlength=4 ** (k + 1))
            parts, size = [], 0
    if parts:
        top += np.bincount(np.concatenate(parts), minlength=4 ** (k + 1))
    top4 = top.reshape(-1, 4)
    counts = [top4.reshape(4 ** (k - o), 4 ** o, 4).sum(axis=0) for o in range(k)] + [top4]
    return MarkovModel(k=k, alpha=0.5, counts=counts)


def predict_argmax(logprobs: np.ndarray, k: int) -> list[str]:
    """The k-mer with the highest score per row (ties: the first in ACGT order)."""
    kmers = all_kmers(k)
    return [kmers[int(i)] for i in np.argmax(logprobs, axis=1)]


# --------------------------------------------------------------------------------------------
# Language-model scoring
# --------------------------------------------------------------------------------------------


@dataclass
class LMScorer:
    """A causal LM and how its text becomes token ids.

    ``encode(texts)`` returns the ids of each text without special tokens; ``bos_id`` is prepended
    (pretraining documents follow ``<|endoftext|>``).
    """

    model: Any
    encode: Callable[[list[str]], list[list[int]]]
    bos_id: int
    device: str = "cpu"
    batch_rows: int = 512

    @classmethod
    def from_tokenizer(cls, model: Any, tokenizer: Any, device: str = "cpu", batch_rows: int = 512) -> "LMScorer":
        tok = getattr(tokenizer, "_tokenizer", tokenizer)

        def encode(texts: list[str]) -> list[list[int]]:
            return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]

        bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        return cls(model=model, encode=encode, bos_id=int(bos), device=device, batch_rows=batch_rows)

    def full_ids(self, texts: list[str]) -> list[list[int]]:
        return [[self.bos_id] + list(ids) for ids in self.encode(texts)]


def score_naive(scorer: LMScorer, texts: list[str]) -> np.ndarray:
    """Reference: ``log P(tokens(text))`` (nats, after the bos token) by one full forward pass per text."""
    import torch

    out = np.empty(len(texts))
    with torch.inference_mode():
        for i, ids in enumerate(scorer.full_ids(texts)):
            x = torch.tensor([ids], device=scorer.device)
            lp = torch.log_softmax(scorer.model(input_ids=x).logits[0].float(), -1)
            out[i] = float(lp[torch.arange(len(ids) - 1), x[0, 1:]].sum())
    return out


def score_continuations(scorer: LMScorer, context: str, continuations: Sequence[str]) -> np.ndarray:
    """``log P(tokens(context + c))`` for every ``c`` (nats, float64[len(continuations)]), with one KV
    cache of the shared token prefix and the distinct suffix prefixes run as batches (module docstring)."""
    import torch

    if not continuations:
        return np.zeros(0)
    ids = scorer.full_ids([context + c for c in continuations])
    n_pos = getattr(getattr(scorer.model, "config", None), "n_positions", None)
    if n_pos is not None and max(map(len, ids)) > n_pos:
        raise DnaHlmError(f"a window plus its continuation is {max(map(len, ids))} tokens, more than the model's "
                          f"context of {n_pos}")
    first = ids[0]
    P = min(len(x) for x in ids)
    for x in ids[1:]:  # longest common prefix of all candidates
        j = 0
        while j < P and x[j] == first[j]:
            j += 1
        P = j
    if P == min(len(x) for x in ids):  # some candidate is a prefix of the others: keep one token to score
        P -= 1
    prefix = first[:P]
    suffixes = [tuple(x[P:]) for x in ids]
    model, dev = scorer.model, scorer.device
    # rows to run: distinct suffixes without their last token (their prefixes come for free, causally)
    rows = sorted({s[:-1] for s in suffixes if len(s) > 1}, key=lambda r: (-len(r), r))
    node_of: dict[tuple[int, ...], tuple[int, int]] = {}  # suffix prefix -> (row, position) of its distribution
    for ri, r in enumerate(rows):
        for j in range(1, len(r) + 1):
            node_of.setdefault(r[:j], (ri, j - 1))
    scores = np.zeros(len(continuations))
    with torch.inference_mode():
        x = torch.tensor([prefix], device=dev)
        res = model(input_ids=x, use_cache=True)
        lp0 = torch.log_softmax(res.logits[0].float(), -1)  # (P, V)
        prefix_lp = float(lp0[torch.arange(P - 1), x[0, 1:]].sum()) if P > 1 else 0.0
        first_lp = lp0[-1].cpu().numpy()  # the first suffix token
        # (row, position, token) lookups gathered chunk by chunk
        need: dict[int, list[tuple[int, int, int]]] = {}  # row -> [(candidate, position, token)]
        for ci, s in enumerate(suffixes):
            scores[ci] = prefix_lp + float(first_lp[s[0]])
            for j in range(1, len(s)):
                ri, pos = node_of[s[:j]]
                need.setdefault(ri, []).append((ci, pos, s[j]))
        for a in range(0, len(rows), scorer.batch_rows):
            chunk = rows[a:a + scorer.batch_rows]
            B, L = len(chunk), max(map(len, chunk))
            inp = torch.full((B, L), scorer.bos_id, dtype=torch.long)  # right padding: never attended by real tokens
            for r, row in enumerate(chunk):
                inp[r, :len(row)] = torch.tensor(row)
            cache = model(input_ids=x, use_cache=True).past_key_values  # the prefix, batch 1
            cache.batch_repeat_interleave(B)
            pos = torch.arange(P, P + L, device=dev)[None].expand(B, L)
            out = model(input_ids=inp.to(dev), position_ids=pos, past_key_values=cache, use_cache=False)
            lp = torch.log_softmax(out.logits.float(), -1)  # (B, L, V)
            cand, rr, pp, tt = [], [], [], []
            for r in range(B):
                for ci, p, t in need.get(a + r, []):
                    cand.append(ci)
                    rr.append(r)
                    pp.append(p)
                    tt.append(t)
            if cand:
                vals = lp[torch.tensor(rr), torch.tensor(pp), torch.tensor(tt)].double().cpu().numpy()
                np.add.at(scores, np.array(cand), vals)
    return scores


def lm_predictions(scorer: LMScorer, contexts: Sequence[str], ks: Sequence[int] = KS,
                   progress: bool = False, desc: str = "LM next-k-mer") -> dict[int, list[str]]:
    """The LM's argmax k-mer per context for every ``k``."""
    from tqdm import tqdm

    out: dict[int, list[str]] = {k: [] for k in ks}
    kmers = {k: all_kmers(k) for k in ks}
    for ctx in tqdm(contexts, desc=desc, unit="window", disable=not progress, leave=False):
        for k in ks:
            s = score_continuations(scorer, ctx, kmers[k])
            out[k].append(kmers[k][int(np.argmax(s))])
    return out


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def accuracy_row(preds: Sequence[str], items: Sequence[dict[str, Any]], k: int, n_boot: int, seed: int) -> dict[str, Any]:
    from .metrics import mean_ci

    hits = np.array([p == it["label"][:k] for p, it in zip(preds, items)], dtype=float)
    lo, hi = mean_ci(hits, n_resamples=n_boot, seed=seed)
    return {"accuracy": float(hits.mean()) if len(hits) else float("nan"), "ci95": [lo, hi], "n": len(hits)}


@dataclass
class BenchConfig:
    """What ``dnahlm bench next-kmer`` measures."""

    n: int = 2000  # test windows (seeded sample; 0 = all)
    n_valid: int = 1000  # valid windows used to choose the Markov order
    markov_train_mb: float = 24.0  # MB of dna.train.txt (evenly spread lines) the Markov model counts
    markov_m_max: int = 10
    seed: int = 0
    n_boot: int = 1000
    batch_rows: int = 512
    threads: int = 0


def bench_settings(data_dir: str | Path, model_dir: str | Path | None, cfg: BenchConfig) -> dict[str, Any]:
    """What a next-k-mer report depends on: the config (threads and batch size aside), the data
    manifest and the model weights (SHA-256). Equal settings give an equal report (seeded)."""
    from .atomic import sha256_file
    from .embed.lm import model_fingerprint

    manifest = Path(data_dir) / "manifest.json"
    keep = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("threads", "batch_rows")}
    return {"config": keep, "data_manifest_sha256": sha256_file(manifest) if manifest.is_file() else None,
            "model_sha256": model_fingerprint(model_dir) if model_dir is not None else None}


def reusable_report(out_dir: str | Path, settings: dict[str, Any], name: str = "next_kmer") -> dict[str, Any] | None:
    """The report in ``out_dir/<name>.json`` when it was made with these very ``settings``, else None."""
    path = Path(out_dir) / f"{name}.json"
    try:
        rep = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return rep if isinstance(rep, dict) and rep.get("settings") == settings else None


def run_benchmark(data_dir: str | Path, model_dir: str | Path | None, cfg: BenchConfig = BenchConfig(),
                  progress: bool = True) -> dict[str, Any]:
    """Chance, Markov and (when ``model_dir`` is given) LM accuracy per k on the test windows."""
    import torch

    from .tokenizer import pretrain_files, sample_lines

    t0 = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    items = read_items(data_dir, "test", cfg.n, cfg.seed)
    valid = read_items(data_dir, "valid", cfg.n_valid, cfg.seed)
    contexts = [it["seq"] for it in items]
    rep: dict[str, Any] = {"n": len(items), "split": "test", "window_bases": sorted({len(c) for c in contexts}),
                           "ks": list(KS), "systems": {}, "published_k6": PUBLISHED_K6}
    rep["systems"]["chance"] = {str(k): {"accuracy": 4.0 ** -k, "ci95": [4.0 ** -k, 4.0 ** -k], "n": len(items)} for k in KS}
    files = pretrain_files(data_dir)
    train_lines = sample_lines(files["dna.train"], cfg.markov_train_mb)
    fit = fit_markov(train_lines, valid, m_max=cfg.markov_m_max, progress=progress)
    rep["markov"] = {"m": fit.m, "alpha": fit.alpha, "chosen_on": f"next_kmer valid split ({len(valid)} windows)",
                     "train_bases": fit.train_bases, "search": fit.search}
    mk = {}
    for k in KS:
        preds = predict_argmax(markov_continuation_logprobs(contexts, k, fit.m, fit.table), k)
        mk[str(k)] = accuracy_row(preds, items, k, cfg.n_boot, cfg.seed)
    rep["systems"][f"markov (order {fit.m})"] = mk
    if model_dir is not None:
        from .checkpoint import load_lm

        model, tok, meta = load_lm(model_dir)
        scorer = LMScorer.from_tokenizer(model, tok, batch_rows=cfg.batch_rows)
        t1 = time.perf_counter()
        preds = lm_predictions(scorer, contexts, KS, progress=progress)
        rep["lm_seconds"] = round(time.perf_counter() - t1, 1)
        rep["model"] = str(model_dir)
        rep["systems"][f"LM ({Path(model_dir).parent.name})"] = {str(k): accuracy_row(preds[k], items, k, cfg.n_boot, cfg.seed) for k in KS}
    rep["seconds"] = round(time.perf_counter() - t0, 1)
    return rep


def format_table(rep: dict[str, Any]) -> str:
    """Markdown: one row per system, one column per k (accuracy % with the 95% CI), published k=6 figures below."""
    head = "| system | " + " | ".join(f"k={k}" for k in rep["ks"]) + " |"
    lines = [head, "|---|" + "---|" * len(rep["ks"])]
    for name, row in rep["systems"].items():
        cells = []
        for k in rep["ks"]:
            r = row[str(k)]
            lo, hi = r["ci95"]
            cells.append(f"{100 * r['accuracy']:.2f}" + ("" if lo == hi else f" ({100 * lo:.2f}-{100 * hi:.2f})"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, acc in rep.get("published_k6", {}).items():
        lines.append(f"| {name}, human chr21 | " + " | ".join("" for _ in rep["ks"][:-1]) + f" | {100 * acc:.1f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Tokenizer ablation
# --------------------------------------------------------------------------------------------


def build_kmer_tokenizer(k: int) -> Any:
    """A ``tokenizers.Tokenizer`` that cuts runs of A/C/G/T into non-overlapping ``k``-mers from the left.

    ``k = 1`` is a single-base (character-level) tokenizer. Everything is first mapped to GPT-2's
    byte-level alphabet (A/C/G/T stay themselves), then split into ``k``-mers of bases, shorter base
    runs at the end of a run, and single byte characters; a word-level model maps each piece to its
    id, so any text (English included) encodes and decodes back exactly. Vocabulary:
    ``<|endoftext|>`` (0), ``<|pad|>`` (1), the 256 byte characters, then every base string of
    length 2..k.

    >>> t = build_kmer_tokenizer(6)
    >>> t.encode("ACGTACGTA is DNA").tokens[:4]
    ['ACGTAC', 'GTA', 'Ġ', 'i']
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    from .tokenizer import SPECIAL_TOKENS

    if not 1 <= k <= 8:
        raise DnaHlmError(f"k-mer tokenizer: k must be 1..8, got {k}")
    vocab: dict[str, int] = {s: i for i, s in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(ch, len(vocab))
    for j in range(2, k + 1):
        for km in all_kmers(j):
            vocab[km] = len(vocab)
    pattern = "." if k == 1 else f"[ACGT]{{{k}}}|[ACGT]{{1,{k - 1}}}|."
    tok = Tokenizer(models.WordLevel(vocab, unk_token=SPECIAL_TOKENS[0]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    return tok


def save_kmer_tokenizer(k: int, folder: str | Path) -> Path:
    """Write a k-mer tokenizer folder that ``load_tokenizer``/``dnahlm pretrain --tokenizer`` accept."""
    from .atomic import atomic_dir, sha256_file
    from .manifest import write_manifest
    from .tokenizer import EOT, PAD, TOKENIZER_FORMAT, TOKENIZER_STAGE, save_tokenizer

    tok = build_kmer_tokenizer(k)
    with atomic_dir(folder) as tmp:
        save_tokenizer(tok, tmp)
        write_manifest(tmp, TOKENIZER_STAGE, TOKENIZER_FORMAT, recipe_name=f"kmer{k}",
                       recipe={"kind": "non-overlapping k-mers" if k > 1 else "single bases", "k": k},
                       vocab_size=tok.get_vocab_size(),
                       special_tokens={EOT: tok.token_to_id(EOT), PAD: tok.token_to_id(PAD)},
                       tokenizer_sha256=sha256_file(tmp / "tokenizer.json"))
    return Path(folder)


@dataclass
class AblationConfig:
    """The shared pretraining budget of the ablation: the ``recipe`` with these overrides, DNA only."""

    recipe: str = "tiny"
    max_steps: int = 600
    batch_size: int = 16
    dna_train_mb: float = 4.0
    n: int = 300  # test windows scored per arm
    seed: int = 0
    n_boot: int = 1000
    threads: int = 0


def ablation_recipe(cfg: AblationConfig) -> Any:
    from .pretrain import load_pretrain_recipe

    r = load_pretrain_recipe(cfg.recipe)
    r.name = f"{r.name}-ablation"
    r.train.max_steps = cfg.max_steps
    r.train.batch_size = cfg.batch_size
    r.train.dna_fraction = 1.0
    r.train.markov_baseline = False
    r.train.eval_every = 0
    r.train.checkpoint_every = cfg.max_steps
    r.data.dna_train_mb = cfg.dna_train_mb
    return r


def run_ablation(data_dir: str | Path, bpe_tokenizer: str | Path, out_dir: str | Path,
                 cfg: AblationConfig = AblationConfig(), progress: bool = True) -> dict[str, Any]:
    """Pretrain the same budget with BPE, single-base and 6-mer tokenizers; score next-k-mer on test."""
    import shutil

    from .checkpoint import load_lm
    from .pretrain import pretrain

    out = Path(out_dir)
    recipe = ablation_recipe(cfg)
    items = read_items(data_dir, "test", cfg.n, cfg.seed)
    contexts = [it["seq"] for it in items]
    arms = {"BPE (project tokenizer)": Path(bpe_tokenizer),
            "single bases": save_kmer_tokenizer(1, out / "tokenizers" / "kmer1"),
            "non-overlapping 6-mers": save_kmer_tokenizer(6, out / "tokenizers" / "kmer6")}
    rep: dict[str, Any] = {"n": len(items), "ks": list(KS), "recipe": {"base": cfg.recipe, "max_steps": cfg.max_steps,
                           "batch_size": cfg.batch_size, "n_ctx": recipe.model.n_ctx, "dna_fraction": 1.0,
                           "dna_train_mb": cfg.dna_train_mb, "n_layer": recipe.model.n_layer, "n_embd": recipe.model.n_embd},
                           "overlapping_6mers": OVERLAPPING_KMER_HOOK, "systems": {}, "arms": {}}
    for name, tok_dir in arms.items():
        run_dir = out / "runs" / tok_dir.name
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a fresh run of the same budget each time
        res = pretrain(recipe, data_dir, tok_dir, run_dir, threads=cfg.threads or None, progress=progress)
        model, tok, _ = load_lm(run_dir / "final")
        scorer = LMScorer.from_tokenizer(model, tok)
        t0 = time.perf_counter()
        preds = lm_predictions(scorer, contexts, KS, progress=progress, desc=f"next-k-mer {tok_dir.name}")
        rep["systems"][name] = {str(k): accuracy_row(preds[k], items, k, cfg.n_boot, cfg.seed) for k in KS}
        n_tok = [len(x) for x in scorer.encode(contexts)]
        rep["arms"][name] = {"tokenizer": str(tok_dir), "vocab": len(tok), "tokens_seen": res.metrics.get("tokens_seen"),
                             "val_dna_bits_per_base": res.metrics.get("val_dna_bits_per_base"),
                             "final_train_loss": res.metrics.get("final_train_loss"),
                             "train_wall_s": res.metrics.get("wall_s"),
                             "tokens_per_50nt_window": round(float(np.mean(n_tok)), 2),
                             "bases_seen_approx": int((res.metrics.get("tokens_seen") or 0) * float(np.mean(list(map(len, contexts))))
                                                      / max(1e-9, float(np.mean(n_tok)))),
                             "score_seconds": round(time.perf_counter() - t0, 1)}
    return rep


def write_report(rep: dict[str, Any], out_dir: str | Path, name: str = "next_kmer") -> Path:
    """``out_dir/<name>.json`` and ``<name>.md``, atomically."""
    from .atomic import atomic_file, write_json

    out = Path(out_dir)
    write_json(out / f"{name}.json", rep)
    with atomic_file(out / f"{name}.md") as f:
        f.write(f"# Next-k-mer benchmark ({name})\n\n")
        f.write(f"{rep['n']} test windows of the held-out human chrX region; accuracy of the exact k-mer, % "
                "(95% bootstrap CI).\n\n")
        f.write(format_table(rep) + "\n")
        if "markov" in rep:
            f.write(f"\nMarkov order {rep['markov']['m']} (alpha {rep['markov']['alpha']}) chosen on the "
                    f"{rep['markov']['chosen_on']}; counted on {rep['markov']['train_bases']:,} pretraining bases.\n")
        if "arms" in rep:
            f.write("\n| arm | vocab | tokens per 50-nt window | tokens seen | bases seen (approx.) | held-out DNA bits/base | train s |\n"
                    "|---|---|---|---|---|---|---|\n")
            for arm, a in rep["arms"].items():
                f.write(f"| {arm} | {a['vocab']} | {a['tokens_per_50nt_window']} | {a['tokens_seen']:,} | {a['bases_seen_approx']:,} | "
                        f"{a['val_dna_bits_per_base']} | {a['train_wall_s']} |\n")
            f.write("\nSame budget = the same optimizer steps, batch and context, i.e. the same number of training "
                    "tokens; a longer token covers more bases, so the arms see different amounts of DNA, and a larger "
                    "vocabulary costs more compute per token (the output layer).\n")
            f.write(f"\nBudget: {json.dumps(rep['recipe'])}. Overlapping 6-mers: {rep['overlapping_6mers']}.\n")
    return out / f"{name}.md"
