"""Statistics report: synthetic training crystals (xdxd.build_dataset shards) vs real COD structures.

Writes REPORT.md and PNG plots (space groups, non-H atoms per asymmetric unit, volume per
non-H atom, elements, heavy-atom and special-position fractions, shortest intermolecular
contacts) to --out, optionally copies them to --copy-to, and checks a sample of the
synthetic structures with cctbx (contacts, site multiplicities).

Usage:
  python benchmarks/dataset_statistics.py --dataset scratch/dataset --cod ../shared/data/cod_validation \
      --out scratch/dataset_stats --copy-to benchmarks/results/dataset_statistics --check 200
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import xdxd_cctbx  # noqa: F401  (import order: before cctbx)
import numpy as np

from xdxd_cctbx.dataset.shards import list_shards
from xdxd_cctbx.dataset.statistics import (check_sample, cif_stats, markdown_report, summarise,
                                           synthetic_stats)


def _plots(syn, real, out: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ss, rs = summarise(syn), summarise(real)
    files = []

    def bars(ax, a: dict, b: dict, keys, title, fmt="{:.0%}"):
        x = np.arange(len(keys))
        ax.bar(x - 0.2, [a.get(k, 0) for k in keys], 0.4, label=f"synthetic (n={ss['n']})")
        ax.bar(x + 0.2, [b.get(k, 0) for k in keys], 0.4, label=f"COD validation (n={rs['n']})")
        ax.set_xticks(x)
        ax.set_xticklabels(keys, rotation=60, ha="right")
        ax.set_title(title)
        ax.legend()

    fig, ax = plt.subplots(figsize=(10, 4))
    keys = list(dict.fromkeys(list(rs["space_groups"])[:12] + list(ss["space_groups"])[:12]))
    bars(ax, ss["space_groups"], rs["space_groups"], keys, "space groups (fraction of structures)")
    fig.tight_layout()
    files.append(os.path.join(out, "space_groups.png"))
    fig.savefig(files[-1], dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    keys = list(dict.fromkeys(list(rs["elements"])[:14] + list(ss["elements"])[:14]))
    bars(ax, ss["elements"], rs["elements"], keys, "elements (fraction of non-H atoms)")
    ax.set_yscale("log")
    fig.tight_layout()
    files.append(os.path.join(out, "elements.png"))
    fig.savefig(files[-1], dpi=90)
    plt.close(fig)

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    for ax, attr, title, rng in ((axes[0], "n_asu_non_h", "non-H atoms per asymmetric unit", (0, 130)),
                                 (axes[1], "volume_per_non_h", "volume per non-H atom (A^3)", (10, 40)),
                                 (axes[2], "min_contact", "shortest contact / vdW sum (H incl.)", (0.5, 1.2))):
        a = np.array([getattr(s, attr) for s in syn], dtype=float)
        b = np.array([getattr(s, attr) for s in real], dtype=float)
        bins = np.linspace(*rng, 40)
        ax.hist(np.clip(a, *rng), bins=bins, density=True, alpha=0.6, label="synthetic")
        ax.hist(np.clip(b, *rng), bins=bins, density=True, alpha=0.6, label="COD validation")
        ax.set_title(title)
        ax.legend()
    x = np.arange(2)
    axes[3].bar(x - 0.2, [ss["heavy_fraction"], ss["special_fraction"]], 0.4, label="synthetic")
    axes[3].bar(x + 0.2, [rs["heavy_fraction"], rs["special_fraction"]], 0.4, label="COD validation")
    axes[3].set_xticks(x)
    axes[3].set_xticklabels(["atom heavier than Cl", "special position"])
    axes[3].set_title("fraction of structures")
    axes[3].legend()
    fig.tight_layout()
    files.append(os.path.join(out, "distributions.png"))
    fig.savefig(files[-1], dpi=90)
    plt.close(fig)
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="folder of shard_*.npz")
    ap.add_argument("--cod", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                  "cod_validation"))
    ap.add_argument("--out", default="scratch/dataset_stats")
    ap.add_argument("--copy-to", default=None, help="also copy REPORT.md and the PNGs here")
    ap.add_argument("--check", type=int, default=100, help="synthetic structures checked with cctbx")
    ap.add_argument("--max-structures", type=int, default=None)
    ap.add_argument("--build-info", default="", help="a line about the build (rate, time) for the report")
    args = ap.parse_args(argv)
    if not list_shards(args.dataset):
        print(f"Sorry: no shards in {args.dataset}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    syn = synthetic_stats(args.dataset, args.max_structures)
    real = cif_stats(args.cod)
    shards = list_shards(args.dataset)
    size = sum(os.path.getsize(p) for p in shards)
    check = check_sample(args.dataset, args.check) if args.check else {}
    extra = {"synthetic set": f"{len(syn)} structures in {len(shards)} shards, {size / 1e6:.1f} MB "
                              f"({size / max(len(syn), 1) / 1e3:.2f} kB per structure)"}
    if args.build_info:
        extra["build"] = args.build_info
    if check:
        extra["cctbx check of a sample"] = (
            f"{check['n_checked']} structures: {check['n_contact_below']} with a contact below 0.8 x vdW sum "
            f"(worst {check['worst_contact']:.3f}), {check['multiplicity_mismatches']} site-multiplicity "
            f"mismatches, packer vs cctbx shortest contact differ by at most {check['max_contact_disagreement']:.4f}")
    recipes = {}
    for s in syn:
        recipes[s.label] = recipes.get(s.label, 0) + 1
    extra["synthetic recipes"] = ", ".join(f"{k} {v / len(syn):.0%}" for k, v in sorted(recipes.items()))
    report = markdown_report(summarise(syn), summarise(real), extra)
    files = _plots(syn, real, args.out)
    report += "\n" + "\n".join(f"![{os.path.basename(f)}]({os.path.basename(f)})" for f in files) + "\n"
    md = os.path.join(args.out, "REPORT.md")
    with open(md, "w") as f:
        f.write(report)
    print(report)
    print(f"wrote {md} and {len(files)} plots in {time.time() - t0:.0f} s")
    if args.copy_to:
        os.makedirs(args.copy_to, exist_ok=True)
        for f in [md] + files:
            shutil.copy(f, args.copy_to)
        print(f"copied to {args.copy_to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
