"""Reading batch inputs (dnahlm_rag.inputs): GenBank features, genetic codes per row, ids.

Encodings, torn files and bad rows read through the CLI are tested in test_cli_ask.py."""
from __future__ import annotations

import json

from data_fixtures import genbank_record

from dnahlm_rag.inputs import read_inputs


def _feature_rows(tmp_path, feats: str) -> list:
    """Batch input rows of a one-record GenBank file with these feature lines."""
    gb = tmp_path / "f.gbk"
    gb.write_text(genbank_record(features=feats))
    return read_inputs(gb)


def test_a_genbank_feature_that_cannot_be_read_is_a_row_of_its_own(tmp_path) -> None:
    feats = ('     CDS             1..18\n                     /product="ok"\n'
             '     CDS             40..900\n                     /product="past the end"\n'
             '     CDS             J00194.1:1..30\n                     /product="elsewhere"\n')
    got = _feature_rows(tmp_path, feats)
    assert sorted(r.error is None for r in got) == [False, False, True]  # one CDS read, two error rows
    errs = " | ".join(r.error for r in got if r.error)
    assert "lies outside the record's 60 bases" in errs and "points into another record" in errs


def test_genbank_transl_table_is_the_rows_code_unless_one_is_chosen(tmp_path) -> None:
    gb = tmp_path / "mito.gbk"
    gb.write_text(genbank_record(features='     CDS             1..18\n                     /product="cox1"\n'
                                           '                     /transl_table=2\n'
                                           '     CDS             20..40\n                     /product="plain"\n'))
    rows = read_inputs(gb)  # no code chosen: each CDS's own table
    assert [(r.genetic_code, r.notes) for r in rows] == [(2, []), (None, [])]
    rows = read_inputs(gb, genetic_code=11)  # a code chosen for the run wins, with a note where they differ
    assert [r.genetic_code for r in rows] == [None, None] and rows[1].notes == []
    assert rows[0].notes == ["the row gives genetic code 2, but ORFs were read with genetic code 11 (--genetic-code)"]
    assert all(not r.notes for r in read_inputs(gb, genetic_code=2))
    gb.write_text(genbank_record(features='     CDS             1..18\n                     /transl_table=99\n'))
    assert [(r.genetic_code, r.notes) for r in read_inputs(gb)] == [
        (None, ["the record's /transl_table=99 is no genetic code Biopython knows: read with 11"])]


def test_jsonl_rows_may_carry_their_genetic_code(tmp_path) -> None:
    jl = tmp_path / "in.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in [
        {"id": "mito", "seq": "ATGTGA" * 20, "genetic_code": 2}, {"id": "plain", "seq": "ATGTGA" * 20},
        {"id": "bad", "seq": "ACGT", "genetic_code": 7}, {"id": "text", "seq": "ACGT", "genetic_code": "2"},
        {"id": "bool", "seq": "ACGT", "genetic_code": True}]) + "\n")
    rows = read_inputs(jl)
    assert [(r.id, r.genetic_code, r.error is None) for r in rows] == [
        ("mito", 2, True), ("plain", None, True), ("bad", None, False), ("text", None, False), ("bool", None, False)]
    assert rows[2].error == "line 3: 'genetic_code' 7 is no NCBI genetic code Biopython knows"
    chosen = read_inputs(jl, genetic_code=4)  # a code chosen for the run wins, with a note where they differ
    assert chosen[0].genetic_code is None and chosen[0].notes == [
        "the row gives genetic code 2, but ORFs were read with genetic code 4 (--genetic-code)"]


def test_genes_across_the_origin_keep_apart_in_batch_ids(tmp_path) -> None:
    """Two CDS joined across the origin of a circular record span the whole record: their batch
    ids list the parts in the order written (``a-b,c-d``), so they do not collide."""
    feats = ('     CDS             join(50..60,1..9)\n                     /product="first"\n'
             '     CDS             join(40..60,1..3)\n                     /product="second"\n'
             '     CDS             4..12\n                     /product="plain"\n')
    rows = _feature_rows(tmp_path, feats)
    assert [r.id for r in rows] == ["TEST0001.1:CDS:49-60,0-9:+", "TEST0001.1:CDS:39-60,0-3:+", "TEST0001.1:CDS:3-12:+"]
    assert not any(r.error for r in rows) and [len(r.seq) for r in rows] == [20, 24, 9]
