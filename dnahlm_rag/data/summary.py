"""A human-readable summary of a built dataset, from its ``manifest.json`` only."""
from __future__ import annotations

from pathlib import Path

from ..errors import ManifestError
from ..manifest import read_manifest
from .build import FORMAT_VERSION, STAGE


def summarize(folder: str | Path = "data") -> str:
    """Counts per source, per task and split, Mb of DNA and MB of English, as text."""
    m = read_manifest(folder, STAGE, FORMAT_VERSION)
    try:
        return _summarize(folder, m)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ManifestError(f"{folder}/manifest.json lacks or mangles {e}: not a complete data manifest; "
                            "rebuild with `dnahlm data build`") from None


def _summarize(folder: str | Path, m: dict) -> str:
    lines = [f"dataset {folder} (recipe {m['recipe_name']}, seed {m['seed']}, built in {m.get('build_seconds', '?')} s)"]
    dna, en = m["pretrain"]["dna"], m["pretrain"]["english"]
    lines.append(f"pretraining DNA: {m['sizes']['dna_mb']:.1f} Mb ({dna['train_pieces']} train / "
                 f"{dna['valid_pieces']} valid pieces)")
    lines.append(f"pretraining English: {m['sizes']['english_mb']:.1f} MB ({en['train_paragraphs']} train / "
                 f"{en['valid_paragraphs']} valid paragraphs)")
    seg = m["segments"]
    lines.append(f"segments: {seg['total']} ({', '.join(f'{k} {v}' for k, v in seg['per_split'].items())})")
    lines.append(f"held-out organisms: test {m['held_out_organisms']['test']}, valid {m['held_out_organisms']['valid']}")
    lines.append("")
    lines.append(f"{'source':24s} {'records':>8s} {'segments':>9s} {'DNA Mb':>8s} {'Engl MB':>8s} {'malformed':>9s}")
    for name, s in m["sources"].items():
        lines.append(f"{name:24s} {s.get('records', s.get('items', s.get('paragraphs_read', s.get('titles', 0)))):8d} {s.get('segments', 0):9d} "
                     f"{s.get('pretrain_dna_bases', 0) / 1e6:8.2f} {s.get('english_bytes', 0) / 1e6:8.2f} "
                     f"{s.get('malformed', 0):9d}")
    gbf = m["pretrain"]["english"].get("per_source_bytes", {}).get("genbank_features", 0)
    lines.append(f"{'(feature text, train)':24s} {'':8s} {'':9s} {'':8s} {gbf / 1e6:8.2f}")
    lines.append("")
    lines.append(f"{'task':14s} {'train':>7s} {'valid':>7s} {'test':>7s} {'labels':>7s} {'dedup removed':>14s}")
    for name, t in m["tasks"].items():
        if "skipped" in t:
            lines.append(f"{name:14s} skipped: {t['skipped']}")
            continue
        c, r = t["counts"], t["dedup_removed"]
        lines.append(f"{name:14s} {c['train']:7d} {c['valid']:7d} {c['test']:7d} {t.get('labels', '-')!s:>7s} "
                     f"{r['cross_split']:>6d} cross {r['within_split']:>5d} within")
    lines.append("")
    lines.append(f"malformed records skipped: {m['malformed']['total']}")
    for note in m.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
