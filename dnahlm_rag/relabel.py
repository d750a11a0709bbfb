"""Relabelled few-shot records for instruction tuning: answers the model can only read off its examples.

The tuned model answers a task it was never tuned on (the zero-shot `promoter`) in the labels of the
tasks it knows ("tRNA", "Trp"), although every retrieved example in its prompt shows the answer
"promoter" or "non-promoter": it learned each task's labels as a fixed vocabulary, not to take the
answer format from the examples (docs/sft.md, "Relabelled examples"). A share of the training
records with examples (instruct recipe key ``relabel``) get their labels renamed, consistently in
the examples, the expected output and the label list a phrasing spells out, to made-up words
(:func:`new_name`: "tomeka", "rilu", "non-rilu"). The right answer is then the renamed label,
which only the prompt shows. The same idea as symbol tuning (Wei et al. 2023, arXiv:2305.08298).

Measured at stop 29 on the 3 x 192 CPU model (docs/sft.md): neither a fixed list of names nor these
made-up ones got the model to answer promoter in its labels, and both cost the tuned tasks. Again
at stop 33 on the 10,000-step base, which does copy known labels from its examples: the model then
copied the first token of the examples' answer ("p" of "promoter") and no further, and plain answers
in new wordings parsed less often. The key is 0 in every shipped recipe, kept for a larger model.

Only labels change; sequences, the wording and the number of examples stay. Everything is drawn
from the caller's ``random.Random``, so a build stays a pure function of its seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from .prompts import format_labels

# New names are made-up words (consonant-vowel syllables, 2-3 of them: "tomeka", "rilu"), so no
# name can be learnt as a label of its own and the only way to the answer is to copy it from the
# examples. Two classes often come as a complementary pair ("promoter" / "non-promoter"), so when two
# labels are renamed, with NON_PAIR the second is named "non-" + the first's name.
CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
NON_PAIR = 0.3


def new_name(rng: random.Random, taken: set[str]) -> str:
    """A made-up word not in ``taken`` (2-3 consonant-vowel syllables)."""
    while True:
        name = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 3)))
        if name not in taken:
            return name


def relabel(record: dict[str, Any], labels: Sequence[str], listed: str, rng: random.Random) -> dict[str, str] | None:
    """Rename the labels of ``record`` (an instruct record with ``examples``) in place; return the map.

    ``labels`` are the task's allowed labels; ``listed`` is their formatted list as the instruction
    spells it (``""`` when the phrasing lists none). Renamed: every label in the examples and the
    output, and with ``listed`` every label of the task (the list in the instruction is replaced by the
    renamed one). Returns ``None`` and changes nothing when the record has no examples, a label is not
    one of ``labels``, ``listed`` is not in the instruction, or (no list) no example shows the output's
    label: the renamed answer must be readable off the prompt.
    """
    if not record.get("examples"):
        return None
    present = [record["output"], *(str(e["answer"]) for e in record["examples"])]
    if any(x not in labels for x in present):
        return None
    if listed and listed not in record["instruction"]:
        return None
    if not listed and record["output"] not in present[1:]:
        return None
    renamed = list(labels) if listed else sorted(set(present), key=present.index)
    taken = {str(x) for x in labels}
    names: list[str] = []
    for _ in renamed:
        names.append(new_name(rng, taken))
        taken.add(names[-1])
    if len(renamed) == 2 and rng.random() < NON_PAIR:
        names[1] = "non-" + names[0]
    mapping = dict(zip(renamed, names))
    record["output"] = mapping[record["output"]]
    for e in record["examples"]:
        e["answer"] = mapping[str(e["answer"])]
    if listed:
        record["instruction"] = record["instruction"].replace(listed, format_labels([mapping[x] for x in labels]))
    record["relabelled"] = mapping
    return mapping
