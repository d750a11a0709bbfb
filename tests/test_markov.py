"""Order-k Markov baseline: correctness on small cases, and real DNA below 2 bits/base."""
from __future__ import annotations

import math

import numpy as np
import pytest
from pretrain_fixtures import lambda_genome, pieces

from dnahlm_rag.errors import InvalidSequenceError
from dnahlm_rag.markov import MarkovConfig, MarkovModel, baseline_report, fit_best


def test_matches_hand_computed_probabilities():
    m = MarkovModel.fit(["AACAG"], k=1, alpha=1.0)
    # order-1 counts over positions 1..4: A->A, A->C, C->A, A->G
    # P(first A) uses the order-0 marginal of those counts: A:2 C:1 G:1 T:0 -> (2+1)/(4+4)
    lp = m.log2_probs("AC")
    assert lp[0] == pytest.approx(math.log2(3 / 8))
    assert lp[1] == pytest.approx(math.log2((1 + 1) / (3 + 4)))  # after A: A1 C1 G1 T0


def test_periodic_sequence_is_nearly_free():
    m = MarkovModel.fit(["ACGT" * 500], k=3, alpha=0.01)
    assert m.bits_per_base(["ACGT" * 50]) < 0.1


def test_non_acgt_is_an_error_naming_the_position():
    with pytest.raises(InvalidSequenceError, match="position 2"):
        MarkovModel.fit(["ACNT"], k=1)


def test_real_dna_beats_two_bits_per_base_and_k_is_chosen_on_training_dna():
    g = lambda_genome()
    train, heldout = pieces(g[:-4000], 300, 1500, 0), pieces(g[-4000:], 300, 1500, 1)
    rep = baseline_report(train, heldout, MarkovConfig(k_max=6))
    assert rep["heldout_bits_per_base"] < 2.0
    assert rep["heldout_bases"] == sum(map(len, heldout))
    assert 1 <= rep["k"] <= 6
    # the choice is the minimum of the search, which ran on training lines only
    best = min(rep["search"], key=lambda s: s["val_bits_per_base"])
    assert (best["k"], best["alpha"]) == (rep["k"], rep["alpha"])


def test_fit_best_never_sees_heldout():
    train = ["ACGT" * 100] * 20
    _, info = fit_best(train, MarkovConfig(k_max=3, alphas=(0.1,)))
    assert info["fit_bases"] == 8000 and info["val_lines"] == 1


def test_short_lines_use_shorter_contexts():
    m = MarkovModel.fit(["ACGTTGCA" * 50], k=4, alpha=0.5)
    lp = m.log2_probs("AC")  # shorter than k: scored with orders 0 and 1
    assert lp.shape == (2,) and np.all(lp < 0)


def test_cli_markov_reports_the_baseline(tmp_path):
    import json

    from pretrain_fixtures import make_data_dir
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app

    data = make_data_dir(tmp_path / "data")
    r = CliRunner().invoke(app, ["markov", "--data", str(data), "--recipe", "tiny", "--k-max", "5", "--out", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "m.json").read_text())
    assert rep["heldout_bits_per_base"] < 2.0 and "bits/base" in r.output


def test_k_max_out_of_range_and_out_folder_are_refused_before_work(tmp_path):
    from pretrain_fixtures import make_data_dir
    from typer.testing import CliRunner

    from dnahlm_rag.cli.app import app
    from dnahlm_rag.errors import DnaHlmError

    for k in (-1, 13):
        with pytest.raises(DnaHlmError, match=r"--k-max\) must lie in 0..12"):
            fit_best(["ACGT" * 10] * 4, MarkovConfig(k_max=k))
    data = make_data_dir(tmp_path / "data")
    r = CliRunner().invoke(app, ["markov", "--data", str(data), "--recipe", "tiny", "--out", str(tmp_path)])
    assert r.exit_code == 2 and r.output.startswith("error: --out") and "is a folder" in r.output, r.output
    assert "markov k" not in r.output  # refused before the search ran
