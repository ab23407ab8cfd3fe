"""When does screening body pairs make the known-molecule search's clash term faster?

The clash term (``contact_penalty``) can leave out the (pose, operation, body pair) blocks whose
centroids are too far apart to touch (``screen=True``; the values are the same). For each named
structure this times the term's forward and backward pass, and a whole Adam step of the search
(``optimise``, rigid), both ways on random poses of its placement problem (process CPU time, one
torch thread, the fastest of ``--repeats``), with the fraction of atom pairs the screen keeps,
the step's charge on the work clock (``search_clock.step_seconds``), and says which way the earlier rule (8+ operations
and 24+ atoms) and ``PlacementProblem.screen_clash`` (the rule since) pick.

    python benchmarks/clash_screen_survey.py ../shared/data/cod_validation cod_molecules.json \\
        1512297 2000695 2011989 ... [--poses 128] [--repeats 3]
"""
from __future__ import annotations

import os
import sys
import time

import xdxd_cctbx  # noqa: F401  (import order: boost.python, torch, cctbx)
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from placement_speed import known_molecule_setup, structure_arguments  # noqa: E402


def clash_milliseconds(problem, poses, screen: bool, repeats: int) -> float:
    """Fastest forward + backward pass of the clash term over ``poses`` (ms of CPU time)."""
    from xdxd_cctbx.known_molecule.contact_penalty import contact_penalty

    frac = problem.coordinates(poses).detach().requires_grad_(True)
    on_site = {k: m[poses.site[k]].to(frac.dtype) for k, m in enumerate(problem.site_excl) if m is not None}
    ranges = list(zip(problem.offsets[:-1], problem.offsets[1:]))
    active = problem.active[:, None] * problem.active[None, :]

    def once():
        total = contact_penalty(frac, problem.op_rot, problem.op_tr, problem.orth, problem.clash_thr, active,
                                problem.same_body, problem.identity_op, ranges, on_site, screen=screen)
        total.sum().backward()

    once()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        once()
        times.append(time.process_time() - t0)
    return 1e3 * min(times)


def step_milliseconds(problem, screen: bool, n_poses: int, repeats: int, n_steps: int = 5) -> float:
    """Fastest rigid Adam step of ``n_poses`` random poses with the clash term screened or not (ms)."""
    from xdxd_cctbx.known_molecule.placement import optimise

    chosen = problem.screen_clash
    problem.screen_clash = screen
    try:
        gen = torch.Generator().manual_seed(2)
        times = []
        for _ in range(repeats):
            poses = problem.random_poses(n_poses, gen)
            t0 = time.process_time()
            optimise(problem, poses, n_steps)
            times.append((time.process_time() - t0) / n_steps)
    finally:
        problem.screen_clash = chosen
    return 1e3 * min(times)


def main() -> None:
    ap = structure_arguments(__doc__)
    ap.add_argument("--poses", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from xdxd_cctbx.known_molecule import search_clock
    from xdxd_cctbx.known_molecule.contact_penalty import kept_pair_fraction

    torch.set_num_threads(1)
    print("| structure | operations | atoms | bodies | kept pairs | clash: all pairs / screened (ms) "
          "| step: all pairs / screened (ms) | step charged (ms) | old rule | new rule | step new / old |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.names:
        problem = known_molecule_setup(args.set, args.molecules, name, args.d_min, n_conformers=4)[0]
        poses = problem.random_poses(args.poses, torch.Generator().manual_seed(1))
        ranges = list(zip(problem.offsets[:-1], problem.offsets[1:]))
        with torch.no_grad():
            kept = kept_pair_fraction(problem.coordinates(poses), problem.op_rot, problem.op_tr, problem.orth,
                                      float(problem.clash_thr.max()), ranges)
        ms = {screen: clash_milliseconds(problem, poses, screen, args.repeats) for screen in (False, True)}
        step = {screen: step_milliseconds(problem, screen, args.poses, args.repeats) for screen in (False, True)}
        charged = 1e3 * search_clock.step_seconds(problem, args.poses, False)
        old = problem.op_rot.shape[0] >= 8 and len(problem.elements) >= 24
        new = problem.screen_clash
        word = {True: "screen", False: "all pairs"}
        print(f"| {name} | {problem.op_rot.shape[0]} | {len(problem.elements)} | {len(problem.bodies)} "
              f"| {kept:.2f} | {ms[False]:.1f} / {ms[True]:.1f} | {step[False]:.1f} / {step[True]:.1f} "
              f"| {charged:.1f} | {word[old]} | {word[new]} | {step[new] / step[old]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
