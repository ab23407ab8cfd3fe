"""Model completion by difference Fourier: drop atoms the density does not support,
add the strongest difference peaks at bonding distance, reassign elements by density."""
from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def _map(coefficients, resolution_factor=1 / 3):
    from cctbx import maptbx

    fft_map = coefficients.fft_map(resolution_factor=resolution_factor,
                                   symmetry_flags=maptbx.use_space_group_symmetry)
    fft_map.apply_sigma_scaling()
    return fft_map


def _coefficients(f_obs, xray_structure, kind: str):
    """2Fo-Fc ('2fofc') or Fo-Fc ('fofc') map coefficients with model phases."""
    from cctbx.array_family import flex

    f_calc = f_obs.structure_factors_from_scatterers(xray_structure, algorithm="direct").f_calc()
    fc = flex.abs(f_calc.data())
    scale = flex.sum(f_obs.data() * fc) / max(flex.sum(fc * fc), 1e-12)
    amplitude = (2 * f_obs.data() - scale * fc) if kind == "2fofc" else (f_obs.data() - scale * fc)
    safe = fc.deep_copy()
    safe.set_selected(safe == 0, 1.0)
    phasors = f_calc.data() / flex.complex_double(safe, flex.double(safe.size(), 0.0))
    return f_calc.customized_copy(data=phasors * amplitude)


def density_at_atoms(f_obs, xray_structure) -> np.ndarray:
    """2Fo-Fc density (sigma units) interpolated at each atom."""
    fft_map = _map(_coefficients(f_obs, xray_structure, "2fofc"))
    real_map = fft_map.real_map_unpadded()
    return np.array([real_map.eight_point_interpolation(sc.site) for sc in xray_structure.scatterers()])


def complete_model(f_obs, xray_structure, atoms_per_asu, *, min_bond=1.0, max_bond=2.6,
                   weak_fraction=0.35, min_peak_sigma=3.0):
    """One completion step; returns a new structure (same number of atoms or fewer).

    Atoms whose 2Fo-Fc density is below ``weak_fraction`` of the median are removed;
    Fo-Fc peaks above ``min_peak_sigma`` between ``min_bond`` and ``max_bond`` from a
    kept atom fill the model up to the expected atom count; finally elements are
    reassigned by density rank (heaviest element to the highest density).
    """
    from cctbx import maptbx, xray

    xs = xray_structure
    n_expected = sum(n for _, n in atoms_per_asu)
    rho = density_at_atoms(f_obs, xs)
    median = float(np.median(rho)) if rho.size else 0.0
    keep = [i for i in range(rho.size) if rho[i] >= weak_fraction * median]
    from cctbx.array_family import flex

    kept = set(keep)
    model = xs.select(flex.bool([i in kept for i in range(rho.size)]))
    n_missing = n_expected - model.scatterers().size()
    if n_missing > 0:
        fft_map = _map(_coefficients(f_obs, model, "fofc"))
        search = maptbx.peak_search_parameters(peak_search_level=3, interpolate=True,
                                               min_distance_sym_equiv=0.9, min_cross_distance=0.9,
                                               max_clusters=4 * n_missing + 10)
        peaks = fft_map.peak_search(search, verify_symmetry=False).all(max_clusters=4 * n_missing + 10)
        added = 0
        for site, height in sorted(zip(peaks.sites(), peaks.heights()), key=lambda p: -p[1]):
            if height < min_peak_sigma or added == n_missing:
                break
            d = _nearest_distance(model, site)
            if min_bond <= d <= max_bond:
                model.add_scatterer(xray.scatterer(label=f"Q{added + 1}", site=site, u=0.04, scattering_type="C"))
                added += 1
    return reassign_elements(f_obs, model, atoms_per_asu)


def reassign_elements(f_obs, xray_structure, atoms_per_asu):
    """Elements by 2Fo-Fc density rank: the composition's heaviest atoms to the strongest sites."""
    xs = xray_structure.deep_copy_scatterers()
    rho = density_at_atoms(f_obs, xs)
    elements = [e for e, n in atoms_per_asu for _ in range(n)]
    order = np.argsort(-rho)
    counters: dict[str, int] = {}
    scatterers = xs.scatterers()
    for rank, i in enumerate(order):
        element = elements[rank] if rank < len(elements) else elements[-1]
        counters[element] = counters.get(element, 0) + 1
        scatterers[int(i)].scattering_type = element
        scatterers[int(i)].label = f"{element}{counters[element]}"
    xs.discard_scattering_type_registry()
    return xs


def _nearest_distance(xray_structure, site) -> float:
    from cctbx import sgtbx

    best = float("inf")
    sps = xray_structure.crystal_symmetry().special_position_settings()
    equiv = sps.sym_equiv_sites(site)
    for sc in xray_structure.scatterers():
        best = min(best, sgtbx.min_sym_equiv_distance_info(equiv, sc.site).dist())
    return best
