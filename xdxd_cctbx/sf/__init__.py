"""Differentiable X-ray structure factors in torch, checked against cctbx.

Public API (importing this package never imports cctbx; only the functions
that take cctbx objects do, lazily):

- :class:`SymmetryOperators` -- all space-group operations (R, t);
  ``from_xyz_strings([...])``, ``from_space_group(sg)``, ``.to(device)``.
- :class:`StructureFactorCalculator` -- ``calc = StructureFactorCalculator(hkl,
  unit_cell, ops, scattering_types)``; ``calc(frac (B,N,3), type_index,
  b_iso=..., weights=...) -> (B,M) complex`` (``real_imag`` for (A, B)).
- :func:`structure_factors` -- the same as a one-off function.
- :class:`FormFactorTable` -- cctbx's default Gaussians, shipped as JSON.
- :func:`structure_factors_from_xray_structure` -- F_calc of a cctbx
  ``xray.structure`` on a ``miller_set`` (float64, numpy complex128).

See :mod:`xdxd_cctbx.sf.engine` for the formula and conventions.
"""
from xdxd_cctbx.sf.cctbx_bridge import structure_factors_from_xray_structure
from xdxd_cctbx.sf.engine import (
    StructureFactorCalculator,
    metric_tensor,
    stol_sq_from_cell,
    structure_factors,
)
from xdxd_cctbx.sf.form_factors import FormFactorTable
from xdxd_cctbx.sf.symmetry import SymmetryOperators

__all__ = [
    "FormFactorTable",
    "StructureFactorCalculator",
    "SymmetryOperators",
    "metric_tensor",
    "stol_sq_from_cell",
    "structure_factors",
    "structure_factors_from_xray_structure",
]
