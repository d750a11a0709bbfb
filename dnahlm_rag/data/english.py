"""Pretraining English: biology prose, cleaned, one paragraph per line.

Readers (each yields paragraphs as plain strings):

* :func:`go_definitions` — ``GO.sqlite`` table ``go_term``: ``"<term>: <definition>"``;
* :func:`obo_definitions` — OBO ``[Term]`` stanzas (SO, ChEBI): ``"<name>: <def>"``, obsolete
  terms and the ``[refs]`` after a definition dropped;
* :func:`tutorial_paragraphs` — the Biopython tutorial's prose: code blocks (``<<`` ... ``>>``),
  interpreter lines, headings, their underlines and the table of contents removed;
* :func:`wordnet_glosses` — WordNet ``data.*`` files: ``"<word>: <gloss>"``;
* GenBank feature text of **train** organisms only (built in :mod:`.build` via
  :func:`feature_paragraph`), so no test organism's annotation is in the corpus.

:class:`EnglishWriter` cleans (whitespace collapsed, control characters removed, too short or
mostly non-letter paragraphs dropped), drops exact repeats (by hash), caps each source in
megabytes and sends ``valid_permille`` of the paragraphs (by hash) to ``english.valid.txt``.
"""
from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from .genbank import Feature, open_text
from .splits import in_permille

_WS = re.compile(r"\s+")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_OBO_DEF = re.compile(r'^def:\s*"((?:[^"\\]|\\.)*)"')
_HYPOTHETICAL = re.compile(r"\b(hypothetical|uncharacteri[sz]ed|unknown function|putative protein)\b", re.I)


def clean(text: str) -> str:
    """One line: control characters removed, whitespace collapsed, stripped."""
    return _WS.sub(" ", _CTRL.sub(" ", text)).strip()


def looks_like_prose(text: str, min_chars: int) -> bool:
    """At least ``min_chars`` long, four words, and at least 70% letters or spaces."""
    if len(text) < min_chars or len(text.split()) < 4:
        return False
    letters = sum(c.isalpha() or c == " " for c in text)
    return letters / len(text) >= 0.7


def go_definitions(path: str | Path) -> Iterator[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for term, definition in con.execute(
                "SELECT term, definition FROM go_term WHERE definition IS NOT NULL ORDER BY go_id"):
            if definition and definition.strip():
                yield f"{term}: {definition}"
    finally:
        con.close()


def obo_definitions(path: str | Path) -> Iterator[str]:
    name, definition, obsolete, in_term = None, None, False, False

    def emit() -> str | None:
        if in_term and name and definition and not obsolete:
            return f"{name}: {definition}"
        return None

    with open_text(path) as f:
        for line in f:
            if line.startswith("["):
                if (p := emit()) is not None:
                    yield p
                in_term = line.strip() == "[Term]"
                name, definition, obsolete = None, None, False
            elif line.startswith("name:"):
                name = line[5:].strip()
            elif line.startswith("def:"):
                m = _OBO_DEF.match(line)
                if m:
                    definition = m.group(1).replace('\\"', '"').replace("\\n", " ")
            elif line.startswith("is_obsolete: true"):
                obsolete = True
    if (p := emit()) is not None:
        yield p


_TOC = re.compile(r"^\s*-\s+(Chapter\s+)?\d+(\.\d+)*\s")
_UNDERLINE = re.compile(r"^\s*([*=\-~^#]{2,}\s*)+$")


def tutorial_paragraphs(path: str | Path) -> Iterator[str]:
    buf: list[str] = []
    in_code = False
    with open_text(path) as f:
        for line in f:
            s = line.rstrip("\n")
            if in_code:
                if s.strip().endswith(">>") and not s.strip().endswith(">>>"):
                    in_code = False
                continue
            if s.lstrip().startswith("<<"):
                in_code = not s.strip().endswith(">>") or s.strip() == "<<"
                if buf:
                    yield " ".join(buf)
                    buf = []
                continue
            if not s.strip() or _UNDERLINE.match(s):
                if buf:
                    yield " ".join(buf)
                buf = []
                continue
            if _TOC.match(s) or s.lstrip().startswith((">>>", "...", "$ ", "%")):
                continue
            buf.append(s.strip())
    if buf:
        yield " ".join(buf)


def wordnet_glosses(path: str | Path) -> Iterator[str]:
    with open_text(path) as f:
        for line in f:
            if line.startswith(" ") or " | " not in line:
                continue  # licence header
            head, gloss = line.split(" | ", 1)
            fields = head.split()
            if len(fields) < 5:
                continue
            word = fields[4].replace("_", " ")
            word = re.sub(r"\(\w+\)$", "", word)  # adjective markers like (a), (p)
            yield f"{word}: {gloss.strip()}"


def feature_paragraph(feature: Feature) -> str | None:
    """English from a feature's qualifiers without coordinates; None when there is nothing to say."""
    q = feature.qualifiers
    product = feature.product
    if (not product or _HYPOTHETICAL.search(product)) and not q.get("function") and not q.get("note"):
        return None
    s = ""
    if q.get("gene") and product:
        s = f"The {q['gene']} gene encodes {product}."
    elif product:
        s = f"{product[0].upper()}{product[1:]}."
    if q.get("function"):
        s += f" Function: {q['function'].rstrip('.')}."
    if q.get("note"):
        s += f" {q['note'].rstrip('.')}."
    return s.strip() or None


class EnglishWriter:
    """Cleans, deduplicates, caps and splits paragraphs into the train/valid files."""

    def __init__(self, train: TextIO, valid: TextIO, valid_permille: int, min_chars: int):
        self.files = {"train": train, "valid": valid}
        self.valid_permille = valid_permille
        self.min_chars = min_chars
        self.bytes: Counter = Counter()       # source -> bytes written
        self.split_bytes: Counter = Counter()
        self.lines: Counter = Counter()       # split -> paragraphs
        self.dropped: Counter = Counter()     # reason -> n
        self._seen: set[bytes] = set()

    def add(self, source: str, text: str, cap_bytes: int) -> bool:
        """Write one paragraph (after cleaning) unless it is junk, a repeat, or over the cap."""
        line = clean(text)
        if not looks_like_prose(line, self.min_chars):
            self.dropped["not_prose"] += 1
            return False
        h = hashlib.sha1(line.lower().encode()).digest()[:10]
        if h in self._seen:
            self.dropped["duplicate"] += 1
            return False
        n = len(line.encode()) + 1
        if self.bytes[source] + n > cap_bytes:
            self.dropped["over_cap"] += 1
            return False
        self._seen.add(h)
        split = "valid" if in_permille(line, self.valid_permille) else "train"
        self.files[split].write(line + "\n")
        self.bytes[source] += n
        self.split_bytes[split] += n
        self.lines[split] += 1
        return True
