"""Tokenizer sweep: vocabulary size, DNA chunk length and English share vs. held-out metrics.

    python bench/bench_tokenizer.py --data data --vocab 8192,12288,16384 --chunk 32 --english-mb 6

Prints one Markdown table row per setting: bases/token on held-out DNA, tokens/word on held-out
English, exact round trips, encode MB/s (1 thread), training seconds. Nothing is written to disk.
"""
from __future__ import annotations

import argparse
import time

from dnahlm_rag.tokenizer import (TokenizerRecipe, head_lines, measure, pretrain_files, sample_lines, train_bpe)


def train_plain_gpt2_split(texts: list[str], r: TokenizerRecipe):
    from tokenizers import pre_tokenizers, trainers

    from dnahlm_rag.tokenizer import SPECIAL_TOKENS, build_tokenizer

    tok = build_tokenizer(1)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=r.vocab_size, min_frequency=r.min_frequency, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data")
    ap.add_argument("--vocab", default="8192,12288,16384")
    ap.add_argument("--chunk", default="32", help="DNA chunk lengths; 0 = no DNA pre-split (GPT-2 regex only)")
    ap.add_argument("--dna-mb", type=float, default=6.0)
    ap.add_argument("--english-mb", default="6")
    ap.add_argument("--eval-mb", type=float, default=0.5)
    a = ap.parse_args()
    files = pretrain_files(a.data)
    dna_v, en_v = head_lines(files["dna.valid"], a.eval_mb), head_lines(files["english.valid"], a.eval_mb)
    dna = sample_lines(files["dna.train"], a.dna_mb)
    print("| vocab | DNA chunk | DNA MB : English MB | bases/token | tokens/word | round trip | encode MB/s | train s |")
    print("|---|---|---|---|---|---|---|---|")
    for emb in map(float, a.english_mb.split(",")):
        en = sample_lines(files["english.train"], emb)
        for chunk in map(int, a.chunk.split(",")):
            for vocab in map(int, a.vocab.split(",")):
                r = TokenizerRecipe(vocab_size=vocab, dna_chunk=max(chunk, 1))
                t = time.perf_counter()
                if chunk == 0:  # the known failure: GPT-2's split only, a DNA line is one pre-token
                    tok = train_plain_gpt2_split(dna + en, r)
                else:
                    tok = train_bpe(dna + en, r)
                ts = time.perf_counter() - t
                m = measure(tok, dna_v, en_v)
                print(f"| {vocab} | {chunk or 'none'} | {a.dna_mb:g} : {emb:g} | {m['dna_bases_per_token']:.3f} | "
                      f"{m['english_tokens_per_word']:.3f} | {m['dna_round_trip'] and m['english_round_trip']} | "
                      f"{m['encode_mb_per_s']:.2f} | {ts:.0f} |", flush=True)


if __name__ == "__main__":
    main()
