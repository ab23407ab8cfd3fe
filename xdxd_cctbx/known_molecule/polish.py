"""Atom-level polish of the best poses: free atoms held by the molecule's own restraints.

Rigid conformers plus torsions cannot express every difference between a
gas-phase conformer and the crystal (bond angles, ring puckers, metal-ligand
distances from covalent radii). Here every atom of the best poses moves,
against the same data term as the search (1 - corr(|E_obs|, |E_calc|) plus
the symmetry clash penalty) and harmonic distance restraints from the
molecule graph: 1-2 and 1-3 distances of the conformer (metal-ligand bonds
loosely and at the pose's own length, nothing across a metal centre). A short Adam run; the restrained
least-squares refinement afterwards (:mod:`xdxd_cctbx.refine`) finishes the job.
"""
from __future__ import annotations

import logging
from typing import Tuple

import numpy as np
import torch

from xdxd_cctbx.known_molecule.molecules import METALS
from xdxd_cctbx.known_molecule.structures import ANGLE_SIGMA, BOND_SIGMA

logger = logging.getLogger(__name__)

SIGMA_METAL = 0.15
RESTRAINT_WEIGHT = 2.0e-4  # per (deviation / sigma)^2, relative to 1 - corr


def _restraints(problem) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pairs (P,2) in global atom indexing, ideal distances, sigmas, pairs with a metal (P,) bool)."""
    pairs, ideal, sigma, metals = [], [], [], []
    for k, body in enumerate(problem.bodies):
        cs = body.conformers
        off = int(problem.offsets[k])
        for lst, s in ((cs.bonds, BOND_SIGMA), (cs.angles, ANGLE_SIGMA)):
            for a, b, d in lst:
                metal = cs.elements[a] in METALS or cs.elements[b] in METALS
                pairs.append((off + a, off + b))
                ideal.append(d)
                sigma.append(SIGMA_METAL if metal else s)
                metals.append(metal)
    dt = problem.dtype
    return (torch.tensor(pairs, dtype=torch.long).reshape(-1, 2), torch.tensor(ideal, dtype=dt),
            torch.tensor(sigma, dtype=dt), torch.tensor(metals, dtype=torch.bool))


def pose_ideals(problem, x: torch.Tensor, pairs: torch.Tensor, ideal: torch.Tensor,
                metal: torch.Tensor) -> torch.Tensor:
    """Ideal distances per pose (B,P): the ensemble's, but for pairs with a metal the pose's own.

    The conformers' M-L distances differ (scaled copies, :mod:`.metal_geometry`)
    and the search chose one by the data: the restraints keep it.
    """
    out = ideal.to(x.dtype).unsqueeze(0).repeat(x.shape[0], 1)
    if len(pairs) and bool(metal.any()):
        own = ((x[:, pairs[:, 0]] - x[:, pairs[:, 1]]) @ problem.orth.T).norm(dim=-1)
        out[:, metal] = own[:, metal]
    return out


def _site_partners(problem, poses, frac: torch.Tensor):
    """For molecules on special sites: (b, i, j, op, lattice) with atom j ~ op(atom i) + lattice.

    The polish pulls such partners together, so the molecule takes the site's
    symmetry and folds cleanly onto its asymmetric part.
    """
    rows = []
    rot, tr = problem.op_rot.double(), problem.op_tr.double()
    orth = problem.orth.double()
    for k, body in enumerate(problem.bodies):
        if not body.sites:
            continue
        lo, hi = int(problem.offsets[k]), int(problem.offsets[k + 1])
        el = body.conformers.elements
        for b in range(frac.shape[0]):
            site = body.sites[int(poses.site[k][b])]
            x = frac[b, lo:hi].double()
            for s in site.site_ops.tolist():
                img = x @ rot[s].T + tr[s]  # (n,3) images of every atom
                d = x.unsqueeze(0) - img.unsqueeze(1)  # (i, j, 3)
                lat = torch.round(d)
                dist = ((d - lat) @ orth.T).norm(dim=-1)
                for i in range(hi - lo):
                    same = torch.tensor([el[j] == el[i] for j in range(hi - lo)])
                    cand = torch.where(same, dist[i], torch.full_like(dist[i], 1e9))
                    j = int(torch.argmin(cand))
                    if float(cand[j]) < 1.5:
                        rows.append((b, lo + i, lo + j, s, lat[i, j]))
    return rows


def polish(problem, poses, n_steps: int = 150, lr: float = 0.02
           ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Polished fractional coordinates (B,N,3), their losses (B,) and correlations (B,).

    poses: a :class:`~.placement.PoseBatch` (all bodies active). Shifts are
    Cartesian (Angstrom), learning rate ``lr`` A per step, cosine-decayed.
    """
    pairs, ideal, sigma, metal = _restraints(problem)
    with torch.no_grad():
        base = problem.coordinates(poses).detach()
        ideal = pose_ideals(problem, base, pairs, ideal, metal)
    partners = _site_partners(problem, poses, base)
    shift = torch.zeros_like(base, requires_grad=True)
    opt = torch.optim.Adam([shift], lr=lr)
    orth_t = problem.orth.T
    frac_t = problem.frac_mx.T
    n_pairs = max(1, len(pairs))
    for step in range(n_steps):
        for g in opt.param_groups:
            g["lr"] = lr * (0.5 * (1 + np.cos(np.pi * step / n_steps)) * 0.9 + 0.1)
        opt.zero_grad(set_to_none=True)
        x = base + shift @ frac_t
        loss = _loss(problem, x, poses, pairs, ideal, sigma, orth_t, n_pairs)[0] + _symmetry(problem, x, partners)
        loss.sum().backward()
        opt.step()
    with torch.no_grad():
        x = base + shift @ frac_t
        total, corr = _loss(problem, x, poses, pairs, ideal, sigma, orth_t, n_pairs)
        total = total + _symmetry(problem, x, partners)
    return x.detach(), total.detach(), corr.detach()


def _symmetry(problem, x: torch.Tensor, partners) -> torch.Tensor:
    """Penalty (B,) on site-symmetry partners apart: (distance / 0.05 A)^2 times the restraint weight."""
    out = torch.zeros(x.shape[0], dtype=x.dtype)
    if not partners:
        return out
    b = torch.tensor([r[0] for r in partners])
    i = torch.tensor([r[1] for r in partners])
    j = torch.tensor([r[2] for r in partners])
    s = torch.tensor([r[3] for r in partners])
    lat = torch.stack([r[4] for r in partners]).to(x.dtype)
    img = torch.einsum("pkl,pl->pk", problem.op_rot[s], x[b, i]) + problem.op_tr[s] + lat
    d = ((x[b, j] - img) @ problem.orth.T).norm(dim=-1)
    return out.index_add(0, b, RESTRAINT_WEIGHT * 50.0 * (d / 0.05) ** 2 / max(1, len(partners)))


def _loss(problem, x, poses, pairs, ideal, sigma, orth_t, n_pairs):
    corr = problem.correlation(x)
    clash = problem.clash(x, poses)
    total = 1.0 - corr + problem.clash_weight * clash
    if len(pairs):
        d = ((x[:, pairs[:, 0]] - x[:, pairs[:, 1]]) @ orth_t).norm(dim=-1)
        total = total + RESTRAINT_WEIGHT * (((d - ideal) / sigma) ** 2).sum(1) * (50.0 / n_pairs)
    return total, corr
