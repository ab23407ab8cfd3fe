"""Prepare observed data: merge, remove absences, cut at d_min, |F| and normalised |E|."""
from __future__ import annotations

import dataclasses
import logging

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

master_phil_str = """
data {
  d_min = None
    .type = float
    .help = "High-resolution cut-off in Angstrom (default: all data)"
  d_max = None
    .type = float
    .help = "Low-resolution cut-off in Angstrom"
}
"""

# Asking for a little more than the data hold (2.0 with data to 2.01 A) just uses all data.
_D_MIN_RELATIVE_TOLERANCE = 0.03
MIN_REFLECTIONS = 20


@dataclasses.dataclass
class PreparedData:
    """Merged, unique, absence-free data cut at ``d_min`` (all cctbx miller arrays)."""

    i_obs: object  # F^2 with sigmas (intensity array)
    f_obs: object  # |F| with sigmas (amplitude array)
    e_obs: object  # normalised |E| (amplitude array, no sigmas)
    d_min: float
    r_int: float | None = None

    @property
    def n_reflections(self) -> int:
        return self.f_obs.size()

    def completeness(self) -> float:
        return self.f_obs.completeness()

    def __repr__(self):
        return (f"PreparedData({self.n_reflections} unique reflections, d_min {self.d_min:.2f} A, "
                f"completeness {100 * self.completeness():.1f} %, {self.f_obs.space_group_info()})")


def prepare_reflections(miller_array, d_min: float | None = None, d_max: float | None = None) -> PreparedData:
    """Merge equivalents, remove systematic absences, cut, convert to |F| and |E|.

    Accepts intensities or amplitudes (with or without sigmas). Negative
    intensities become small positive amplitudes (cctbx's f_sq_as_f handles them).
    """
    from cctbx.array_family import flex

    if miller_array.crystal_symmetry() is None or miller_array.space_group() is None:
        raise InputError("the reflections carry no symmetry: give a model file or unit_cell= and space_group=")
    array = miller_array
    if not (array.is_xray_intensity_array() or array.is_xray_amplitude_array()):
        if array.is_complex_array():
            array = array.amplitudes()
        array = array.set_observation_type_xray_amplitude()
    data_d_min = array.d_min()
    if d_min is not None:
        if d_min <= 0:
            raise InputError(f"d_min={d_min} is not positive: give the resolution cut-off in Angstrom, e.g. d_min=2.0")
        if d_min < data_d_min * (1 - _D_MIN_RELATIVE_TOLERANCE):
            raise InputError(f"d_min={d_min:g} is below the data's limit ({data_d_min:.3f} A): use d_min >= {data_d_min:.2f}")
    array = array.as_non_anomalous_array()
    if array.sigmas() is None:
        array = array.customized_copy(sigmas=flex.double(array.size(), 0.0))
    # Unit sigmas would give merging weights of 1/0: guard zero sigmas.
    sig = array.sigmas()
    if (sig <= 0).count(True) and (sig > 0).count(True):
        floor = flex.min(sig.select(sig > 0))
        array = array.customized_copy(sigmas=flex.double([s if s > 0 else floor for s in sig]))
    array = array.map_to_asu()
    r_int = None
    if not array.is_unique_set_under_symmetry():
        merging = array.merge_equivalents(use_internal_variance=False) if (array.sigmas() > 0).count(True) else array.merge_equivalents()
        r_int = merging.r_int()
        array = merging.array()
    array = array.eliminate_sys_absent()
    array = array.select(array.indices() != (0, 0, 0))
    array = array.resolution_filter(d_min=d_min or 0, d_max=d_max or 0)
    if array.size() < MIN_REFLECTIONS:
        raise InputError(
            f"only {array.size()} unique reflections left after merging and the resolution cut (d_min={d_min}): "
            "check the data file and d_min")
    if array.is_xray_intensity_array():
        i_obs = array
        f_obs = array.f_sq_as_f()
    else:
        f_obs = array
        i_obs = array.f_as_f_sq()
    e_obs = normalised_amplitudes(f_obs)
    return PreparedData(i_obs=i_obs, f_obs=f_obs, e_obs=e_obs, d_min=f_obs.d_min(), r_int=r_int)


def normalised_amplitudes(f_obs, reflections_per_bin: int = 50):
    """|E| with E^2 = (F^2/epsilon) / <F^2/epsilon> in resolution shells of equal count.

    Epsilon (the statistical weight of special reflection classes) is divided
    out, so <E^2> = 1 in every shell.
    """
    import numpy as np
    from cctbx.array_family import flex

    f = f_obs.discard_sigmas()
    f_sq_eps = (f.data().as_numpy_array() ** 2) / f.epsilons().data().as_numpy_array()
    d_star_sq = f.d_star_sq().data().as_numpy_array()
    order = np.argsort(d_star_sq)
    n_bins = max(1, min(30, f.size() // reflections_per_bin))
    e_sq = np.empty_like(f_sq_eps)
    for chunk in np.array_split(order, n_bins):
        mean = f_sq_eps[chunk].mean()
        e_sq[chunk] = f_sq_eps[chunk] / mean if mean > 0 else 0.0
    return f.customized_copy(data=flex.double(np.sqrt(e_sq)))
