"""The build from user files: layout, organism-disjoint splits, held-out genomes out of pretraining,
malformed records counted, atomic replacement when interrupted, and the CLI."""
from __future__ import annotations

import json
import random

import pytest
from data_fixtures import BROKEN_RECORD, genbank_record
from typer.testing import CliRunner

from dnahlm_rag.cli.app import app
from dnahlm_rag.data import build as build_mod
from dnahlm_rag.data.build import build_dataset
from dnahlm_rag.data.recipe import DataRecipe, OrganismSplit
from dnahlm_rag.manifest import read_manifest

ORGS = {"Trainus alpha": "TRA", "Trainus beta": "TRB", "Validus gamma": "VAL", "Testus delta": "TST"}


def _genome(rng: random.Random, n: int = 4000) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


def _features() -> str:
    out = []
    for i in range(5):
        a = 100 + i * 700
        out.append(f"     CDS             {a + 1}..{a + 300}\n                     /gene=\"g{i}\"\n"
                   f"                     /product=\"enzyme number {i}\"\n")
        out.append(f"     tRNA            complement({a + 401}..{a + 476})\n"
                   f"                     /product=\"tRNA-{['Ala', 'Gly', 'Leu', 'Ser', 'Val'][i]}\"\n")
    out.append("     rRNA            3601..3900\n                     /product=\"16S ribosomal RNA\"\n")
    return "".join(out)


@pytest.fixture()
def inputs(tmp_path):
    rng = random.Random(11)
    genomes = {org: _genome(rng) for org in ORGS}
    gb = tmp_path / "in.gbk"
    gb.write_text("".join(genbank_record(acc, org, genomes[org], _features()) for org, acc in ORGS.items())
                  + BROKEN_RECORD)
    fa = tmp_path / "in.fa"
    fa.write_text(f">chrA Trainus alpha extra\n{_genome(rng, 3000)}\n>chrT Testus delta plasmid\n{_genome(rng, 3000)}\n")
    return gb, fa, genomes


def _recipe() -> DataRecipe:
    r = DataRecipe(name="test", packages=[], tasks=["trna_aa", "feature_type", "product"])
    r.organisms = OrganismSplit(test=["Testus delta"], valid=["Validus gamma"])
    r.pretrain_dna.piece_min, r.pretrain_dna.piece_max, r.pretrain_dna.valid_permille = 100, 300, 100
    r.english.min_chars = 10
    return r


def test_build_layout_splits_and_leakage(tmp_path, inputs):
    gb, fa, genomes = inputs
    out = tmp_path / "data"
    m = build_dataset(_recipe(), out=out, cache=tmp_path / "nocache", genbank_files=[gb], fasta_files=[fa],
                      progress=False)
    assert read_manifest(out, "data")["tasks"] == m["tasks"]
    for p in ("segments.jsonl", "pretrain/dna.train.txt", "pretrain/dna.valid.txt", "pretrain/english.train.txt",
              "pretrain/english.valid.txt", "tasks/trna_aa/task.json", "tasks/feature_type/test.jsonl"):
        assert (out / p).is_file(), p
    assert m["malformed"]["total"] == 1 and m["malformed"]["first"][0]["record"].startswith("#5 (BROKEN1)")
    assert m["held_out_organisms"] == {"valid": ["Validus gamma"], "test": ["Testus delta"]}
    segs = [json.loads(x) for x in (out / "segments.jsonl").read_text().splitlines()]
    assert {s["organism"]: s["split"] for s in segs} == {
        "Trainus alpha": "train", "Trainus beta": "train", "Validus gamma": "valid", "Testus delta": "test"}
    seg = next(s for s in segs if s["type"] == "tRNA")
    assert set(seg) >= {"id", "organism", "accession", "type", "start", "end", "strand", "gene", "product",
                        "description", "seq", "split"}
    # organism-disjoint tasks
    for task in ("trna_aa", "feature_type", "product"):
        orgs = {}
        for split in ("train", "valid", "test"):
            for line in (out / "tasks" / task / f"{split}.jsonl").read_text().splitlines():
                orgs.setdefault(json.loads(line)["organism"], set()).add(split)
        assert all(len(s) == 1 for s in orgs.values()), (task, orgs)
        assert orgs["Testus delta"] == {"test"}
    # pretraining DNA: train organisms only (and the FASTA record naming a test organism is left out)
    pieces = (out / "pretrain/dna.train.txt").read_text().split() + (out / "pretrain/dna.valid.txt").read_text().split()
    assert pieces
    held = genomes["Testus delta"] + genomes["Validus gamma"]
    assert not any(p in held for p in pieces)
    assert m["sources"]["user_fasta"]["records_naming_held_out_organism"] == 1
    english = (out / "pretrain/english.train.txt").read_text() + (out / "pretrain/english.valid.txt").read_text()
    assert "enzyme number" in english


