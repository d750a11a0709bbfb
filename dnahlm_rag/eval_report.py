"""The evaluation's report: ``report.md`` and the plots, rendered from ``results.json``'s dict.

:func:`dnahlm_rag.evaluate.run_eval` measures; this module only formats what it measured (tables
with n, 95% intervals, the paired tests, the goals, task routing) and draws the per-task plots
(systems with error bars; accuracy against k). Percentages are printed from fractions in [0, 1].
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .atomic import write_png
from .evaluate import LM_MODES, RAG_MODES


def _pct(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _ci(c: dict[str, Any], key: str) -> str:
    v, ci = c.get(key), c.get(f"{key}_ci")
    if v is None:
        return ""
    if key == "mcc":
        return f"{v:.3f} ({ci[0]:.3f} to {ci[1]:.3f})" if ci else f"{v:.3f}"
    return f"{_pct(v)} ({_pct(ci[0])}-{_pct(ci[1])})" if ci else _pct(v)


def _split_words(split: str) -> str:
    """How the report names the evaluated split (valid runs are for choosing designs, not for reporting)."""
    if split == "test":
        return "test split"
    return f"**{split} split** (a run for choosing designs: its figures are not the held-out results)"


def _items_words(cfg: dict[str, Any]) -> str:
    """How many items each task was given, in words: "at most 100 per task (splice: all)"."""
    def n(x: int) -> str:
        return str(x) if x else "all"
    text = f"at most {n(cfg['max_items'])} per task" if cfg["max_items"] else "all items of every task"
    extra = cfg.get("task_items") or {}
    if extra:
        text += " (" + ", ".join(f"{t}: {n(v)}" for t, v in extra.items()) + ")"
    return text


def render_report(res: dict[str, Any]) -> str:
    cfg = res["config"]
    L = ["# Evaluation report", "",
         f"Data: `{res['data']}`; base model: `{res['models'].get('base')}`; instruction-tuned model: `{res['models'].get('sft')}`.",
         f"Items: {_split_words(cfg.get('split', 'test'))}, {_items_words(cfg)} (seeded sample, seed {cfg['seed']}), the same items "
         f"for every system. 95% intervals: percentile bootstrap over items ({cfg['n_boot']} resamples). "
         "Paired tests: McNemar (exact binomial under 25 discordant items, else chi-square with continuity correction); "
         "for open tasks also a paired sign-flip permutation test of per-item token F1, which decides their goals.",
         "Closed tasks: LM answers by label scoring (most likely label); `format-valid` is the share of greedy free generations "
         "that parse to an allowed label, `gen acc` their accuracy. Open tasks (product): greedy generation, exact match "
         "(accuracy column) and token F1. RAG and kNN use the same k nearest TRAIN items (k-mer profiles; product: translated proteins re-ranked by homology; splice: base-by-base around the junction, site embedder; trna_aa: anticodon first, tRNA embedder; feature_type: CDS only on protein-level evidence in an open frame longer than chance, else the nearest non-coding windows). "
         "`sft-rag-mix`: the RAG prompt, with the model's answer distribution mixed with the neighbours' answers "
         "(weight fitted on the VALID split, shown per cell as lambda; kNN-LM style, see dnahlm_rag/retrieval_mix.py)."
         + (f" The tuned model's plain prompts (`sft-plain`) on closed tasks end the question with its label hint "
            f"\"{res['sft_label_hint']}\" (the allowed labels), unless the question names them all or the list does "
            "not fit the context (docs/sft.md, \"Instruction data\")." if res.get("sft_label_hint") else ""),
         f"Wall time of this run: {res.get('seconds')} s; {res.get('cells_reused')} of {res.get('cells_total')} cells reused "
         f"from `cells/` (resumed); all cells took {res.get('cell_seconds_total')} s when computed (without loading "
         "tasks and neighbours).", ""]
    if res.get("skipped"):
        L += ["Skipped: " + "; ".join(sorted(set(res["skipped"]))), ""]
    L += ["## Goals (measured)", "", "| goal | status | evidence |", "|---|---|---|"]
    for g in res["goals"]:
        L.append(f"| {g['goal']} | **{g['status']}** | {g['evidence']} |")
    L += ["", "## Split policies (data/manifest.json)", ""]
    for k, v in res.get("data_policies", {}).items():
        L.append(f"- `{k}`: {v}")
    zero = []
    for name, t in res["tasks"].items():
        L += ["", f"## {name}", "",
              f"{t['kind']}, {t['labels'] or 'open-text'} labels; n = {t['n']} of {t['test_size']} test items; "
              f"split: {t['split_policy']}; majority label `{t['majority_label']}`"
              + (f"; best constant answer on {t['constant_chosen_on']}: `{t['constant_answer']}`"
                 if t.get("constant_answer") else "") + ".", ""]
        if t["kind"] == "classification":
            L += ["| system | phrasing | n | accuracy % (CI) | macro-F1 % (CI) | MCC (CI) | format-valid % | gen acc % | zero-shot |",
                  "|---|---|---|---|---|---|---|---|---|"]
        else:
            L += ["| system | phrasing | n | exact match % (CI) | token F1 % (CI) | empty % | zero-shot |", "|---|---|---|---|---|---|---|"]
        for n, c in t["cells"].items():
            ph = c.get("phrasing_id") and f"{c['phrasing']} (`{c['phrasing_id']}`)" or ""
            zs = c.get("zero_shot") or ""
            sysname = c["system"] + (f" (lambda {c['mix_lambda']})" if "mix_lambda" in c else "")
            if zs:
                zero.append(f"{name} / {c['system']} / {ph}: zero-shot {zs}, accuracy {_pct(c['accuracy'])}%")
            if t["kind"] == "classification":
                L.append(f"| {sysname} | {ph} | {c['n']} | {_ci(c, 'accuracy')} | {_ci(c, 'macro_f1')} | {_ci(c, 'mcc')} | "
                         f"{_pct(c.get('format_valid_rate'))} | {_pct(c.get('generation_accuracy'))} | {zs} |")
            else:
                L.append(f"| {sysname} | {ph} | {c['n']} | {_ci(c, 'exact_match')} | {_ci(c, 'token_f1')} | "
                         f"{_pct(c.get('empty_rate'))} | {zs} |")
        rec = t["retrieval_recall_at_k"]
        L += ["", "Retrieval recall@k (a train neighbour carries the gold label): " +
              ", ".join(f"k={k}: {_pct(v)}%" for k, v in rec.items())]
        if t["comparisons"]:
            L += ["", "| comparison | phrasing | A % | B % | A only | B only | test | p |", "|---|---|---|---|---|---|---|---|"]
            for c in t["comparisons"]:
                L.append(f"| {c['a']} vs {c['b']} | {c['phrasing']} | {_pct(c['accuracy_a'])} | {_pct(c['accuracy_b'])} | "
                         f"{c['a_only']} | {c['b_only']} | {c['method']} | {c['p_value']:.3g} |")
            f1 = [c for c in t["comparisons"] if "f1_p_value" in c]
            if f1:
                L += ["", "Token F1, the task's metric (accuracy above is exact match):", "",
                      "| comparison | phrasing | A F1 % | B F1 % | items that differ | test | p |", "|---|---|---|---|---|---|---|"]
                L += [f"| {c['a']} vs {c['b']} | {c['phrasing']} | {_pct(c['token_f1_a'])} | {_pct(c['token_f1_b'])} | "
                      f"{c['f1_differing']} | {c['f1_method']} | {c['f1_p_value']:.3g} |" for c in f1]
        for p in res.get("plots", []):
            if Path(p).stem.startswith(name + "_"):
                L.append(f"\n![{Path(p).stem}]({p})")
    L += routing_report(res.get("routing"))
    L += ["", "## Zero-shot cases", "",
          "A task held out of tuning (`train = false` in prompts/tasks) and phrasings held out of tuning:", ""]
    L += [f"- {z}" for z in zero] or ["- none measured"]
    return "\n".join(L) + "\n"


def routing_report(r: dict[str, Any] | None) -> list[str]:
    """The report's lines on task routing (none when it was not asked for)."""
    if not r:
        return []
    L = ["", "## Task routing (`ask` and `batch` without `--task`)", ""]
    if "skipped" in r:
        return L + [f"Not measured: {r['skipped']}"]
    blind = r.get("blind")
    L += [f"Questions are routed by wording (dnahlm_rag/task_router.py, threshold {r['threshold']} chosen on valid "
          "splits; `none`: a question no task answers). Two sets of researcher questions, test splits: "
          "`prompts/routing/questions_blind.jsonl`, written by someone who never saw the router's wordings (the "
          "held-out figure), and `questions.jsonl`, written by hand before the router, whose errors later wordings "
          "were written after (a development figure). Details: prompts/routing/README.md.", ""]
    for name, m in (("questions_blind.jsonl", blind), ("questions.jsonl", r)):
        if not m:
            continue
        lo, hi = m["accuracy_ci"]
        L += [f"**{name}: {_pct(m['accuracy'])}% right** (95% CI {_pct(lo)}-{_pct(hi)}), n = {m['n']}.", "",
              "| label | right | n |", "|---|---|---|"]
        L += [f"| {k} | {v['right']} | {v['n']} |" for k, v in m["by_label"].items()]
        if m["errors"]:
            L += ["", "| question | label | routed | nearest wording | cosine |", "|---|---|---|---|---|"]
            L += [f"| {e['question']} | {e['label']} | {e['routed']} | {e['wording']} | {e['cosine']:.2f} |"
                  for e in m["errors"]]
        L.append("")
    return L[:-1]


