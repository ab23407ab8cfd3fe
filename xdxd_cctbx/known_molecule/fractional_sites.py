"""Fractional copies shared out over special sites.

Half a bromide per asymmetric unit may be one bromide on a 2-fold axis, or one
on a 3-fold axis (1/3) plus one on a -3 centre (1/6); half a
tetraphenylarsonium in I-4 may sit on a 2-fold axis, or be two quarter ions on
two different -4 sites. The copies alone do not say which.
:func:`choose_site_splits` lists the ways the fractional copy adds up from the
space group's site orders (fewest sites first) and keeps the one whose bodies
alone, placed against the data, fit best. The molecule's own heavy atoms carry
most of the test; the simplest split wins unless another fits clearly better.

A single atom's whole copy may be shared out too (one Cu2+ per asymmetric unit
as two half ions on two inversion centres): :mod:`.split_check` tries that
with the rest of the structure placed, since a lone atom's fit cannot tell (a
general site and a pair of special ones can give the same amplitudes).
"""
from __future__ import annotations

import logging
from itertools import combinations_with_replacement
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.known_molecule.placement import Body, PlacementProblem, optimise
from xdxd_cctbx.known_molecule.sites import site_orders, special_sites

logger = logging.getLogger(__name__)

#: another split must fit this much better (1 - corr) than the simplest one to be chosen
BETTER_BY = 0.01
#: a split whose atoms alone fit within this of the best split's may still be the right one
PLAUSIBLE_WITHIN = 0.1


def site_splits(fraction: float, orders: Sequence[int], max_sites: int = 3) -> List[Tuple[int, ...]]:
    """Multisets of site orders whose 1/order add up to ``fraction``, fewest sites first."""
    out = []
    for n in range(1, max_sites + 1):
        for combo in combinations_with_replacement(sorted(orders), n):
            if abs(sum(1.0 / m for m in combo) - fraction) < 1e-6:
                out.append(combo)
    return out


def plausible_splits(scores: Dict[Tuple[int, ...], float]) -> List[Tuple[int, ...]]:
    """The splits whose fit of the atoms alone is within ``PLAUSIBLE_WITHIN`` of the best one and
    better than no fit at all (1 - corr < 1: a larger loss is the clash and site-symmetry terms)."""
    best = min(scores.values())
    return [split for split, v in scores.items() if v < min(1.0, best + PLAUSIBLE_WITHIN)]


def split_orders(orders: Sequence[int], general: bool) -> List[int]:
    """Site orders a split may use: the special ones (:func:`.sites.site_orders`), and 1 (a
    general position) when a whole copy is shared out."""
    return ([1] if general else []) + list(orders)


def split_bodies(conformers, split: Sequence[int], space_group_info, m: int, first_copy: int,
                 seed: int = 0) -> List[Body]:
    """One body per order of ``split`` (1: a general position)."""
    return [Body(conformers, 1.0, None, m, first_copy + j) if o == 1 else
            Body(conformers, 1.0 / o, special_sites(space_group_info, o, seed=seed), m, first_copy + j)
            for j, o in enumerate(split)]


def split_text(split: Sequence[int]) -> str:
    """'1 + 1/2 + 1/3 + 1/6': the copies on a general position (1) and on each site."""
    return " + ".join("1" if o == 1 else f"1/{o}" for o in split)


def choose_site_splits(specs, f_obs, space_group_info, conformer_sets, *, seed: int = 0, e_obs=None,
                     n_poses: int = 64, n_steps: int = 60,
                     scores_out: Optional[Dict[int, Dict[Tuple[int, ...], float]]] = None
                     ) -> Dict[int, Tuple[int, ...]]:
    """Site orders for the fractional copy of each molecule with a choice.

    conformer_sets: molecule index -> its ConformerSet (molecules embedded as
    one body; complexes split into fragments keep the plain site). Returns
    molecule index -> orders (one body per order); molecules without a choice
    are left out. ``scores_out`` gets molecule index -> split -> fit of the atoms alone.
    """
    orders = site_orders(space_group_info)
    chosen: Dict[int, Tuple[int, ...]] = {}
    for m, spec in enumerate(specs):
        _, order = spec.split_copies()
        if not order or m not in conformer_sets:
            continue
        splits = site_splits(1.0 / order, orders)
        if len(splits) < 2:
            continue
        scores = [_fit(f_obs, space_group_info, conformer_sets[m], split, m, seed, e_obs, n_poses, n_steps)
                  for split in splits]
        if scores_out is not None:
            scores_out[m] = dict(zip(splits, scores))
        best = min(range(len(splits)), key=lambda i: scores[i])
        pick = best if scores[best] < scores[0] - BETTER_BY else 0
        chosen[m] = splits[pick]
        logger.info("molecule %s: %s per asymmetric unit as %s (fit of the atoms alone: %s)", spec.name,
                    f"1/{order}", split_text(splits[pick]),
                    ", ".join(f"{'+'.join(map(str, s))}: {v:.3f}" for s, v in zip(splits, scores)))
    return chosen


def _fit(f_obs, space_group_info, conformers, split, m, seed, e_obs, n_poses, n_steps) -> float:
    try:
        bodies = split_bodies(conformers, split, space_group_info, m, 0, seed)
    except InputError:
        return float("inf")
    problem = PlacementProblem(f_obs, bodies, e_obs=e_obs)
    poses = problem.random_poses(n_poses, torch.Generator().manual_seed(seed))
    return float(optimise(problem, poses, n_steps).min())
