"""Known-molecule mode: place the user's molecules against the data.

``place_molecules(f_obs, molecules, unit_cell_content, params)`` parses the
molecules (:mod:`.molecules`), builds conformer ensembles
(:mod:`.conformers`), searches rigid-body poses and torsions against |E|
(:mod:`.placement`) and returns ranked :class:`PlacedCandidate` objects, each
with a cctbx ``xray.structure`` (non-H atoms, labelled from the molecule),
optionally refined with restraints taken from the known molecule (1-2 and
1-3 distances of its graph, ideal values from the conformer geometry).

Search schedule (the poses of a stage are optimised as one torch batch; the
search fits the data to ``search_d_min``, 2 A by default, and the polish and
the refinement use all of them: finer data slow every step down and narrow
the basin of a correct pose more than they help to find it):

1. Stages: bodies are added one at a time, strongest scatterer first (heavy
   atoms, then the main molecule, ...; waters and small ions together last).
   Starts for a body come from the rotation and translation functions
   (:mod:`.starts`, molecular replacement given the bodies already placed;
   for flexible molecules also from their rigid core alone), some with random
   torsion changes, plus a quarter random poses. Rigid Adam on
   1 - corr(|E_obs|, |E_calc|) + clash (the worse half of the starts stop
   after 40 % of the steps, :mod:`.batch_fit`), then torsion refinement of
   the best.
2. Rounds: from the best distinct poses: every other conformer superposed,
   single torsions turned by 120/180/240 degrees, each body re-placed by the
   translation function given all others (a single body: the next peaks of
   its rotation/translation-function list), random torsion changes, random
   poses; copies of the best with one to three torsions turned at random.
   Restarts, too, continue down the first body's list of peaks.
   An attempt stops after ``n_rounds``, two rounds without improvement (if
   its fit converged or a restart fits in the time left), or ``max_seconds``
   (batch sizes follow the speed measured to fit it). Time is kept by the
   search clock (:mod:`.search_clock`): by default the optimisation work
   done, charged in seconds of a reference machine, so that a run does not
   depend on the machine's speed or load.
   One that ends early without a converged fit is followed by a fresh one
   (new seed, twice the starts); one that converges early is repeated once
   from another seed (``confirm``) when as much time is left. The best poses
   of all attempts are kept, and each attempt's own best are set aside for
   the polish: a pose whose rigid fit ranks low (the molecule's crystal
   conformation is not among the conformers) may be the one that the
   atom-level polish fits.
3. A weak scatterer on special sites (half a chloride beside a cluster) whose
   fractional copy can be shared out in other ways gets those tried with the
   rest placed (:mod:`.split_check`; ``SPLIT_CHECK_FRACTION`` of the time),
   a single atom's whole copy included. A heavy single atom that could be
   shared out otherwise, or a major molecule on special sites that could sit
   on others (where its atoms alone fitted nearly as well there), gets a
   search of its own per other split (at most two) when the first, given its
   share of the time, does not converge.
4. The best poses, and each attempt's best, are polished atom by atom
   (restrained by the molecule's geometry); the best distinct ones become
   structures; restrained refinement of the first ``n_refine`` (restraints
   from the molecule) picks the winner.

Duplicates are recognised by |F_calc| (equivalent solutions, origin shifts and
the enantiomorph included, have the same amplitudes).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.known_molecule import search_clock, structures
from xdxd_cctbx.known_molecule.batch_fit import SearchBudget, chunk_size, optimise_in_chunks, pose_steps
from xdxd_cctbx.known_molecule.bodies import build_bodies
from xdxd_cctbx.known_molecule.fractional_sites import plausible_splits
from xdxd_cctbx.known_molecule.molecules import (
    check_cell_volume, parse_molecules, resolve_copies)
from xdxd_cctbx.known_molecule.phil_scope import default_params
from xdxd_cctbx.known_molecule.placement import PlacementProblem, PoseBatch, swap_conformers
from xdxd_cctbx.known_molecule.polish import polish
from xdxd_cctbx.known_molecule.pose_moves import torsion_flips, torsion_kicks
from xdxd_cctbx.known_molecule.pose_pool import PosePool, distinct
from xdxd_cctbx.known_molecule.split_check import (
    major_split_options, minor_split_options, reconsider_splits, search_alternatives)
from xdxd_cctbx.known_molecule.starts import StartGenerator

logger = logging.getLogger(__name__)

CONVERGED_LOSS = 0.12  # 1 - corr of a converged fit: above it, an attempt that ends early is followed by another
RESTART_FRACTION = 0.5  # a restart needs this fraction of the first attempt's time left
MIN_SEARCH_REFLECTIONS = 100  # search_d_min leaves at least this many reflections to fit, or none out
SPLIT_CHECK_FRACTION = 0.1  # of max_seconds kept for the second look at minor molecules' site splits


@dataclass
class PlacedCandidate:
    """A ranked solution: model, fit and where each molecule's atoms went."""

    xray_structure: Any
    score: float  # 1 - corr(|E_obs|, |E_calc|) of the search model (lower is better)
    correlation: float
    r1: float  # R1 against f_obs (refined model when refined)
    molecules: List[Dict[str, Any]]
    restraint_pairs: List[tuple] = field(default_factory=list)
    refinement: Any = None
    r1_search: Optional[float] = None

    def __repr__(self) -> str:
        return (f"PlacedCandidate(score={self.score:.4f}, corr={self.correlation:.3f}, R1={self.r1:.3f}, "
                f"{self.xray_structure.scatterers().size()} atoms, refined={self.refinement is not None})")


