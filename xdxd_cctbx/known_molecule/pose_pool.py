"""The search's pool of best distinct poses.

Duplicates are recognised by |F_calc|: equivalent solutions (origin shifts,
the enantiomorph, symmetry copies) have the same amplitudes.
"""
from __future__ import annotations

from typing import List, Optional

import torch

from xdxd_cctbx.known_molecule.placement import PlacementProblem, PoseBatch


class PosePool:
    """Best distinct poses (by |F_calc| fingerprints) with their losses."""

    def __init__(self, problem: PlacementProblem, size: int) -> None:
        self.problem = problem
        self.size = size
        self.poses: Optional[PoseBatch] = None
        self.losses = torch.zeros(0)
        # each attempt's best poses, when several attempts were merged (a later attempt's poses can
        # push them out of the pool by rigid loss, though the atom-level polish may fit them best)
        self.attempt_best: List[PoseBatch] = []

    def top(self, n: int) -> PoseBatch:
        """The ``n`` best poses (fewer if the pool holds fewer)."""
        return self.poses.select(torch.arange(min(self.poses.size, n)))

    def add(self, poses: PoseBatch, losses: torch.Tensor) -> None:
        if self.poses is not None:
            poses = PoseBatch.cat([self.poses, poses])
            losses = torch.cat([self.losses, losses])
        order = [i for i in torch.argsort(losses).tolist() if torch.isfinite(losses[i])]
        order = order[:max(4 * self.size, 64)]
        keep: List[int] = []
        if order:
            with torch.no_grad():
                frac = self.problem.coordinates(poses.select(order))
            keep = [order[k] for k in distinct(self.problem, frac, losses[order], max_count=self.size)]
        self.poses = poses.select(keep)
        self.losses = losses[keep]


def fingerprints(problem: PlacementProblem, frac: torch.Tensor) -> torch.Tensor:
    """Unit vectors of centred |F_calc| (B, M): equivalent solutions give the same one."""
    with torch.no_grad():
        a, b = problem.calc.real_imag(frac, problem.type_index, weights=problem.weights * problem.active)
        e = torch.sqrt(a * a + b * b)
        e = e - e.mean(1, keepdim=True)
        return e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)


def distinct(problem: PlacementProblem, frac: torch.Tensor, losses: torch.Tensor, limit: float = 0.95,
             max_count: Optional[int] = None) -> List[int]:
    """Indices of the distinct solutions among coordinate sets (B,N,3), best loss first
    (at most ``max_count``)."""
    prints = fingerprints(problem, frac)
    keep: List[int] = []
    for i in torch.argsort(losses).tolist():
        if torch.isfinite(losses[i]) and all(float((prints[i] * prints[j]).sum()) <= limit for j in keep):
            keep.append(i)
            if max_count is not None and len(keep) >= max_count:
                break
    return keep
