"""Write xdxd.benchmark's report (PREFIX.json, .md, plots) from a PREFIX.jsonl.

For a run that was stopped before its end (or several runs' lines joined): the
tasks that finished are summarised exactly as xdxd.benchmark summarises them.

    python benchmarks/report_from_jsonl.py scratch/km_bench/km_cod_1.5.jsonl scratch/km_bench/km_cod_1.5_partial
"""
from __future__ import annotations

import argparse
import json
import sys

import xdxd_cctbx  # noqa: F401  (import order)
from xdxd_cctbx.benchmark.report import summarize, write_report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsonl", nargs="+", help="result lines written by xdxd.benchmark")
    ap.add_argument("prefix", help="output prefix of the report")
    ap.add_argument("--note", default="", help="a line added to the report's header (e.g. why it is partial)")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args()
    rows = []
    for path in args.jsonl:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    if not rows:
        print("no results in " + ", ".join(args.jsonl), file=sys.stderr)
        return 1
    meta = {"set": ", ".join(args.jsonl), "n_structures": len({r["name"] for r in rows})}
    if args.note:
        meta["note"] = args.note
    summary = summarize(rows)
    for path in write_report(args.prefix, rows, summary, meta, plots=not args.no_plots):
        print("wrote " + path)
    for g in summary["by_method_d_min"]:
        print(f"{g['method']} d_min {g['d_min']}: match {g['n_match']}/{g['n']}, median {g['median_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
