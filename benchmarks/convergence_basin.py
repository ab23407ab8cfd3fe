"""How far from the answer the known-molecule optimiser still finds it, with and without
fitting low resolution first (``known_molecule.smoothing_b``).

For each named structure of a benchmark set: its molecules from a molecules
table (as for ``xdxd.benchmark methods=known_molecule``), data simulated at
2 A with noise (seed 1), a short search (``--search-seconds``) for the answer,
which counts only when it matches the reference (all non-H atoms within
0.5 A). Copies of the answer are then turned by theta about random axes and
moved by delta in random directions (every body), and optimised as rigid
bodies for ``--steps`` Adam steps, once per ``--b`` value (the same starts);
a start "returns" when its final loss is within 0.02 of the answer's.

    python benchmarks/convergence_basin.py ../shared/data/cod_validation cod_molecules.json \\
        2100438 7228312 2016470 4023341 [--b 0 100] [--n 48]
"""
from __future__ import annotations

import argparse
import time

import xdxd_cctbx  # noqa: F401  (import order: boost.python, torch, cctbx)
import torch

PERTURBATIONS = ((20.0, 1.0), (30.0, 1.5), (40.0, 2.0))  # (degrees, Angstrom)


def answer_of(set_path: str, table_path: str, name: str, seconds: float):
    """(problem, best pose, its loss, matched fraction of the reference's non-H atoms)."""
    from xdxd_cctbx.benchmark.compare import compare_structures
    from xdxd_cctbx.known_molecule import search
    from xdxd_cctbx.known_molecule.structures import make_candidates
    from placement_speed import known_molecule_setup  # benchmarks/, beside this script

    problem, loaded, specs, f_obs = known_molecule_setup(set_path, table_path, name, 2.0)
    params = search.default_params()
    pool = search.search_poses(problem, params, time.time() + seconds)
    best = pool.poses.select([0])
    with torch.no_grad():
        frac = problem.coordinates(best)
        corr = problem.correlation(frac)
    candidate = make_candidates(problem, frac.double().numpy(), pool.losses[:1], corr, specs, f_obs, 1,
                                sites=best.site)[0]
    matched = compare_structures(loaded.reference, candidate.xray_structure).matched_fraction
    return problem, best, float(pool.losses[0]), matched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set")
    ap.add_argument("molecules")
    ap.add_argument("names", nargs="+")
    ap.add_argument("--b", type=float, nargs="+", default=[0.0, 100.0])
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--search-seconds", type=float, default=90.0)
    args = ap.parse_args()
    from xdxd_cctbx.known_molecule.placement import optimise
    from xdxd_cctbx.known_molecule.pose_moves import turned_and_moved

    torch.set_num_threads(1)
    print(f"{args.n} starts per perturbation, {args.steps} rigid Adam steps, 1 thread; "
          f"returns (final loss within 0.02 of the answer's) for smoothing_b = {', '.join(f'{b:g}' for b in args.b)}")
    print("| structure | atoms | bodies | answer loss | matched | "
          + " | ".join(f"{t:g} deg, {d:g} A" for t, d in PERTURBATIONS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(PERTURBATIONS))
    totals = {(p, b): 0 for p in PERTURBATIONS for b in args.b}
    for name in args.names:
        problem, best, loss, matched = answer_of(args.set, args.molecules, name, args.search_seconds)
        cells = []
        if matched >= 1.0:
            gen = torch.Generator().manual_seed(5)
            for p in PERTURBATIONS:
                starts = turned_and_moved(best, args.n, *p, gen)
                found = []
                for b in args.b:
                    losses = optimise(problem, starts.select(torch.arange(args.n)), args.steps, smoothing_b=b)
                    found.append(int((losses < loss + 0.02).sum()))
                    totals[(p, b)] += found[-1]
                cells.append(" / ".join(str(f) for f in found))
        else:
            cells = ["answer not found"] * len(PERTURBATIONS)
        print(f"| {name} | {len(problem.elements)} | {len(problem.bodies)} | {loss:.3f} | {matched:.2f} | "
              + " | ".join(cells) + " |", flush=True)
    print("| total | | | | | " + " | ".join(" / ".join(str(totals[(p, b)]) for b in args.b)
                                         for p in PERTURBATIONS) + " |")


if __name__ == "__main__":
    main()