def make_plots(res: dict[str, Any], folder: Path) -> list[Path]:
    """Per task: a bar chart of every system (seen phrasing) with 95% CIs, and accuracy against k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for name, t in res["tasks"].items():
        cells = [c for c in t["cells"].values() if c.get("phrasing", "") in ("", "seen")]
        if not cells:
            continue
        metric = "accuracy" if t["kind"] == "classification" else "token_f1"
        vals = [c[metric] for c in cells]
        lo = [c[metric] - c[f"{metric}_ci"][0] for c in cells]
        hi = [c[f"{metric}_ci"][1] - c[metric] for c in cells]
        colors = ["tab:blue" if c["mode"] in RAG_MODES else "tab:orange" if c["mode"] in LM_MODES else "tab:gray" for c in cells]
        fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(cells) + 2), 3.6))
        ax.bar(range(len(cells)), vals, yerr=[lo, hi], color=colors, capsize=3)
        ax.set_xticks(range(len(cells)), [c["system"] for c in cells], rotation=40, ha="right", fontsize=8)
        ax.set(ylabel=metric.replace("_", " "), title=f"{name} (n={t['n']}): RAG (blue), plain LM (orange), baselines (gray)",
               ylim=(0, 1))
        ax.title.set_fontsize(9)
        fig.tight_layout()
        p = folder / f"{name}_systems.png"
        write_png(fig, p)
        plt.close(fig)
        out.append(p)
        fig, ax = plt.subplots(figsize=(5, 3.4))
        drew = False
        for mode, style, ph in (("sft-rag", "o-", "seen"), ("sft-rag", "s--", "held-out"), ("knn", "^:", ""),
                                ("sft-rag-mix", "D", "seen")):
            pts = sorted((c["k"], c[metric], c[f"{metric}_ci"]) for c in t["cells"].values()
                         if c["mode"] == mode and c.get("phrasing", "") == ph)
            if pts:
                ks, v, ci = zip(*pts)
                ax.errorbar(ks, v, yerr=[[a - b[0] for a, b in zip(v, ci)], [b[1] - a for a, b in zip(v, ci)]],
                            fmt=style, capsize=3, label=f"{mode} {ph}".strip())
                drew = True
        for c in t["cells"].values():
            if c["mode"] in ("sft-plain", "base-plain", "majority", "constant") and c.get("phrasing", "") in ("", "seen"):
                ax.axhline(c[metric], ls="--", lw=0.8, color={"sft-plain": "tab:orange", "base-plain": "tab:red",
                                                              "constant": "tab:purple"}.get(c["mode"], "gray"),
                           label=c["system"])
                drew = True
        if drew:
            ax.set_xticks(sorted({c["k"] for c in t["cells"].values() if c["k"]}))
            ax.set(xlabel="k (neighbours)", ylabel=metric.replace("_", " "), title=f"{name}: {metric.replace('_', ' ')} against k", ylim=(0, 1))
            ax.legend(fontsize=7)
            fig.tight_layout()
            p = folder / f"{name}_k.png"
            write_png(fig, p)
            out.append(p)
        plt.close(fig)
    return out
