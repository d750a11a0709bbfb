"""Retrieval mixing: the label mixture, the neighbours' next-token prior, mixed decoding, the fit."""
from __future__ import annotations

import json
import math

import pytest

from dnahlm_rag.errors import DnaHlmError
from dnahlm_rag.scoring import LabelScore
from dnahlm_rag.retrieval_mix import (GRID, MIX_FILE, FitConfig, MixTable, NeighbourPrior, best_label, choose_lambda,
                                      closed_correctness, fit_mix, mix_label_probs)
from sft_fixtures import make_base_model, make_task_data


def _score(first: dict[str, float], ids: dict[str, int]) -> LabelScore:
    """Single-token labels (then eos = 0) whose first token has the model probability ``first``."""
    return LabelScore(label="", probability=0.0, logprobs={},
                      token_ids={lab: [ids[lab], 0] for lab in first},
                      token_logprobs={lab: [math.log(p), math.log(0.9)] for lab, p in first.items()})


def test_mix_label_probs_ends():
    ids = {"a": 10, "b": 11, "c": 12}
    sc = _score({"a": 0.7, "b": 0.2, "c": 0.1}, ids)
    votes = NeighbourPrior([[12, 0], [12, 0], [11, 0]])  # c, c, b
    alone = mix_label_probs(sc, votes, 0.0)
    assert alone == pytest.approx({"a": 0.7, "b": 0.2, "c": 0.1})
    vote = mix_label_probs(sc, votes, 1.0)
    assert vote == pytest.approx({"a": 0.0, "b": 1 / 3, "c": 2 / 3}, abs=1e-3)
    # half and half, whole answers: 0.5 * P_nb(label) + 0.5 * P_lm(label), P_lm = first token x eos 0.9
    half = mix_label_probs(sc, votes, 0.5)
    raw = {"a": 0.5 * 0.7 * 0.9, "b": 0.5 / 3 + 0.5 * 0.2 * 0.9, "c": 0.5 * 2 / 3 + 0.5 * 0.1 * 0.9}
    assert half == pytest.approx({k: v / sum(raw.values()) for k, v in raw.items()}, rel=1e-3)
    assert sum(half.values()) == pytest.approx(1.0) and best_label(half) == "c"
    # answers outside the label set scale every label alike: the model's ranking is kept
    other = NeighbourPrior([[99, 0]])
    assert mix_label_probs(sc, other, 0.9) == pytest.approx(alone)
    # at weight 1 a tie of the neighbours goes to the nearer one (listed first), as in the kNN vote,
    # against the model; a count is never overturned by rank
    tie = NeighbourPrior([[11, 0], [12, 0]])
    assert best_label(mix_label_probs(_score({"b": 0.1, "c": 0.9}, ids), tie, 1.0)) == "b"
    two = NeighbourPrior([[11, 0]] + [[12, 0]] * 2)
    assert best_label(mix_label_probs(_score({"b": 0.9, "c": 0.1}, ids), two, 1.0)) == "c"
    # the model still separates labels no neighbour gave
    none = NeighbourPrior([[99, 0]])
    assert best_label(mix_label_probs(_score({"b": 0.2, "c": 0.8}, ids), none, 1.0)) == "c"
    with pytest.raises(DnaHlmError, match=r"\[0, 1\]"):
        mix_label_probs(sc, votes, 1.5)


def test_closed_correctness_rows_are_items_columns_are_weights():
    """The model favours "a", the neighbours "c": right at one end of GRID, wrong at the other."""
    ids = {"a": 10, "b": 11, "c": 12}
    scored = [_score({"a": 0.7, "b": 0.2, "c": 0.1}, ids)] * 2
    priors = [NeighbourPrior([[12, 0], [12, 0]])] * 2
    ok = closed_correctness(scored, priors, ["a", "c"])
    assert ok.shape == (2, len(GRID)) and ok.dtype == bool
    assert ok[0, 0] and not ok[0, -1]  # gold "a": the model alone is right, the vote is not
    assert not ok[1, 0] and ok[1, -1]  # gold "c": the other way round
    assert (ok[0] != ok[1]).all()  # one answer per weight, so exactly one of the two items is right
    assert closed_correctness([], [], []).shape == (0, len(GRID))


