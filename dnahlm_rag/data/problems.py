"""Malformed input is reported (file + record + reason) and skipped, never a traceback.

Every reader takes a :class:`Problems` and calls :meth:`Problems.report` for a record it cannot
use. The build prints the first few reports, keeps the first ``keep`` in the manifest, and counts
all of them per source.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
import sys
from pathlib import Path

from tqdm import tqdm


@dataclass
class Problems:
    keep: int = 200
    echo: int = 20
    items: list[dict] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    source: str = "?"

    def report(self, file: str | Path, record: str, reason: str) -> None:
        """Record that ``record`` of ``file`` was skipped because of ``reason`` (one line)."""
        reason = " ".join(str(reason).split())[:300]
        self.counts[self.source] += 1
        n = sum(self.counts.values())
        if len(self.items) < self.keep:
            self.items.append({"source": self.source, "file": str(file), "record": record, "reason": reason})
        if n <= self.echo:
            tqdm.write(f"skipped malformed record {record} in {file}: {reason}", file=sys.stderr)
        elif self.echo and n == self.echo + 1:
            tqdm.write("(further malformed records are counted in the manifest)", file=sys.stderr)

    @property
    def total(self) -> int:
        return sum(self.counts.values())
