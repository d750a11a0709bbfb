"""FusedRetriever and the protein index: LangChain's standard retriever tests, the folder contract,
strand symmetry, the DNA fallback for non-coding queries, provenance notes and bad input."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from dnahlm_rag.errors import DnaHlmError, InvalidSequenceError
from dnahlm_rag.fused_retriever import FusedRetriever, analyse_query, code_hint, make_retriever
from dnahlm_rag.index import IndexConfig, SegmentIndex, build_index, load_records, protein_records
from dnahlm_rag.orfs import translate_cds
from dnahlm_rag.retriever import SegmentRetriever
from dnahlm_rag.seq import reverse_complement

from rag_fixtures import build_small_index, make_coding_segments, make_segments, random_cds, session_tmpdir

torch.set_num_threads(1)

def build_pair(root: Path) -> tuple[Path, Path]:
    """``root/indexes/segments`` (kmer, DNA) and ``root/indexes/proteins`` over the same data."""
    make_coding_segments(root / "data" / "segments.jsonl")
    dna = build_small_index(root, name="segments")
    docs, source = load_records(root / "data")
    prot = root / "indexes" / "proteins"
    build_index(protein_records(docs), prot, IndexConfig(embedder="protein"), source, show_progress=False)
    return dna, prot


_DIR = session_tmpdir("dnahlm-fused-")
DNA, PROT = build_pair(_DIR)


class TestFusedRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[FusedRetriever]:
        return FusedRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"index_dir": str(DNA), "protein_index_dir": str(PROT), "k": 4}

    @property
    def retriever_query_example(self) -> str:
        return random_cds(random.Random(7), 50)


pytest.mark.asyncio(RetrieversIntegrationTests.test_ainvoke_returns_documents)


@pytest.fixture(scope="module")
def fused() -> FusedRetriever:
    return FusedRetriever(index_dir=str(DNA), protein_index_dir=str(PROT), k=3)


def test_protein_index_folder_contract() -> None:
    assert sorted(p.name for p in PROT.iterdir()) == ["docstore.jsonl", "embedder.json", "index.faiss", "manifest.json",
                                                      "words.safetensors"]
    idx = SegmentIndex.load(PROT, expect_embedder="protein")
    m = idx.manifest
    assert m["words"]["alphabet"] == "aa20" and m["words"]["patterns"] == ["1111", "11011"] and len(idx.words) == len(idx)
    assert "words.safetensors" in m["files"]
    assert idx.level == "protein" and m["level"] == "protein" and m["metric"] == "inner_product"
    assert m["embedder"]["seq"] == {"name": "protein", "version": 1, "params": m["embedder"]["seq"]["params"]}
    assert m["dim"] == 1000 and m["count"] == len(idx) == sum(d["type"] == "CDS" for d in idx.docs)
    assert m["source"]["files"]["segments.jsonl"] == SegmentIndex.load(DNA).manifest["source"]["files"]["segments.jsonl"]
    assert m["translation"]["tables"] == {"11": len(idx)}
    d = idx.docs[0]
    assert d["protein"] == translate_cds(d["seq"], 11) and d["protein"].startswith("M") and d["split"] == "train"


def test_protein_index_load_checks(tmp_path) -> None:
    dst = tmp_path / "p"
    shutil.copytree(PROT, dst)
    with pytest.raises(DnaHlmError, match="built with embedder 'protein', not 'kmer'"):
        SegmentIndex.load(dst, expect_embedder="kmer")
    with pytest.raises(DnaHlmError, match="built with embedder 'kmer', not 'protein'"):
        SegmentIndex.load(DNA, expect_embedder="protein")
    data = (dst / "index.faiss").read_bytes()
    (dst / "index.faiss").write_bytes(data[: len(data) // 2])
    with pytest.raises(DnaHlmError, match="index.faiss does not match its manifest hash"):
        SegmentIndex.load(dst)
    with pytest.raises(DnaHlmError, match="does not match its manifest hash"):
        FusedRetriever(index_dir=str(DNA), protein_index_dir=str(dst))


def test_fused_needs_a_protein_index_and_the_same_source(tmp_path) -> None:
    with pytest.raises(DnaHlmError, match="not a protein one|not 'protein'"):
        FusedRetriever(index_dir=str(DNA), protein_index_dir=str(DNA))
    other = tmp_path / "other"
    make_segments(other / "data" / "segments.jsonl", seed=5)
    docs, source = load_records(other / "data")
    build_index(protein_records(docs), other / "p", IndexConfig(embedder="protein"), source, show_progress=False)
    with pytest.raises(DnaHlmError, match="different segments.jsonl"):
        FusedRetriever(index_dir=str(DNA), protein_index_dir=str(other / "p"))
    with pytest.raises(DnaHlmError, match="unknown fusion"):
        FusedRetriever(index_dir=str(DNA), protein_index_dir=str(PROT), fusion="max")


def _synonymous(rng: random.Random, cds: str) -> str:
    """Change the third base of most codons where the amino acid stays the same (table 11)."""
    from dnahlm_rag.orfs import translate

    out = []
    for i in range(0, len(cds), 3):
        c = cds[i:i + 3]
        alts = [c[:2] + b for b in "ACGT" if translate(c[:2] + b) == translate(c)]
        out.append(rng.choice(alts) if i and i + 3 < len(cds) else c)
    return "".join(out)


def test_reverse_complemented_cds_retrieves_the_same_protein_hit(fused) -> None:
    rng = random.Random(1)
    idx = fused.protein_index
    doc = idx.docs[4]
    query = _synonymous(rng, doc["seq"])  # protein identical, DNA different
    fwd = fused.invoke(query)
    rev = fused.invoke(reverse_complement(query))
    assert fwd[0].metadata["id"] == rev[0].metadata["id"] == doc["id"]
    a, b = fwd[0].metadata, rev[0].metadata
    assert a["level"] == b["level"] == "protein" and a["level_score"] == pytest.approx(b["level_score"], abs=1e-5)
    assert (a["query_strand"], b["query_strand"]) == (1, -1)
    # 0-based half-open on the query's forward strand: the same codons whichever way it was read
    assert (a["query_start"], a["query_end"]) == (b["query_start"], b["query_end"]) == (0, len(query))
    assert a["query_frame"] == b["query_frame"] == 0 and a["orf_partial"] is False
    assert a["orf_aa"] == len(doc["protein"])


def test_partial_orf_is_marked(fused) -> None:
    doc = fused.protein_index.docs[2]
    frag = doc["seq"][31:31 + 150]  # no start, no stop: runs off both ends
    top = fused.invoke(frag)[0].metadata
    assert top["id"] == doc["id"] and top["level"] == "protein" and top["orf_partial"] is True
    assert top["query_strand"] == 1 and top["query_frame"] == 2 and top["query_start"] == 2


def test_non_coding_query_falls_back_to_dna(fused) -> None:
    dna_doc = next(d for d in fused.index.docs if d["type"] != "CDS")
    q = analyse_query(dna_doc["seq"])
    assert not q.orfs and q.notes[0].startswith("DNA level only: no open reading frame")
    docs = fused.invoke(dna_doc["seq"])
    assert docs[0].metadata["id"] == dna_doc["id"]
    assert {d.metadata["level"] for d in docs} == {"dna"} and "query_frame" not in docs[0].metadata
    prov = fused.provenance(dna_doc["seq"])
    assert prov[0].startswith("DNA level only") and len(prov) == 1


def test_rrf_fuses_both_levels() -> None:
    r = FusedRetriever(index_dir=str(DNA), protein_index_dir=str(PROT), k=4, fusion="rrf")
    doc = r.protein_index.docs[1]
    docs = r.invoke(doc["seq"])  # found by both levels: it leads with both contributions
    top = docs[0].metadata
    assert top["id"] == doc["id"] and sorted(top["levels"]) == ["dna", "protein"]
    assert top["score"] == pytest.approx(2 / 61) and docs[1].metadata["score"] < top["score"]
    assert [d.metadata["rank"] for d in docs] == [0, 1, 2, 3]


def test_protein_only_retriever_and_batch_agree(fused) -> None:
    r = FusedRetriever(protein_index_dir=str(PROT), k=2)
    doc = r.protein_index.docs[3]
    assert r.invoke(doc["seq"])[0].metadata["id"] == doc["id"]
    assert r.invoke("ACGTACGTAC" * 3) == []  # no ORF, no DNA index: nothing
    seqs = [d["seq"] for d in fused.index.docs[:5]]
    many = fused.retrieve_many(seqs)
    one = [fused.invoke(s) for s in seqs]
    assert [[d.metadata["id"] for d in x] for x in many] == [[d.metadata["id"] for d in x] for x in one]


def test_provenance_notes_orf_problems(fused) -> None:
    rng = random.Random(4)
    cds = random_cds(rng, 80)
    amb = cds[:30] + "N" + cds[31:]
    prov = fused.provenance(amb)
    assert prov[0].startswith("protein level searched") and any("ambiguous bases inside 1 codon" in x for x in prov)
    # a premature stop at codon 40 of a 300-nt gene: the frame has a stop inside the gene
    broken = "ATG" + random_cds(rng, 99)[3:]
    broken = broken[:120] + "TAA" + broken[123:]
    tail = "".join(rng.choice("ACGT") for _ in range(40))
    notes = fused.provenance(broken + tail)
    assert any("more stop codon(s)" in x for x in notes), notes
    docs = fused.invoke(amb)  # ambiguous bases never crash retrieval
    assert docs and docs[0].metadata["level"] == "protein"


def test_bad_query_is_an_invalid_sequence_error(fused) -> None:
    with pytest.raises(InvalidSequenceError, match="not DNA"):
        fused.invoke("MKVLAAG?")
    with pytest.raises(InvalidSequenceError, match="empty"):
        fused.invoke("  ")


def test_make_retriever_auto_off_and_folder(tmp_path) -> None:
    assert isinstance(make_retriever(str(DNA)), FusedRetriever)
    assert isinstance(make_retriever(str(DNA), protein=None), SegmentRetriever)
    assert isinstance(make_retriever(str(DNA), protein="off"), SegmentRetriever)
    assert isinstance(make_retriever(str(DNA), protein=str(PROT)), FusedRetriever)
    with pytest.raises(DnaHlmError, match="no protein index at"):
        make_retriever(str(DNA), protein=str(tmp_path / "nope"))
    # a task index keeps its labelled neighbours: no protein fusion next to it
    task_idx = build_small_index(_DIR, task="feature_type", name="feature_type")
    assert isinstance(make_retriever(str(task_idx)), SegmentRetriever)


def _as_vertebrate_mitochondrial(cds: str) -> str:
    """``cds`` (table 11) rewritten so table 2 (vertebrate mitochondria) reads the same protein:
    Trp as TGA (a stop in table 11), Arg never as AGA/AGG (stops in table 2), Ile never as ATA (Met)."""
    swap = {"TGG": "TGA", "AGA": "CGT", "AGG": "CGC", "ATA": "ATT"}
    codons = [cds[i:i + 3] for i in range(0, len(cds) - 2, 3)]
    return "".join(swap.get(c, c) if 0 < i < len(codons) - 1 else c for i, c in enumerate(codons))


def test_genetic_code_reads_a_mitochondrial_gene_through_its_tga_codons() -> None:
    idx = SegmentIndex.load(PROT, expect_embedder="protein")
    doc = next(d for d in idx.docs if d["protein"][1:].count("W") >= 3)
    query = _as_vertebrate_mitochondrial(doc["seq"])
    assert translate_cds(query, 2) == doc["protein"] and "*" in translate_cds(query, 11)
    ours, std = (make_retriever(str(DNA), k=1, table=t) for t in (2, 11))
    hit = ours.invoke(query)[0].metadata
    assert (hit["id"], hit["orf_aa"], hit["query_start"], hit["query_end"]) == (doc["id"], len(doc["protein"]), 0, len(query))
    assert "genetic code 2; best: ORF 0-" in ours.provenance(query)[0]
    # read with table 11 the gene breaks at its first TGA: no ORF spans it
    assert std.invoke(query)[0].metadata.get("orf_aa", 0) < len(doc["protein"])
    # a query's own code in a batch (a GenBank CDS's /transl_table) overrides the retriever's
    mixed = std.retrieve_many([query, query], k=1, tables=[2, None])
    assert mixed[0][0].metadata["orf_aa"] == len(doc["protein"]) > mixed[1][0].metadata.get("orf_aa", 0)
    assert "genetic code 2;" in std.provenance(query, table=2)[0]


def test_code_hint_speaks_for_a_gene_that_only_tga_as_trp_reads_whole() -> None:
    rng = random.Random(5)
    sense = [c for c in (a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT")
             if c not in ("TAA", "TAG", "TGA", "AGA", "AGG", "ATA")]  # read alike by codes 11, 2, 4, 5

    def body(n: int) -> str:
        return "".join(rng.choice(sense) for _ in range(n))

    mito = "ATG" + "".join(body(40) + "TGA" for _ in range(3)) + body(40) + "TAA"  # TGA every 41 codons
    hint = code_hint(mito, 11)
    assert hint is not None and " with code 2 100% (TGA as Trp)" in hint, hint
    assert hint.startswith("read with genetic code 11 the best ORF covers ")
    assert float(hint.split("covers ")[1].split("%")[0]) <= 60
    assert hint.endswith("try --genetic-code 2 (vertebrate mitochondria), or 4 or 5")
    assert code_hint("ATG" + body(160) + "TAA", 11) is None  # one ORF already
    assert code_hint(mito, 2) is None and code_hint(mito[:240], 11) is None  # its code given; too short to say
    # the other way round: a bacterial gene with AGA (Arg; a stop in table 2) read with code 2
    bacterial = "ATG" + "".join(body(40) + "AGA" for _ in range(3)) + body(40) + "TAA"
    back = code_hint(bacterial, 2)
    assert back is not None and back.endswith("with code 11 100% (AGA/AGG as Arg, TGA as a stop): try "
                                              "--genetic-code 11 (bacteria, archaea, plastids), or 4 or 5"), back
    assert code_hint(bacterial, 11) is None
    assert code_hint("GCTTAG" * 100, 11) is None  # nothing reads it whole
    r = make_retriever(str(DNA), k=1)
    assert hint in r.provenance(mito) and hint not in r.provenance(mito, table=2)


# -- diagonal re-ranking of protein hits ------------------------------------------------------
_AA = "ACDEFGHIKLMNPQRSTVWY"


def _back_translate(rng: random.Random, protein: str) -> str:
    """A CDS (ATG ... TAA, table 11) whose translation is ``M`` + ``protein``."""
    from dnahlm_rag.orfs import translate

    by_aa: dict[str, list[str]] = {}
    for a in "ACGT":
        for b in "ACGT":
            for c in "ACGT":
                by_aa.setdefault(translate(a + b + c), []).append(a + b + c)
    return "ATG" + "".join(rng.choice(by_aa[x]) for x in protein) + "TAA"


def _homolog_and_decoy_index(root: Path) -> tuple[Path, str]:
    """A protein index of a homolog (40% of residues replaced), a decoy made of the query's own
    residues in 8-residue blocks put in another order (most 3-mers kept: a higher cosine than the
    homolog's, but no long diagonal), and 20 random proteins; returns the folder and the query CDS."""
    rng = random.Random(11)
    query = "".join(rng.choice(_AA) for _ in range(240))
    homolog = "".join(rng.choice(_AA.replace(x, "")) if rng.random() < 0.4 else x for x in query)
    blocks = [query[i:i + 8] for i in range(0, len(query), 8)]
    rng.shuffle(blocks)
    decoy = "".join(blocks)
    prots = {"homolog": homolog, "decoy": decoy} | {f"rand{i}": "".join(rng.choice(_AA) for _ in range(200))
                                                   for i in range(20)}
    rows = []
    for i, (name, p) in enumerate(prots.items()):
        seq = _back_translate(rng, p)
        rows.append({"id": f"NC_X.1:CDS:{1000 * i}-{1000 * i + len(seq)}:+", "organism": "Testus homologus",
                     "accession": "NC_X.1", "type": "CDS", "start": 1000 * i, "end": 1000 * i + len(seq),
                     "strand": 1, "gene": name, "product": f"{name} protein", "description": name,
                     "seq": seq, "split": "train"})
    (root / "data").mkdir(parents=True)
    (root / "data" / "segments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    docs, source = load_records(root / "data")
    build_index(protein_records(docs), root / "proteins", IndexConfig(embedder="protein"), source, show_progress=False)
    return root / "proteins", _back_translate(rng, query)


def test_rerank_puts_a_true_homolog_above_a_composition_matched_decoy(tmp_path) -> None:
    pdir, query = _homolog_and_decoy_index(tmp_path)
    plain = FusedRetriever(protein_index_dir=str(pdir), k=3, rerank=0).invoke(query)
    assert plain[0].metadata["gene"] == "decoy"  # the cosine alone is fooled (the test can fail)
    for q in (query, reverse_complement(query)):
        docs = FusedRetriever(protein_index_dir=str(pdir), k=3).invoke(q)
        top = docs[0].metadata
        assert top["gene"] == "homolog"  # the decoy falls behind it
        assert top["level"] == "protein" and top["score"] == top["level_score"]
        # -log10 E: the homolog's E-value is a million times smaller than the next hit's
        assert top["level_score"] > docs[1].metadata["level_score"] + 6 and 0 < top["cosine"] < 1
    rev = FusedRetriever(protein_index_dir=str(pdir), k=3).invoke(reverse_complement(query))
    assert rev[0].metadata["query_strand"] == -1


def test_rerank_handles_short_and_orfless_queries(fused) -> None:
    r = FusedRetriever(index_dir=str(DNA), protein_index_dir=str(PROT), k=3, rerank=5)
    assert r.invoke("ATGAAATAA")  # no ORF of the minimum length: DNA fallback, no crash
    tiny = FusedRetriever(protein_index_dir=str(PROT), k=3, rerank=5, min_codons=1)
    out = tiny.retrieve_many(["ATGAAATAA", "ATGAAGTAA", "NNNNNNNNN"])  # ORFs of 0-3 residues
    assert len(out) == 3
    for docs in out:
        assert all(np.isfinite(d.metadata["level_score"]) for d in docs)
    with pytest.raises(DnaHlmError):
        FusedRetriever(protein_index_dir=str(PROT), rerank=-1)


def test_rerank_keeps_depth_and_rank_order(fused) -> None:
    doc = fused.protein_index.docs[3]
    docs = FusedRetriever(protein_index_dir=str(PROT), k=5, rerank=50).invoke(doc["seq"])
    assert docs[0].metadata["id"] == doc["id"] and docs[0].metadata["level_score"] > 20  # itself: E < 1e-20
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True) and [d.metadata["rank"] for d in docs] == list(range(len(docs)))


def test_an_orf_read_through_a_run_of_n_is_no_protein_to_search() -> None:
    q = analyse_query("ATG" + "N" * 300 + "TAA")  # X's hold no stop: a 100-codon "ORF" of nothing
    assert not q.orfs and q.notes[0].startswith("DNA level only: no ORF of 30 codons with unambiguous bases")
    cds = random_cds(random.Random(3), 60)
    q = analyse_query(cds[:90] + "NNN" + cds[93:])  # one ambiguous codon in a real gene: still searched
    assert q.orfs and q.orfs[0].ambiguous_codons == 1


def test_evalue_db_scales_by_the_index_and_chance_hits_get_a_note(fused) -> None:
    from dnahlm_rag.fused_retriever import SIGNIFICANT_E, significance_note

    rng = random.Random(3)
    doc = fused.protein_index.docs[2]
    real = fused.invoke(_synonymous(rng, doc["seq"]))
    m = real[0].metadata
    assert m["evalue_db"] == pytest.approx(m["evalue"] * len(fused.protein_index.docs))
    assert m["evalue_db"] < SIGNIFICANT_E and significance_note(real) is None
    # a random ORF's best hits are chance hits: the note says so, with the best E
    chance = fused.invoke(random_cds(rng, 60))
    protein = [d for d in chance if d.metadata.get("level") == "protein"]
    assert protein and min(d.metadata["evalue_db"] for d in protein) > SIGNIFICANT_E
    note = significance_note(chance)
    assert note and note.startswith("no significant protein hit: the best, E = ") and "guess" in note
    # DNA-level neighbours (no E-value) say nothing either way
    assert significance_note([Document(page_content="", metadata={"level": "dna", "score": 0.2})]) is None


def test_a_second_copy_of_a_feature_is_not_shown_twice(fused) -> None:
    from dnahlm_rag.fused_retriever import same_feature_key
    from dnahlm_rag.index import Hit

    row = {"id": "U01317.1:CDS:62186-63610:+", "seq": "ATGGTG", "organism": "Homo sapiens", "type": "CDS"}
    copy = {**row, "id": row["id"] + "#2", "organism": "Homo sapiens (human)"}  # the EMBL copy of the record
    other = {**row, "id": row["id"] + "#3", "seq": "ATGAAA"}  # same span, another feature (a joined location)
    assert same_feature_key(row) == same_feature_key(copy) != same_feature_key(other)
    third = {**row, "id": "X:CDS:0-6:+", "seq": "ATGCCC"}
    docs = fused._fuse([], [Hit(row, 0.9, 0), Hit(copy, 0.9, 1), Hit(other, 0.8, 2), Hit(third, 0.7, 3)], k=3)
    assert [d.metadata["id"] for d in docs] == [row["id"], other["id"], third["id"]]
    assert [d.metadata["rank"] for d in docs] == [0, 1, 2]


def test_low_complexity_orfs_are_said_to_find_compositional_hits(fused) -> None:
    from dnahlm_rag.fused_retriever import LOW_SHARE, low_complexity_share

    assert low_complexity_share("K" * 100) == 1.0 and low_complexity_share("MKT") == 0.0
    assert low_complexity_share("MKTAYIAKQRQISFVKSHFSRQ" * 5) == 0.0
    # 30 residues of poly-K after 60 varied ones: windows of 7+ K fall under 2.2 bits, so the 30 K and the 5 before them
    assert abs(low_complexity_share("ACDEFGHIKLMNPQRSTVWY" * 3 + "K" * 30) - 35 / 90) < 1e-9
    lines = fused.provenance("A" * 300)  # poly-A: poly-Lys in every frame
    assert any(x.startswith("the best ORF is of low complexity (100%") for x in lines)
    rng = random.Random(5)
    assert not any("low complexity" in x for x in fused.provenance(random_cds(rng, 80)))
    assert 0 < LOW_SHARE < 1


def test_provenance_reuses_the_orfs_its_retrieval_found(fused) -> None:
    rng = random.Random(9)
    seqs = [random_cds(rng, 70), random_cds(rng, 50)]
    assert fused.retrieve_many([]) == []  # keeps no analyses
    fresh = [fused.provenance(s) for s in seqs]  # ORFs found anew
    fused.retrieve_many(seqs)
    assert fused.analyse(seqs[0]) is fused.analyse(seqs[0])  # the retrieval's own analysis, not a new one
    assert [fused.provenance(s) for s in seqs] == fresh  # the same lines either way
    fused.retrieve_many([seqs[1]])  # only the last call's analyses are kept
    assert fused.analyse(seqs[0]) is not fused.analyse(seqs[0])
