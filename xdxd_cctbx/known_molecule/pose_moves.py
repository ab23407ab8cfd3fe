"""Moves of poses: the search's rounds change torsions of the best poses.

Fixed flips (one torsion turned by 120, 180 or 240 degrees) and kicks (one to
three torsions turned by random angles, basin hopping); both keep each pose's
placement and conformer. :func:`turned_and_moved` displaces whole bodies by
set amounts (how far from an answer the optimiser still finds it).
"""
from __future__ import annotations

import math

import torch

from xdxd_cctbx.known_molecule.placement import PlacementProblem, PoseBatch, quaternion_matrix


def torsion_flips(problem: PlacementProblem, poses: PoseBatch) -> PoseBatch:
    """Every pose with one torsion turned by 120, 180 or 240 degrees (conjugated: 180 only)."""
    variants = []
    for k, body in enumerate(problem.bodies):
        for j, tor in enumerate(body.conformers.torsions):
            if tor.kind == "amide":
                continue
            for delta in ((math.pi,) if tor.kind == "conjugated" else (2 * math.pi / 3, math.pi, -2 * math.pi / 3)):
                v = poses.select(torch.arange(poses.size))
                v.tors[k][:, j] = v.tors[k][:, j] + delta
                variants.append(v)
    if not variants:
        return poses.select(torch.arange(0))
    return PoseBatch.cat(variants)


def torsion_kicks(elite: PoseBatch, n: int, gen) -> PoseBatch:
    """n copies of the best elite poses, each with one to three torsions turned by a random angle.

    The middle scale between the single fixed flips and fresh random torsions:
    the rest of the fitted conformation is kept, and the copies are optimised
    with their torsions free (basin hopping).
    """
    flexible = [k for k, t in enumerate(elite.tors) if t.shape[1]]
    if n <= 0 or not flexible:
        return elite.select(torch.arange(0))
    out = elite.select(torch.arange(n) % min(8, elite.size))
    for i in range(n):
        k = flexible[int(torch.randint(len(flexible), (1,), generator=gen))]
        n_tors = out.tors[k].shape[1]
        n_kick = min(n_tors, 1 + int(torch.randint(3, (1,), generator=gen)))
        which = torch.randperm(n_tors, generator=gen)[:n_kick]
        delta = (torch.rand(n_kick, generator=gen) * 2 - 1) * math.pi
        out.tors[k][i, which] = out.tors[k][i, which] + delta.to(out.tors[k].dtype)
    return out


def turned_and_moved(pose: PoseBatch, n: int, degrees: float, angstrom: float, gen) -> PoseBatch:
    """n copies of the first pose, every body turned by ``degrees`` about a random axis and
    moved by ``angstrom`` in a random direction."""
    out = pose.select(torch.zeros(n, dtype=torch.long))
    k = out.trans.shape[1]
    axis = torch.randn(n, k, 3, generator=gen)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    out.base_rot = quaternion_matrix(axis * math.radians(degrees)).to(out.base_rot.dtype) @ out.base_rot
    step = torch.randn(n, k, 3, generator=gen)
    out.trans = out.trans + angstrom * (step / step.norm(dim=-1, keepdim=True)).to(out.trans.dtype)
    return out
