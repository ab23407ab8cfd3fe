"""Classical structure solution: smtbx charge flipping, peaks to atoms, Fourier recycling.

Works at atomic resolution (about 1 A); below about 1.2 A charge flipping does not
converge (measured), which is the gap the diffusion model fills.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time

from xdxd_cctbx.errors import SolveError

logger = logging.getLogger(__name__)

master_phil_str = """
charge_flipping {
  max_solving_iterations = 500
    .type = int
  max_attempts = 5
    .type = int
    .help = "Restarts from random phases when no phase transition is seen"
  n_solutions = 3
    .type = int
    .help = "Origin-shift solutions (correlation-map peaks) turned into models"
  recycling_cycles = 3
    .type = int
    .help = "Fourier recycling cycles (peaks from 2Fo-Fc maps) per model"
  n_trials = 4
    .type = int(value_min=1)
    .help = "Independent charge-flipping runs (new random phases) while no model fits"
  good_r1 = 0.30
    .type = float
    .help = "Stop new trials once a model's R1 on |F| (before refinement) is below this"
}
"""


class _IntIterations(int):
    """smtbx multiplies max_solving_iterations by 1.5 after two failed attempts,
    which makes it a float and breaks islice() under Python 3: keep it an int."""

    def __mul__(self, other):
        return _IntIterations(int(int(self) * other))

    __rmul__ = __mul__


@dataclasses.dataclass
class PeakModel:
    """A model built from map peaks, with the figures used to rank it."""

    xray_structure: object
    r1: float
    source: str

    def __repr__(self):
        return f"PeakModel({self.source}, {self.xray_structure.scatterers().size()} atoms, R1 {self.r1:.3f})"


def expected_atoms_per_asu(unit_cell_content: dict, space_group) -> list[tuple[str, int]]:
    """[(element, count)] of non-H atoms per asymmetric unit, heaviest first."""
    from cctbx.eltbx import tiny_pse

    order = space_group.order_z()
    counts = []
    for element, n in unit_cell_content.items():
        if element in ("H", "D"):
            continue
        ratio = n / order
        # a fraction well away from an integer means atoms on special positions
        per_asu = int(round(ratio)) if abs(ratio - round(ratio)) < 0.1 else int(math.ceil(ratio))
        if per_asu:
            counts.append((element, per_asu))
    counts.sort(key=lambda ec: -tiny_pse.table(ec[0]).atomic_number())
    return counts


def run_charge_flipping(f_obs, params, seed: int = 0):
    """Run smtbx charge flipping; return the solving iterator (f_calc_solutions inside)."""
    import random

    from cctbx.array_family import flex
    from smtbx.ab_initio import charge_flipping

    flex.set_random_seed(seed)
    random.seed(seed)
    flipping = charge_flipping.weak_reflection_improved_iterator(delta=None)
    solving = charge_flipping.solving_iterator(
        flipping,
        f_obs.discard_sigmas(),
        normalisations_for=charge_flipping.amplitude_quasi_normalisations,
        max_solving_iterations=_IntIterations(params.max_solving_iterations),
        max_attempts_to_get_phase_transition=params.max_attempts,
        max_attempts_to_get_sharp_correlation_map=params.max_attempts,
    )
    import io

    charge_flipping.loop(solving, verbose=False, out=io.StringIO())
    return solving


def peaks_to_structure(map_coefficients, crystal_symmetry, atoms_per_asu, label_prefix=""):
    """Peaks of the map of ``map_coefficients`` turned into atoms, elements by height."""
    from cctbx import maptbx, xray

    n_atoms = sum(n for _, n in atoms_per_asu)
    fft_map = map_coefficients.fft_map(resolution_factor=1 / 3, symmetry_flags=maptbx.use_space_group_symmetry)
    fft_map.apply_sigma_scaling()
    search = maptbx.peak_search_parameters(
        peak_search_level=3, interpolate=True, min_distance_sym_equiv=0.9,
        min_cross_distance=0.9, max_clusters=int(n_atoms * 1.5) + 5)
    peaks = fft_map.peak_search(search, verify_symmetry=False).all(max_clusters=int(n_atoms * 1.5) + 5)
    sites, heights = list(peaks.sites()), list(peaks.heights())
    order = sorted(range(len(sites)), key=lambda i: -heights[i])[:n_atoms]
    elements = [e for e, n in atoms_per_asu for _ in range(n)]
    scatterers = []
    counters: dict[str, int] = {}
    for rank, i in enumerate(order):
        element = elements[rank]
        counters[element] = counters.get(element, 0) + 1
        scatterers.append(xray.scatterer(label=f"{label_prefix}{element}{counters[element]}",
                                         site=sites[i], u=0.04, scattering_type=element))
    from cctbx import crystal

    special = crystal.special_position_settings(crystal_symmetry, min_distance_sym_equiv=0.5)
    xs = xray.structure(special_position_settings=special)
    for sc in scatterers:
        xs.add_scatterer(sc)
    return xs


def r1_against(f_obs, xray_structure) -> float:
    """R1 of |F_obs| against |F_calc| (least-squares scale)."""
    import libtbx

    f_calc = f_obs.structure_factors_from_scatterers(xray_structure, algorithm="direct").f_calc()
    return f_obs.r1_factor(f_calc.as_amplitude_array(), scale_factor=libtbx.Auto)


def fourier_recycling(f_obs, xray_structure, atoms_per_asu, cycles: int):
    """Rebuild the model from 2Fo-Fc map peaks a few times; keep the best by R1."""
    best = xray_structure
    best_r1 = r1_against(f_obs, xray_structure)
    current = xray_structure
    for _ in range(cycles):
        f_calc = f_obs.structure_factors_from_scatterers(current, algorithm="direct").f_calc()
        scale = _scale(f_obs, f_calc)
        amplitudes = 2 * f_obs.data() - scale * f_calc.amplitudes().data()
        coeffs = f_calc.customized_copy(data=_unit_phasors(f_calc) * amplitudes)
        current = peaks_to_structure(coeffs, f_obs.crystal_symmetry(), atoms_per_asu)
        r1 = r1_against(f_obs, current)
        if r1 < best_r1 - 1e-4:
            best, best_r1 = current, r1
        else:
            break
    return best, best_r1


def _scale(f_obs, f_calc) -> float:
    from cctbx.array_family import flex

    fc = flex.abs(f_calc.data())
    denom = flex.sum(fc * fc)
    return flex.sum(f_obs.data() * fc) / denom if denom > 0 else 1.0


def _unit_phasors(f_calc):
    from cctbx.array_family import flex

    amplitudes = flex.abs(f_calc.data())
    amplitudes.set_selected(amplitudes == 0, 1.0)
    return f_calc.data() / flex.complex_double(amplitudes, flex.double(amplitudes.size(), 0.0))


def solve_by_charge_flipping(f_obs, unit_cell_content: dict, params, seed: int = 0) -> list[PeakModel]:
    """Candidate models (best first) from charge flipping + Fourier recycling.

    ``f_obs``: merged, unique amplitudes without absences (cctbx miller array).
    Raises SolveError when charge flipping gives no solution.
    """
    t0 = time.time()
    atoms_per_asu = expected_atoms_per_asu(unit_cell_content, f_obs.space_group())
    if not atoms_per_asu:
        raise SolveError("the composition holds no non-H atoms: give SFAC/UNIT or composition=")
    candidates: list[PeakModel] = []
    for trial in range(params.n_trials):
        candidates += _one_trial(f_obs, atoms_per_asu, params, seed + 1000 * trial, trial)
        best = min((c.r1 for c in candidates), default=None)
        logger.info("charge flipping trial %d: best R1 %s (%.1f s)", trial + 1,
                    "n/a" if best is None else f"{best:.3f}", time.time() - t0)
        if best is not None and best < params.good_r1:
            break
    if not candidates:
        raise SolveError("charge flipping found no solution (no phase transition): the data may be too low in resolution")
    candidates.sort(key=lambda c: c.r1)
    return candidates


def _one_trial(f_obs, atoms_per_asu, params, seed: int, trial: int) -> list[PeakModel]:
    try:
        solving = run_charge_flipping(f_obs, params, seed=seed)
    except (AssertionError, RuntimeError, ZeroDivisionError) as e:
        # smtbx asserts on degenerate low-resolution data (e.g. empty normalisation bins)
        logger.info("charge flipping trial %d failed inside smtbx: %s", trial + 1, e or type(e).__name__)
        return []
    solutions = list(solving.f_calc_solutions)[: params.n_solutions]
    candidates = []
    for k, (f_calc, shift, cc_peak_height) in enumerate(solutions):
        phased = f_obs.phase_transfer(f_calc)
        xs = peaks_to_structure(phased, f_obs.crystal_symmetry(), atoms_per_asu)
        xs, r1 = fourier_recycling(f_obs, xs, atoms_per_asu, params.recycling_cycles)
        candidates.append(PeakModel(
            xs, r1, f"charge flipping trial {trial + 1} solution {k + 1} (cc peak {cc_peak_height:.2f})"))
    return candidates
