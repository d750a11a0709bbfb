"""GPT-2 from a recipe: explicit special ids, SDPA, no dropout; load_lm round trip."""
from __future__ import annotations

import pytest
import torch
from pretrain_fixtures import lm_data, lm_tokenizer, tiny_run  # noqa: F401

from dnahlm_rag.errors import ManifestError, RecipeError
from dnahlm_rag.model import ModelConfig, build_model, count_params, flops_per_token, gpt2_config, load_lm, padded_vocab
from dnahlm_rag.tokenizer import load_tokenizer


def test_config_sets_special_ids_and_house_choices():
    c = gpt2_config(ModelConfig(n_layer=2, n_embd=64, n_head=2, n_ctx=32), 1000, 0, 0, 1)
    assert (c.bos_token_id, c.eos_token_id, c.pad_token_id) == (0, 0, 1)
    assert c.vocab_size == 1024 and c.n_positions == 32
    assert c.activation_function == "gelu_pytorch_tanh"
    assert c.resid_pdrop == c.embd_pdrop == c.attn_pdrop == 0.0
    assert c._attn_implementation == "sdpa"


def test_head_must_divide_width():
    with pytest.raises(RecipeError, match="n_head"):
        gpt2_config(ModelConfig(n_embd=100, n_head=3), 1000, 0, 0, 1)


def test_padded_vocab():
    assert padded_vocab(1000, 64) == 1024 and padded_vocab(1024, 64) == 1024 and padded_vocab(7, 1) == 7


def test_build_is_seeded_and_counts(lm_tokenizer):
    torch.set_num_threads(1)
    tok = load_tokenizer(lm_tokenizer)
    cfg = ModelConfig(n_layer=1, n_embd=32, n_head=2, n_ctx=16)
    a, b = build_model(cfg, tok, seed=5), build_model(cfg, tok, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.lm_head.weight.data_ptr() == a.transformer.wte.weight.data_ptr()  # tied
    assert count_params(a) == count_params(a, non_embedding=True) + (1024 + 16) * 32
    assert flops_per_token(a, 16) > 6 * count_params(a, non_embedding=True)
    assert a.generation_config.pad_token_id == 1


def test_load_lm_returns_the_trained_model(tiny_run):
    out, res = tiny_run
    model, tok, meta = load_lm(out / "final")
    assert not model.training and meta["step"] == res.steps and meta["recipe_name"] == "tiny"
    assert tok.pad_token_id == model.config.pad_token_id == 1
    ids = tok("ACGTTGCA the", return_tensors="pt").input_ids
    with torch.no_grad():
        gen = model.generate(torch.cat([torch.tensor([[tok.bos_token_id]]), ids], 1), max_new_tokens=3, do_sample=False)
    assert gen.shape[1] == ids.shape[1] + 4


def test_load_lm_refuses_a_foreign_tokenizer(tiny_run, tmp_path):
    import shutil

    out, _ = tiny_run
    copy = tmp_path / "final"
    shutil.copytree(out / "final", copy)
    with open(copy / "tokenizer.json", "a") as f:
        f.write(" ")
    with pytest.raises(ManifestError, match="tokenizer"):
        load_lm(copy)


@pytest.mark.slow
def test_gpt2_124m_shape_trains_one_step_on_cpu():
    from dnahlm_rag.pretrain import load_pretrain_recipe
    from transformers import GPT2LMHeadModel

    r = load_pretrain_recipe("gpt2-124m")
    m = GPT2LMHeadModel(gpt2_config(r.model, 50257, 50256, 50256, 50256))
    assert 123e6 < count_params(m) < 125e6
    x = torch.randint(0, 50257, (1, 64))
    out = m(input_ids=x, labels=x)
    out.loss.backward()
    assert torch.isfinite(out.loss)