def test_multi_token_labels_are_not_charged_per_token():
    """A two-token label the neighbours gave weighs as much as a one-token one (format 4): a fixed
    per-token weight charged its second token (1 - lam) again, and scoring disagreed with greedy
    generation."""
    ids = {"Ala": [10, 0], "Met": [20, 21, 0]}
    sc = LabelScore(label="", probability=0.0, logprobs={}, token_ids=ids,
                    token_logprobs={"Ala": [math.log(0.30), 0.0], "Met": [math.log(0.32), math.log(0.99), 0.0]})
    votes = NeighbourPrior([[10, 0], [20, 21, 0]])  # Ala nearer, then Met
    probs = mix_label_probs(sc, votes, 0.9)
    assert best_label(probs) == "Met"  # 0.9 / 2 + 0.1 * 0.3168 beats 0.9 / 2 + 0.1 * 0.30
    assert votes.prefix_mass([20]) == pytest.approx(0.5, abs=1e-3) and votes.prefix_mass([]) == 1.0
    assert votes.answer_prob([20, 21, 0]) == pytest.approx(0.5, abs=1e-3) and votes.answer_prob([20]) == 0.0


def test_posterior_weight_follows_the_prefix():
    from dnahlm_rag.retrieval_mix import posterior_weight

    assert posterior_weight(0.9, 1.0, 0.0) == pytest.approx(0.9)
    # after a prefix the model found likely (P_lm 0.5) and half the neighbours share: 0.45 / (0.45 + 0.05)
    assert posterior_weight(0.9, 0.5, math.log(0.5)) == pytest.approx(0.9)
    assert posterior_weight(0.5, 0.5, math.log(1e-9)) == pytest.approx(1.0, abs=1e-6)  # the model left it
    assert posterior_weight(0.5, 0.0, 0.0) == 0.0 and posterior_weight(0.0, 1.0, 0.0) == 0.0


def test_best_label_ties_go_first():
    assert best_label({"x": 0.5, "y": 0.5}) == "x"


def test_neighbour_prior_follows_prefixes():
    nb = NeighbourPrior([[1, 2, 9], [1, 3, 9], [1, 2, 9], [4, 9]])
    assert nb.next_token_probs([]) == pytest.approx({1: 0.75, 4: 0.25}, abs=1e-3)
    assert nb.next_token_probs([1]) == pytest.approx({2: 2 / 3, 3: 1 / 3}, abs=1e-3)
    assert nb.next_token_probs([1])[2] > 2 / 3  # the nearest answer is among the 2s
    assert nb.next_token_probs([1, 2]) == {9: 1.0}
    assert nb.next_token_probs([1, 2, 9]) == {}  # every answer is finished
    assert nb.next_token_probs([7]) == {}  # the model left the neighbours' answers


def test_choose_lambda_prefers_the_neighbours_on_ties():
    assert choose_lambda({0.0: 0.5, 0.3: 0.8, 0.6: 0.8, 1.0: 0.7}) == 0.6
    assert choose_lambda({0.0: 0.9, 0.5: 0.2}) == 0.0
    with pytest.raises(DnaHlmError):
        choose_lambda({})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("mix")
    return root, make_task_data(root, n_train=40), make_base_model(root, n_ctx=256)


def test_mixed_generation_copies_the_neighbours_at_lambda_one(tiny):
    from dnahlm_rag.generator import generate, load_checkpoint

    _, _, model = tiny
    lm = load_checkpoint(model)
    prompts = ["### Instruction:\nWhat is it?\n\n### Input:\nACGTACGT\n\n### Response:\n"] * 2 + ["hello"]
    answers = [["GC-rich", "AT-rich", "GC-rich"], ["AT-rich"], ["DNA polymerase III subunit alpha"]]
    priors = [NeighbourPrior.from_answers(lm.tokenizer, a) for a in answers]
    out = generate(lm, prompts, max_new_tokens=40, priors=priors, mix=1.0, batch_size=2)
    assert out == ["GC-rich", "AT-rich", "DNA polymerase III subunit alpha"]
    # mix 0 is the model alone, priors or not
    assert generate(lm, prompts, max_new_tokens=6, priors=priors, mix=0.0) == generate(lm, prompts, max_new_tokens=6)
    with pytest.raises(DnaHlmError, match="priors"):
        generate(lm, prompts, priors=priors[:1], mix=0.5)


