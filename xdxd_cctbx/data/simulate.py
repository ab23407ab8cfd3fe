"""Realistic simulated intensities from a model, for tests, demos and benchmarks."""
from __future__ import annotations

import logging
import math

import numpy as np

logger = logging.getLogger(__name__)

master_phil_str = """
simulation {
  d_min = 1.0
    .type = float
    .help = "Resolution of the simulated data (Angstrom)"
  seed = 1
    .type = int
  noise = True
    .type = bool
    .help = "Add counting-statistics noise (Poisson-like) and a 2 %% error floor"
  mean_counts = 1000
    .type = float
    .help = "Mean intensity in counts: sets the signal-to-noise ratio"
  background = 20
    .type = float
    .help = "Background counts under each reflection"
  b_extra = 0
    .type = float
    .help = "Extra overall B (A^2) added to the model's displacement parameters"
  u_iso_default = 0.04
    .type = float
    .help = "U_iso (A^2) given to atoms without displacement parameters (U = 0)"
  scale = 1.0
    .type = float
    .help = "Overall scale of the written intensities"
  completeness = 1.0
    .type = float
    .help = "Fraction of unique reflections kept (random omissions)"
}
"""


def simulate_intensities(
    xray_structure,
    d_min: float,
    *,
    seed: int = 1,
    noise: bool = True,
    mean_counts: float = 1000.0,
    background: float = 20.0,
    error_floor: float = 0.02,
    b_extra: float = 0.0,
    u_iso_default: float = 0.04,
    scale: float = 1.0,
    completeness: float = 1.0,
):
    """Unique F^2 with sigmas (a cctbx intensity array) computed from ``xray_structure``.

    Intensities are scaled so that their mean is ``mean_counts``; with noise, each
    gets Gaussian noise of sigma^2 = I + 2*background + (error_floor*I)^2 (counting
    statistics plus a systematic floor), so weak high-angle data are noisy as in a
    real measurement. Deterministic for a given seed.
    """
    from cctbx import adptbx, miller
    from cctbx.array_family import flex

    xs = xray_structure.deep_copy_scatterers()
    for sc in xs.scatterers():
        if sc.flags.use_u_aniso():
            continue
        if sc.u_iso <= 0:
            sc.u_iso = u_iso_default
    if b_extra:
        xs.shift_us(u_shift=adptbx.b_as_u(b_extra))
    ms = miller.build_set(crystal_symmetry=xs, anomalous_flag=False, d_min=d_min)
    ms = ms.select(ms.indices() != (0, 0, 0))
    f_calc = ms.structure_factors_from_scatterers(xs, algorithm="direct").f_calc()
    i_true = f_calc.as_intensity_array().data().as_numpy_array()
    rng = np.random.default_rng(seed)
    i_counts = i_true * (mean_counts / max(i_true.mean(), 1e-12))
    sigma = np.sqrt(i_counts + 2.0 * background + (error_floor * i_counts) ** 2)
    if noise:
        i_meas = i_counts + rng.standard_normal(i_counts.size) * sigma
    else:
        i_meas = i_counts.copy()
    keep = np.ones(i_counts.size, dtype=bool)
    if completeness < 1.0:
        keep = rng.random(i_counts.size) < completeness
    i_meas *= scale
    sigma *= scale
    array = ms.array(data=flex.double(i_meas), sigmas=flex.double(sigma))
    array = array.select(flex.bool(keep.tolist()))
    array.set_observation_type_xray_intensity()
    logger.info("simulated %d reflections to %.2f A (noise %s, seed %d)", array.size(), d_min, noise, seed)
    return array


def hkl_line_precision_ok(array) -> bool:
    """SHELX F8.2 fields hold values below 1e5; True when the array fits."""
    top = max(abs(x) for x in array.data()) if array.size() else 0.0
    return top < 99999.0 and not math.isnan(top)


def simulate_from_model_file(model_path: str, prefix: str, params, *, block=None, hydrogens=True,
                             overwrite=False) -> list[str]:
    """Write PREFIX.hkl + PREFIX.ins simulated from the atoms of ``model_path``."""
    import os

    from xdxd_cctbx.errors import InputError
    from xdxd_cctbx.io.model_files import read_model_file
    from xdxd_cctbx.io.model_writers import write_atomically
    from xdxd_cctbx.io.shelx_files import hklf4_text, ins_header_text, unit_cell_content_of

    model = read_model_file(model_path, block=block)
    if model.xray_structure is None:
        raise InputError(f"{model_path} holds no atoms: xdxd.simulate needs a model with atoms")
    xs = model.xray_structure
    if not hydrogens:
        xs = xs.select(~xs.hd_selection())
    paths = [prefix + ".hkl", prefix + ".ins"]
    if not overwrite:
        for p in paths:
            if os.path.exists(p):
                raise InputError(f"{p} exists: set output.overwrite=True or choose another output.prefix")
    i_obs = simulate_intensities(
        xs, params.d_min, seed=params.seed, noise=params.noise, mean_counts=params.mean_counts,
        background=params.background, b_extra=params.b_extra, u_iso_default=params.u_iso_default,
        scale=params.scale, completeness=params.completeness)
    content = unit_cell_content_of(model.xray_structure)
    title = f"{os.path.basename(prefix)} simulated by xdxd_cctbx to {params.d_min:g} A (seed {params.seed})"
    ins_text = ins_header_text(xs.crystal_symmetry(), content, title, model.wavelength or 0.71073)
    hkl_text = hklf4_text(i_obs)
    write_atomically(paths[0], hkl_text)
    write_atomically(paths[1], ins_text)
    return paths
