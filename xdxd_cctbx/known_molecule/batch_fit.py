"""Optimising batches of poses within the search's time: memory-sized chunks, the worst
starts stopped early (``keep_fraction``), and batch sizes that fit the time left."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from xdxd_cctbx.known_molecule import search_clock
from xdxd_cctbx.known_molecule.placement import PlacementProblem, PoseBatch, optimise

WORK_LIMIT = 6.0e7  # elementwise work per optimisation batch (memory and speed on CPU)
PRUNE_AT = 0.4  # of an optimisation's steps, when the worst starts stop (keep_fraction)


def chunk_size(problem: PlacementProblem) -> int:
    """Poses per optimisation batch (WORK_LIMIT elementwise terms)."""
    return max(8, int(WORK_LIMIT // max(1.0, problem.cost_per_pose())))


def _chunks(n: int, per: int):
    for start in range(0, n, per):
        yield slice(start, min(n, start + per))


def optimise_in_chunks(problem, poses: PoseBatch, n_steps: int, torsions: bool, chunk: int,
                       deadline: float, gen, frozen: Sequence[int] = (), smoothing_b: float = 0.0,
                       keep_fraction: float = 1.0) -> torch.Tensor:
    """Optimise in memory-sized chunks; poses after the deadline keep +inf loss.

    keep_fraction < 1: after ``PRUNE_AT`` of the steps only that fraction of each
    chunk, the best by their loss then, goes on; the others keep that loss.
    """
    losses = torch.full((poses.size,), float("inf"))
    parts = []
    for sl in _chunks(poses.size, chunk):
        part = poses.select(torch.arange(sl.start, sl.stop))
        if search_clock.now() < deadline or sl.start == 0:  # the first chunk always runs
            losses[sl] = optimise_pruned(problem, part, n_steps, torsions, gen, frozen, smoothing_b,
                                          keep_fraction)
        parts.append(part)
    merged = PoseBatch.cat(parts)
    poses.conf, poses.site, poses.base_rot = merged.conf, merged.site, merged.base_rot
    poses.rotvec, poses.trans, poses.tors = merged.rotvec, merged.trans, merged.tors
    return losses


def optimise_pruned(problem, poses: PoseBatch, n_steps: int, torsions: bool, gen, frozen, smoothing_b: float,
                    keep_fraction: float) -> torch.Tensor:
    """:func:`optimise`, the worst of the poses stopped after ``PRUNE_AT`` of the steps (in place)."""
    n_keep = int(math.ceil(keep_fraction * poses.size))
    cut = int(PRUNE_AT * n_steps)
    if n_keep >= poses.size or cut < 1:
        return optimise(problem, poses, n_steps, torsions=torsions, gen=gen, frozen=frozen, smoothing_b=smoothing_b)
    losses = optimise(problem, poses, n_steps, torsions=torsions, gen=gen, frozen=frozen, smoothing_b=smoothing_b,
                      steps=(0, cut))
    keep = torch.argsort(losses)[:n_keep]
    best = poses.select(keep)
    losses[keep] = optimise(problem, best, n_steps, torsions=torsions, gen=gen, frozen=frozen,
                            smoothing_b=smoothing_b, steps=(cut, n_steps))
    poses.base_rot[keep] = best.base_rot
    with torch.no_grad():
        poses.rotvec[keep] = best.rotvec
        poses.trans[keep] = best.trans
        for k in range(len(poses.tors)):
            poses.tors[k][keep] = best.tors[k]
    return losses


class SearchBudget:
    """Sizes batches so that the remaining stages and rounds fit the time limit."""

    def __init__(self, problem: PlacementProblem, params, deadline: float, n_units: float,
                 max_starts: int) -> None:
        self.params = params
        self.max_starts = max_starts
        self.deadline = deadline
        self.units = n_units
        poses = problem.random_poses(32, torch.Generator().manual_seed(0))
        optimise(problem, poses.select(torch.arange(4)), 1)  # warm-up
        t0 = search_clock.now()
        optimise(problem, poses, 3)
        self.speed = max(1e-6, (search_clock.now() - t0) / 96.0)  # seconds per pose and step

    def starts(self) -> int:
        """Poses affordable for the next stage or round (at least 32, at most max_starts)."""
        left = max(0.0, self.deadline - search_clock.now())
        per_unit = left / max(1.0, self.units)
        steps = self.params.n_steps * step_share(self.params) + 0.3 * self.params.torsion_steps
        n = int(0.8 * per_unit / (steps * self.speed))
        return max(32, min(self.max_starts, n))

    def done(self, seconds: float, pose_steps: int) -> None:
        self.units = max(1.0, self.units - 1)
        if pose_steps > 0:
            self.speed = max(1e-6, seconds / pose_steps)


def step_share(params) -> float:
    """Steps of an average start relative to n_steps (the pruned ones stop at PRUNE_AT)."""
    return PRUNE_AT + (1.0 - PRUNE_AT) * float(params.keep_fraction)


def pose_steps(rigid: PoseBatch, flexible: Optional[PoseBatch], params, torsions: bool) -> int:
    n = rigid.size + (flexible.size if flexible is not None else 0)
    return int(n * params.n_steps * step_share(params)) + (params.n_elite * params.torsion_steps if torsions else 0)
