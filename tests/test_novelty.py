"""dnahlm_rag.novelty: per-level thresholds on the best neighbour, and the note ask/batch print."""
from __future__ import annotations

from langchain_core.documents import Document

from dnahlm_rag.novelty import NoveltyCheck, best_neighbour


def _docs(level: str, score: float, fused: bool = False) -> list[Document]:
    meta = {"level": level, "score": 0.5, "level_score": score} if fused else {"level": level, "score": score}
    return [Document(page_content="", metadata=meta)]


class FakeRetriever:
    """Best neighbour of query i: level and score from a table (what a finder would return)."""

    def __init__(self, table: dict[str, tuple[str, float]]) -> None:
        self.table = table

    def retrieve_many(self, seqs, k=1):
        return [_docs(*self.table[s]) if s in self.table else [] for s in seqs]


def test_thresholds_are_per_level_quantiles_of_the_valid_queries() -> None:
    table = {f"d{i}": ("dna", i / 100) for i in range(100)}  # cosines 0.00 .. 0.99
    table |= {f"p{i}": ("protein", float(i)) for i in range(10)}  # too few protein-level queries
    check = NoveltyCheck.fit("t", FakeRetriever(table), list(table) + ["nothing"])
    assert set(check.thresholds) == {"dna"} and abs(check.thresholds["dna"] - 0.0495) < 1e-9
    assert check.counts == {"dna": 100, "protein": 10}
    note = check.note(_docs("dna", 0.01))
    assert note and note.startswith("unlike the known sequences") and "95% of the t validation queries" in note
    assert check.note(_docs("dna", 0.5)) is None  # as near as most valid queries
    assert check.note(_docs("protein", -5.0)) is None  # no threshold at that level
    assert check.note([]) is None


def test_fused_retrievers_are_judged_on_the_level_score() -> None:
    assert best_neighbour(_docs("protein", 12.0, fused=True)) == ("protein", 12.0)
    assert best_neighbour(_docs("dna", 0.3)) == ("dna", 0.3)
    assert best_neighbour([Document(page_content="", metadata={"score": 0.7})]) == ("dna", 0.7)
    assert best_neighbour([]) is None
    check = NoveltyCheck.fit("t", FakeRetriever({}), [])
    assert check.thresholds == {} and check.note(_docs("dna", 0.0)) is None


class LengthRetriever:
    """A finder whose best score grows with the query's length (as k-mer cosines against whole
    genes do), unless the query is all T (a stranger)."""

    def retrieve_many(self, seqs, k=1):
        return [_docs("dna", 0.0 if set(s) == {"T"} else len(s) / 1000) for s in seqs]


def test_short_queries_are_compared_with_valid_rows_cut_to_their_length() -> None:
    valid = ["ACGT" * (250 + i) for i in range(100)]  # 1,000 to 1,396 bases
    check = NoveltyCheck.fit("t", LengthRetriever(), valid)
    assert abs(check.thresholds["dna"] - 1.0198) < 1e-3
    short = _docs("dna", 0.3)  # what a familiar 300-base query scores
    assert check.note(short) is not None  # judged as if full length: flagged
    assert check.note(short, 300) is None  # against valid rows cut to its length: familiar
    assert check.note(_docs("dna", 0.0), 300).startswith("unlike the known sequences")
    assert "cut to the query's length" in check.note(_docs("dna", 0.0), 300)
    assert len(check.by_length) == 1 and check.note(short, 310) is None and len(check.by_length) == 1  # same bin
    assert check.note(_docs("dna", 0.3), 1200) is not None and len(check.by_length) == 1  # long: no calibration


def test_a_query_far_longer_than_the_tasks_sequences_is_said_to_be_of_another_kind() -> None:
    valid = ["A" * 70, "C" * 85, "G" * 95]
    table = {s: ("dna", 0.9) for s in valid}
    check = NoveltyCheck.fit("trna_aa", FakeRetriever(table), valid)
    assert check.length_range == (70, 95)
    assert check.length_note(190) is None and check.length_note(60) is None  # within twice the longest
    note = check.length_note(954)
    assert note and "954 bases" in note and "70-95" in note and "may not be the kind of sequence" in note
    # an open task (product: genes of any length) and an unfitted check say nothing
    assert NoveltyCheck.fit("product", FakeRetriever(table), valid).length_note(954) is None
    assert NoveltyCheck("trna_aa").length_note(954) is None
    same = NoveltyCheck.fit("splice", FakeRetriever({"A" * 60: ("dna", 0.9)}), ["A" * 60])
    assert "validation sequences have 60:" in (same.length_note(1200) or "")
