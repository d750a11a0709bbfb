"""Prompt templates: files in ``prompts/`` loaded by name, versioned.

A template file is ``prompts/<name>.v<N>.txt`` with ``{placeholder}`` fields (``str.format``
syntax; ``{{``/``}}`` for literal braces). ``load_prompt("rag")`` loads the newest version,
``load_prompt("rag.v1")`` that version. Only :data:`ALLOWED_FIELDS` may appear; any other field is
an error naming the file and the placeholder, checked at load time.

>>> t = load_prompt("plain.v1")
>>> t.format(question="What is this?", sequence="ACGT").endswith("### Response:\\n")
True
"""
from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import DnaHlmError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
ALLOWED_FIELDS = frozenset({"question", "sequence", "examples", "answer"})
RESPONSE_MARKER = "### Response:"
_NAME = re.compile(r"^(?P<name>[a-z0-9_]+)(?:\.v(?P<version>\d+))?$")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    path: Path
    text: str
    fields: frozenset[str]

    @property
    def id(self) -> str:
        return f"{self.name}.v{self.version}"

    def format(self, **values: str) -> str:
        missing = sorted(self.fields - set(values))
        if missing:
            raise DnaHlmError(f"prompt {self.path.name} needs a value for {{{missing[0]}}}")
        return self.text.format(**{k: v for k, v in values.items() if k in self.fields})


def check_placeholders(text: str, allowed: frozenset[str], where: str) -> frozenset[str]:
    """The ``{placeholder}`` names of ``text``; any name not in ``allowed`` (or one with a format
    spec or conversion) is a :class:`DnaHlmError` naming ``where`` and the placeholder."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise DnaHlmError(f"{where}: bad template syntax ({e})") from None
    names = set()
    for _, field, spec, conv in parsed:
        if field is None:
            continue
        if field not in allowed or spec or conv:
            raise DnaHlmError(f"{where}: unknown placeholder {{{field}}}; allowed: {', '.join(sorted(allowed))}")
        names.add(field)
    return frozenset(names)


def _fields(text: str, path: Path) -> frozenset[str]:
    return check_placeholders(text, ALLOWED_FIELDS, f"prompt {path}")


def load_prompt(name: str, prompts_dir: str | Path | None = None) -> PromptTemplate:
    """Load ``<name>.v<N>.txt`` (newest N when ``name`` has no ``.vN``) from ``prompts_dir``."""
    d = Path(prompts_dir) if prompts_dir is not None else PROMPTS_DIR
    m = _NAME.match(name)
    if not m:
        raise DnaHlmError(f"bad prompt name {name!r}: expected NAME or NAME.vN (e.g. rag or rag.v1)")
    base = m["name"]
    versions = sorted(int(p.name[len(base) + 2 : -4]) for p in d.glob(f"{base}.v*.txt")
                      if p.name[len(base) + 2 : -4].isdigit())
    if not versions:
        known = sorted({p.name.split(".v")[0] for p in d.glob("*.v*.txt")})
        raise DnaHlmError(f"no prompt named {base!r} in {d}; known: {', '.join(known) or 'none'}")
    version = int(m["version"]) if m["version"] else versions[-1]
    path = d / f"{base}.v{version}.txt"
    if not path.is_file():
        raise DnaHlmError(f"no prompt {base}.v{version} in {d}; versions: {', '.join(f'v{v}' for v in versions)}")
    text = path.read_text(encoding="utf-8")
    return PromptTemplate(base, version, path, text, _fields(text, path))


def format_labels(labels: Sequence[str]) -> str:
    """A label list as a task phrasing's ``{labels}`` renders it: ``["a", "b", "c"]`` -> ``"a, b or c"``."""
    labels = list(labels)
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " or " + labels[-1]


#: The one placeholder a label hint may use (:func:`with_label_hint`).
HINT_FIELDS = frozenset({"labels"})


def names_word(text: str, word: str) -> bool:
    """Whether ``text`` contains ``word`` as a whole word, case aside; a hyphen joins words, so
    ``non-promoter`` does not name ``promoter``."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE) is not None


def names_every_label(question: str, labels: Sequence[str]) -> bool:
    """Whether ``question`` names each of ``labels`` as a whole word (:func:`names_word`)."""
    return all(names_word(question, lab) for lab in labels)


def with_label_hint(question: str, labels: Sequence[str] | None, hint: str) -> str:
    """``question`` followed by ``hint`` (its ``{labels}`` rendered as :func:`format_labels` does),
    for a plain prompt of a closed-label task: the model then sees the allowed answers even when
    the wording does not list them. Unchanged when ``hint`` is empty, the task is open (no labels)
    or ``question`` already names every label.

    >>> with_label_hint("Amino acid of this tRNA?", ["Ala", "Gly"], "Answer with one of {labels}.")
    'Amino acid of this tRNA? Answer with one of Ala or Gly.'
    >>> with_label_hint("Ala or Gly?", ["Ala", "Gly"], "Answer with one of {labels}.")
    'Ala or Gly?'
    """
    if not hint or not labels or names_every_label(question, labels):
        return question
    check_placeholders(hint, HINT_FIELDS, "label hint")
    return f"{question.rstrip()} {hint.format(labels=format_labels(labels))}"
