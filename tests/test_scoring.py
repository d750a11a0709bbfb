"""Label scoring with a reused KV cache, probabilities, the no-labels error, the exact-match parser."""
from __future__ import annotations

import math

import pytest

from dnahlm_rag.scoring import (NoLabelsError, normalize_answer, parse_label, score_labels, score_labels_naive,
                                task_labels)

from rag_fixtures import cached_tiny_model, make_task


@pytest.fixture(scope="module")
def lm():
    import torch

    from dnahlm_rag.generator import load_checkpoint

    torch.set_num_threads(1)
    return load_checkpoint(cached_tiny_model())


PROMPTS = ["### Instruction:\nWhat type of feature is this?\n\n### Input:\nACGTTGCAACGT\n\n### Response:\n",
           "### Instruction:\nWhich product?\n\n### Input:\n" + "GATTACA" * 30 + "\n\n### Response:\n",
           "Short"]
LABELS = ["CDS", "tRNA", "rRNA", "intergenic", "elongation factor Tu"]


def test_cached_scoring_equals_full_sequence_scoring(lm):
    got = score_labels(lm, PROMPTS, LABELS, batch_size=3)  # prompts of different lengths share a batch
    for p, g in zip(PROMPTS, got):
        ref = score_labels_naive(lm, p, LABELS)
        for lab in LABELS:
            assert g.logprobs[lab] == pytest.approx(ref[lab], abs=2e-4)
            # per-token log-probabilities (for retrieval mixing) add up to the label's score, eos last
            assert sum(g.token_logprobs[lab]) == pytest.approx(g.logprobs[lab], abs=1e-6)
            assert len(g.token_logprobs[lab]) == len(g.token_ids[lab]) and g.token_ids[lab][-1] == lm.tokenizer.eos_token_id
        assert g.label == max(LABELS, key=lambda x: ref[x])
    # batch size does not change a result
    one = score_labels(lm, PROMPTS, LABELS, batch_size=1)
    for a, b in zip(got, one):
        assert all(a.logprobs[k] == pytest.approx(b.logprobs[k], abs=2e-4) for k in LABELS)


def test_probabilities_sum_to_one(lm):
    for s in score_labels(lm, PROMPTS, LABELS):
        top = max(s.logprobs.values())
        probs = {k: math.exp(v - top) for k, v in s.logprobs.items()}
        z = sum(probs.values())
        assert sum(p / z for p in probs.values()) == pytest.approx(1.0)
        assert s.probability == pytest.approx(probs[s.label] / z) and s.probability == max(probs.values()) / z
        assert all(v < 0 for v in s.logprobs.values())


def test_a_task_without_labels_cannot_be_scored(lm, tmp_path):
    with pytest.raises(NoLabelsError, match="no allowed labels"):
        score_labels(lm, PROMPTS, [])
    make_task(tmp_path, "feature_type")
    assert task_labels(tmp_path, "feature_type") == ["CDS", "tRNA", "rRNA"]
    spec = (tmp_path / "tasks" / "feature_type" / "task.json")
    spec.write_text(spec.read_text().replace('"classification"', '"generation"'))
    with pytest.raises(NoLabelsError, match="'feature_type'.*cannot be scored"):
        task_labels(tmp_path, "feature_type")


def test_exact_match_parser():
    labels = ["promoter", "non-promoter", "Ala", "intergenic"]
    assert parse_label("promoter", labels) == "promoter"
    assert parse_label("  Non-Promoter.\n", labels) == "non-promoter"
    assert parse_label("ALA!", labels) == "Ala"
    assert parse_label('"intergenic"', labels) == "intergenic"
    assert parse_label("promoter region", labels) is None
    assert parse_label("Alanine", labels) is None
    assert parse_label("", labels) is None
    assert parse_label("non promoter", labels) is None
    assert normalize_answer("  A   b\tC ;") == "a b c"