def test_interrupted_build_leaves_no_half_written_folder(tmp_path, inputs, monkeypatch):
    gb, fa, _ = inputs
    out = tmp_path / "data"
    r = _recipe()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_mod, "write_task", boom)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(r, out=out, cache=tmp_path / "c", genbank_files=[gb], progress=False)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".data")] == []
    monkeypatch.undo()
    build_dataset(r, out=out, cache=tmp_path / "c", genbank_files=[gb], progress=False)
    before = (out / "manifest.json").read_text()
    monkeypatch.setattr(build_mod, "write_task", boom)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(r, out=out, cache=tmp_path / "c", genbank_files=[gb], fasta_files=[fa], progress=False)
    assert (out / "manifest.json").read_text() == before   # the previous dataset is intact


def test_cli_build_and_summary(tmp_path, inputs):
    gb, fa, _ = inputs
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "r"\npackages = []\ntasks = ["feature_type", "product"]\n'
                      '[organisms]\ntest = ["Testus delta"]\nvalid = ["Validus gamma"]\n'
                      '[pretrain_dna]\npiece_min = 100\npiece_max = 300\n')
    runner = CliRunner()
    out = tmp_path / "d"
    res = runner.invoke(app, ["data", "build", "--recipe", str(recipe), "--out", str(out), "--cache",
                              str(tmp_path / "c"), "--genbank", str(gb), "--fasta", str(fa), "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["data", "summary", str(out)])
    assert res.exit_code == 0 and "feature_type" in res.output and "pretraining DNA" in res.output


def test_cli_missing_cache_is_one_line_error(tmp_path):
    res = CliRunner().invoke(app, ["data", "build", "--recipe", "tiny", "--out", str(tmp_path / "d"),
                                   "--cache", str(tmp_path / "empty")])
    assert res.exit_code == 2
    assert "error: package" in res.output and "dnahlm data fetch" in res.output


def test_user_file_without_a_record_stops_the_build_and_keeps_the_old_dataset(tmp_path, inputs):
    """An empty or wrong-format --genbank/--fasta file once gave an empty dataset that replaced
    the previous one; now it is a one-line error naming the file."""
    from dnahlm_rag.errors import DnaHlmError

    gb, fa, _ = inputs
    out = tmp_path / "data"
    build_dataset(_recipe(), out=out, cache=tmp_path / "c", genbank_files=[gb], fasta_files=[fa], progress=False)
    before = (out / "manifest.json").read_text()
    empty = tmp_path / "empty.gbk"
    empty.write_text("")
    for genbank, fasta, match in (([empty], [fa], "--genbank .*empty.gbk: no GenBank/EMBL record .*empty"),
                                  ([gb, fa], [fa], "--genbank .*in.fa: no GenBank/EMBL record"),
                                  ([gb], [empty], "--fasta .*empty.gbk: no FASTA record")):
        with pytest.raises(DnaHlmError, match=match):
            build_dataset(_recipe(), out=out, cache=tmp_path / "c", genbank_files=genbank, fasta_files=fasta,
                          progress=False)
        assert (out / "manifest.json").read_text() == before


def test_corrupt_fetch_manifest_says_so(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "fetch_manifest.json").write_text('{"stage":')
    res = CliRunner().invoke(app, ["data", "build", "--recipe", "tiny", "--out", str(tmp_path / "d"),
                                   "--cache", str(cache)])
    assert res.exit_code == 2 and "fetch_manifest.json is unreadable" in res.output and "dnahlm data fetch" in res.output
