"""Full-set figures of a committed known-molecule results table with some structures' rows
replaced by a newer run: the structures a change touches, when everywhere else the search
runs the same code (benchmarks/metal_clusters.py and benchmarks/minor_site_splits.py list them).

    python benchmarks/substitute_rows.py benchmarks/results/known_molecule_cod_validation_1.5_600s_b59a8e8.md \\
        scratch/km_bench/subset.jsonl cod_molecules.json --d-min 1.5

The base table's per-structure cells ("M 1.00 (37.1)", "0.92 (156.4)", "fail: ...") give each
structure's match and class; molecule types come from the molecules table as xdxd.benchmark
derives them. Prints the match counts overall, by class and by molecule type, and each
replaced row's change.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

import xdxd_cctbx  # noqa: F401  (import order)
from xdxd_cctbx.benchmark.molecule_table import molecule_types, read_molecule_table


def base_rows(path: str) -> dict:
    """name -> {"cls", "match", "cell"} from the per-structure table of a results .md."""
    rows = {}
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 5 and cells[0].isdigit():
                rows[cells[0]] = {"cls": cells[1], "match": cells[4].startswith("M "), "cell": cells[4]}
    if not rows:
        raise SystemExit(f"no per-structure table in {path}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base_md")
    ap.add_argument("new_jsonl")
    ap.add_argument("molecules")
    ap.add_argument("--d-min", type=float, required=True)
    args = ap.parse_args()
    rows = base_rows(args.base_md)
    table = read_molecule_table(args.molecules)
    with open(args.new_jsonl) as f:
        new = [json.loads(line) for line in f if line.strip()]
    new = {r["name"]: r for r in new if abs(float(r["d_min"]) - args.d_min) < 1e-6}
    for name, r in sorted(new.items()):
        if name not in rows:
            raise SystemExit(f"{name} is not in {args.base_md}")
        cell = ("M " if r["match"] else "") + f"{r['matched_fraction']:.2f} ({r['seconds']:.1f})"
        print(f"{name}: {rows[name]['cell']} -> {cell}{'' if r['match_strict'] or not r['match'] else ' (not strict)'}")
        rows[name] = {"cls": rows[name]["cls"], "match": bool(r["match"]), "cell": cell}
    groups = defaultdict(lambda: [0, 0])
    for name, row in rows.items():
        keys = ["all", row["cls"]] + molecule_types(table[name])
        for key in keys:
            groups[key][0] += row["match"]
            groups[key][1] += 1
    for key, (n_match, n) in groups.items():
        print(f"{key}: {n_match}/{n} ({100 * n_match / n:.0f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
