"""Calibrate the known-molecule search's work clock (``known_molecule.clock=work``).

The work clock charges every optimisation step ``search_clock.step_seconds``:
a cost per step plus, per pose, costs proportional to the problem's size terms
(:func:`xdxd_cctbx.known_molecule.search_clock.size_terms`). This script times
``optimise`` (process CPU time, one torch thread, as the search runs) on the
placement problems of the named structures, for two batch sizes, with and
without free torsions, fits those costs by least squares and prints them with
each structure's measured and predicted time per pose and step.

    python benchmarks/search_clock_calibration.py ../shared/data/cod_validation cod_molecules.json \\
        2100438 2016470 4504659 2000695 2011989 4320780 7052819 ... [--steps 10]

The constants in ``search_clock.py`` come from a run on the reference machine
(the 2-core build machine, running it beside a benchmark with nproc=2, the
load under which the benchmark's searches run).
"""
from __future__ import annotations

import os
import sys
import time

import xdxd_cctbx  # noqa: F401  (import order: boost.python, torch, cctbx)
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from placement_speed import known_molecule_setup, structure_arguments  # noqa: E402

BATCHES = (16, 128)


def cpu_seconds(fn) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def nonnegative_lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with the coefficients >= 0 (terms that come out negative are dropped)."""
    free = np.ones(a.shape[1], dtype=bool)
    while True:
        coef = np.zeros(a.shape[1])
        coef[free] = np.linalg.lstsq(a[:, free], b, rcond=None)[0]
        if (coef >= 0).all():
            return coef
        free &= coef > 0


def main() -> None:
    ap = structure_arguments(__doc__)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    from xdxd_cctbx.known_molecule import search_clock
    from xdxd_cctbx.known_molecule.placement import optimise

    torch.set_num_threads(1)
    rows, times, labels = [], [], []
    for name in args.names:
        problem = known_molecule_setup(args.set, args.molecules, name, args.d_min, n_conformers=4)[0]
        gen = torch.Generator().manual_seed(0)
        optimise(problem, problem.random_poses(4, gen), 2)  # warm-up
        for batch in BATCHES:
            for torsions in (False, True):
                poses = problem.random_poses(batch, gen)
                seconds = cpu_seconds(lambda: optimise(problem, poses, args.steps, torsions=torsions))
                per_step, per_pose = search_clock.size_terms(problem, torsions)
                rows.append(list(per_step) + [batch * t for t in per_pose])
                times.append(seconds / args.steps)
                labels.append((name, batch, torsions))
        print(f"{name}: terms per step {per_step}, per pose {', '.join(f'{t:.3g}' for t in per_pose)}",
              flush=True)
    a, t = np.array(rows), np.array(times)
    # relative errors matter (a search's time share), so rows are weighted by 1 / time
    coef = nonnegative_lstsq(a / t[:, None], np.ones_like(t))
    n_step = len(search_clock.STEP_COSTS)
    print("\nSTEP_COSTS =", "(" + ", ".join(f"{c:.2e}" for c in coef[:n_step]) + ")")
    print("POSE_COSTS =", "(" + ", ".join(f"{c:.2e}" for c in coef[n_step:]) + ")")
    pred = a @ coef
    print("| structure | batch | torsions | measured (ms/step) | predicted | predicted/measured |")
    print("|---|---|---|---|---|---|")
    for (name, batch, torsions), m, p in zip(labels, t, pred):
        print(f"| {name} | {batch} | {torsions} | {1e3 * m:.2f} | {1e3 * p:.2f} | {p / m:.2f} |")
    ratio = pred / t
    print(f"\nfit: predicted/measured median {np.median(ratio):.2f}, range {ratio.min():.2f}-{ratio.max():.2f}")
    shipped = a @ np.array(search_clock.STEP_COSTS + search_clock.POSE_COSTS)
    ratio = shipped / t
    print(f"search_clock's constants: predicted/measured median {np.median(ratio):.2f}, "
          f"range {ratio.min():.2f}-{ratio.max():.2f}")


if __name__ == "__main__":
    main()
