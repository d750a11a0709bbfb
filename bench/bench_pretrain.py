"""Training throughput and peak memory of the pretraining recipes on this machine.

    python bench/bench_pretrain.py --recipes tiny,cpu --steps 6 --threads 2 [--vocab 8192,12288,16384]

Each (recipe, vocabulary) runs in its own process (so peak RSS is its own): the recipe's model and
optimizer, ``--steps`` optimizer steps of the recipe's batch (the first ``--warmup`` not timed),
random token ids (throughput does not depend on the text). Prints a Markdown table: parameters,
training tokens/s, FLOP-based MFU against a measured matmul peak, peak RSS (CPU) or peak allocated
memory (CUDA).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time


def one(recipe_name: str, vocab: int, steps: int, warmup: int, threads: int) -> dict:
    import torch
    import torch.nn.functional as F
    from transformers import GPT2LMHeadModel

    from dnahlm_rag.model import count_params, flops_per_token, gpt2_config
    from dnahlm_rag.pretrain import load_pretrain_recipe, peak_flops, resolve_precision

    torch.set_num_threads(threads)
    r = load_pretrain_recipe(recipe_name)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(gpt2_config(r.model, vocab, 0, 0, 1)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
    fwd = torch.compile(model) if (r.train.compile and dev.type == "cuda") else model
    precision = resolve_precision(r.train.precision, dev)
    ctx = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
    B, T, A = r.train.batch_size, r.model.n_ctx, r.train.grad_accum
    if dev.type == "cpu":
        A = 1  # a step of one micro-batch is enough to time it on a CPU
    times = []
    for s in range(steps):
        t0 = time.perf_counter()
        for _ in range(A):
            x = torch.randint(0, vocab, (B, T + 1), device=dev)
            with ctx():
                logits = fwd(input_ids=x[:, :-1]).logits
            loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1))
            (loss / A).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if s >= warmup:
            times.append(time.perf_counter() - t0)
    tps = B * T * A / (sum(times) / len(times))
    peak, src = peak_flops(dev, precision)
    mem = (torch.cuda.max_memory_allocated() if dev.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"recipe": recipe_name, "vocab": vocab, "params": count_params(model), "batch": f"{B}x{T}x{A}",
            "precision": precision, "tokens_per_s": tps, "mfu": flops_per_token(model, T) * tps / peak,
            "peak_mem_mb": mem / 2**20, "device": str(dev), "threads": threads, "peak_source": src}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="tiny,cpu")
    ap.add_argument("--vocab", default="12288")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        name, vocab = a.one.split(":")
        print(json.dumps(one(name, int(vocab), a.steps, a.warmup, a.threads)))
        return
    print("| recipe | vocab | params | batch (BxTxaccum) | precision | tokens/s | MFU | peak memory MB | device, threads |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.recipes.split(","):
        for vocab in a.vocab.split(","):
            p = subprocess.run([sys.executable, __file__, "--one", f"{name}:{vocab}", "--steps", str(a.steps),
                                "--warmup", str(a.warmup), "--threads", str(a.threads)], capture_output=True, text=True)
            if p.returncode:
                print(f"| {name} | {vocab} | failed: {p.stderr.strip().splitlines()[-1]} |")
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            print(f"| {name} | {vocab} | {r['params'] / 1e6:.2f}M | {r['batch']} | {r['precision']} | {r['tokens_per_s']:,.0f} | "
                  f"{r['mfu']:.1%} | {r['peak_mem_mb']:,.0f} | {r['device']}, {r['threads']} |", flush=True)


if __name__ == "__main__":
    main()
