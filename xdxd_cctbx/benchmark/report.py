"""Benchmark summary and reports: PREFIX.json, PREFIX.md and PNG plots.

Match rate = matched structures / all structures tried (failures count as no
match), per method x d_min; also the strict rate (elements agree too), times,
and the same split by class (organic / metal-organic) when the set gives it.
"""
from __future__ import annotations

import json
import logging
import math
import statistics
from typing import Dict, Iterable, List, Optional, Sequence

from xdxd_cctbx.benchmark.runner import FULL, d_min_label

logger = logging.getLogger(__name__)


def _as_dict(result) -> dict:
    return result if isinstance(result, dict) else result.as_dict()


def _d_sort_key(label: str):
    return (0, 0.0) if label == FULL else (1, float(label))


def group_figures(rows: Sequence[dict]) -> dict:
    """Figures of one group of results (one method at one d_min, say)."""
    n = len(rows)
    n_match = sum(1 for r in rows if r.get("match"))
    n_strict = sum(1 for r in rows if r.get("match_strict"))
    n_error = sum(1 for r in rows if r.get("error"))
    seconds = [r["seconds"] for r in rows if r.get("seconds") is not None]
    rmsds = [r["rmsd"] for r in rows if r.get("match") and r.get("rmsd") is not None]
    fractions = [r.get("matched_fraction") or 0.0 for r in rows]
    return {
        "n": n,
        "n_match": n_match,
        "match_rate": round(n_match / n, 4) if n else None,
        "n_match_strict": n_strict,
        "match_strict_rate": round(n_strict / n, 4) if n else None,
        "n_error": n_error,
        "mean_matched_fraction": round(statistics.fmean(fractions), 4) if fractions else None,
        "median_rmsd_matched": round(statistics.median(rmsds), 4) if rmsds else None,
        "median_seconds": round(statistics.median(seconds), 2) if seconds else None,
        "mean_seconds": round(statistics.fmean(seconds), 2) if seconds else None,
        "total_seconds": round(sum(seconds), 1) if seconds else 0.0,
    }


def summarize(results: Iterable) -> dict:
    """{"by_method_d_min": [...], "by_class": [...], "errors": {...}} of the results."""
    rows = [_as_dict(r) for r in results]
    methods = _ordered(r["method"] for r in rows)
    d_labels = sorted({d_min_label(r["d_min"]) for r in rows}, key=_d_sort_key)
    classes = _ordered(r["cls"] for r in rows if r.get("cls"))
    by_method_d_min = []
    by_class = []
    for method in methods:
        for d in d_labels:
            group = [r for r in rows if r["method"] == method and d_min_label(r["d_min"]) == d]
            if not group:
                continue
            by_method_d_min.append({"method": method, "d_min": d, **group_figures(group)})
            for cls in classes:
                sub = [r for r in group if r.get("cls") == cls]
                if sub:
                    by_class.append({"cls": cls, "method": method, "d_min": d, **group_figures(sub)})
    by_class.sort(key=lambda g: classes.index(g["cls"]))
    by_molecule_type = []
    for method in methods:
        for d in d_labels:
            group = [r for r in rows if r["method"] == method and d_min_label(r["d_min"]) == d
                     and r.get("molecule_types")]
            for kind in ("single", "several", "on_symmetry"):
                sub = [r for r in group if kind in r["molecule_types"]]
                if sub:
                    by_molecule_type.append({"type": kind, "method": method, "d_min": d, **group_figures(sub)})
    errors: Dict[str, int] = {}
    for r in rows:
        if r.get("error"):
            key = r["error"].split(":")[0]
            errors[key] = errors.get(key, 0) + 1
    return {
        "n_structures": len({r["name"] for r in rows}),
        "n_tasks": len(rows),
        "methods": methods,
        "d_min": d_labels,
        "classes": classes,
        "by_method_d_min": by_method_d_min,
        "by_class": by_class,
        "by_molecule_type": by_molecule_type,
        "error_kinds": errors,
    }


def _ordered(values: Iterable) -> list:
    out: list = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


# ------------------------------------------------------------------ writing


