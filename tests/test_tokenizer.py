"""The DNA+English byte-level BPE: pre-splitting, round trips, HF loading, measured metrics."""
from __future__ import annotations

import json

import pytest
from pretrain_fixtures import lambda_genome, lm_data, lm_tokenizer  # noqa: F401
from typer.testing import CliRunner

from dnahlm_rag.cli.app import app
from dnahlm_rag.errors import DnaHlmError, ManifestError
from dnahlm_rag.manifest import read_manifest
from dnahlm_rag.tokenizer import (EOT, PAD, TokenizerRecipe, load_tokenizer, pre_tokenize_str, sample_lines,
                                  split_pattern, train_bpe)


def test_long_dna_run_is_cut_into_chunks():
    run = lambda_genome()[:2000]
    pieces = pre_tokenize_str(run, dna_chunk=32)
    assert "".join(pieces) == run
    assert len(pieces) == 63 and max(map(len, pieces)) == 32


def test_english_words_are_never_cut_by_the_dna_rule():
    text = "The instruction: DNA binds GATA and TATA boxes, GATTACAX, sCAT, 3'-UTR."
    pieces = pre_tokenize_str(text, dna_chunk=8)
    assert "".join(pieces) == text
    for word in (" instruction", " DNA", " GATA", " TATA", " GATTACAX", " sCAT"):
        assert word in pieces, (word, pieces)


def test_dna_after_a_space_is_chunked_too():
    pieces = pre_tokenize_str("seq: " + "ACGT" * 10, dna_chunk=16)
    assert pieces[-3:] == [" " + "ACGT" * 4, "ACGT" * 4, "ACGT" * 2]


def test_chunk_must_be_positive():
    with pytest.raises(DnaHlmError):
        split_pattern(0)


@pytest.mark.parametrize("text", ["", "A", "é", "日本語 DNA ✓\n\ttabs  and  spaces", "ACGTN" * 50,
                                  "<|endoftext|> is text here", "  leading and trailing  "])
def test_round_trip_edge_cases(lm_tokenizer, text):
    tok = load_tokenizer(lm_tokenizer)
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_round_trip_long_real_dna_and_many_tokens(lm_tokenizer):
    tok = load_tokenizer(lm_tokenizer)
    g = lambda_genome()
    ids = tok.encode(g, add_special_tokens=False)
    assert tok.decode(ids) == g
    run2k = g[10_000:12_000]
    n = len(tok.encode(run2k, add_special_tokens=False))
    assert n >= 2000 // 32 and n > 100  # never one giant pre-token


def test_loads_with_transformers_and_special_tokens(lm_tokenizer):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    for tok in (PreTrainedTokenizerFast.from_pretrained(str(lm_tokenizer)), AutoTokenizer.from_pretrained(str(lm_tokenizer))):
        assert tok.convert_ids_to_tokens([0, 1]) == [EOT, PAD]
        assert tok.eos_token_id == tok.bos_token_id == 0 and tok.pad_token_id == 1
        assert len(tok) == 1024
    assert {p.name for p in lm_tokenizer.iterdir()} == {"tokenizer.json", "tokenizer_config.json",
                                                         "special_tokens_map.json", "manifest.json"}


def test_manifest_records_hashes_and_measured_metrics(lm_tokenizer):
    m = read_manifest(lm_tokenizer, "tokenizer")
    assert set(m["inputs"]) == {"dna.train", "dna.valid", "english.train", "english.valid"}
    assert all(len(v["sha256"]) == 64 for v in m["inputs"].values())
    met = m["metrics"]
    assert met["dna_round_trip"] and met["english_round_trip"]
    # real lambda DNA, 1,024 tokens learned from 44 kb: well above 1 base/token
    assert met["dna_bases_per_token"] > 2.5
    assert met["english_tokens_per_word"] < 3.0
    assert met["encode_mb_per_s"] > 0


def test_more_vocabulary_gives_more_bases_per_token(lm_data):
    from dnahlm_rag.tokenizer import measure

    dna = sample_lines(lm_data / "pretrain" / "dna.train.txt", 0)
    en = sample_lines(lm_data / "pretrain" / "english.train.txt", 0)
    valid = sample_lines(lm_data / "pretrain" / "dna.valid.txt", 0)
    small = measure(train_bpe(dna + en, TokenizerRecipe(vocab_size=400)), valid, [])
    large = measure(train_bpe(dna + en, TokenizerRecipe(vocab_size=2000)), valid, [])
    assert large["dna_bases_per_token"] > small["dna_bases_per_token"] > 1.0


def test_sample_lines_spreads_evenly_and_is_deterministic(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("".join(f"{i:09d}\n" for i in range(1000)))  # 10 kB
    a = sample_lines(p, 0.001)
    assert a == sample_lines(p, 0.001)
    assert 90 <= len(a) <= 110 and a[0] == "000000000" and int(a[-1]) > 900
    assert len(sample_lines(p, 0)) == 1000


def test_sample_offset_takes_a_disjoint_sample_of_the_same_size(tmp_path):
    """A continued pretraining run (data.sample_offset) reads lines the first run never saw."""
    p = tmp_path / "x.txt"
    p.write_text("".join(f"{i:09d}\n" for i in range(1000)))  # 10 kB; 1 kB -> every 10th line
    samples = [sample_lines(p, 0.001, off) for off in range(10)]
    assert all(len(s) == 100 for s in samples)
    assert sorted(sum(samples, [])) == [f"{i:09d}" for i in range(1000)]  # disjoint, and together all lines
    assert samples[1][0] == "000000001" and sample_lines(p, 0.001, 11) == samples[1]
    assert sample_lines(p, 0, 3) == sample_lines(p, 0)  # the whole file has one sample


def test_cli_train_and_stats(lm_data, tmp_path):
    out = tmp_path / "tok"
    r = CliRunner().invoke(app, ["tokenizer", "train", "--data", str(lm_data), "--out", str(out), "--vocab-size", "300", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "bases/token" in r.output
    assert json.loads((out / "manifest.json").read_text())["vocab_size"] == 300
    r = CliRunner().invoke(app, ["tokenizer", "stats", "--tokenizer", str(out), "--data", str(lm_data)])
    assert r.exit_code == 0 and "tokens/word" in r.output, r.output


def test_cli_refuses_a_folder_without_data_manifest(tmp_path):
    r = CliRunner().invoke(app, ["tokenizer", "train", "--data", str(tmp_path), "--out", str(tmp_path / "t")])
    assert r.exit_code == 2 and "error:" in r.output and "manifest.json" in r.output


def test_load_refuses_wrong_stage(lm_data):
    with pytest.raises(ManifestError):
        load_tokenizer(lm_data)


def test_train_refuses_to_replace_another_stages_folder(lm_data, tmp_path):
    """`--out` naming the data folder (or a training run) is refused before training; nothing is lost."""
    import shutil

    from dnahlm_rag.tokenizer import train_tokenizer

    data = tmp_path / "data"
    shutil.copytree(lm_data, data)
    with pytest.raises(ManifestError, match="holds a 'data' stage"):
        train_tokenizer(lm_data, data, TokenizerRecipe(vocab_size=300), progress=False)
    assert (data / "pretrain" / "dna.train.txt").is_file() and read_manifest(data, "data")
    r = CliRunner().invoke(app, ["tokenizer", "stats", "--tokenizer", str(data / "manifest.json")])
    assert r.exit_code == 2 and "is a file, not a tokenizer folder" in r.output, r.output
