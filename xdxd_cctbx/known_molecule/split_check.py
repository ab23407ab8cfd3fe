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

A single atom's whole copy is part of the choice (order 1 in a split: a
general position): one Br- per asymmetric unit may be 1/2 + 1/3 + 1/6 on the
sites of R-3c (COD 2236324's chlorides). A heavy single atom cannot be judged
that way: the rest was placed around it. One Cu per asymmetric unit as two
halves on the inversion centres (0,0,0) and (1/2,0,0) of P21/n has the
amplitudes of one Cu at (1/4,0,0) (measured: ZZULI2), but no ligand fits
beside the general one. So when the search does not converge and a major
single atom could be shared out otherwise (:func:`major_split_options`), the
search is run again with each other split (:func:`search_alternatives`).
So is a major molecule placed whole on special sites: its split was chosen
from its atoms alone, which can mislead when another molecule shares the
sites (measured: COD 2101915, half a Ph4As+ and half a Ph4B- in I-4, each as
two quarter ions on -4 sites; alone, the Ph4As+ fitted better on a 2-fold
axis, and the search with it there did not converge in 600 s; with both on
-4 sites it converged in 200 s).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.known_molecule import search_clock
from xdxd_cctbx.known_molecule.fractional_sites import (
    BETTER_BY, site_splits, split_bodies, split_orders, split_text)
from xdxd_cctbx.known_molecule.placement import PlacementProblem, PoseBatch
from xdxd_cctbx.known_molecule.pose_pool import PosePool
from xdxd_cctbx.known_molecule.sites import site_orders

logger = logging.getLogger(__name__)

N_BASES = 4  # best poses of the search the split's bodies are placed among
N_STARTS = 16  # starts per split


def _shared_bodies(problem: PlacementProblem, m: int) -> List[int]:
    """Molecule m's bodies whose split is in question: those on special sites, and for a single
    atom one on a general position besides (its whole copy may be shared out too)."""
    ks = [k for k, b in enumerate(problem.bodies) if b.molecule_index == m]
    special = [k for k in ks if problem.bodies[k].sites]
    general = [k for k in ks if not problem.bodies[k].sites]
    if general and problem.bodies[general[-1]].n_atoms == 1:
        special.append(general[-1])
    return special


def minor_split_options(problem: PlacementProblem, space_group_info) -> Dict[int, List[Tuple[int, ...]]]:
    """Molecule index -> its splits (more than one) for molecules placed whole on special sites, or
    single atoms, whose bodies are all minor (:meth:`PlacementProblem.minor_bodies`); order 1 in a
    split is a general position."""
    minor = set(problem.minor_bodies())
    orders = site_orders(space_group_info)
    out = {}
    for m in sorted({b.molecule_index for b in problem.bodies}):
        ks = [k for k, b in enumerate(problem.bodies) if b.molecule_index == m]
        shared = _shared_bodies(problem, m)
        if not shared or not orders or len({id(problem.bodies[k].conformers) for k in ks}) != 1:
            continue  # nothing to share out, or a complex split into fragments
        if not minor.issuperset(ks):
            continue
        fraction = sum(problem.bodies[k].occupancy for k in shared)
        general = any(not problem.bodies[k].sites for k in shared)
        splits = site_splits(fraction, split_orders(orders, general))
        if len(splits) > 1:
            out[m] = splits
    return out


def major_split_options(problem: PlacementProblem, space_group_info, max_options: int = 2,
                        plausible: Optional[Dict[int, Sequence[Tuple[int, ...]]]] = None
                        ) -> List[Tuple[int, Tuple[int, ...]]]:
    """(molecule, split) pairs, fewest sites first, at most ``max_options``: the other ways to
    share out molecules that are not minor: single atoms with a whole copy, and molecules
    placed whole on special sites (their split chosen from their atoms alone; ``plausible``:
    molecule -> the splits still worth a search, :func:`.fractional_sites.plausible_splits`)."""
    minor = set(problem.minor_bodies())
    orders = site_orders(space_group_info)
    out = []
    for m in sorted({b.molecule_index for b in problem.bodies}):
        shared = _shared_bodies(problem, m)
        if not orders or not shared or minor.issuperset(shared):
            continue
        general = any(not problem.bodies[k].sites for k in shared)
        ks = [k for k, b in enumerate(problem.bodies) if b.molecule_index == m]
        if not general and len({id(problem.bodies[k].conformers) for k in ks}) != 1:
            continue  # a complex split into fragments
        fraction = sum(problem.bodies[k].occupancy for k in shared)
        current = _current_split(problem, m)
        splits = site_splits(fraction, split_orders(orders, general))
        if plausible is not None and m in plausible:
            splits = [s for s in splits if s in plausible[m]]
        out += [(m, split) for split in splits if split != current]
    return sorted(out, key=lambda ms: len(ms[1]))[:max_options]


def search_alternatives(problem: PlacementProblem, pool: PosePool, options, space_group_info, params,
                        deadline: float, make_problem, search) -> Tuple[PlacementProblem, PosePool]:
    """The searched problem and pool, or an alternative split's (:func:`major_split_options`) when
    its own search fits better by ``BETTER_BY``; ``search(problem, deadline) -> PosePool``."""
    best = (float(pool.losses[0]), problem, pool)
    for i, (m, split) in enumerate(options):
        t0 = search_clock.now()
        try:
            new, _, _ = _with_split(problem, m, split, space_group_info, int(params.seed), make_problem)
        except InputError:
            continue
        alt = search(new, t0 + max(0.0, deadline - t0) / (len(options) - i))
        logger.info("molecule %d shared out as %s: best loss %.4f (searched as %s: %.4f) in %.1f s", m + 1,
                    split_text(split), float(alt.losses[0]), split_text(_current_split(problem, m)),
                    float(pool.losses[0]), search_clock.now() - t0)
        if float(alt.losses[0]) < best[0] - BETTER_BY:
            best = (float(alt.losses[0]), new, alt)
    return best[1], best[2]


def _with_split(problem: PlacementProblem, m: int, split: Sequence[int], space_group_info, seed: int,
                make_problem) -> Tuple[PlacementProblem, List[int], List[int]]:
    """A problem with molecule m's shared bodies (:func:`_shared_bodies`) replaced by ``split``;
    (problem, old index of each kept body, new indices of the split's bodies)."""
    shared = set(_shared_bodies(problem, m))
    kept = [k for k in range(len(problem.bodies)) if k not in shared]
    conformers = problem.bodies[min(shared)].conformers
    whole = sum(1 for k in kept if problem.bodies[k].molecule_index == m)
    bodies = [problem.bodies[k] for k in kept]
    bodies += split_bodies(conformers, split, space_group_info, m, whole, seed)
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
    return tuple(sorted(1 if not problem.bodies[k].sites else int(round(1.0 / problem.bodies[k].occupancy))
                        for k in _shared_bodies(problem, m)))


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
        t0 = search_clock.now()
        for i, split in enumerate(others):  # each gets one batch even past the deadline (seconds)
            split_deadline = search_clock.now() + max(0.0, deadline - search_clock.now()) / (len(others) - i)
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
                    ("shared out as " + split_text(best)) if switch else ("kept as " + split_text(current)),
                    search_best,
                    ", ".join(f"{'+'.join(map(str, s))}: {v[0]:.3f}" for s, v in scores.items()), search_clock.now() - t0)
        if switch:
            problem, pool = scores[best][1], scores[best][2]
    return problem, pool
