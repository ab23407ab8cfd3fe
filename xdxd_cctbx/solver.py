"""``solve()``: the one entry point that programs, scripts and pipelines call.

    import xdxd_cctbx                       # first: owns the import order
    from xdxd_cctbx import solve
    result = solve(i_obs, composition="C12 H22 O11", z=2, d_min=1.0)
    result.xray_structure, result.refinement.r1, result.candidates
"""
from __future__ import annotations

import dataclasses
import logging
import time

from xdxd_cctbx.errors import InputError, SolveError

logger = logging.getLogger(__name__)

METHODS = ("charge_flipping", "known_molecule")
MAX_NON_H_ATOMS_PER_ASU = 250

master_phil_str = """
method = *auto charge_flipping known_molecule
  .type = choice
  .help = "Structure-solution method. auto: known_molecule when molecules are given, \
           else charge_flipping. charge_flipping: smtbx charge flipping, reliable at \
           atomic resolution (about 1 A) only. known_molecule: place the given molecules \
           (known_molecule.molecule=SMILES) against the data, works at 2 A."
n_refine = 3
  .type = int(value_min=1)
  .help = "Best candidates refined by least squares; top-1 has the lowest refined R1"
seed = 0
  .type = int
  .help = "Random seed: the same inputs and seed give the same answer"
completion_cycles = 2
  .type = int(value_min=0)
  .help = "Difference-Fourier completion cycles after refinement (drop unsupported \
           atoms, add difference peaks, reassign elements by density), kept when R1 drops"
include scope xdxd_cctbx.data.prepare.master_phil_str
include scope xdxd_cctbx.classical.charge_flipping.master_phil_str
include scope xdxd_cctbx.refine.master_phil_str
include scope xdxd_cctbx.known_molecule.master_phil_str
"""


def master_phil():
    import libtbx.phil

    return libtbx.phil.parse(master_phil_str, process_includes=True)


def default_params():
    return master_phil().extract()


@dataclasses.dataclass
class Candidate:
    """One candidate model: before refinement ``refinement`` is None."""

    xray_structure: object
    r1: float  # R1 on |F| before refinement (ranking figure)
    source: str
    refinement: object | None = None  # xdxd_cctbx.refine.RefinementResult
    restraint_pairs: list | None = None  # restraints the method supplies (known molecule)

    @property
    def refined_r1(self) -> float:
        return self.refinement.r1 if self.refinement is not None else float("inf")

    def __repr__(self):
        ref = f", refined R1 {self.refinement.r1:.3f}" if self.refinement else ""
        return f"Candidate({self.source}: {self.xray_structure.scatterers().size()} atoms, R1 {self.r1:.3f}{ref})"


@dataclasses.dataclass
class SolveResult:
    """What ``solve`` returns: the chosen (top-1) refined model and the rest."""

    method: str
    xray_structure: object  # refined top-1 model (cctbx xray.structure)
    refinement: object  # RefinementResult of the top-1
    candidates: list  # all candidates, best first
    data: object  # xdxd_cctbx.data.prepare.PreparedData
    unit_cell_content: dict
    seconds: float
    seed: int

    @property
    def d_min(self) -> float:
        return self.data.d_min

    def confidence(self) -> dict:
        """Agreement among the refined candidates: the R1 gap between the best two."""
        refined = sorted(c.refined_r1 for c in self.candidates if c.refinement is not None)
        gap = refined[1] - refined[0] if len(refined) > 1 else None
        return {"n_refined": len(refined), "r1_gap_to_next": gap}

    def figures(self) -> dict:
        figures = {
            "method": self.method,
            "d_min": round(self.data.d_min, 4),
            "n_reflections": self.data.n_reflections,
            "completeness": round(self.data.completeness(), 4),
            "n_atoms": self.xray_structure.scatterers().size(),
            "n_non_h_atoms": int((~self.xray_structure.hd_selection()).count(True)),
            "n_candidates": len(self.candidates),
            "seconds": round(self.seconds, 2),
            "seed": self.seed,
            "space_group": str(self.xray_structure.space_group_info()),
        }
        figures.update({k: (round(v, 5) if isinstance(v, float) else v)
                        for k, v in self.refinement.as_dict().items()})
        figures["confidence"] = self.confidence()
        return figures

    def __repr__(self):
        return (f"SolveResult({self.method}, {self.xray_structure.scatterers().size()} atoms, "
                f"R1 {self.refinement.r1:.4f}, wR2 {self.refinement.wr2:.4f}, d_min {self.d_min:.2f} A, "
                f"{len(self.candidates)} candidates, {self.seconds:.1f} s)")


