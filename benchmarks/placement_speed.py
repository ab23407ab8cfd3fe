"""Speed of one known-molecule search step (loss, gradient and Adam update per pose).

For each named structure of a benchmark set: its molecules from a molecules
table (as for ``xdxd.benchmark methods=known_molecule``), data simulated at
d_min with noise, the placement problem with all bodies, a batch of random
poses; the time of ``optimise`` per pose and step (torsions free), and of the
two terms that dominate it (the fit to |E| and the short-contact penalty),
forward and backward, on one torch thread (the search's setting). The median
of ``--repeats`` timings is reported.

    python benchmarks/placement_speed.py ../shared/data/cod_validation cod_molecules.json \\
        2000695 2011989 4320780 7052819 1100163 2010014 [--batch 64] [--repeats 5]

To compare with another commit, run the same command with PYTHONPATH set to a
checkout of that commit.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from typing import Optional

import xdxd_cctbx  # noqa: F401  (import order: boost.python, torch, cctbx)
import torch


def known_molecule_setup(set_path: str, table_path: str, name: str, d_min: float,
                         n_conformers: Optional[int] = None):
    """(placement problem with all bodies, loaded structure, molecule specs, f_obs) for one structure
    of a benchmark set: data simulated at d_min with noise (seed 1), molecules from the table."""
    from xdxd_cctbx.benchmark.molecule_table import molecules_from_table, read_molecule_table
    from xdxd_cctbx.benchmark.sets import discover_structures
    from xdxd_cctbx.data.prepare import prepare_reflections
    from xdxd_cctbx.data.simulate import simulate_intensities
    from xdxd_cctbx.known_molecule.bodies import build_bodies
    from xdxd_cctbx.known_molecule.molecules import parse_molecules, resolve_copies
    from xdxd_cctbx.known_molecule.placement import PlacementProblem
    from xdxd_cctbx.known_molecule.search import default_params

    structure = next(s for s in discover_structures(set_path) if s.name == name)
    loaded = structure.load()
    given = molecules_from_table(read_molecule_table(table_path), structure, "known_molecule")
    data = simulate_intensities(loaded.simulation_model(), d_min, seed=1, noise=True)
    f_obs = prepare_reflections(data, d_min=None, d_max=None).f_obs
    params = default_params()
    if n_conformers:
        params.n_conformers = n_conformers
    specs = parse_molecules(given["molecules"], given.get("copies"))
    resolve_copies(specs, f_obs.space_group().order_z(), loaded.unit_cell_content)
    problem = PlacementProblem(f_obs, build_bodies(specs, f_obs.space_group_info(), params, f_obs=f_obs))
    return problem, loaded, specs, f_obs


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def structure_arguments(doc: str) -> argparse.ArgumentParser:
    """A parser with the arguments that name the structures: set, molecules table, names, --d-min."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set")
    ap.add_argument("molecules")
    ap.add_argument("names", nargs="+")
    ap.add_argument("--d-min", type=float, default=2.0)
    return ap


def main() -> None:
    ap = structure_arguments(__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from xdxd_cctbx.known_molecule.placement import optimise

    torch.set_num_threads(1)
    try:
        commit = subprocess.run(["git", "-C", xdxd_cctbx.__path__[0], "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    print(f"commit {commit or '?'}; batch {args.batch}, d_min {args.d_min} A, 1 thread, median of {args.repeats}")
    print("| structure | space group | atoms | bodies | operations | reflections "
          "| step (ms/pose) | |E| fit (ms/pose) | clash (ms/pose) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.names:
        problem = known_molecule_setup(args.set, args.molecules, name, args.d_min, n_conformers=4)[0]
        poses = problem.random_poses(args.batch, torch.Generator().manual_seed(0))
        step = median_seconds(lambda: optimise(problem, poses, args.steps, torsions=True), args.repeats)
        frac = problem.coordinates(poses).detach()

        def term(fn):
            def run():
                x = frac.clone().requires_grad_(True)
                fn(x).sum().backward()
            return median_seconds(run, args.repeats)

        fit = term(problem.correlation)
        clash = term(lambda x: problem.clash(x, poses))
        per = 1e3 / args.batch
        print(f"| {name} | {problem.space_group_info} | {len(problem.elements)} | {len(problem.bodies)} "
              f"| {problem.op_rot.shape[0]} | {problem.calc.n_reflections} | {step / args.steps * per:.2f} "
              f"| {fit * per:.2f} | {clash * per:.2f} |", flush=True)


if __name__ == "__main__":
    main()
