"""A second look, with the rest of the structure placed, at how a weak scatterer is shared out.

:func:`.fractional_sites.choose_site_splits` chooses among the ways a
fractional copy adds up over special sites from the molecule's atoms alone.
That works when the molecule carries much of the scattering (half a Ph4As+);
for half a chloride beside an Fe3 cluster the atoms alone say little (measured:
COD 2011989, half a Cl- per asymmetric unit in R-3c as 1/3 on a 3-fold axis
plus 1/6 on a -3 centre; alone, a 2-fold site fitted better). So after the
search, every other split of such a minor molecule is placed among the best
poses of the rest, which stay fixed (translation function, then rigid-body
optimisation of the split's bodies alone), and replaces the search's split
when it fits better than the search's best by ``BETTER_BY`` (the search also
refined the rest; the new split did not, so the test leans to the search).
"""
from __future__ import annotations

import logging
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.known_molecule.fractional_sites import BETTER_BY, site_splits
from xdxd_cctbx.known_molecule.placement import Body, PlacementProblem, PoseBatch
from xdxd_cctbx.known_molecule.pose_pool import PosePool
from xdxd_cctbx.known_molecule.sites import site_orders, special_sites

logger = logging.getLogger(__name__)

N_BASES = 4  # best poses of the search the split's bodies are placed among
N_STARTS = 16  # starts per split


def minor_split_options(problem: PlacementProblem, space_group_info) -> Dict[int, List[Tuple[int, ...]]]:
    """Molecule index -> its splits (more than one) for molecules placed whole on special sites whose
    bodies are all minor (:meth:`PlacementProblem.minor_bodies`)."""
    minor = set(problem.minor_bodies())
    orders = site_orders(space_group_info)
    out = {}
    for m in sorted({b.molecule_index for b in problem.bodies}):
        ks = [k for k, b in enumerate(problem.bodies) if b.molecule_index == m]
        special = [k for k in ks if problem.bodies[k].sites]
        if not special or len({id(problem.bodies[k].conformers) for k in ks}) != 1:
            continue  # no fractional copy, or a complex split into fragments
        if not minor.issuperset(ks):
            continue
        fraction = sum(problem.bodies[k].occupancy for k in special)
        splits = site_splits(fraction, orders)
        if len(splits) > 1:
            out[m] = splits
    return out


def _with_split(problem: PlacementProblem, m: int, split: Sequence[int], space_group_info, seed: int,
                make_problem) -> Tuple[PlacementProblem, List[int], List[int]]:
    """A problem with molecule m's special-site bodies replaced by ``split``; (problem, old index of
    each kept body, new indices of the split's bodies)."""
    kept = [k for k, b in enumerate(problem.bodies) if not (b.molecule_index == m and b.sites)]
    conformers = next(b.conformers for b in problem.bodies if b.molecule_index == m and b.sites)
    whole = sum(1 for k in kept if problem.bodies[k].molecule_index == m)
    bodies = [problem.bodies[k] for k in kept]
    bodies += [Body(conformers, 1.0 / o, special_sites(space_group_info, o, seed=seed), m, whole + j)
               for j, o in enumerate(split)]
    return make_problem(bodies), kept, list(range(len(kept), len(bodies)))


def _carry_poses(old: PoseBatch, new_problem: PlacementProblem, kept: Sequence[int], gen) -> PoseBatch:
    """``old`` poses in the new problem's bodies: kept bodies copied, the new ones at random."""
    out = new_problem.random_poses(old.size, gen)
    for i, k in enumerate(kept):
        out.base_rot[:, i] = old.base_rot[:, k]
        out.rotvec[:, i] = old.rotvec[:, k]
        out.trans[:, i] = old.trans[:, k]
        out.site[i] = old.site[k].clone()
        out.conf[i] = old.conf[k].clone()
        out.tors[i] = old.tors[k].clone()
    return out


def _current_split(problem: PlacementProblem, m: int) -> Tuple[int, ...]:
    return tuple(sorted(int(round(1.0 / b.occupancy)) for b in problem.bodies
                        if b.molecule_index == m and b.sites))


def reconsider_splits(problem: PlacementProblem, pool: PosePool, space_group_info, params, deadline: float,
                      make_problem, place_stage, options: Optional[Dict[int, List[Tuple[int, ...]]]] = None
                      ) -> Tuple[PlacementProblem, PosePool]:
    """The problem and pool with each minor molecule's best-fitting split (module docstring).

    make_problem(bodies) -> PlacementProblem on the same data;
    place_stage(problem, poses, frozen, deadline) -> PosePool optimises starts
    with the bodies in ``frozen`` (the molecules placed by the search) fixed;
    options: :func:`minor_split_options` of the problem when the caller has it.
    """
    from xdxd_cctbx.known_molecule.starts import StartGenerator

    if options is None:
        options = minor_split_options(problem, space_group_info)
    gen = torch.Generator().manual_seed(int(params.seed) + 104729)
    for m, splits in options.items():
        current = _current_split(problem, m)
        others = sorted((s for s in splits if tuple(sorted(s)) != current), key=len)
        search_best = float(pool.losses[0])
        scores: Dict[Tuple[int, ...], Tuple[float, PlacementProblem, PosePool]] = {}
        t0 = time.time()
        for i, split in enumerate(others):  # each gets one batch even past the deadline (seconds)
            split_deadline = time.time() + max(0.0, deadline - time.time()) / (len(others) - i)
            try:
                new, kept, added = _with_split(problem, m, split, space_group_info, int(params.seed),
                                               make_problem)
            except InputError:
                continue
            bases = _carry_poses(pool.poses.select(torch.arange(min(N_BASES, pool.poses.size))), new, kept, gen)
            starter = StartGenerator(new, n_orientations=min(200, params.rf_orientations), seed=params.seed)
            starts = PoseBatch.cat([starter.informed(bases, range(len(kept)), added, N_STARTS // 2, gen),
                                    _carry_poses(pool.poses.select(torch.arange(N_STARTS // 2) % pool.poses.size),
                                                 new, kept, gen)])
            fresh = place_stage(new, starts, list(range(len(kept))), split_deadline)
            scores[tuple(sorted(split))] = (float(fresh.losses[0]), new, fresh)
        if not scores:
            continue
        best = min(scores, key=lambda s: scores[s][0])
        switch = scores[best][0] < search_best - BETTER_BY
        logger.info("molecule %d: %s with the rest placed (search's best %.3f; %s) in %.1f s", m + 1,
                    ("shared out as " + " + ".join(f"1/{o}" for o in best)) if switch else
                    ("kept as " + " + ".join(f"1/{o}" for o in current)), search_best,
                    ", ".join(f"{'+'.join(map(str, s))}: {v[0]:.3f}" for s, v in scores.items()), time.time() - t0)
        if switch:
            problem, pool = scores[best][1], scores[best][2]
    return problem, pool