def resolve_composition(composition, z=None, crystal_symmetry=None) -> dict:
    """Unit-cell content {element: count} from a dict or a formula string (× z)."""
    from xdxd_cctbx.io.composition import parse_formula, scale_composition

    if composition is None:
        raise InputError('the composition is unknown: give a .ins/.res with SFAC/UNIT, or composition="C12 H22 O11" z=4')
    if isinstance(composition, str):
        formula = parse_formula(composition)
        if z is None:
            if crystal_symmetry is None:
                raise InputError("composition given without z: give z= (formula units per unit cell)")
            z = crystal_symmetry.space_group().order_z()
            logger.info("z not given: assuming one formula unit per asymmetric unit (z=%d)", z)
        if z <= 0:
            raise InputError(f"z={z} is not positive: give the number of formula units per unit cell")
        return scale_composition(formula, z)
    if not composition:
        raise InputError("the composition is empty: give SFAC/UNIT or composition=")
    return dict(composition)


def solve(reflections, composition=None, params=None, *, z=None, method=None, d_min=None,
          seed=None, molecules=None) -> SolveResult:
    """Solve and refine a structure from ``reflections`` (a cctbx miller array).

    reflections: intensities or amplitudes with crystal symmetry (cell + space group).
    composition: unit-cell content {element: count}, or a formula string with ``z``.
    params: extracted PHIL (``xdxd_cctbx.solver.master_phil_str``); keyword
    arguments method/d_min/seed/molecules override it. ``molecules``: SMILES strings
    (or .mol/.sdf/.xyz paths) of the molecules in the crystal, for the known-molecule
    mode (the default method when molecules are given). Raises InputError for bad input,
    SolveError when no candidate could be found.
    """
    from xdxd_cctbx.data.prepare import prepare_reflections

    t0 = time.time()
    params = params if params is not None else default_params()
    if method is not None:
        params.method = method
    if d_min is not None:
        params.data.d_min = d_min
    if seed is not None:
        params.seed = seed
    if molecules is not None:
        params.known_molecule.molecule = [molecules] if isinstance(molecules, str) else list(molecules)
    params.known_molecule.molecule = [m for m in (params.known_molecule.molecule or []) if m]
    if params.method == "auto":
        params.method = "known_molecule" if params.known_molecule.molecule else "charge_flipping"
    if params.method not in METHODS:
        raise InputError(f"unknown method '{params.method}': use one of {', '.join(METHODS)}")
    content = resolve_composition(composition, z, reflections.crystal_symmetry())
    _check_size(content, reflections.space_group())
    data = prepare_reflections(reflections, d_min=params.data.d_min, d_max=params.data.d_max)
    logger.info("%s", data)
    candidates = _find_candidates(params, data, content)
    if not candidates:
        raise SolveError(f"{params.method} produced no candidate model")
    best = _refine_best(candidates, data, params, content)
    _add_riding_hydrogens(best, data, params, content)
    from xdxd_cctbx.io.assemble import assemble_molecules

    result = SolveResult(
        method=params.method, xray_structure=assemble_molecules(best.refinement.xray_structure),
        refinement=best.refinement,
        candidates=candidates, data=data, unit_cell_content=content, seconds=time.time() - t0,
        seed=params.seed)
    logger.info("%s", result)
    return result


def _check_size(content, space_group):
    from xdxd_cctbx.classical.charge_flipping import expected_atoms_per_asu

    n = sum(count for _, count in expected_atoms_per_asu(content, space_group))
    if n == 0:
        raise InputError("the composition holds no non-H atoms: give SFAC/UNIT or composition= with C, N, O, ...")
    if n > MAX_NON_H_ATOMS_PER_ASU:
        raise InputError(
            f"{n} non-H atoms per asymmetric unit: more than the {MAX_NON_H_ATOMS_PER_ASU} supported; "
            "check UNIT (it counts atoms per unit cell) or composition/z")


