"""DnaHlmLLM: completion only, stop sequences, seeded sampling, left truncation, batching."""
from __future__ import annotations

import torch

from dnahlm_rag.generator import load_checkpoint, prompt_ids
from dnahlm_rag.llm import DnaHlmLLM

from rag_fixtures import cached_tiny_model

torch.set_num_threads(1)
MODEL = cached_tiny_model()
PROMPT = "### Instruction:\nWhat is the product of this gene?\n\n### Input:\nACGTTGCAAGT\n\n### Response:\n"


def _llm(**kw) -> DnaHlmLLM:
    return DnaHlmLLM(model_dir=str(MODEL), max_new_tokens=12, **kw)


def test_completion_excludes_prompt_and_matches_hf_greedy() -> None:
    llm = _llm()
    out = llm.invoke(PROMPT)
    assert isinstance(out, str) and PROMPT not in out
    lm = load_checkpoint(MODEL)
    ids = torch.tensor([prompt_ids(lm, [PROMPT], 12)[0]])
    ref = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                            pad_token_id=lm.pad_id, eos_token_id=lm.tokenizer.eos_token_id)
    assert out == lm.tokenizer.decode(ref[0, ids.shape[1]:], skip_special_tokens=True)
    assert llm._llm_type == "dnahlm-gpt2" and llm._identifying_params["temperature"] == 0.0


def test_stop_sequences_cut_the_completion() -> None:
    llm = _llm(temperature=1.0, seed=1)
    full = llm.invoke(PROMPT)
    assert len(full) >= 4
    stop = full[2:4]
    cut = llm.invoke(PROMPT, stop=[stop])
    assert stop not in cut and cut == full[: full.find(stop)]


def test_seeded_sampling_is_deterministic_and_batch_independent() -> None:
    a = _llm(temperature=1.0, seed=5)
    prompts = [PROMPT, "ACGT", "GGGCCC ### Response:\n"]
    one = a.invoke(PROMPT)
    assert one == _llm(temperature=1.0, seed=5).invoke(PROMPT)
    assert a.batch(prompts)[0] == one  # the same prompt's sample does not depend on its batch
    others = {_llm(temperature=1.0, seed=s).invoke(PROMPT) for s in range(6, 10)}
    assert len(others | {one}) > 1


def test_greedy_batch_equals_one_by_one() -> None:
    llm = _llm(batch_size=3)
    prompts = [PROMPT, "ACGTACGTAC", "the", PROMPT + "x"]
    assert llm.batch(prompts) == [llm.invoke(p) for p in prompts]


def test_finish_reason_says_why_each_completion_ended() -> None:
    """"length" when max_new_tokens tokens were generated, "stop" at a stop string, "eos" at end
    of text; LangChain's generate carries it in generation_info."""
    from types import SimpleNamespace

    from dnahlm_rag.generator import LoadedModel, complete

    lm = load_checkpoint(MODEL)
    c = complete(lm, [PROMPT], max_new_tokens=3)[0]
    assert c.finish_reason == "length" or (c.finish_reason == "eos" and len(lm.tokenizer(c.text)["input_ids"]) < 3)
    full = complete(lm, [PROMPT], max_new_tokens=12, temperature=1.0, seed=1)[0].text
    cut = complete(lm, [PROMPT], max_new_tokens=12, temperature=1.0, seed=1, stop=[full[2:4]])[0]
    assert cut.finish_reason == "stop" and cut.text == full[: full.find(full[2:4])]

    eos, word = lm.tokenizer.eos_token_id, lm.tokenizer("A", add_special_tokens=False)["input_ids"][0]

    class TwoTokensThenEos(torch.nn.Module):  # says "A", "A", then end of text
        def forward(self, input_ids, past_key_values=None, **kw):
            step = 0 if past_key_values is None else past_key_values + 1
            logits = torch.zeros(input_ids.shape[0], 1, len(lm.tokenizer))
            logits[:, -1, word if step < 2 else eos] = 1.0
            return SimpleNamespace(logits=logits, past_key_values=step)

    fake = LoadedModel(model=TwoTokensThenEos(), tokenizer=lm.tokenizer, device="cpu", context=lm.context)
    assert complete(fake, ["x"], max_new_tokens=8)[0] == complete(fake, ["x"], max_new_tokens=8)[0]
    assert complete(fake, ["x"], max_new_tokens=8)[0].finish_reason == "eos"
    assert complete(fake, ["x"], max_new_tokens=2)[0].finish_reason == "length"
    res = _llm().generate([PROMPT])
    assert res.generations[0][0].generation_info["finish_reason"] in ("eos", "stop", "length")


def test_long_prompt_is_left_truncated_keeping_the_response_marker() -> None:
    llm = _llm()
    lm = llm.loaded
    long_prompt = "ACGT" * 1500 + PROMPT  # far beyond the 512-token context
    ids = prompt_ids(lm, [long_prompt], 12)[0]
    assert len(ids) == lm.context - 12
    assert lm.tokenizer.decode(ids).endswith("### Response:\n")
    out = llm.invoke(long_prompt)
    assert isinstance(out, str)


def test_model_folder_that_is_a_file_says_so(tmp_path) -> None:
    import pytest

    from dnahlm_rag.errors import DnaHlmError
    from dnahlm_rag.generator import check_checkpoint

    f = tmp_path / "model.bin"
    f.write_text("x")
    with pytest.raises(DnaHlmError, match="is a file, not a folder"):
        check_checkpoint(f)
    with pytest.raises(DnaHlmError, match="does not exist"):
        check_checkpoint(tmp_path / "none")