def _extract(params):
    if params is None:
        return default_params()
    if hasattr(params, "known_molecule") and not hasattr(params, "n_starts"):
        return params.known_molecule
    return params


def _variants(problem: PlacementProblem, pool: PosePool, n_total: int, gen, torsions: bool,
              starter: Optional[StartGenerator] = None) -> PoseBatch:
    """New starts from the elite: conformer swaps, torsion flips, one body re-placed (several
    bodies) or new rotation/translation-function peaks (one body), fresh random poses."""
    batches = []
    n_used = 0
    elite = pool.poses
    n_elite = elite.size
    multi = len(problem.bodies) > 1
    swap_budget = n_total // 3 if multi else n_total // 2
    flexible_bodies = [k for k, b in enumerate(problem.bodies) if b.conformers.n_conformers > 1]
    for k in flexible_bodies:  # other conformers superposed on the elite poses
        nc = problem.bodies[k].conformers.n_conformers
        n_top = max(1, min(8, n_elite, swap_budget // (len(flexible_bodies) * (nc - 1))))
        top = elite.select(torch.arange(n_top))
        reps = top.select(torch.arange(top.size).repeat_interleave(nc - 1))
        new_conf = torch.cat([torch.tensor([c for c in range(nc) if c != int(top.conf[k][i])])
                              for i in range(top.size)])
        batches.append(swap_conformers(problem, reps, k, new_conf, torsions))
        n_used += reps.size
    if torsions:
        flips = torsion_flips(problem, elite.select(torch.arange(min(4, n_elite))))
        if flips.size > n_total // 4:
            flips = flips.select(torch.randperm(flips.size, generator=gen)[:n_total // 4])
        batches.append(flips)
        n_used += flips.size
    if len(problem.bodies) > 1 and starter is not None:
        # re-place one body by the rotation/translation functions given all the others
        bases = elite.select(torch.arange(min(4, n_elite)))
        n_body = max(4, (n_total // 2) // len(problem.bodies))
        for k in range(len(problem.bodies)):
            others = [j for j in range(len(problem.bodies)) if j != k]
            batches.append(starter.informed(bases, others, [k], n_body, gen))
            n_used += batches[-1].size
    elif len(problem.bodies) > 1:
        n_rr = max(0, min(n_total // 4, n_total - n_used))
        if n_rr:
            idx = torch.randint(n_elite, (n_rr,), generator=gen)
            which = torch.randint(len(problem.bodies), (n_rr,), generator=gen)
            base = elite.select(idx)
            fresh = problem.random_poses(n_rr, gen)
            for i in range(n_rr):
                k = int(which[i])
                base.base_rot[i, k] = fresh.base_rot[i, k]
                base.trans[i, k] = fresh.trans[i, k]
                base.rotvec[i, k] = 0.0
                base.site[k][i] = fresh.site[k][i]
            batches.append(base)
            n_used += n_rr
    n_fresh = max(n_total - n_used, n_total // 4)
    if len(problem.bodies) == 1 and starter is not None:
        # half of them from rotation/translation-function peaks not tried before
        informed = starter.informed(None, [], [0], n_fresh // 2, gen)
        batches.append(informed)
        n_fresh -= informed.size
    batches.append(problem.random_poses(n_fresh, gen))
    return PoseBatch.cat(batches)


def plan_stages(problem: PlacementProblem) -> List[List[int]]:
    """Bodies to add stage by stage: strong scatterers one at a time, weak ones together last.

    A minor body (scattering power, occupancy * sum Z^2, below MINOR_POWER
    times the strongest body's: waters, small ions) joins the final group.
    """
    powers = [problem.scattering_power(k) for k in range(len(problem.bodies))]
    order = sorted(range(len(powers)), key=lambda k: -powers[k])
    minor = set(problem.minor_bodies())
    major = [[k] for k in order if k not in minor]
    rest = [k for k in order if k in minor]
    return major + ([rest] if rest else [])


def _extend(problem: PlacementProblem, pool: PosePool, bodies: Sequence[int], n: int, gen,
            random_torsions: bool = False) -> PoseBatch:
    """n starts: elite poses of the placed bodies, the given bodies at random."""
    idx = torch.arange(n) % pool.poses.size
    base = pool.poses.select(idx)
    fresh = problem.random_poses(n, gen, random_torsions=random_torsions)
    for k in bodies:
        base.base_rot[:, k] = fresh.base_rot[:, k]
        base.trans[:, k] = fresh.trans[:, k]
        base.rotvec[:, k] = 0.0
        base.site[k] = fresh.site[k]
        base.conf[k] = fresh.conf[k]
        base.tors[k] = fresh.tors[k]
    return base


def _run_stage(problem, poses, params, chunk, deadline, gen, torsions: bool, n_elite: int,
               flexible: Optional[PoseBatch] = None) -> PosePool:
    """Rigid Adam on ``poses`` (flexible ones: torsions free throughout), then torsions on the best."""
    smooth, keep = float(params.smoothing_b), float(params.keep_fraction)
    losses = optimise_in_chunks(problem, poses, params.n_steps, False, chunk, deadline, gen, smoothing_b=smooth,
                                keep_fraction=keep)
    fresh = PosePool(problem, n_elite)
    fresh.add(poses, losses)
    if flexible is not None and flexible.size:
        fresh.add(flexible, optimise_in_chunks(problem, flexible, params.n_steps, True, chunk, deadline, gen,
                                               smoothing_b=smooth, keep_fraction=keep))
    if torsions and search_clock.now() < deadline:
        refined = optimise_in_chunks(problem, fresh.poses, params.torsion_steps, True, chunk, deadline, gen,
                                     smoothing_b=smooth)
        poses = fresh.poses
        fresh = PosePool(problem, n_elite)
        fresh.add(poses, refined)
    return fresh


def _with_random_torsions(problem: PlacementProblem, poses: PoseBatch, bodies: Sequence[int], gen) -> PoseBatch:
    """Copies of ``poses`` whose given bodies get random torsion changes."""
    out = poses.select(torch.arange(poses.size))
    fresh = problem.random_poses(poses.size, gen, random_torsions=True)
    for k in bodies:
        out.tors[k] = fresh.tors[k]
    return out


def _stage_starts(problem, starter: Optional[StartGenerator], pool: Optional[PosePool], placed, group,
                  params, gen, torsions: bool, n: int):
    """(rigid starts, flexible starts) for adding ``group`` to the placed bodies."""
    n_rand = n // 4 if starter is not None else n
    n_inf = n - n_rand
    if starter is not None and len(group) > 1:
        n_inf = min(n_inf, 48)
    n_flex_inf = n_inf // 3 if torsions else 0
    rigid, flexible = [], []
    if starter is not None:
        bases = None if pool is None else pool.poses.select(torch.arange(min(8, pool.poses.size)))
        informed = starter.informed(bases, placed, group, n_inf - n_flex_inf, gen)
        rigid.append(informed)
        if n_flex_inf and informed.size:
            reps = informed.select(torch.arange(n_flex_inf) % informed.size)
            flexible.append(_with_random_torsions(problem, reps, group, gen))
    n_rand_flex = n_rand // 2 if torsions else 0
    if pool is None:
        rigid.append(problem.random_poses(n_rand - n_rand_flex, gen))
        flexible.append(problem.random_poses(n_rand_flex, gen, random_torsions=True))
    else:
        rigid.append(_extend(problem, pool, group, n_rand - n_rand_flex, gen))
        flexible.append(_extend(problem, pool, group, n_rand_flex, gen, random_torsions=True))
    rigid = PoseBatch.cat([b for b in rigid if b.size])
    flexible = [b for b in flexible if b.size]
    return rigid, (PoseBatch.cat(flexible) if flexible else None)


def search_poses(problem: PlacementProblem, params, deadline: float) -> PosePool:
    """The search schedule (module docstring) with restarts; returns the pool of best poses.

    An attempt that ends before the deadline without a converged fit
    (loss >= CONVERGED_LOSS) is followed by a fresh one (new seed, twice the
    starts per batch where time allows) while at least ``RESTART_FRACTION`` of
    the first attempt's time is left; the pools are merged. With
    ``params.confirm``, a first attempt that converges is followed by one
    more (new seed, same starts) when its whole time is left again.
    """
    starter = None
    if params.rotation_function:
        t0 = time.time()
        starter = StartGenerator(problem, n_orientations=params.rf_orientations, seed=params.seed)
        logger.info("rotation/translation search set up in %.1f s (grid %s)", time.time() - t0, starter.rt.grid)
    t0 = search_clock.now()
    pool = _one_attempt(problem, params, deadline, starter, int(params.seed), int(params.n_starts),
                        params.max_restarts >= 1, None)
    first = search_clock.now() - t0
    attempt = 1
    while (float(pool.losses[0]) >= CONVERGED_LOSS and params.max_restarts >= attempt
           and _time_for_restart(deadline, first)):
        attempt += 1
        logger.info("no converged fit (best loss %.4f): restart %d with %.0f s left", float(pool.losses[0]),
                    attempt - 1, deadline - search_clock.now())
        more = _one_attempt(problem, params, deadline, starter, int(params.seed) + 7919 * (attempt - 1),
                            2 * int(params.n_starts), params.max_restarts >= attempt, first)
        _merge_attempt(pool, more, 2 * int(params.n_candidates))
    if (attempt == 1 and params.confirm and float(pool.losses[0]) < CONVERGED_LOSS
            and deadline - search_clock.now() >= first):
        logger.info("converged (best loss %.4f) in %.0f s: a confirming attempt from another seed",
                    float(pool.losses[0]), first)
        more = _one_attempt(problem, params, deadline, starter, int(params.seed) + 7919,
                            int(params.n_starts), False, first)
        logger.info("confirming attempt: best loss %.4f (first %.4f)", float(more.losses[0]), float(pool.losses[0]))
        _merge_attempt(pool, more, 2 * int(params.n_candidates))
    return pool


def _merge_attempt(pool: PosePool, more: PosePool, n_best: int) -> None:
    """Merge another attempt's pool into ``pool``, keeping each attempt's ``n_best`` poses aside
    for the atom-level polish (``PosePool.attempt_best``)."""
    if not pool.attempt_best:
        pool.attempt_best.append(pool.top(n_best))
    pool.attempt_best.append(more.top(n_best))
    pool.add(more.poses, more.losses)


def _stage_runner(params):
    """place_stage(problem, poses, frozen, deadline) -> PosePool: rigid Adam on given starts, the
    bodies in ``frozen`` kept where they are."""
    gen = torch.Generator().manual_seed(int(params.seed) + 15485863)

    def place_stage(problem: PlacementProblem, poses: PoseBatch, frozen: Sequence[int],
                    deadline: float) -> PosePool:
        chunk = chunk_size(problem)
        n_steps = max(30, params.n_steps // 2)  # only small bodies move
        losses = optimise_in_chunks(problem, poses, n_steps, False, chunk, deadline, gen, frozen,
                                    smoothing_b=float(params.smoothing_b))
        pool = PosePool(problem, params.n_elite)
        pool.add(poses, losses)
        return pool
    return place_stage


def _time_for_restart(deadline: float, attempt_seconds: float) -> bool:
    """Whether a restart fits: RESTART_FRACTION of an attempt's time (10 s at least) is left."""
    return deadline - search_clock.now() >= max(10.0, RESTART_FRACTION * attempt_seconds)


def _one_attempt(problem: PlacementProblem, params, deadline: float, starter: Optional[StartGenerator],
                 seed: int, max_starts: int, can_restart: bool, restart_seconds: Optional[float]) -> PosePool:
    """Stages, then rounds, from one seed (module docstring).

    Two rounds without progress end the attempt when its fit has converged or
    a restart will follow (``can_restart`` and time for ``restart_seconds``,
    by default as long as this attempt so far); otherwise rounds go on.
    """
    t_start = search_clock.now()
    gen = torch.Generator().manual_seed(seed)
    chunk = chunk_size(problem)
    torsions = params.torsion_steps > 0 and any(len(a) for a in problem.tors_axes)
    stages = plan_stages(problem)
    budget = SearchBudget(problem, params, deadline, len(stages) + 0.7 * (params.n_rounds - 1), max_starts)
    placed: List[int] = []
    pool: Optional[PosePool] = None
    for i, group in enumerate(stages):  # build the asymmetric unit body by body
        if pool is not None and search_clock.now() >= deadline:
            logger.warning("time limit reached before all bodies were placed (stage %d/%d)", i + 1, len(stages))
            break
        t0, t_wall = search_clock.now(), time.time()
        problem.set_active(placed)
        rigid, flexible = _stage_starts(problem, starter, pool, placed, group, params, gen, torsions,
                                        budget.starts())
        t_starts = time.time() - t_wall
        placed = placed + list(group)
        problem.set_active(placed)
        t1 = search_clock.now()
        pool = _run_stage(problem, rigid, params, chunk, deadline, gen, torsions, params.n_elite, flexible)
        budget.done(search_clock.now() - t1, pose_steps(rigid, flexible, params, torsions))
        logger.info("stage %d/%d (bodies %s): %.1f s (starts %.1f s wall), best loss %.4f (pool %s)", i + 1,
                    len(stages), group, search_clock.now() - t0, t_starts, float(pool.losses[0]),
                    " ".join(f"{v:.3f}" for v in pool.losses[:5].tolist()))
        if search_clock.now() >= deadline:
            break
    problem.set_active(None)
    best_history = [float(pool.losses[0])]
    n_rounds = params.n_rounds
    for r in range(1, n_rounds):
        if search_clock.now() >= deadline:
            logger.info("time limit reached")
            break
        t0 = search_clock.now()
        n_round = budget.starts()
        n_flex = int(round(n_round * params.flexible_fraction)) if torsions else 0
        poses = _variants(problem, pool, n_round - 2 * n_flex, gen, torsions, starter)
        flexible = PoseBatch.cat([
            _with_random_torsions(problem, pool.poses.select(torch.arange(n_flex) % pool.poses.size),
                                  range(len(problem.bodies)), gen),
            torsion_kicks(pool.poses, n_flex, gen)]) if n_flex else None
        t1 = search_clock.now()
        fresh = _run_stage(problem, poses, params, chunk, deadline, gen, torsions, params.n_elite, flexible)
        budget.done(search_clock.now() - t1, pose_steps(poses, flexible, params, torsions))
        pool.add(fresh.poses, fresh.losses)
        best_history.append(float(pool.losses[0]))
        logger.info("round %d/%d: %.1f s, best loss %.4f (pool %s)", r + 1, n_rounds, search_clock.now() - t0,
                    best_history[-1], " ".join(f"{v:.3f}" for v in pool.losses[:5].tolist()))
        if len(best_history) >= 3 and best_history[-3] - best_history[-1] < 1e-3:
            attempt_seconds = restart_seconds if restart_seconds is not None else search_clock.now() - t_start
            if best_history[-1] < CONVERGED_LOSS or (can_restart and _time_for_restart(deadline, attempt_seconds)):
                logger.info("not improved in two rounds: attempt stopped")
                break
    return pool


def search_data(f_obs, d_min: float):
    """``f_obs`` without the reflections finer than ``d_min``; ``f_obs`` itself for 0, for data
    no finer than that, or when fewer than ``MIN_SEARCH_REFLECTIONS`` would be left."""
    if not d_min or f_obs.d_min() >= d_min - 1e-6:
        return f_obs
    cut = f_obs.resolution_filter(d_min=d_min)
    return cut if cut.size() >= MIN_SEARCH_REFLECTIONS else f_obs


def place_molecules(f_obs, molecules: Sequence[str], unit_cell_content: Optional[Dict[str, float]] = None,
                    params=None, *, copies: Optional[Sequence[float]] = None, i_obs=None,
                    e_obs=None) -> List[PlacedCandidate]:
    """Place the given molecules against ``f_obs``; ranked candidates, best first.

    f_obs: merged amplitude miller array, absences removed, cut at d_min.
    molecules: SMILES strings or molecule files (``N*`` prefix for copies).
    unit_cell_content: element -> atoms per unit cell (UNIT), optional: copies
    are derived from it when not given, and checked against it.
    params: the extracted ``known_molecule`` PHIL scope (defaults if None).
    copies: copies per asymmetric unit per molecule (overrides params.copies).
    i_obs: F^2 with sigmas for the refinement (default: from f_obs).
    e_obs: the caller's normalised |E| for the same reflections (default:
    normalised here in resolution shells of about 60 reflections).
    """
    params = _extract(params)
    threads = torch.get_num_threads()
    if params.n_threads:
        torch.set_num_threads(int(params.n_threads))
    try:
        with search_clock.using(params.clock):
            return _place(f_obs, molecules, unit_cell_content, params, copies, i_obs, e_obs)
    finally:
        torch.set_num_threads(threads)


def _place(f_obs, molecules, unit_cell_content, params, copies, i_obs, e_obs) -> List[PlacedCandidate]:
    t_wall, t_start = time.time(), search_clock.now()
    deadline = t_start + float(params.max_seconds)
    if f_obs is None or f_obs.size() == 0:
        raise InputError("no reflections given to place the molecules against")
    if f_obs.is_xray_intensity_array():
        i_obs = f_obs if i_obs is None else i_obs
        f_obs = f_obs.f_sq_as_f()
    texts = list(molecules) if molecules else list(params.molecule or [])
    given = copies if copies is not None else (params.copies or None)
    specs = parse_molecules(texts, given)
    sg_info = f_obs.space_group_info()
    order_z = f_obs.space_group().order_z()
    resolve_copies(specs, order_z, unit_cell_content)
    check_cell_volume(specs, order_z, f_obs.unit_cell().volume())
    f_search = search_data(f_obs, params.search_d_min)
    data_cut = f_search is not f_obs
    split_scores = {}
    bodies = build_bodies(specs, sg_info, params, f_obs=f_search, e_obs=e_obs, split_scores=split_scores)

    def make_problem(bodies_, data=f_search):
        return PlacementProblem(data, bodies_, clash_weight=params.clash_weight,
                                site_weight=params.site_weight, e_obs=e_obs)

    problem = make_problem(bodies)
    logger.info("known-molecule search: %d bodies, %d atoms, %d reflections%s, %s",
                len(bodies), len(problem.elements), f_search.size(),
                f" (d >= {params.search_d_min:g} A of {f_obs.size()}; all of them in the polish and "
                "refinement)" if data_cut else "", sg_info)
    resplit = minor_split_options(problem, sg_info)
    reserve = SPLIT_CHECK_FRACTION * float(params.max_seconds) if resplit else 0.0
    alternatives = major_split_options(problem, sg_info, plausible={
        m: plausible_splits(scores) for m, scores in split_scores.items()})
    if alternatives:  # a heavy single atom or a major molecule that may be shared out otherwise
        t_now = search_clock.now()
        pool = search_poses(problem, params, t_now + (deadline - reserve - t_now) / (1 + len(alternatives)))
        if float(pool.losses[0]) >= CONVERGED_LOSS:
            problem, pool = search_alternatives(problem, pool, alternatives, sg_info, params, deadline - reserve,
                                                make_problem, lambda p, t: search_poses(p, params, t))
            resplit = minor_split_options(problem, sg_info)
    else:
        pool = search_poses(problem, params, deadline - reserve)
    if resplit:
        problem, pool = reconsider_splits(problem, pool, sg_info, params, deadline, make_problem,
                                          _stage_runner(params), options=resplit)
    best = [(b.conformers, int(pool.poses.conf[k][0])) for k, b in enumerate(problem.bodies)]
    logger.info("best pose's conformers: %s", ", ".join(
        f"{cs.molecule} {c} ({cs.origin[c]})" for cs, c in best if cs.n_conformers > 1) or "rigid bodies")
    top = pool.top(2 * params.n_candidates)
    if data_cut:  # the polish and the candidates' R1 on all reflections
        problem = make_problem(problem.bodies, f_obs)
    if params.polish_steps:
        frac, losses, corr = polish(problem, top, n_steps=params.polish_steps)
        logger.info("atom-level polish: best loss %.4f -> %.4f", float(pool.losses[0]), float(losses.min()))
        if pool.attempt_best:  # polished apart, so the pool's own poses polish exactly as without them
            aside = PoseBatch.cat(pool.attempt_best)
            frac_a, losses_a, corr_a = polish(problem, aside, n_steps=params.polish_steps)
            logger.info("atom-level polish of %d attempts' best poses: best loss %.4f", len(pool.attempt_best),
                        float(losses_a.min()))
            top = PoseBatch.cat([top, aside])
            frac, losses, corr = torch.cat([frac, frac_a]), torch.cat([losses, losses_a]), torch.cat([corr, corr_a])
        keep = torch.tensor(distinct(problem, frac, losses) or [int(torch.argmin(losses))], dtype=torch.long)
        frac, losses, corr = frac[keep], losses[keep], corr[keep]
        sites = [s[keep] for s in top.site]
    else:
        with torch.no_grad():
            frac = problem.coordinates(top)
            corr = problem.correlation(frac)
        losses = pool.losses[:top.size]
        sites = top.site
    candidates = structures.make_candidates(problem, frac.double().numpy(), losses, corr, specs, f_obs,
                                            params.n_candidates, sites=sites)
    if params.refine and params.n_refine:
        i_obs = i_obs if i_obs is not None else f_obs.f_as_f_sq()
        structures.refine_candidates(candidates[:params.n_refine], i_obs)
        # the search's fit ranks the candidates, restrained refinement picks the best of them
        refined = sorted((c for c in candidates if c.refinement is not None), key=lambda c: c.r1)
        candidates = refined + [c for c in candidates if c.refinement is None]
    logger.info("known-molecule search done in %.1f s (%s clock: %.1f s): best %r", time.time() - t_wall,
                search_clock.current().kind, search_clock.now() - t_start,
                candidates[0] if candidates else None)
    return candidates