def _find_candidates(params, data, content) -> list:
    if params.method == "charge_flipping":
        from xdxd_cctbx.classical.charge_flipping import solve_by_charge_flipping

        models = solve_by_charge_flipping(data.f_obs, content, params.charge_flipping, seed=params.seed)
        return [Candidate(m.xray_structure, m.r1, m.source) for m in models]
    if params.method == "known_molecule":
        from xdxd_cctbx.known_molecule import place_molecules

        if not params.known_molecule.molecule:
            raise InputError('method=known_molecule needs the molecules: give molecule="SMILES" (one per distinct molecule)')
        placed = place_molecules(data.f_obs, list(params.known_molecule.molecule), content,
                                 params.known_molecule, i_obs=data.i_obs)
        candidates = []
        for k, p in enumerate(placed):
            c = Candidate(p.xray_structure, p.r1, f"known-molecule placement {k + 1} (corr {p.correlation:.3f})",
                          refinement=p.refinement)
            c.restraint_pairs = p.restraint_pairs
            candidates.append(c)
        return candidates
    raise InputError(f"unknown method '{params.method}'")


def _refine_best(candidates, data, params, content):
    from xdxd_cctbx.refine import refine_structure

    for candidate in candidates[: params.n_refine]:
        if candidate.refinement is not None:  # refined by its method (known molecule: its restraints)
            continue
        try:
            candidate.refinement = refine_structure(
                candidate.xray_structure, data.i_obs, params=params.refinement, d_min=data.d_min)
            if params.completion_cycles and params.method != "known_molecule":
                _complete(candidate, data, params, content)
        except Exception as e:  # one failing candidate must not stop the others
            logger.warning("refinement of %s failed: %s", candidate.source, e)
        else:
            logger.info("refined %s", candidate)
    refined = [c for c in candidates if c.refinement is not None]
    if not refined:
        raise SolveError("no candidate could be refined")
    refined.sort(key=lambda c: c.refined_r1)
    candidates.sort(key=lambda c: (c.refinement is None, c.refined_r1, c.r1))
    return refined[0]


def _add_riding_hydrogens(candidate, data, params, content):
    """Place H on the chosen model (count from the composition) and refine them riding."""
    from xdxd_cctbx.refine import refine_structure

    n_h = content.get("H", 0) + content.get("D", 0)
    if not n_h or not params.refinement.riding_hydrogens:
        return
    try:
        final = refine_structure(candidate.refinement.xray_structure, data.i_obs, params=params.refinement,
                                 d_min=data.d_min, restraint_pairs=candidate.restraint_pairs,
                                 n_hydrogens_per_asu=n_h / data.i_obs.space_group().order_z())
    except Exception as e:  # the model without H is still a valid answer
        logger.warning("riding hydrogens not added: %s", e)
        return
    if final.r1 < candidate.refinement.r1:
        logger.info("riding hydrogens: R1 %.4f -> %.4f", candidate.refinement.r1, final.r1)
        candidate.refinement = final


def _complete(candidate, data, params, content):
    """Difference-Fourier completion of a refined candidate, kept while R1 improves."""
    from xdxd_cctbx.classical.charge_flipping import expected_atoms_per_asu
    from xdxd_cctbx.classical.completion import complete_model
    from xdxd_cctbx.refine import refine_structure

    atoms_per_asu = expected_atoms_per_asu(content, data.f_obs.space_group())
    for cycle in range(params.completion_cycles):
        model = complete_model(data.f_obs, candidate.refinement.xray_structure, atoms_per_asu)
        refinement = refine_structure(model, data.i_obs, params=params.refinement, d_min=data.d_min)
        if refinement.r1 >= candidate.refinement.r1 - 0.002:
            break
        logger.info("completion cycle %d: R1 %.4f -> %.4f", cycle + 1, candidate.refinement.r1, refinement.r1)
        candidate.refinement = refinement
