"""Next-k-mer benchmark: Markov baseline on real DNA, cached LM scoring against the naive reference,
the k-mer tokenizers, and the CLI on a tiny real-sequence dataset."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from dnahlm_rag import nextkmer as nk
from dnahlm_rag.manifest import write_manifest
from pretrain_fixtures import lambda_genome, pieces
from sft_fixtures import make_base_model


def make_nextkmer_data(root: Path, n_test: int = 600, n_valid: int = 200, seed: int = 0) -> Path:
    """``root/data``: pretraining DNA from the first 40 kb of phage lambda, next_kmer windows from the rest."""
    g = lambda_genome()
    data = root / "data"
    (data / "pretrain").mkdir(parents=True)
    (data / "pretrain" / "dna.train.txt").write_text("\n".join(pieces(g[:40000], 300, 1500, 0)) + "\n")
    (data / "pretrain" / "dna.valid.txt").write_text(g[40000:41000] + "\n")
    (data / "pretrain" / "english.train.txt").write_text("A gene is a unit of heredity.\n")
    (data / "pretrain" / "english.valid.txt").write_text("DNA is a polymer.\n")
    held = g[40000:]
    rng = random.Random(seed)
    d = data / "tasks" / "next_kmer"
    d.mkdir(parents=True)
    for split, n in (("train", 10), ("valid", n_valid), ("test", n_test)):
        starts = [rng.randrange(0, len(held) - 56) for _ in range(n)]
        rows = [{"id": f"{split}{i}:{s}", "seq": held[s:s + 50], "label": held[s + 50:s + 56]} for i, s in enumerate(starts)]
        (d / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "task.json").write_text(json.dumps({"name": "next_kmer", "kind": "generation", "question": "Next bases?",
                                             "split_policy": "random windows of the lambda tail"}))
    write_manifest(data, "data", 1, note="next_kmer test fixture")
    return data


@pytest.fixture(scope="module")
def nk_data(tmp_path_factory) -> Path:
    return make_nextkmer_data(tmp_path_factory.mktemp("nk"))


@pytest.fixture(scope="module")
def base_model(tmp_path_factory) -> Path:
    return make_base_model(tmp_path_factory.mktemp("nkmodel"), n_ctx=128)


def test_all_kmers():
    assert nk.all_kmers(1) == list("ACGT")
    assert len(nk.all_kmers(6)) == 4096 and nk.all_kmers(2)[:3] == ["AA", "AC", "AG"]


def test_markov_logprobs_match_direct_product():
    rng = np.random.default_rng(0)
    table = np.log(rng.dirichlet(np.ones(4), size=16))  # order 2
    ctx = "ACGTTGCA"
    lp = nk.markov_continuation_logprobs([ctx], 3, 2, table)[0]
    idx = {b: i for i, b in enumerate("ACGT")}
    for c in ("AAA", "GTC", "TTT"):
        s = ctx + c
        want = sum(table[idx[s[i - 2]] * 4 + idx[s[i - 1]], idx[s[i]]] for i in range(len(ctx), len(s)))
        assert lp[nk.all_kmers(3).index(c)] == pytest.approx(want)
    # probabilities over all continuations sum to 1
    assert np.exp(lp).sum() == pytest.approx(1.0)


def test_markov_beats_chance_on_real_dna(nk_data):
    from dnahlm_rag.tokenizer import sample_lines

    items = nk.read_items(nk_data, "test")
    valid = nk.read_items(nk_data, "valid")
    fit = nk.fit_markov(sample_lines(nk_data / "pretrain" / "dna.train.txt", 0), valid, m_max=6)
    assert 1 <= fit.m <= 6  # real DNA has context: order 0 is never the best fit
    ctx = [it["seq"] for it in items]
    accs = {}
    for k in (1, 2, 3):
        preds = nk.predict_argmax(nk.markov_continuation_logprobs(ctx, k, fit.m, fit.table), k)
        accs[k] = nk.accuracy_row(preds, items, k, n_boot=500, seed=0)
    # better than a uniform guess, beyond the 95% interval
    assert accs[1]["ci95"][0] > 0.25, accs
    assert accs[2]["ci95"][0] > 1 / 16, accs


def test_cached_scoring_equals_naive(base_model):
    import torch

    from dnahlm_rag.checkpoint import load_lm

    torch.set_num_threads(1)
    model, tok, _ = load_lm(base_model)
    g = lambda_genome()
    for batch_rows in (512, 3):  # one chunk, and many chunks
        scorer = nk.LMScorer.from_tokenizer(model, tok, batch_rows=batch_rows)
        for start in (100, 7000):
            ctx = g[start:start + 50]
            cands = nk.all_kmers(3)
            fast = nk.score_continuations(scorer, ctx, cands)
            slow = nk.score_naive(scorer, [ctx + c for c in cands])
            np.testing.assert_allclose(fast, slow, rtol=0, atol=2e-4)
    # the continuation really re-tokenizes the end of the window in some candidates
    ids = scorer.full_ids([ctx] + [ctx + c for c in cands])
    assert any(x[:len(ids[0])] != ids[0] for x in ids[1:])


def test_kmer_tokenizers_round_trip_and_train(nk_data, tmp_path):
    import torch

    from dnahlm_rag.nextkmer import AblationConfig, ablation_recipe, save_kmer_tokenizer
    from dnahlm_rag.pretrain import pretrain
    from dnahlm_rag.tokenizer import load_tokenizer

    for k in (1, 6):
        tok = nk.build_kmer_tokenizer(k)
        for s in ("", "A", "ACGTACGTAC", "The GATA factor binds café DNA.\nACGTN"):
            assert tok.decode(tok.encode(s).ids) == s
    t6 = nk.build_kmer_tokenizer(6)
    assert t6.encode("ACGTACGTACGTAA").tokens == ["ACGTAC", "GTACGT", "AA"]
    assert nk.build_kmer_tokenizer(1).encode("ACG").tokens == ["A", "C", "G"]
    folder = save_kmer_tokenizer(6, tmp_path / "kmer6")
    hf = load_tokenizer(folder)  # the project's loader accepts it (manifest, special tokens)
    assert hf.eos_token_id == 0 and hf.pad_token_id == 1
    torch.set_num_threads(1)
    recipe = ablation_recipe(AblationConfig(max_steps=3, batch_size=2, dna_train_mb=0.01))
    res = pretrain(recipe, nk_data, folder, tmp_path / "run", threads=1, progress=False)
    assert res.finished and (tmp_path / "run" / "final" / "model.safetensors").is_file()


def test_cli_bench_next_kmer(nk_data, base_model, tmp_path):
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app

    out = tmp_path / "bench"
    args = ["bench", "next-kmer", "--data", str(nk_data), "--model", str(base_model),
            "--n", "4", "--n-valid", "50", "--markov-train-mb", "0", "--m-max", "4",
            "--out", str(out), "--threads", "1", "--quiet"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rep = json.loads((out / "next_kmer.json").read_text())
    assert rep["n"] == 4 and set(rep["systems"]["chance"]) == {str(k) for k in nk.KS}
    lm = [v for n, v in rep["systems"].items() if n.startswith("LM")][0]
    assert all(0.0 <= lm[str(k)]["accuracy"] <= 1.0 for k in nk.KS)
    assert "k=6" in (out / "next_kmer.md").read_text()
    assert rep["settings"]["model_sha256"] and rep["settings"]["config"]["n"] == 4
    # the same settings, data and model again: the report is reused, not recomputed
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and "reusing" in r.output and json.loads((out / "next_kmer.json").read_text()) == rep
    # other settings (or --force) recompute
    r = CliRunner().invoke(app, [*args[:7], "5", *args[8:]])
    assert r.exit_code == 0 and "reusing" not in r.output and json.loads((out / "next_kmer.json").read_text())["n"] == 5
    r = CliRunner().invoke(app, ["bench", "next-kmer", "--data", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "error:" in r.output


def test_fast_counts_equal_markov_fit():
    from dnahlm_rag.markov import MarkovModel

    lines = pieces(lambda_genome()[:20000], 50, 900, 3)
    ref = MarkovModel.fit(lines, 4)
    fast = nk._fit_counts(lines, 4, chunk_bases=3000)
    for a, b in zip(ref.counts, fast.counts):
        np.testing.assert_array_equal(a, b)


def test_cli_bench_refuses_bad_numbers_and_outputs_before_any_work(nk_data, tmp_path, monkeypatch):
    """--n -1, --m-max -1 and a NaN --markov-train-mb once gave tracebacks; an --out under a file
    failed only after the whole benchmark had run."""
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app

    monkeypatch.setattr(nk, "run_benchmark", lambda *a, **k: pytest.fail("no work for a bad command"))
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    base = ["bench", "next-kmer", "--data", str(nk_data), "--no-lm", "--quiet", "--out", str(tmp_path / "b")]
    for extra, message in ((["--n", "-1"], "--n"), (["--m-max", "-1"], "--m-max"), (["--m-max", "40"], "--m-max"),
                           (["--markov-train-mb", "nan"], "--markov-train-mb"), (["--threads", "-2"], "--threads"),
                           (["--out", str(blocker / "x")], "afile is a file, not a folder")):
        r = CliRunner().invoke(app, base + extra)
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, (extra, r.output)
