"""The registry of data sources: which Debian package holds which file, and what it is.

This module is data, not logic. Each :class:`Source` names a package, glob patterns relative to
the package's extracted root (``cache/extracted/<package>/``) and a ``kind`` that says which
reader handles it. ``organism`` is the species of every record of a FASTA source (FASTA headers
do not reliably carry it), or, for GenBank, an override where the file's organism field is a
placeholder.

Chosen on purpose:

* ``cct-examples`` ships E. coli twice (``E_coli.gbk.gz`` = ``NC_000913.gbk.gz``) and the scripts'
  test inputs three times; each genome is listed once.
* ``prokka_multicontig.gbk`` says ``"Genus species"``; BLAST of its 16S rRNA against
  Combined16SrRNA gives Pseudomonas (99.7% identity, P. fluorescens group), so it is labelled as a
  Pseudomonas with its own strain key.
* ``smalt-examples/contigs.fa.gz`` (117 Mb of unknown origin) is not used: an unknown organism
  cannot be checked against the held-out test organisms.
* ``trf-examples`` (synthetic tandem repeats) is not used.
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("genbank", "embl", "fasta", "statlog_rda", "promoter_rda", "go_sqlite", "obo", "tutorial",
         "wordnet", "blastdb16s")


@dataclass(frozen=True)
class Source:
    name: str
    package: str
    paths: tuple[str, ...]
    kind: str
    organism: str | None = None
    what: str = ""


_CCT = "usr/share/doc/cct/examples/sample_projects"
_SMALT = "usr/share/doc/smalt/test/data"
_RAGOUT = "usr/share/doc/ragout/examples"
_BIOPY = "usr/share/doc/python-biopython-doc"
_ET = "usr/share/EMBOSS/test"

SOURCES: tuple[Source, ...] = (
    # --- annotated genomes (GenBank / EMBL) ---
    Source("ecoli_k12", "cct-examples", (f"{_CCT}/sample_project_3/comparison_genomes/NC_000913.gbk.gz",), "genbank",
           what="E. coli K-12 complete genome, rich /note and /function text"),
    Source("bradyrhizobium", "cct-examples", (f"{_CCT}/sample_project_3/reference_genome/NC_004463.gbk.gz",), "genbank",
           what="Bradyrhizobium japonicum USDA 110 (9.1 Mb)"),
    Source("archaea_cct", "cct-examples", (f"{_CCT}/sample_project_2/*/*.gbk.gz",), "genbank",
           what="Methanococcus, Methanosarcina, Thermococcus, Methanothermobacter genomes"),
    Source("organelles_cct", "cct-examples", (f"{_CCT}/sample_project_5/comparison_genomes/Arabidopsis_mito.gbk.gz",
                                              f"{_CCT}/sample_project_5/comparison_genomes/Human_mito.gbk.gz",
                                              f"{_CCT}/sample_project_5/reference_genome/NC_001823.gbk.gz"), "genbank",
           what="human, Arabidopsis and Reclinomonas mitochondrial genomes"),
    Source("phytoplasma_cct", "cct-examples", (f"{_CCT}/sample_project_1/*/*.gbk.gz",), "genbank",
           what="Aster yellows phytoplasma plasmids"),
    Source("roseobacter", "cct-examples", ("usr/share/cct/lib/scripts/get_cds/test_input/R_denitrificans.gbk",), "genbank",
           what="Roseobacter denitrificans genome"),
    Source("pseudomonas_prokka", "cct-examples", ("usr/share/cct/lib/scripts/get_cds/test_input/prokka_multicontig.gbk",),
           "genbank", organism="Pseudomonas sp. prokka-example",
           what="Prokka annotation (48 contigs) whose organism field is a placeholder; 16S says Pseudomonas"),
    Source("kaptive_loci", "kaptive-data", ("usr/share/kaptive/reference_database/*.gbk",), "genbank",
           what="Klebsiella / Acinetobacter capsule and O-antigen loci"),
    Source("leptospira", "any2fasta-examples", ("usr/share/doc/any2fasta/examples/test.gbk.gz",), "genbank",
           what="Leptospira kirschneri contigs"),
    Source("emboss_genbank", "emboss-test", (f"{_ET}/genbank/gb*.seq",), "genbank",
           what="GenBank division samples (primates, bacteria, plants, ...)"),
    Source("emboss_embl", "emboss-test", (f"{_ET}/embl/*.dat",), "embl", what="EMBL division samples"),
    Source("biopython_genbank", "python-biopython-doc", (f"{_BIOPY}/Tests/GenBank/*.gb", f"{_BIOPY}/Tests/GenBank/*.gb.gz",
                                                        f"{_BIOPY}/Tests/GenBank/*.gbk.gz"), "genbank",
           what="Biopython's GenBank test records (some deliberately malformed)"),
    Source("biopython_embl", "python-biopython-doc", (f"{_BIOPY}/Tests/EMBL/*.embl", f"{_BIOPY}/Tests/EMBL/*.embl.gz"),
           "embl", what="Biopython's EMBL test records (some deliberately malformed)"),
    # --- plain genomes (FASTA) for pretraining ---
    Source("human_chrX", "smalt-examples", (f"{_SMALT}/hs37chrXtrunc.fa.gz",), "fasta", organism="Homo sapiens",
           what="GRCh37 chrX, first 70 Mb"),
    Source("plasmodium_falciparum", "smalt-examples", (f"{_SMALT}/genome_1.fa.gz",), "fasta",
           organism="Plasmodium falciparum", what="P. falciparum genome"),
    Source("plasmodium_knowlesi", "smalt-examples", (f"{_SMALT}/cigar_ref.fa.gz",), "fasta",
           organism="Plasmodium knowlesi", what="P. knowlesi contigs"),
    Source("dictyostelium", "spaln-data", ("usr/share/spaln/seqdb/dictdisc_g.gf.gz",), "fasta",
           organism="Dictyostelium discoideum", what="D. discoideum AX4 chromosomes"),
    Source("drosophila_upstream", "r-bioc-biostrings", ("usr/lib/R/site-library/Biostrings/extdata/dm3_upstream2000.fa.gz",),
           "fasta", organism="Drosophila melanogaster", what="2-kb upstream regions of dm3 genes"),
    Source("celegans_chrX", "r-bioc-bsgenome", ("usr/lib/R/site-library/BSgenome/extdata/ce2chrX.fa.gz",), "fasta",
           organism="Caenorhabditis elegans", what="C. elegans chrX (ce2)"),
    Source("ecoli_ragout", "ragout-examples", (f"{_RAGOUT}/E.Coli/references/*.fasta.gz",), "fasta",
           organism="Escherichia coli", what="E. coli MG1655 and DH1"),
    Source("vibrio_ragout", "ragout-examples", (f"{_RAGOUT}/V.Cholerae/references/*.fasta.gz",), "fasta",
           organism="Vibrio cholerae", what="V. cholerae references"),
    Source("staph_ragout", "ragout-examples", (f"{_RAGOUT}/S.Aureus/references/*.fasta.gz",), "fasta",
           organism="Staphylococcus aureus", what="S. aureus references"),
    Source("hpylori_ragout", "ragout-examples", (f"{_RAGOUT}/H.Pylori/references/*.fasta.gz",), "fasta",
           organism="Helicobacter pylori", what="H. pylori references"),
    Source("staph_sibelia", "sibelia-examples", ("usr/share/doc/sibelia/examples/C-Sibelia/Staphylococcus_aureus/NCTC8325.fasta.gz",),
           "fasta", organism="Staphylococcus aureus", what="S. aureus NCTC 8325"),
    Source("ecoli_bowtie", "bowtie-examples", ("usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz",), "fasta",
           organism="Escherichia coli", what="E. coli 536"),
    Source("klebsiella_kaptive", "kaptive-example", ("usr/share/doc/kaptive/examples/exact_match.fasta.gz",
                                                     "usr/share/doc/kaptive/examples/inexact_match.fasta.gz"), "fasta",
           organism="Klebsiella pneumoniae", what="Klebsiella assemblies"),
    Source("phage_lambda", "bowtie2-examples", ("usr/share/doc/bowtie2/examples/reference/lambda_virus.fa.gz",), "fasta",
           organism="Escherichia phage lambda", what="phage lambda (48.5 kb)"),
    Source("human_chr1_start", "python-biopython-doc", (f"{_BIOPY}/Tests/BWA/human_g1k_v37_truncated.fasta.gz",), "fasta",
           organism="Homo sapiens", what="first 240 kb of GRCh37 chr1 (tiny recipe's next_kmer source)"),
    # --- labelled benchmarks ---
    Source("statlog_splice", "r-cran-mlbench", ("usr/lib/R/site-library/mlbench/data/DNA.rda",), "statlog_rda",
           organism="primates", what="StatLog primate splice junctions (3,186 x 60 nt)"),
    Source("ecoli_promoters", "r-cran-kernlab", ("usr/lib/R/site-library/kernlab/data/promotergene.rda",), "promoter_rda",
           organism="Escherichia coli", what="E. coli promoters (106 x 57 nt)"),
    Source("combined16s", "ncbi-rrna-data", ("usr/share/ncbi/data/Combined16SrRNA.nsq",), "blastdb16s",
           what="NCBI Combined16SrRNA BLAST database (220k sequences)"),
    # --- English ---
    Source("go_definitions", "r-bioc-go.db", ("usr/lib/R/site-library/GO.db/extdata/GO.sqlite",), "go_sqlite",
           what="Gene Ontology term definitions"),
    Source("so_definitions", "emboss-data", ("usr/share/EMBOSS/data/OBO/so.obo",), "obo", what="Sequence Ontology definitions"),
    Source("chebi_definitions", "emboss-data", ("usr/share/EMBOSS/data/OBO/chebi.obo",), "obo", what="ChEBI definitions"),
    Source("biopython_tutorial", "python-biopython-doc", (f"{_BIOPY}/Doc/Tutorial.txt.gz",), "tutorial",
           what="Biopython tutorial prose (code removed)"),
    Source("wordnet_glosses", "wordnet-base", ("usr/share/wordnet/data.noun", "usr/share/wordnet/data.verb",
                                               "usr/share/wordnet/data.adj", "usr/share/wordnet/data.adv"), "wordnet",
           what="WordNet glosses (general English)"),
)

BY_NAME: dict[str, Source] = {s.name: s for s in SOURCES}
assert len(BY_NAME) == len(SOURCES), "source names must be unique"
assert all(s.kind in KINDS for s in SOURCES)

#: Tools some sources need besides Python (not fetched: installed as a system package).
TOOL_PACKAGES = {"blastdbcmd": "ncbi-blast+"}


def all_packages() -> list[str]:
    """Every package the registry knows, in first-use order."""
    return list(dict.fromkeys(s.package for s in SOURCES))


def sources_for(packages: list[str], exclude: list[str] | None = None) -> list[Source]:
    """Registry sources whose package is in ``packages``, minus the names in ``exclude``."""
    pk, ex = set(packages), set(exclude or ())
    return [s for s in SOURCES if s.package in pk and s.name not in ex]
