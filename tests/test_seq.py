"""DNA normalisation: the documented rules, and properties of the reverse complement."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnahlm_rag.errors import InvalidSequenceError
from dnahlm_rag.seq import acgt_runs, canonical, gc_content, normalize_dna, reverse_complement, split_on_ambiguous

DNA = st.text(alphabet="ACGTRYSWKMBDHVN", max_size=200)


def test_normalisation_rules():
    assert normalize_dna("acgt") == "ACGT"  # lower case (soft-masked) becomes upper case
    assert normalize_dna("ACGU") == "ACGT"  # RNA U becomes T
    assert normalize_dna(" 1 acgtn\n61 nnry ") == "ACGTNNNRY"  # GenBank ORIGIN block
    assert normalize_dna("AC-G.T") == "ACGT"  # alignment gaps removed


@pytest.mark.parametrize("raw", ["", "   \n", "123"])
def test_empty_is_an_error(raw):
    with pytest.raises(InvalidSequenceError, match="empty"):
        normalize_dna(raw)


def test_not_dna_names_character_and_position():
    with pytest.raises(InvalidSequenceError, match=r"'E' at position 3"):
        normalize_dna("ACGEFL")
    with pytest.raises(InvalidSequenceError, match="my query"):
        normalize_dna("hello", what="my query")


def test_reverse_complement_known():
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("ATGR") == "YCAT"  # R (A/G) pairs with Y (C/T)


@given(DNA)
def test_reverse_complement_is_an_involution(s):
    assert reverse_complement(reverse_complement(s)) == s


@given(DNA)
def test_canonical_is_strand_blind(s):
    assert canonical(s) == canonical(reverse_complement(s))


def test_runs_split_on_n_and_iupac():
    assert list(acgt_runs("ACGNNNTTRAC")) == [(0, "ACG"), (6, "TT"), (9, "AC")]
    assert split_on_ambiguous("ACGNNNTTTT", min_len=3) == ["ACG", "TTTT"]


def test_gc_content():
    assert gc_content("GGCC") == 1.0
    assert gc_content("ATGC") == 0.5
    assert gc_content("NNN") == 0.0


def test_sequence_pasted_into_a_question_is_found_and_cut_out() -> None:
    from dnahlm_rag.seq import sequence_in_text

    q, s = sequence_in_text("What does atgaaacgcattagcaccaccattacc encode?")
    assert (q, s) == ("What does this sequence encode?", "ATGAAACGCATTAGCACCACCATTACC")
    # a pasted FASTA record or GenBank ORIGIN block: line breaks, spaces, numbers, RNA U, the header dropped
    q, s = sequence_in_text("Which genus?\n>seq1\nACGUACGTAC GTACGTACGT\n61 ACGTNNTT")
    assert q == "Which genus? this sequence" and s == "ACGUACGTACGTACGTACGTACGTNNTT"  # U kept for rna_note
    q, s = sequence_in_text("Is ACGT a motif in ACGTACGTACGTACGTACGTAAAA?")  # the longest run is taken
    assert s == "ACGTACGTACGTACGTACGTAAAA" and q == "Is ACGT a motif in this sequence?"
    # English made of base letters, a short motif, and DNA glued to other letters are not sequences
    assert sequence_in_text("Is a cat a gene, and can an ant tag a nut?") is None
    assert sequence_in_text("Is this ATGCGTGA a donor?") is None
    assert sequence_in_text("primerXACGTACGTACGTACGTACGTACGT") is None
    # punctuation right after the last chunk of a pasted block keeps the whole block
    q, s = sequence_in_text("What is ACGTACGTAC GTACGTACGT?")
    assert (q, s) == ("What is this sequence?", "ACGTACGTACGTACGTACGT")
    q, s = sequence_in_text("What does ACGTACGTAC GTACGTACGT TTTTTGGGGG? And why")
    assert (q, s) == ("What does this sequence? And why", "ACGTACGTACGTACGTACGTTTTTTGGGGG")
    # a one-letter English word after the sequence stays English
    q, s = sequence_in_text("is agctaagtcctgccctcatttccctctcaggcatgg a splice donor?")
    assert q == "is this sequence a splice donor?" and s == "AGCTAAGTCCTGCCCTCATTTCCCTCTCAGGCATGG"


def test_non_ascii_letters_that_upper_case_to_bases_are_refused() -> None:
    for raw, bad in (("ACGTß", "ß"), ("acgſt", "ſ"), ("ACGTﬅ", "ﬅ")):  # upper(): SS, S, ST, all IUPAC letters
        with pytest.raises(InvalidSequenceError, match=f"character {bad!r}"):
            normalize_dna(raw)


def test_a_pasted_rna_sequence_keeps_its_u_for_the_rna_note() -> None:
    """A sequence pasted into the question reaches ``rna_note`` as written (U kept), as one given
    with --seq does; ``normalize_dna`` then reads it as DNA."""
    from dnahlm_rag.seq import rna_note, sequence_in_text

    q, s = sequence_in_text("What does augaaacgca uuagcaccac cauuacc encode?")
    assert q == "What does this sequence encode?" and s == "AUGAAACGCAUUAGCACCACCAUUACC"
    assert rna_note(s) == "the sequence holds U (RNA): read as DNA, U as T"
    assert normalize_dna(s) == "ATGAAACGCATTAGCACCACCATTACC"
    q, s = sequence_in_text("Would you say atgaaacgcattagcaccaccattacc is a gene?")  # the 'u's of English are not RNA
    assert rna_note(s) is None