def test_mixed_generation_agrees_with_mixed_label_scoring(tiny):
    """Greedy generation and label scoring answer from one distribution whatever the labels' token
    lengths: the vote's winner is both the generated and the best-scored answer. (Under the old
    per-token weight, format 3, every further token of the long label cost a factor of about lam,
    so scoring chose the short label with a third of the vote while generation chose the long one.)"""
    from dnahlm_rag.generator import generate, load_checkpoint
    from dnahlm_rag.scoring import score_labels

    _, _, model = tiny
    lm = load_checkpoint(model)
    labels = ["AT-rich", "DNA polymerase III subunit alpha"]
    n_tok = [len(lm.tokenizer(lab, add_special_tokens=False)["input_ids"]) for lab in labels]
    assert n_tok[0] < n_tok[1]
    prompts = [f"### Instruction:\nWhat is it?\n\n### Input:\n{s}\n\n### Response:\n"
               for s in ("ACGTACGT", "GGGCCCGG", "ATATATTA", "TTTTCCCC")]
    votes = [[labels[0], labels[1], labels[1]], [labels[1], labels[0], labels[0]],
             [labels[1], labels[1], labels[0]], [labels[0], labels[0], labels[1]]]
    priors = [NeighbourPrior.from_answers(lm.tokenizer, v) for v in votes]
    scored = score_labels(lm, prompts, labels)
    for lam in (0.3, 0.6, 0.9):
        want = [best_label(mix_label_probs(s, p, lam)) for s, p in zip(scored, priors)]
        assert want == [labels[1], labels[0], labels[1], labels[0]], lam  # the vote's winner
        assert generate(lm, prompts, max_new_tokens=n_tok[1] + 2, priors=priors, mix=lam) == want, lam


def test_fit_table_and_eval_cells(tiny, tmp_path):
    from dnahlm_rag.evaluate import EvalConfig, run_eval

    root, data, model = tiny
    cfg = FitConfig(tasks=["gc", "nextb"], k=3, max_items=10, threads=1, open_max_new_tokens=4,
                    prompts_dir=str(root / "task_prompts"))
    table = fit_mix(data, model, cfg, progress=False)
    # a task held out of tuning and a question without one: the neighbours decide (UNTUNED_LAMBDA)
    assert set(table.tasks) == {"gc", "nextb"} and table.default == 1.0 and "_mean_closed" in table.curves
    assert set(table.curves["gc"]) == {str(round(0.1 * i, 1)) for i in range(11)}
    assert table.lam_for("half") == table.default and table.lam_for(None) == table.default
    # an untrained model knows nothing: on gc its neighbours' vote must not lose to it by much
    assert table.curves["gc"]["1.0"] >= table.curves["gc"]["0.0"] - 0.2
    with pytest.raises(DnaHlmError, match="held out of tuning"):
        fit_mix(data, model, FitConfig(tasks=["half"], prompts_dir=str(root / "task_prompts")), progress=False)
    # saved beside the weights, checked against them on load
    table.save(model)
    try:
        assert MixTable.load(model) == table
        ecfg = EvalConfig(tasks=["gc", "half"], modes=["knn", "sft-plain", "sft-rag", "sft-rag-mix"], ks=[3],
                          phrasings=["seen"], max_items=10, n_boot=20, batch_size=8, threads=1, sft_model=str(model),
                          prompts_dir=str(root / "task_prompts"))
        res = run_eval(data, tmp_path / "eval", ecfg, progress=False)
        mix = res["tasks"]["gc"]["cells"]["gc__sft-rag-mix-k3__seen"]
        assert mix["mix_lambda"] == table.tasks["gc"] and 0 <= mix["format_valid_rate"] <= 1
        half = res["tasks"]["half"]["cells"]["half__sft-rag-mix-k3__seen"]
        assert half["mix_lambda"] == table.default and half["zero_shot"] == "task"
        assert any(c["a"] == "sft-rag-mix-k3" for c in res["tasks"]["gc"]["comparisons"])
        # a table fitted for other weights is refused
        d = json.loads((model / MIX_FILE).read_text())
        d["model_sha256"] = "0" * 64
        (model / MIX_FILE).write_text(json.dumps(d))
        with pytest.raises(DnaHlmError, match="other weights"):
            MixTable.load(model)
    finally:
        (model / MIX_FILE).unlink()


def test_fit_with_no_tasks_is_refused_and_keeps_the_table(tiny):
    _, data, model = tiny
    table = model / MIX_FILE
    table.write_text('{"kept": true}')
    with pytest.raises(DnaHlmError, match="no tasks to fit"):
        fit_mix(data, model, FitConfig(tasks=[]), progress=False)
    assert json.loads(table.read_text()) == {"kept": True}
    table.unlink()
