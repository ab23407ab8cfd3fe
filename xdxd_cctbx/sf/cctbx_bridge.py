"""Bridge between cctbx objects and the torch engine (cctbx imported lazily).

``structure_factors_from_xray_structure(xs, miller_set)`` computes F_calc of a
cctbx ``xray.structure`` with the torch engine in float64, using cctbx's own
scattering-type registry (Gaussians, f') and scatterer weights (occupancy /
site-symmetry order). It exists to check the engine against
``miller_set.structure_factors_from_scatterers(xs, algorithm="direct")``.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple

import numpy as np
import torch

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.sf.engine import StructureFactorCalculator
from xdxd_cctbx.sf.form_factors import FormFactorTable
from xdxd_cctbx.sf.symmetry import SymmetryOperators

logger = logging.getLogger(__name__)


def table_from_registry(xray_structure) -> FormFactorTable:
    """The Gaussians ``xray_structure.scattering_type_registry()`` assigns, by label."""
    registry = xray_structure.scattering_type_registry()
    entries = {}
    for label, gaussian in registry.as_type_gaussian_dict().items():
        c = gaussian.c() if gaussian.use_c() else 0.0
        entries[label] = (tuple(gaussian.array_of_a()), tuple(gaussian.array_of_b()), c)
    return FormFactorTable(entries, source="cctbx scattering_type_registry")


def atoms_from_xray_structure(
    xray_structure,
) -> Tuple[np.ndarray, List[str], np.ndarray, np.ndarray, np.ndarray]:
    """(frac (N,3), scattering types, u_iso (N,), weights (N,), fp (N,)) of isotropic scatterers.

    Raises InputError for anisotropic ADPs (use ``xs.convert_to_isotropic()``)
    or a non-zero f'' (anomalous scattering is not modelled).
    """
    scatterers = xray_structure.scatterers()
    if len(scatterers) == 0:
        raise InputError("the structure has no atoms")
    for sc in scatterers:
        if sc.flags.use_u_aniso():
            raise InputError(
                f"atom {sc.label} is anisotropic: the engine is isotropic "
                "(call xray_structure.convert_to_isotropic() first)"
            )
        if sc.fdp != 0:
            raise InputError(f"atom {sc.label} has f'' != 0: anomalous scattering is not modelled")
    frac = np.array(xray_structure.sites_frac(), dtype=np.float64).reshape(-1, 3)
    types = [sc.scattering_type for sc in scatterers]
    u_iso = np.array([sc.u_iso for sc in scatterers], dtype=np.float64)
    weights = np.array([sc.weight() for sc in scatterers], dtype=np.float64)
    fp = np.array([sc.fp for sc in scatterers], dtype=np.float64)
    return frac, types, u_iso, weights, fp


def calculator_for(xray_structure, miller_set, scattering_types: List[str], table=None):
    """A :class:`StructureFactorCalculator` for the indices of ``miller_set``."""
    hkl = np.array(miller_set.indices(), dtype=np.int64).reshape(-1, 3)
    ops = SymmetryOperators.from_space_group(xray_structure.space_group())
    return StructureFactorCalculator(
        hkl, xray_structure.unit_cell().parameters(), ops, scattering_types, table=table
    )


def structure_factors_from_xray_structure(
    xray_structure,
    miller_set,
    table: Optional[FormFactorTable] = None,
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """F_calc (complex128, order of ``miller_set.indices()``) by the torch engine.

    Form factors: cctbx's registry of ``xray_structure`` (default) or ``table``
    (e.g. ``FormFactorTable.default()``, the shipped JSON); f' is added.
    Weights: cctbx's scatterer weights (occupancy / site-symmetry order).
    """
    frac, types, u_iso, weights, fp = atoms_from_xray_structure(xray_structure)
    base = table if table is not None else table_from_registry(xray_structure)
    # one engine type per (scattering type, f'): f' enters as a constant term
    keys = sorted(set(zip(types, fp.tolist())))
    entries = {}
    for i, (label, fprime) in enumerate(keys):
        a, b, c = base.gaussian(label)
        entries[f"t{i}"] = (a, b, c + fprime)
    names = list(entries)
    calc = calculator_for(
        xray_structure, miller_set, names, table=FormFactorTable(entries, source=base.source)
    )
    index = torch.tensor([keys.index(k) for k in zip(types, fp.tolist())], dtype=torch.int64)
    with torch.no_grad():
        a, b = calc.real_imag(
            torch.from_numpy(frac).to(dtype),
            index,
            u_iso=torch.from_numpy(u_iso).to(dtype),
            weights=torch.from_numpy(weights).to(dtype),
        )
    return a.double().numpy() + 1j * b.double().numpy()


def compare_with_cctbx(
    xray_structure,
    d_min: float = 1.0,
    strong_fraction: float = 0.05,
    table: Optional[FormFactorTable] = None,
    dtype: torch.dtype = torch.float64,
) -> dict:
    """Engine vs cctbx direct summation on all unique reflections to ``d_min``.

    ``table``/``dtype`` as in :func:`structure_factors_from_xray_structure`.
    Returns n_reflections, max_abs_rel (max |F_engine - F_cctbx| / max |F_cctbx|)
    and max_rel_strong (max relative deviation of |F| over reflections with
    |F| > strong_fraction * max |F|).
    """
    from cctbx import miller

    ms = miller.build_set(crystal_symmetry=xray_structure, anomalous_flag=False, d_min=d_min)
    ref = (
        ms.structure_factors_from_scatterers(xray_structure, algorithm="direct")
        .f_calc()
        .data()
        .as_numpy_array()
    )
    ours = structure_factors_from_xray_structure(xray_structure, ms, table=table, dtype=dtype)
    amp_ref, amp = np.abs(ref), np.abs(ours)
    strong = amp_ref > strong_fraction * amp_ref.max()
    return {
        "n_reflections": int(ms.size()),
        "max_abs_rel": float(np.abs(ours - ref).max() / amp_ref.max()),
        "max_rel_strong": float((np.abs(amp - amp_ref)[strong] / amp_ref[strong]).max()),
    }
