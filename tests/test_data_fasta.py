"""FASTA reading: normalization, malformed records reported with file and record, gzip."""
from __future__ import annotations

import gzip

from dnahlm_rag.data.fasta import iter_fasta
from dnahlm_rag.data.problems import Problems


def test_records_normalized_and_bad_ones_skipped(tmp_path):
    path = tmp_path / "x.fa.gz"
    with gzip.open(path, "wt") as f:
        f.write(">one first\nacgt\nNNRY\n>bad\nACGTPEPTIDE\n>empty\n>three\nAC GU\n")
    problems = Problems(echo=0)
    recs = list(iter_fasta(path, problems))
    assert [(r.id, r.seq) for r in recs] == [("one", "ACGTNNRY"), ("three", "ACGT")]
    assert problems.total == 2
    assert problems.items[0]["record"] == "#2 (bad)" and problems.items[0]["file"] == str(path)
    assert "character 'P'" in problems.items[0]["reason"]
    assert problems.items[1]["record"] == "#3 (empty)"


def test_text_before_first_header_reported(tmp_path):
    path = tmp_path / "y.fa"
    path.write_text("junk\n>r1\nACGT\n")
    problems = Problems(echo=0)
    assert [r.seq for r in iter_fasta(path, problems)] == ["ACGT"]
    assert problems.total == 1
