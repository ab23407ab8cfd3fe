"""Match rate of the diffusion method on the COD validation set (simulated data).

For each structure of /work/shared/data/cod_validation (MANIFEST order) and each
d_min: intensities simulated with xdxd_cctbx.data.simulate.simulate_intensities
(noise on, fixed seed), prepared like solve() does (merge, absences, cut, |E|),
then solve_by_diffusion with the conditioned model and with the same model
unconditioned (prior only: no reflections shown to the network, no guidance;
the final local optimisation and the ranking still use the data). The top-1
candidate (the sampler's best, before smtbx refinement) is compared with the
reference by xdxd_cctbx.benchmark.compare.compare_structures (all non-H atoms
within 0.5 A after permitted origin shifts / enantiomorph).

Usage (outputs under /work/main/scratch/diffusion_validation/ by default):
  nice -n 19 python benchmarks/diffusion_validation.py --d-min 2.0 1.5 --modes conditioned prior
  python benchmarks/diffusion_validation.py --limit 4 --n-samples 8 --n-steps 20   # quick look
Results are appended to results.jsonl as they come (a rerun skips finished
entries); summary.json and summary.md are rewritten at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import xdxd_cctbx  # noqa: F401  (import order: boost.python, torch, then cctbx)

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                            "cod_validation")
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scratch", "diffusion_validation")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--d-min", type=float, nargs="+", default=[2.0, 1.5])
    p.add_argument("--modes", nargs="+", default=["conditioned", "prior"], choices=["conditioned", "prior"])
    p.add_argument("--weights", default="default", help="registry name, 'none', or a weights file path")
    p.add_argument("--n-samples", type=int, default=24)
    p.add_argument("--n-steps", type=int, default=60)
    p.add_argument("--refine-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=1, help="simulation seed (and sampler seed)")
    p.add_argument("--limit", type=int, default=None, help="first N structures only")
    p.add_argument("--names", nargs="*", default=None)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def load_set(folder, limit=None, names=None):
    with open(os.path.join(folder, "MANIFEST.json")) as handle:
        manifest = json.load(handle)
    if names:
        manifest = [e for e in manifest if e["file"].split(".")[0] in names]
    return manifest[:limit] if limit else manifest


def run_one(entry, folder, d_min, mode, args):
    import libtbx.phil

    from xdxd_cctbx.benchmark.compare import compare_structures
    from xdxd_cctbx.data.prepare import prepare_reflections
    from xdxd_cctbx.data.simulate import simulate_intensities
    from xdxd_cctbx.diffusion.solve_method import master_phil_str, solve_by_diffusion
    from xdxd_cctbx.io.model_files import read_model_file
    from xdxd_cctbx.io.shelx_files import unit_cell_content_of

    model = read_model_file(os.path.join(folder, entry["file"]), block=entry.get("block"))
    xs = model.xray_structure
    ref = xs.select(~xs.hd_selection())
    i_obs = simulate_intensities(ref, d_min, seed=args.seed, noise=True)
    data = prepare_reflections(i_obs)  # simulated to d_min already (its own limit may be a hair above)
    params = libtbx.phil.parse(master_phil_str).extract().diffusion
    params.sampler.n_samples = args.n_samples
    params.sampler.n_steps = args.n_steps
    params.sampler.refine_steps = args.refine_steps
    params.sampler.conditioning = mode == "conditioned"
    if os.path.isfile(args.weights):
        params.weights.path = args.weights
    else:
        params.weights.name = args.weights
    t0 = time.time()
    candidates = solve_by_diffusion(data.f_obs, data.e_obs, unit_cell_content_of(xs), params, seed=args.seed)
    seconds = time.time() - t0
    comparisons = [compare_structures(ref, c.xray_structure) for c in candidates]
    top = comparisons[0]
    return {
        "name": entry["file"].split(".")[0], "cls": entry.get("cls"), "sg": entry.get("sg"), "nonH": entry["nonH"],
        "d_min": d_min, "mode": mode, "match": bool(top.match), "matched_fraction": round(top.matched_fraction, 4),
        "rmsd": top.rmsd, "any_top5_match": any(c.match for c in comparisons),
        "best_top5_fraction": round(max(c.matched_fraction for c in comparisons), 4),
        "r1": round(candidates[0].r1, 4), "loss": round(candidates[0].loss, 4), "seconds": round(seconds, 2),
        "n_reflections": data.n_reflections, "weights": args.weights,
    }


def summarise(rows):
    groups = {}
    for r in rows:
        for cls in ("all", "organic" if r["cls"] and r["cls"].startswith("organic") else "metal-organic"):
            groups.setdefault((r["mode"], r["d_min"], cls), []).append(r)
    out = []
    for (mode, d_min, cls), rs in sorted(groups.items()):
        out.append({
            "mode": mode, "d_min": d_min, "class": cls, "n": len(rs), "n_match": sum(r["match"] for r in rs),
            "match_rate": round(sum(r["match"] for r in rs) / len(rs), 4),
            "any_top5_rate": round(sum(r["any_top5_match"] for r in rs) / len(rs), 4),
            "mean_matched_fraction": round(sum(r["matched_fraction"] for r in rs) / len(rs), 4),
            "mean_seconds": round(sum(r["seconds"] for r in rs) / len(rs), 2),
        })
    return out


def write_summary(rows, out_dir, args):
    summary = summarise(rows)
    with open(os.path.join(out_dir, "summary.json"), "w") as handle:
        json.dump({"settings": vars(args), "summary": summary}, handle, indent=1)
    lines = ["| mode | d_min | class | matched / n | rate | any of top 5 | mean matched atoms | s / structure |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['mode']} | {s['d_min']} | {s['class']} | {s['n_match']}/{s['n']} | "
                     f"{100 * s['match_rate']:.1f} % | {100 * s['any_top5_rate']:.1f} % | "
                     f"{s['mean_matched_fraction']:.2f} | {s['mean_seconds']:.1f} |")
    with open(os.path.join(out_dir, "summary.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def main(argv=None):
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, "results.jsonl")
    done = {}
    if os.path.isfile(results_path):
        with open(results_path) as handle:
            for line in handle:
                r = json.loads(line)
                done[(r["name"], r["d_min"], r["mode"])] = r
    entries = load_set(args.data, args.limit, args.names)
    rows = []
    for d_min in args.d_min:
        for mode in args.modes:
            for entry in entries:
                key = (entry["file"].split(".")[0], d_min, mode)
                if key in done:
                    rows.append(done[key])
                    continue
                try:
                    row = run_one(entry, args.data, d_min, mode, args)
                except Exception as exc:  # a failure counts as no match, and is recorded
                    row = {"name": key[0], "cls": entry.get("cls"), "sg": entry.get("sg"), "nonH": entry["nonH"],
                           "d_min": d_min, "mode": mode, "match": False, "matched_fraction": 0.0, "rmsd": None,
                           "any_top5_match": False, "best_top5_fraction": 0.0, "seconds": 0.0,
                           "error": f"{type(exc).__name__}: {exc}", "weights": args.weights}
                rows.append(row)
                with open(results_path, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(f"{row['name']:>8} {row['sg']:<12} {row['nonH']:4d} d_min {d_min} {mode:<11} "
                      f"match {str(row['match']):5} atoms {row['matched_fraction']:.2f} "
                      f"top5 {row['best_top5_fraction']:.2f} R1 {row.get('r1', float('nan'))} "
                      f"{row['seconds']:.1f} s {row.get('error', '')}", flush=True)
    print(write_summary(rows, args.out, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