def write_report(prefix: str, results: Sequence, summary: Optional[dict] = None,
                 meta: Optional[dict] = None, plots: bool = True) -> List[str]:
    """Write PREFIX.json, PREFIX.md and (matplotlib permitting) PREFIX_*.png; the paths."""
    from xdxd_cctbx.io.model_writers import write_atomically

    rows = [_as_dict(r) for r in results]
    summary = summary if summary is not None else summarize(rows)
    document = _finite({"meta": meta or {}, "summary": summary, "results": rows})
    paths = [prefix + ".json", prefix + ".md"]
    write_atomically(paths[0], json.dumps(document, indent=1, default=_json_default) + "\n")
    write_atomically(paths[1], markdown_report(rows, summary, meta))
    if plots:
        paths += write_plots(prefix, rows, summary)
    return paths


def _json_default(value):
    return str(value)


def _finite(value):
    """NaN/inf -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _pct(n: int, total: int) -> str:
    return f"{n}/{total} ({100.0 * n / total:.0f} %)" if total else "-"


def _sec(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown_report(rows: Sequence[dict], summary: dict, meta: Optional[dict] = None) -> str:
    """The Markdown report: match-rate table (method x d_min), details, per structure."""
    meta = meta or {}
    lines = ["# xdxd.benchmark", ""]
    if meta:
        for key in ("set", "n_structures", "methods", "d_min", "seed", "noise", "nproc", "timeout", "wall_seconds",
                    "note", "git_commit"):
            if key in meta:
                value = meta[key]
                if isinstance(value, (list, tuple)):
                    value = ", ".join(str(v) for v in value)
                lines.append(f"- {key}: {value}")
        lines.append("")
    d_labels = summary["d_min"]
    groups = {(g["method"], g["d_min"]): g for g in summary["by_method_d_min"]}

    def pivot(title, figure):
        out = [f"## {title}", "", "| method | " + " | ".join(_d_head(d) for d in d_labels) + " |",
               "|---|" + "---|" * len(d_labels)]
        for method in summary["methods"]:
            cells = [figure(groups[(method, d)]) if (method, d) in groups else "-" for d in d_labels]
            out.append(f"| {method} | " + " | ".join(cells) + " |")
        return out + [""]

    lines += pivot("Match rate (all non-H atoms within 0.5 A; failures count)",
                   lambda g: _pct(g["n_match"], g["n"]))
    lines += pivot("Strict match rate (elements agree too)", lambda g: _pct(g["n_match_strict"], g["n"]))
    lines += pivot("Median time per structure (s)", lambda g: _sec(g["median_seconds"]))
    lines += ["## Details", "",
              "| method | d_min | n | match | strict | errors | mean matched fraction | median rmsd (A) "
              "| median s | mean s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for g in summary["by_method_d_min"]:
        lines.append(
            f"| {g['method']} | {g['d_min']} | {g['n']} | {_pct(g['n_match'], g['n'])} | "
            f"{_pct(g['n_match_strict'], g['n'])} | {g['n_error']} | {_fmt(g['mean_matched_fraction'])} | "
            f"{_fmt(g['median_rmsd_matched'])} | {_sec(g['median_seconds'])} | {_sec(g['mean_seconds'])} |")
    lines.append("")
    if summary.get("by_class"):
        lines += ["## By class", "", "| class | method | d_min | n | match | strict | median s |",
                  "|---|---|---|---|---|---|---|"]
        for g in summary["by_class"]:
            lines.append(f"| {g['cls']} | {g['method']} | {g['d_min']} | {g['n']} | {_pct(g['n_match'], g['n'])} "
                         f"| {_pct(g['n_match_strict'], g['n'])} | {_sec(g['median_seconds'])} |")
        lines.append("")
    if summary.get("by_molecule_type"):
        lines += ["## By molecule type (known molecule)", "",
                  "| type | method | d_min | n | match | strict | median s |", "|---|---|---|---|---|---|---|"]
        for g in summary["by_molecule_type"]:
            lines.append(f"| {g['type']} | {g['method']} | {g['d_min']} | {g['n']} | {_pct(g['n_match'], g['n'])} "
                         f"| {_pct(g['n_match_strict'], g['n'])} | {_sec(g['median_seconds'])} |")
        lines.append("")
    if summary.get("error_kinds"):
        lines += ["## Failures", "", "| error | count |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(summary["error_kinds"].items(), key=lambda kv: -kv[1])]
        lines.append("")
    lines += _per_structure_table(rows, summary)
    return "\n".join(lines) + "\n"


def _d_head(d: str) -> str:
    return "full data" if d == FULL else f"{d} A"


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _per_structure_table(rows, summary) -> List[str]:
    columns = [(m, d) for m in summary["methods"] for d in summary["d_min"]]
    names = _ordered(r["name"] for r in rows)
    cell = {(r["name"], r["method"], d_min_label(r["d_min"])): r for r in rows}
    info = {}
    for r in rows:  # a row that ran to the comparison knows the most
        if r["name"] not in info or (info[r["name"]].get("error") and not r.get("error")):
            info[r["name"]] = r
    head = " | ".join(f"{m} {d}" for m, d in columns)
    out = ["## Per structure", "",
           "Cells: matched fraction of non-H atoms (M = match), or the failure; time in s.", "",
           f"| structure | class | space group | non-H | {head} |",
           "|---|---|---|---|" + "---|" * len(columns)]
    for name in names:
        r0 = info[name]
        cells = []
        for m, d in columns:
            r = cell.get((name, m, d))
            if r is None:
                cells.append("-")
            elif r.get("error"):
                cells.append(f"fail: {r['error'].split(':')[0]} ({_sec(r.get('seconds'))})")
            else:
                tag = "M " if r.get("match") else ""
                cells.append(f"{tag}{r.get('matched_fraction', 0):.2f} ({_sec(r.get('seconds'))})")
        out.append(f"| {name} | {r0.get('cls') or '-'} | {r0.get('space_group') or '-'} | "
                   f"{r0.get('n_reference') or '-'} | " + " | ".join(cells) + " |")
    return out + [""]


def write_plots(prefix: str, rows: Sequence[dict], summary: dict) -> List[str]:
    """PREFIX_match_rate.png (match rate vs d_min per method) and PREFIX_time.png."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.info("matplotlib is not installed: no plots written")
        return []
    paths = []
    d_labels = summary["d_min"]
    x = list(range(len(d_labels)))
    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot(111)
    for method in summary["methods"]:
        groups = {g["d_min"]: g for g in summary["by_method_d_min"] if g["method"] == method}
        xs = [i for i, d in zip(x, d_labels) if d in groups]
        (line,) = ax.plot(xs, [100 * groups[d_labels[i]]["match_rate"] for i in xs], "o-", label=f"{method}")
        ax.plot(xs, [100 * groups[d_labels[i]]["match_strict_rate"] for i in xs], "s:", alpha=0.6,
                color=line.get_color(), label=f"{method} (strict)")
    ax.set_xticks(x)
    ax.set_xticklabels([_d_head(d) for d in d_labels])
    ax.set_xlabel("d_min")
    ax.set_ylabel("match rate (%)")
    ax.set_ylim(-5, 105)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{summary['n_structures']} structures")
    fig.tight_layout()
    paths.append(prefix + "_match_rate.png")
    fig.savefig(paths[-1], dpi=110)

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(111)
    markers = "os^vDx+*"
    for i, method in enumerate(summary["methods"]):
        for d in d_labels:
            sub = [r for r in rows if r["method"] == method and d_min_label(r["d_min"]) == d
                   and r.get("seconds") is not None]
            if not sub:
                continue
            color = f"C{len(ax.collections) // 2 % 10}"
            for matched in (True, False):
                part = [r for r in sub if bool(r.get("match")) == matched]
                ax.scatter([r.get("n_reference") or 0 for r in part], [r["seconds"] for r in part],
                           marker=markers[i % len(markers)], s=20, alpha=0.8, edgecolors=color,
                           facecolors=color if matched else "none",
                           label=f"{method} {_d_head(d)}" if matched else None)
    ax.set_title("filled: match, hollow: no match or failure", fontsize=9)
    ax.set_xlabel("non-H atoms in the asymmetric unit")
    ax.set_ylabel("time per structure (s)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(prefix + "_time.png")
    fig.savefig(paths[-1], dpi=110)
    return paths
