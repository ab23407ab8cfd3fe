"""``solve_by_diffusion``: candidate structures from the conditional diffusion model.

Input as the other methods get it (cctbx arrays: |F_obs| merged, absences removed,
cut at d_min; |E_obs|; the unit-cell content); output a list of
:class:`DiffusionCandidate` (xray_structure, r1, score, source), best first.
The sampler (:mod:`xdxd_cctbx.diffusion.sampler`) draws ``n_samples``
asymmetric units in one batch with diffraction guidance and a chemistry prior,
refines each locally against the diffraction loss and ranks them.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from xdxd_cctbx.diffusion.sampler import master_phil_str as _sampler_phil
from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

master_phil_str = """
diffusion {
%s
  weights {
    name = default
      .type = str
      .help = "Registered weights (xdxd_cctbx/weights/registry.json); none: no network (guidance and prior only)"
    path = None
      .type = path
      .help = "A weights file written by xdxd.train (overrides name; no checksum check)"
  }
  n_candidates = 5
    .type = int(value_min=1)
    .help = "Best distinct candidates returned (for refinement and ranking)"
  device = *auto cpu cuda
    .type = choice
}
""" % "\n".join("  " + line if line else line for line in _sampler_phil.strip("\n").splitlines())

_MODEL_CACHE: Dict[Tuple[str, str, str], tuple] = {}


@dataclasses.dataclass
class DiffusionCandidate:
    """One candidate asymmetric unit from the diffusion sampler."""

    xray_structure: object
    r1: float  # R1 on |F| (cctbx, direct summation, least-squares scale)
    score: float  # sampler ranking figure: diffraction loss + prior weight * prior energy per atom
    loss: float  # 1 - corr(|E_obs|, |E_calc|)
    source: str

    def __repr__(self) -> str:
        return f"DiffusionCandidate({self.source}: R1 {self.r1:.3f}, loss {self.loss:.3f})"


def default_params():
    import libtbx.phil

    return libtbx.phil.parse(master_phil_str).extract().diffusion


def _device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def load_model(params, device: torch.device):
    """(model or None, schedule, weights id) for the PHIL weights scope (cached per process)."""
    from xdxd_cctbx.diffusion.torus import SigmaSchedule
    from xdxd_cctbx.weights.loading import load_denoiser

    name, path = params.weights.name, params.weights.path
    if path is None and (name or "").lower() == "none":
        return None, SigmaSchedule(), "none (guidance and prior only)"
    key = (str(name), str(path), str(device))
    if key not in _MODEL_CACHE:
        model, schedule, meta = load_denoiser(name or "default", path=path, device=str(device))
        _MODEL_CACHE[key] = (model, schedule, meta["id"])
    return _MODEL_CACHE[key]


def asu_atomic_numbers(unit_cell_content: dict, space_group) -> List[int]:
    """Atomic numbers of the non-H atoms of one asymmetric unit, heaviest first."""
    from xdxd_cctbx.classical.charge_flipping import expected_atoms_per_asu
    from xdxd_cctbx.diffusion.diffraction import atomic_number

    z: List[int] = []
    for element, count in expected_atoms_per_asu(unit_cell_content, space_group):
        z.extend([atomic_number(element)] * count)
    if not z:
        raise InputError("the composition holds no non-H atoms: give SFAC/UNIT or composition= with C, N, O, ...")
    return z


def crystal_from_arrays(f_obs, e_obs, atomic_numbers: List[int]):
    """A one-crystal CrystalBatch (float32) from cctbx arrays."""
    from xdxd_cctbx.diffusion.crystal import CrystalRecord, collate
    from xdxd_cctbx.sf import SymmetryOperators

    ops = SymmetryOperators.from_space_group(f_obs.space_group())
    hkl = np.array(f_obs.indices(), dtype=np.int64)
    f = f_obs.data().as_numpy_array()
    e = None
    if e_obs is not None and e_obs.size() == f_obs.size() and list(e_obs.indices()) == list(f_obs.indices()):
        e = e_obs.data().as_numpy_array()
    record = CrystalRecord(cell=np.array(f_obs.unit_cell().parameters()), rotations=ops.rotations.numpy(),
                           translations=ops.translations.numpy(), atomic_numbers=np.array(atomic_numbers),
                           hkl=hkl, f_obs=f, e_obs=e)
    if e is None:  # same recipe as xdxd_cctbx.data.prepare.normalised_amplitudes
        from xdxd_cctbx.diffusion.diffraction import DiffractionContext

        record.e_obs = np.zeros_like(f)
        batch = collate([record])
        ctx = DiffractionContext(batch)
        record.e_obs = torch.sqrt(ctx.normalise(batch.f_obs ** 2))[0].numpy()
    return collate([record])


def candidate_structure(f_obs, frac: np.ndarray, atomic_numbers: List[int], *, u_iso: float = 0.04):
    """A cctbx xray.structure of one candidate asymmetric unit."""
    from cctbx import xray
    from cctbx.array_family import flex

    from xdxd_cctbx.diffusion.diffraction import ELEMENT_SYMBOLS

    counts: Dict[str, int] = {}
    scatterers = flex.xray_scatterer()
    for z, site in zip(atomic_numbers, frac):
        sym = ELEMENT_SYMBOLS[int(z)]
        counts[sym] = counts.get(sym, 0) + 1
        scatterers.append(xray.scatterer(label=f"{sym}{counts[sym]}"[:4], site=tuple(float(v) for v in site),
                                         u=u_iso, scattering_type=sym))
    return xray.structure(crystal_symmetry=f_obs.crystal_symmetry(), scatterers=scatterers)


def cctbx_r1(f_obs, xray_structure) -> float:
    import libtbx

    f_calc = f_obs.structure_factors_from_scatterers(xray_structure, algorithm="direct").f_calc()
    return float(f_obs.r1_factor(f_calc.as_amplitude_array(), scale_factor=libtbx.Auto))


def solve_by_diffusion(f_obs, e_obs, unit_cell_content: dict, params=None, seed: int = 0
                       ) -> List[DiffusionCandidate]:
    """Candidate structures, best first (see the module docstring).

    params: the extracted ``diffusion`` scope of :data:`master_phil_str` (None: defaults);
    ``params.sampler.seed`` overrides ``seed`` when set.
    """
    from xdxd_cctbx.diffusion.sampler import sample

    params = params if params is not None else default_params()
    if not f_obs.is_xray_amplitude_array():
        raise InputError("solve_by_diffusion needs |F_obs| (an amplitude array)")
    if f_obs.size() < 20:
        raise InputError(f"only {f_obs.size()} reflections: too few for the diffusion sampler")
    device = _device(params.device)
    model, schedule, weights_id = load_model(params, device)
    z = asu_atomic_numbers(unit_cell_content, f_obs.space_group())
    crystal = crystal_from_arrays(f_obs, e_obs, z).to(device)
    run_seed = params.sampler.seed if params.sampler.seed is not None else seed
    logger.info("diffusion: %d atoms per asymmetric unit, %d reflections, %d samples x %d steps, weights %s",
                len(z), f_obs.size(), params.sampler.n_samples, params.sampler.n_steps, weights_id)
    result = sample(model, crystal, params.sampler, schedule=schedule, seed=run_seed)
    logger.info("diffusion sampler: %s", result)
    out: List[DiffusionCandidate] = []
    kept: List[np.ndarray] = []
    for k in range(result.frac.shape[0]):
        frac = result.frac[k].cpu().numpy().astype(np.float64)
        if any(np.abs((frac - other) - np.round(frac - other)).max() < 1e-3 for other in kept):
            continue  # the same structure twice
        kept.append(frac)
        xs = candidate_structure(f_obs, frac, z)
        out.append(DiffusionCandidate(
            xray_structure=xs, r1=cctbx_r1(f_obs, xs), score=float(result.score[k]), loss=float(result.loss[k]),
            source=f"diffusion sample {k + 1}/{result.frac.shape[0]} (loss {float(result.loss[k]):.3f}; "
                   f"weights {weights_id})"))
        if len(out) == params.n_candidates:
            break
    return out


def weights_identifier(params=None) -> Optional[str]:
    """The weights id (name-version sha256 prefix) solve_by_diffusion would use, for output CIFs."""
    params = params if params is not None else default_params()
    try:
        return load_model(params, _device(params.device))[2]
    except Exception:  # reporting only: the solve itself raises the real error
        return None
