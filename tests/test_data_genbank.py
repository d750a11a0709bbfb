"""GenBank reading: 1-based inclusive -> 0-based half-open, minus strand, join, malformed records."""
from __future__ import annotations

import gzip

from data_fixtures import BROKEN_RECORD, SEQ60, genbank_record, write

from dnahlm_rag.data.genbank import Feature, describe, iter_records, transferable
from dnahlm_rag.data.problems import Problems
from dnahlm_rag.seq import reverse_complement


def _features(tmp_path):
    path = write(tmp_path / "a.gbk", genbank_record())
    recs = list(iter_records(path, Problems(echo=0)))
    assert len(recs) == 1
    return recs[0], {f.product: f for f in recs[0].features}


def test_plus_strand_coordinates(tmp_path):
    rec, by = _features(tmp_path)
    f = by["test kinase"]
    assert (f.start, f.end, f.strand) == (0, 18, 1)          # GenBank 1..18
    assert f.seq == SEQ60[0:18] and f.seq.startswith("ATG")
    assert rec.organism == "Testus primus" and rec.accession == "TEST0001.1"


def test_minus_strand_is_reverse_complemented(tmp_path):
    _, by = _features(tmp_path)
    f = by["tRNA-Gly"]
    assert (f.start, f.end, f.strand) == (19, 40, -1)        # complement(20..40)
    assert f.seq == reverse_complement(SEQ60[19:40])


def test_join_and_complement_join(tmp_path):
    _, by = _features(tmp_path)
    f = by["split protein"]                                    # join(42..47,52..60)
    assert (f.start, f.end) == (41, 60)
    assert f.parts == [(41, 47, 1), (51, 60, 1)]
    assert f.seq == SEQ60[41:47] + SEQ60[51:60]
    g = by["minus join"]                                       # complement(join(1..3,10..12))
    assert (g.start, g.end, g.strand) == (0, 12, -1)
    assert g.seq == reverse_complement(SEQ60[0:3] + SEQ60[9:12])


def test_description_sentence(tmp_path):
    rec, by = _features(tmp_path)
    s = describe(by["test kinase"], rec.organism, rec.accession)
    assert "abcA" in s and "test kinase" in s and "1..18" in s and "plus strand" in s
    t = transferable(s)
    assert "abcA" in t and "test kinase" in t and rec.organism not in t and "1..18" not in t and t.endswith(".")


def test_transferable_keeps_what_the_sequence_is_and_drops_where_it_was_found():
    f = Feature(type="CDS", start=99, end=399, strand=-1, parts=[(99, 399, -1)], seq="A" * 300,
                qualifiers={"gene": "sepA", "product": "protein involved in septation in vivo",
                            "function": "cell division.", "note": "similar to B. subtilis SepA."})
    s = describe(f, "Pseudomonas sp. strain in-42 (in soil)", "NZ_X.1")
    assert "Pseudomonas" in s and "100..399 on the minus strand (300 nt)" in s and "Note:" in s
    t = transferable(s)  # the product's own " in " survives; organism, place and note go
    assert t == "A protein-coding sequence (sepA) encoding protein involved in septation in vivo. Function: cell division."
    assert transferable("tRNA-Ala") == "tRNA-Ala" and transferable("") == ""


def test_malformed_record_is_reported_and_skipped(tmp_path):
    text = genbank_record("GOOD1") + BROKEN_RECORD + genbank_record("GOOD2", seq=SEQ60.replace("A", "N", 3))
    path = tmp_path / "mixed.gbk.gz"
    with gzip.open(path, "wt") as f:
        f.write(text)
    problems = Problems(echo=0)
    recs = list(iter_records(path, problems))
    assert [r.name for r in recs] == ["GOOD1", "GOOD2"]
    assert problems.total == 1
    item = problems.items[0]
    assert item["file"] == str(path) and item["record"].startswith("#2 (BROKEN1)")
    assert recs[1].seq.startswith("NTGN")                     # IUPAC N kept in the record


def test_protein_letters_make_a_record_malformed(tmp_path):
    path = write(tmp_path / "p.gbk", genbank_record(seq="MKLVEEQ" * 3, features=""))
    problems = Problems(echo=0)
    assert list(iter_records(path, problems)) == []
    assert problems.total == 1 and "not DNA" in problems.items[0]["reason"]


def test_record_without_a_readable_sequence_says_so_in_file_terms(tmp_path):
    path = write(tmp_path / "noseq.gbk", "LOCUS       X   100 bp  DNA\nFEATURES   \nORIGIN\n  1 acgtzz\n//\n")
    problems = Problems(echo=0)
    assert list(iter_records(path, problems)) == []
    assert problems.total == 1
    reason = problems.items[0]["reason"]
    assert "ORIGIN/SQ section" in reason and "Error" not in reason  # no Biopython class name


def test_utf16_file_is_a_one_line_error_and_a_bom_utf8_file_reads(tmp_path):
    import pytest

    from dnahlm_rag.errors import DnaHlmError

    text = genbank_record("GOOD1")
    wide = tmp_path / "wide.gbk"
    wide.write_bytes(text.encode("utf-16"))  # with its byte-order mark, as Notepad's "Unicode" saves
    with pytest.raises(DnaHlmError, match="is UTF-16 text: save it as UTF-8"):
        list(iter_records(wide, Problems(echo=0)))
    bom = tmp_path / "bom.gbk"
    bom.write_bytes(text.encode("utf-8-sig"))
    assert [r.name for r in iter_records(bom, Problems(echo=0))] == ["GOOD1"]
