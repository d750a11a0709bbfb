"""Wording noise for instruction tuning: the same question, worded a little differently.

A small model tuned on a fixed list of phrasings learns each wording as a key: asked in a wording
it never saw, it may answer in another task's labels or in no label at all (docs/sft.md, "Answer
format"). Noise applied to a share of the training instructions (instruct recipe key
``wording_noise``) breaks that key: words dropped, case folded, punctuation changed, a greeting or a
sign-off added. The model then has to read the content words and the sequence, not the exact
string.

Only the words of the instruction change: the allowed labels a phrasing lists (``{labels}``) are
never dropped or re-cased, so the answer format the instruction states stays true. Everything is
drawn from the caller's ``random.Random``, so a build stays a pure function of its seed.
"""

from __future__ import annotations

import random
import re

# Openers and sign-offs of questions people type; task-neutral (none names a task or a label).
PREFIXES = ("Please:", "Quick question:", "Hi,", "Q:", "Task:", "Hey,", "Question:", "Help me out:",
            "I have a sequence.", "Can you help?")
SUFFIXES = ("Thanks.", "Thank you!", "Answer briefly.", "Cheers", "Thanks in advance.", "Be concise.")

WORD_DROP = 0.15  # chance of dropping each word of the instruction (labels excluded)
LOWER = 0.3  # chance of lower-casing the whole instruction (labels excluded)
PUNCT = 0.3  # chance of removing the final punctuation, or swapping it for "?"
OPENER = 0.25  # chance of a prefix, and independently of a suffix

_LABELS = "\x00labels\x00"  # stands for the formatted label list while the words are perturbed
_END = re.compile(r"[.?!:]+$")


def perturb(instruction: str, rng: random.Random, labels_text: str = "") -> str:
    """``instruction`` with noise; ``labels_text`` (the formatted labels) is kept verbatim if present.

    Words are whitespace-separated tokens; at least two of the original words survive the drop
    (otherwise none is dropped).
    """
    text = instruction.replace(labels_text, _LABELS) if labels_text else instruction
    words = text.split()
    kept = [w for w in words if _LABELS in w or rng.random() >= WORD_DROP]
    if sum(_LABELS not in w for w in kept) >= 2:
        words = kept
    if rng.random() < LOWER:
        words = [w if _LABELS in w else w.lower() for w in words]
    if words and _LABELS not in words[-1] and rng.random() < PUNCT:
        last = _END.sub("", words[-1])
        words[-1] = last + "?" if rng.random() < 0.5 else last
        if not words[-1]:
            words.pop()
    if rng.random() < OPENER:
        words.insert(0, rng.choice(PREFIXES))
    if rng.random() < OPENER:
        words.append(rng.choice(SUFFIXES))
    out = " ".join(words)
    return out.replace(_LABELS, labels_text) if labels_text else out
