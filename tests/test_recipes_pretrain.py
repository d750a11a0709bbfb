"""Every recipe in recipes/pretrain/ loads into the dataclass; bad keys and types name the key."""
from __future__ import annotations

import dataclasses

import pytest

from dnahlm_rag.errors import RecipeError
from dnahlm_rag.model import gpt2_config
from dnahlm_rag.pretrain import PretrainRecipe, load_pretrain_recipe
from dnahlm_rag.recipes import RECIPES_DIR, list_recipes
from dnahlm_rag.tokenizer import TokenizerRecipe, load_tokenizer_recipe

DEFAULT_VOCAB = TokenizerRecipe().vocab_size


def n_params(recipe: PretrainRecipe, vocab: int = DEFAULT_VOCAB) -> int:
    """Parameters from the shapes alone (no weights allocated): tied embeddings counted once."""
    import torch
    from transformers import GPT2LMHeadModel

    with torch.device("meta"):
        m = GPT2LMHeadModel(gpt2_config(recipe.model, vocab, 0, 0, 1))
    return sum(p.numel() for p in m.parameters())


def test_the_four_recipes_exist():
    assert {"tiny", "cpu", "gpu-small", "gpt2-124m"} <= set(list_recipes("pretrain"))


@pytest.mark.parametrize("name", list_recipes("pretrain"))
def test_every_recipe_loads_and_matches_the_dataclass(name):
    r = load_pretrain_recipe(name)
    assert r.name == name
    names = {f.name for f in dataclasses.fields(PretrainRecipe)}
    assert set(dataclasses.asdict(r)) == names
    assert r.model.n_embd % r.model.n_head == 0
    assert 0 < r.train.dna_fraction < 1


def test_sizes_are_what_the_names_promise():
    assert 20e6 <= n_params(load_pretrain_recipe("gpu-small")) <= 30e6
    big = load_pretrain_recipe("gpt2-124m")
    assert (big.model.n_layer, big.model.n_embd, big.model.n_head, big.model.n_ctx) == (12, 768, 12, 1024)
    # 124M with GPT-2's 50,257 tokens; the same shape with our tokenizer is smaller
    assert 123e6 <= n_params(big, 50257) <= 125e6
    assert n_params(load_pretrain_recipe("tiny")) < 1e6


def train_tokens(r: PretrainRecipe) -> int:
    return r.train.max_steps * r.train.batch_size * r.train.grad_accum * r.model.n_ctx


def test_cpu_long_is_the_cpu_model_on_more_tokens_and_more_data():
    """The released base's recipe: same model as the demo's `cpu`, only trained longer on larger samples."""
    cpu, long = load_pretrain_recipe("cpu"), load_pretrain_recipe("cpu-long")
    assert long.model == cpu.model
    assert train_tokens(long) >= 6 * train_tokens(cpu)
    assert long.data.dna_train_mb > cpu.data.dna_train_mb and long.data.english_train_mb > cpu.data.english_train_mb
    assert long.train.dna_fraction == cpu.train.dna_fraction


def test_cpu_long2_continues_cpu_long_on_a_disjoint_sample():
    """Same model and sample sizes as cpu-long, as many tokens again, the other lines of each file."""
    long, long2 = load_pretrain_recipe("cpu-long"), load_pretrain_recipe("cpu-long2")
    assert long2.continues == "cpu-long" and not long.continues
    assert long2.model == long.model and train_tokens(long2) == train_tokens(long)
    assert (long2.data.dna_train_mb, long2.data.english_train_mb) == (long.data.dna_train_mb, long.data.english_train_mb)
    assert long2.data.sample_offset != long.data.sample_offset
    assert long2.train.lr < long.train.lr  # a warm start re-warms to a lower peak


def test_a_recipe_cannot_continue_itself(tmp_path):
    with pytest.raises(RecipeError, match="continue itself"):
        load_pretrain_recipe(write(tmp_path, 'continues = "x"\n'))


def test_default_tokenizer_recipe_loads():
    assert load_tokenizer_recipe("default").vocab_size == DEFAULT_VOCAB


def write(tmp_path, text):
    p = tmp_path / "r.toml"
    p.write_text('name = "x"\n' + text)
    return p


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(RecipeError, match="train.learning_rate"):
        load_pretrain_recipe(write(tmp_path, "[train]\nlearning_rate = 1e-3\n"))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(RecipeError, match="model.n_layer"):
        load_pretrain_recipe(write(tmp_path, '[model]\nn_layer = "four"\n'))


def test_bad_values_are_named(tmp_path):
    with pytest.raises(RecipeError, match="train.precision"):
        load_pretrain_recipe(write(tmp_path, '[train]\nprecision = "fp16"\n'))
    with pytest.raises(RecipeError, match="model.n_head"):
        load_pretrain_recipe(write(tmp_path, "[model]\nn_embd = 100\nn_head = 3\n"))
    with pytest.raises(RecipeError, match="dna_fraction"):
        load_pretrain_recipe(write(tmp_path, "[train]\ndna_fraction = 1.5\n"))


def test_recipes_dir_is_in_the_repo():
    assert (RECIPES_DIR / "pretrain" / "cpu.toml").is_file()
