"""Special positions for molecules that sit on a symmetry element.

A molecule with 1/m copies per asymmetric unit lies on a site whose
site-symmetry group has order m (an inversion centre, a 2-fold axis, a mirror,
...). The search places the whole molecule with occupancy 1/m and its centroid
projected onto one of the space group's Wyckoff positions of that order
(``x -> W x + w``, cctbx's ``special_op``); the symmetry copies made by the
site's own operations then overlap the molecule itself and add up to one whole
molecule. :func:`fold_onto_site` turns such a placed molecule back into the
asymmetric unit's half (or third, ...) by merging the atoms the site
operations map onto each other.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)


@dataclass
class SiteChoice:
    """One Wyckoff position: projection ``W x + w`` and the operations fixing it."""

    letter: str
    order: int
    w_matrix: np.ndarray  # (3,3)
    w_shift: np.ndarray  # (3,)
    site_ops: np.ndarray  # indices into the full operation list


def all_operations(space_group) -> Tuple[np.ndarray, np.ndarray]:
    """(R (n,3,3), t (n,3)) of all operations of a cctbx space group, t in [0,1)."""
    rots, trs = [], []
    for op in space_group.all_ops():
        rots.append(np.array(op.r().as_double(), dtype=np.float64).reshape(3, 3))
        trs.append(np.array(op.t().as_double(), dtype=np.float64))
    t = np.array(trs)
    return np.array(rots), t - np.floor(t + 1e-9)


def _ops_fixing(point: np.ndarray, rots: np.ndarray, trs: np.ndarray, tol: float = 1e-4) -> np.ndarray:
    images = np.einsum("kij,j->ki", rots, point) + trs
    d = images - point
    d -= np.round(d)
    return np.where(np.abs(d).max(1) < tol)[0]


def site_orders(space_group_info) -> List[int]:
    """Site-symmetry orders (> 1) of the space group's special positions."""
    group = space_group_info.group()
    table = space_group_info.wyckoff_table()
    return sorted({group.order_z() // table.position(i).multiplicity() for i in range(table.size())} - {1})


def special_sites(space_group_info, order: int, seed: int = 0) -> List[SiteChoice]:
    """Wyckoff positions whose site-symmetry order is ``order``.

    Raises InputError when the space group has none (then the copies given for
    the molecule cannot be right).
    """
    group = space_group_info.group()
    rots, trs = all_operations(group)
    table = space_group_info.wyckoff_table()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(table.size()):
        pos = table.position(i)
        if group.order_z() // pos.multiplicity() != order:
            continue
        op = pos.special_op()
        w_mat = np.array(op.r().as_double(), dtype=np.float64).reshape(3, 3)
        w_sh = np.array(op.t().as_double(), dtype=np.float64)
        generic = w_mat @ rng.random(3) + w_sh
        fixing = _ops_fixing(generic, rots, trs)
        if len(fixing) != order:
            logger.debug("Wyckoff %s: %d operations fix a generic point, expected %d",
                         pos.letter(), len(fixing), order)
            continue
        out.append(SiteChoice(pos.letter(), order, w_mat, w_sh, fixing))
    if not out:
        raise InputError(
            f"1/{order} copies of a molecule need a special position of site-symmetry order {order}, "
            f"and {space_group_info} has none: check the copies per asymmetric unit and the space group")
    return out


def fold_onto_site(frac: np.ndarray, elements: List[str], site: SiteChoice, rots: np.ndarray,
                   trs: np.ndarray, unit_cell, merge_distance: float = 1.4
                   ) -> Tuple[np.ndarray, List[int], List[Tuple[int, int]]]:
    """Asymmetric part of a molecule placed on a special site.

    frac (n,3): the whole molecule's fractional coordinates; atoms that a site
    operation maps onto each other (same element, closer than
    ``merge_distance``) are averaged into one. Returns (sites (k,3), the
    molecule atom kept for each site, and for every molecule atom j the pair
    (site index, operation index) with x_j = op(site) modulo a lattice vector).
    """
    orth = np.array(unit_cell.orthogonalization_matrix(), dtype=np.float64).reshape(3, 3)
    n = len(frac)
    identity = [s for s in site.site_ops
                if np.allclose(rots[s], np.eye(3)) and np.allclose(trs[s], 0.0)][0]
    ops = [(s, rots[s], trs[s]) for s in site.site_ops if s != identity]
    assignment: List[Tuple[int, int]] = [(-1, -1)] * n
    sites, kept = [], []
    for i in range(n):
        if assignment[i][0] >= 0:
            continue
        k = len(sites)
        group = [frac[i]]
        assignment[i] = (k, identity)
        for s, r, t in ops:
            img = r @ frac[i] + t  # where atom i's partner under this operation lies
            best, best_d = None, merge_distance
            for j in range(n):
                if elements[j] != elements[i] or (assignment[j][0] >= 0 and j != i):
                    continue
                d = frac[j] - img
                d -= np.round(d)
                dist = float(np.linalg.norm(orth @ d))
                if dist < best_d:
                    best, best_d = j, dist
            if best is None:
                continue
            if best != i:
                assignment[best] = (k, s)
            d = frac[best] - img
            d -= np.round(d)
            group.append(np.linalg.solve(r, img + d - t))  # the partner mapped back onto atom i
        sites.append(np.mean(group, axis=0))
        kept.append(i)
    return np.array(sites), kept, assignment
