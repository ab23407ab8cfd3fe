"""Restrained smtbx least-squares refinement against F^2 (``refinement`` PHIL scope)."""
from xdxd_cctbx.refine.geometry import RestraintPair, auto_restraint_pairs
from xdxd_cctbx.refine.least_squares import (
    RefinementResult,
    default_params,
    master_phil_str,
    refine_structure,
)

__all__ = [
    "RefinementResult",
    "RestraintPair",
    "auto_restraint_pairs",
    "default_params",
    "master_phil_str",
    "refine_structure",
]
