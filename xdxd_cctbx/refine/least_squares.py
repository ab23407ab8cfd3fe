"""Restrained least-squares refinement against F^2 with smtbx.

``refine_structure`` refines sites and isotropic U of a candidate. At low
resolution the positions need distance restraints (generated automatically or
passed in) and the U_iso values are grouped: one shared U_iso per element.
Refinement runs in macro cycles of a few Levenberg-Marquardt iterations;
between macro cycles U_iso is kept in bounds and automatic restraints are
regenerated from the refined geometry. Each macro cycle builds a new smtbx
least-squares object, so smtbx's restraint weight normalisation
(2 * objective / (n_obs - n_par)) follows the improving fit: restraints hold
the model firmly while it is far off and let the data speak near convergence.
With n_cycles = 0 the input model is only evaluated (R1, wR2, covariance).

Hydrogen atoms (see ``xdxd_cctbx.refine.hydrogens``): given
``n_hydrogens_per_asu`` and ``riding_hydrogens``, a model without H is refined
first, then H atoms are placed on the refined model (C-H, then N/O-H up to
the count), methyl and hydroxyl H turned to the difference density, and the
refinement goes on with them riding on their parents (smtbx constraints).
H atoms of the input model are kept fixed, or ride (``model_hydrogens``).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from xdxd_cctbx.errors import InputError, XdxdError
from xdxd_cctbx.refine import hydrogens as hydrogen_tools
from xdxd_cctbx.refine.geometry import (
    RestraintPair,
    auto_restraint_pairs,
    bond_proxies,
    normalise_pairs,
    restraint_rms_deviation,
)

logger = logging.getLogger(__name__)

master_phil_str = """
refinement
  .help = "Restrained least-squares refinement against F^2 (smtbx)"
{
  n_cycles = 100
    .type = int(value_min=0)
    .help = "Most least-squares (Levenberg-Marquardt) iterations in all"
  restraints = *auto none
    .type = choice
    .help = "auto: 1-2 and 1-3 distance restraints from the model's own geometry \
             and typical bond lengths. Restraints passed in by the caller (a known \
             molecule) replace the automatic ones."
  bond_sigma = 0.02
    .type = float(value_min=0.0001)
    .help = "Sigma of bond (1-2) distance restraints, Angstrom"
  angle_sigma = 0.04
    .type = float(value_min=0.0001)
    .help = "Sigma of 1-3 distance restraints (angles), Angstrom"
  bond_tolerance = 0.5
    .type = float(value_min=0)
    .help = "Two atoms are bonded when closer than the sum of covalent radii plus this"
  adp = *auto isotropic grouped fixed
    .type = choice
    .help = "isotropic: free U_iso per atom. grouped: one U_iso per element. \
             fixed: U_iso not refined. auto: grouped when d_min > grouped_adp_d_min, \
             else isotropic."
  grouped_adp_d_min = 1.2
    .type = float(value_min=0)
    .help = "adp=auto groups U_iso when the data's d_min is above this (Angstrom)"
  initial_u_iso = 0.04
    .type = float(value_min=0)
    .help = "Starting U_iso for atoms without a positive one (A^2)"
  min_u_iso = 0.002
    .type = float(value_min=0)
  max_u_iso = 0.25
    .type = float(value_min=0)
  weighting_a = 0.1
    .type = float(value_min=0)
    .help = "SHELX weighting w = 1/(sigma^2(Fo^2) + (aP)^2 + bP)"
  weighting_b = 0.0
    .type = float(value_min=0)
  macro_cycle_length = 3
    .type = int(value_min=1)
    .help = "Iterations between regenerations of restraints and U_iso bounds"
    .expert_level = 2
  shift_tolerance = 0.001
    .type = float(value_min=0)
    .help = "Converged when no non-H site moves more than this (Angstrom) in a macro cycle"
    .expert_level = 2
  riding_hydrogens = True
    .type = bool
    .help = "With a composition H count passed by the caller (n_hydrogens_per_asu), \
             a model without H gets H atoms placed after a first refinement, and \
             they ride on their parents (smtbx riding constraints, U_iso(H) 1.2 or \
             1.5 times the parent's). False: no H are placed."
  model_hydrogens = *fixed riding
    .type = choice
    .help = "H atoms already in the input model: kept where they are, or riding \
             on their parents (those that fit no riding group stay fixed)"
}
"""



def default_params():
    """The extracted ``refinement`` scope with default values."""
    import libtbx.phil

    return libtbx.phil.parse(master_phil_str).extract().refinement


@dataclass
class RefinementResult:
    """What a refinement produced: model, figures of merit and covariance."""

    xray_structure: Any
    r1_gt: float
    r1_all: float
    wr2: float
    goof: float
    restrained_goof: float
    n_reflections: int
    n_reflections_gt: int
    n_parameters: int
    n_restraints: int
    n_cycles: int
    converged: bool
    d_min: float
    adp_mode: str
    scale_factor: float
    weighting_a: float
    weighting_b: float
    covariance_matrix: Any = None  # packed upper triangle, order of xray_structure.parameter_map()
    restraint_pairs: List[RestraintPair] = field(default_factory=list)
    restraint_rmsd: Optional[float] = None
    max_shift: float = 0.0
    wall_time: float = 0.0
    hydrogens: Any = None  # hydrogens.HydrogenPlacement of the riding H (None: none ride)
    r1_before_hydrogens: Optional[float] = None  # R1 of the stage without H, when H were placed

    @property
    def n_riding_hydrogens(self) -> int:
        """H atoms riding on their parents in the output model."""
        return 0 if self.hydrogens is None else self.hydrogens.n_hydrogens

    @property
    def data_to_parameter_ratio(self) -> float:
        """Reflections per refined parameter (overall scale included)."""
        return self.n_reflections / max(1, self.n_parameters)

    @property
    def r1(self) -> float:
        """R1 for F > 4 sigma(F), the conventional headline figure."""
        return self.r1_gt

    def as_dict(self) -> Dict[str, Any]:
        """Figures of merit as plain numbers (for reports and JSON)."""
        return {
            "r1_gt": self.r1_gt, "r1_all": self.r1_all, "wr2": self.wr2,
            "goof": self.goof, "restrained_goof": self.restrained_goof,
            "n_reflections": self.n_reflections, "n_reflections_gt": self.n_reflections_gt,
            "n_parameters": self.n_parameters, "n_restraints": self.n_restraints,
            "data_to_parameter_ratio": self.data_to_parameter_ratio,
            "n_cycles": self.n_cycles, "converged": self.converged, "d_min": self.d_min,
            "adp_mode": self.adp_mode, "restraint_rmsd": self.restraint_rmsd,
            "max_shift": self.max_shift, "wall_time": self.wall_time,
            "n_riding_hydrogens": self.n_riding_hydrogens,
            "r1_before_hydrogens": self.r1_before_hydrogens,
        }

    def __repr__(self) -> str:
        rmsd = "-" if self.restraint_rmsd is None else f"{self.restraint_rmsd:.3f}"
        return (
            f"RefinementResult(R1={self.r1_gt:.4f} [{self.n_reflections_gt} Fo>4sig], "
            f"R1_all={self.r1_all:.4f}, wR2={self.wr2:.4f}, GooF={self.goof:.3f}, "
            f"n_refl={self.n_reflections}, n_par={self.n_parameters}, "
            f"n_restr={self.n_restraints} (rmsd {rmsd} A), "
            f"data/par={self.data_to_parameter_ratio:.1f}, adp={self.adp_mode}, "
            f"d_min={self.d_min:.2f}, cycles={self.n_cycles}, H={self.n_riding_hydrogens}, "
            f"converged={self.converged}, max_shift={self.max_shift:.4f} A)"
        )


def _extract_params(params):
    if params is None:
        return default_params()
    if hasattr(params, "refinement") and not hasattr(params, "n_cycles"):
        return params.refinement
    return params


def _prepare_observations(xray_structure, f_sq_obs):
    """Check the data and return an F^2 miller array usable by smtbx."""
    if f_sq_obs.sigmas() is None:
        raise InputError("refinement needs reflection sigmas: the data have none")
    if f_sq_obs.is_xray_amplitude_array():
        logger.info("refinement: converting amplitudes to intensities")
        f_sq_obs = f_sq_obs.f_as_f_sq()
    elif not f_sq_obs.is_xray_intensity_array():
        f_sq_obs = f_sq_obs.customized_copy().set_observation_type_xray_intensity()
    sgi_data = f_sq_obs.space_group_info()
    if sgi_data is None or f_sq_obs.unit_cell() is None:
        raise InputError("the reflections carry no crystal symmetry")
    sg_model = xray_structure.space_group()
    if sgi_data.type().hall_symbol() != sg_model.type().hall_symbol():
        raise InputError(
            "the reflections' space group differs from the model's: merge the data "
            "in the model's space group first")
    if not f_sq_obs.unit_cell().is_similar_to(xray_structure.unit_cell(), 1e-3, 0.1):
        raise InputError("the reflections' unit cell differs from the model's")
    f_sq_obs = f_sq_obs.customized_copy(
        crystal_symmetry=xray_structure.crystal_symmetry())
    n_absent = f_sq_obs.sys_absent_flags().data().count(True)
    if n_absent:
        logger.info("refinement: removing %d systematic absences", n_absent)
        f_sq_obs = f_sq_obs.eliminate_sys_absent()
    bad = f_sq_obs.sigmas() <= 0
    if bad.count(True):
        logger.warning("refinement: dropping %d reflections with sigma <= 0", bad.count(True))
        f_sq_obs = f_sq_obs.select(~bad)
    if not f_sq_obs.is_unique_set_under_symmetry():
        raise InputError("reflections are not merged: merge equivalents before refining")
    if f_sq_obs.size() == 0:
        raise InputError("no reflections left to refine against")
    return f_sq_obs


def _prepare_structure(xray_structure, params):
    """A copy with isotropic, positive U and refinement flags set."""
    xs = xray_structure.deep_copy_scatterers()
    if xs.use_u_aniso().count(True):
        xs.convert_to_isotropic()
    for sc in xs.scatterers():
        sc.flags.set_grad_site(False)
        sc.flags.set_grad_u_iso(False)
        sc.flags.set_grad_u_aniso(False)
        sc.flags.set_grad_occupancy(False)
        sc.flags.set_grad_fp(False)
        sc.flags.set_grad_fdp(False)
        if not sc.u_iso > 0:
            sc.u_iso = params.initial_u_iso
    _clamp_u_iso(xs, params)
    return xs


def _clamp_u_iso(xs, params) -> int:
    n = 0
    for sc in xs.scatterers():
        u = min(max(sc.u_iso, params.min_u_iso), params.max_u_iso)
        if u != sc.u_iso:
            sc.u_iso = u
            n += 1
    return n


def _choose_adp_mode(params, d_min: float) -> str:
    if params.adp == "auto":
        return "grouped" if d_min > params.grouped_adp_d_min else "isotropic"
    return params.adp


def _set_flags(xs, adp_mode: str, riding=None):
    """Refine sites and U_iso of non-H atoms and riding H; returns (constraints, others).

    The smtbx ADP constraints come first (riding U_iso refer to the group U),
    then the riding-H constraints; ``others`` are riding groups smtbx cannot
    constrain, re-idealised between macro cycles. H atoms outside riding
    groups are fixed.
    """
    from smtbx.refinement.constraints import adp as adp_constraints

    scatterers = xs.scatterers()
    is_h = [sc.element_symbol() in ("H", "D") for sc in scatterers]
    riding_h = set(riding.group_of()) if riding is not None else set()
    for i_seq, (sc, h) in enumerate(zip(scatterers, is_h)):
        refined = not h or i_seq in riding_h
        sc.flags.set_grad_site(refined)
        sc.flags.set_grad_u_iso(refined and adp_mode != "fixed")
    constraints = []
    if adp_mode == "grouped":
        groups: Dict[str, List[int]] = {}
        for i_seq, sc in enumerate(scatterers):
            if not is_h[i_seq]:
                groups.setdefault(sc.scattering_type, []).append(i_seq)
        for members in groups.values():
            if len(members) > 1:
                constraints.append(adp_constraints.shared_u(members))
    others = []
    if riding is not None and riding.groups:
        h_constraints, others = hydrogen_tools.riding_constraints(
            xs, riding, refine_u=adp_mode != "fixed")
        constraints.extend(h_constraints)
        for g in others:
            for h in g.hydrogens:
                scatterers[h].flags.set_grad_site(False)
    return constraints, others


def _prepare_flags_for_new_h(xs) -> None:
    """Clear the grad flags _set_flags does not manage (fresh H atoms included)."""
    for sc in xs.scatterers():
        sc.flags.set_grad_u_aniso(False)
        sc.flags.set_grad_occupancy(False)
        sc.flags.set_grad_fp(False)
        sc.flags.set_grad_fdp(False)


def _restraints_manager(pairs: Sequence[RestraintPair]):
    from smtbx.refinement import restraints

    if not pairs:
        return None
    return restraints.manager(bond_proxies=bond_proxies(pairs))


def _build_ls(xs, fo_sq_obs, pairs, constraints, params):
    from smtbx import refinement
    from smtbx.refinement import least_squares

    weighting = least_squares.mainstream_shelx_weighting(
        a=params.weighting_a, b=params.weighting_b)
    model = refinement.model(
        fo_sq=fo_sq_obs, xray_structure=xs, constraints=constraints,
        restraints_manager=_restraints_manager(pairs),
        weighting_scheme=weighting)
    return model.least_squares()


def _max_site_shift(xs, sites_cart_before) -> float:
    """Largest shift of a non-H site (A)."""
    heavy = ~xs.hd_selection()
    if heavy.count(True) == 0:
        return 0.0
    shifts = (xs.sites_cart() - sites_cart_before).select(heavy).dot()
    return max(math.sqrt(d) for d in shifts)


def _same_pairs(a: Sequence[RestraintPair], b: Sequence[RestraintPair],
                tolerance: float = 0.005) -> bool:
    """Same restrained pairs with ideal distances within ``tolerance``."""
    if len(a) != len(b):
        return False
    ideal_a = {(p.i_seq, p.j_seq, str(p.rt_mx_ji)): p.ideal for p in a}
    for p in b:
        ideal = ideal_a.get((p.i_seq, p.j_seq, str(p.rt_mx_ji)))
        if ideal is None or abs(ideal - p.ideal) > tolerance:
            return False
    return True


class _Stage:
    """State carried through the macro cycles of one refinement."""

    def __init__(self, pairs, regenerate: bool):
        self.pairs = list(pairs)
        self.regenerate = regenerate
        self.n_done = 0
        self.converged = False
        self.max_shift = 0.0


def _macro_cycles(xs, fo_sq_obs, stage: _Stage, constraints, others, params,
                  n_cycles: int) -> None:
    """Up to ``n_cycles`` LM iterations in macro cycles; updates ``xs`` and ``stage``."""
    from scitbx.lstbx import normal_eqns_solving

    n_done = 0
    stage.converged = False
    while n_done < n_cycles:
        n_max = min(params.macro_cycle_length, n_cycles - n_done)
        sites_before = xs.sites_cart()
        ls = _build_ls(xs, fo_sq_obs, stage.pairs, constraints, params)
        try:
            iterations = normal_eqns_solving.levenberg_marquardt_iterations(
                non_linear_ls=ls, n_max_iterations=n_max,
                gradient_threshold=1e-8, step_threshold=1e-8)
        except RuntimeError as exc:
            raise XdxdError(f"least-squares refinement failed: {exc}") from exc
        n_done += max(1, iterations.n_iterations)
        if not all(math.isfinite(x) for site in xs.sites_frac() for x in site):
            raise XdxdError("least-squares refinement diverged (non-finite coordinates)")
        n_clamped = _clamp_u_iso(xs, params)
        if others:
            hydrogen_tools.reidealise(xs, others)
        stage.max_shift = _max_site_shift(xs, sites_before)
        new_pairs = stage.pairs
        if stage.regenerate:
            new_pairs = auto_restraint_pairs(xs, bond_sigma=params.bond_sigma,
                                             angle_sigma=params.angle_sigma,
                                             tolerance=params.bond_tolerance)
        logger.debug("macro cycle: %d iterations, max shift %.4f A, %d U clamped, "
                     "%d restraints", iterations.n_iterations, stage.max_shift,
                     n_clamped, len(new_pairs))
        stable = n_clamped == 0 and _same_pairs(stage.pairs, new_pairs)
        stage.pairs = new_pairs
        if stable and (stage.max_shift < params.shift_tolerance
                       or iterations.n_iterations < n_max):
            stage.converged = True
            break
    stage.n_done += n_done


def _r1(xs, fo_sq_obs, pairs, constraints, params) -> float:
    ls = _build_ls(xs, fo_sq_obs, pairs, constraints, params)
    ls.build_up()
    return ls.r1_factor(cutoff_factor=2.0)[0]


def refine_structure(xray_structure, f_sq_obs, *, params=None,
                     restraint_pairs: Optional[Sequence] = None,
                     d_min: Optional[float] = None,
                     n_hydrogens_per_asu: Optional[float] = None) -> RefinementResult:
    """Refine sites and isotropic U of ``xray_structure`` against ``f_sq_obs``.

    f_sq_obs: merged F^2 miller array with sigmas in the structure's space group.
    params: the extracted ``refinement`` PHIL scope (defaults if None).
    restraint_pairs: (i_seq, j_seq, rt_mx_ji, ideal, sigma) distance restraints
    that replace the automatic ones. d_min: defaults to the data's.
    n_hydrogens_per_asu: H atoms per asymmetric unit from the composition; with
    ``riding_hydrogens`` and a model without H, riding H are placed after a
    first refinement (the output then has them after the non-H atoms, whose
    order is kept). The input structure is not modified. H atoms already in
    the model stay fixed or ride on their parents (``model_hydrogens``).
    """
    t0 = time.time()
    params = _extract_params(params)
    if xray_structure.scatterers().size() == 0:
        raise InputError("cannot refine a structure without atoms")
    fo_sq = _prepare_observations(xray_structure, f_sq_obs)
    if d_min is None:
        d_min = fo_sq.d_min()
    xs = _prepare_structure(xray_structure, params)
    adp_mode = _choose_adp_mode(params, d_min)
    n_h = xs.hd_selection().count(True)
    riding = None
    if n_h and params.model_hydrogens == "riding":
        riding = hydrogen_tools.describe_riding_hydrogens(xs)
        logger.info("refinement: %d of %d hydrogen atoms ride, the others are kept fixed",
                    riding.n_hydrogens, n_h)
    elif n_h:
        logger.info("refinement: %d hydrogen atoms kept fixed", n_h)
    place = (params.riding_hydrogens and not n_h and n_hydrogens_per_asu is not None)
    constraints, others = _set_flags(xs, adp_mode, riding)
    fo_sq_obs = fo_sq.as_xray_observations()

    explicit = restraint_pairs is not None
    if explicit:
        pairs = normalise_pairs(restraint_pairs, xs.scatterers().size())
    elif params.restraints == "auto":
        pairs = auto_restraint_pairs(xs, bond_sigma=params.bond_sigma,
                                     angle_sigma=params.angle_sigma,
                                     tolerance=params.bond_tolerance)
    else:
        pairs = []
    logger.info("refinement: %d reflections, d_min %.2f A, adp=%s, %d distance restraints%s",
                fo_sq.size(), d_min, adp_mode, len(pairs), " (given)" if explicit else "")

    stage = _Stage(pairs, regenerate=not explicit and params.restraints == "auto")
    _macro_cycles(xs, fo_sq_obs, stage, constraints, others, params, params.n_cycles)
    r1_before = None
    if place:
        r1_before = _r1(xs, fo_sq_obs, stage.pairs, constraints, params)
        xs, riding = hydrogen_tools.place_riding_hydrogens(
            xs, n_hydrogens_per_asu=n_hydrogens_per_asu)
        hydrogen_tools.orient_rotating_groups(xs, riding, fo_sq)
        _prepare_flags_for_new_h(xs)
        constraints, others = _set_flags(xs, adp_mode, riding)
        n_more = params.n_cycles - stage.n_done
        if params.n_cycles:
            n_more = max(n_more, min(params.n_cycles, 4 * params.macro_cycle_length))
        _macro_cycles(xs, fo_sq_obs, stage, constraints, others, params, n_more)
    pairs, n_done, converged, max_shift = (stage.pairs, stage.n_done, stage.converged,
                                           stage.max_shift)
    # Final evaluation at the output model (no step): statistics and covariance.
    ls = _build_ls(xs, fo_sq_obs, pairs, constraints, params)
    ls.build_up()
    covariance = None
    try:
        covariance = ls.covariance_matrix(
            jacobian_transpose=ls.reparametrisation.jacobian_transpose_matching_grad_fc())
    except (RuntimeError, ArithmeticError) as exc:  # singular normal matrix
        logger.warning("refinement: no covariance matrix (%s)", exc)
    r1_all, _ = ls.r1_factor()
    r1_gt, n_gt = ls.r1_factor(cutoff_factor=2.0)  # Fo^2 > 2 sigma(Fo^2) == F > 4 sigma(F)
    result = RefinementResult(
        xray_structure=xs,
        r1_gt=r1_gt, r1_all=r1_all, wr2=ls.wR2(), goof=ls.goof(),
        restrained_goof=ls.restrained_goof(),
        n_reflections=fo_sq.size(), n_reflections_gt=n_gt,
        n_parameters=ls.reparametrisation.n_independents + 1,
        n_restraints=len(pairs), n_cycles=n_done, converged=converged,
        d_min=d_min, adp_mode=adp_mode, scale_factor=ls.scale_factor(),
        weighting_a=params.weighting_a, weighting_b=params.weighting_b,
        covariance_matrix=covariance, restraint_pairs=list(pairs),
        restraint_rmsd=restraint_rms_deviation(xs, pairs), max_shift=max_shift,
        wall_time=time.time() - t0,
        hydrogens=riding if riding is not None and riding.groups else None,
        r1_before_hydrogens=r1_before,
    )
    logger.info("refinement: %r", result)
    return result
