"""Assemble a program's inputs: reflections + symmetry + composition from files or PHIL."""
from __future__ import annotations

import dataclasses
import logging

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

master_phil_str = """
input {
  reflections = None
    .type = path
    .help = "Reflection file: SHELX .hkl (HKLF 4 or 3), CIF with _refln data, or MTZ"
  reflections_type = *auto hklf4 hklf3 amplitudes
    .type = choice
    .help = "auto: intensities from .hkl, the measured array of CIF/MTZ"
  model = None
    .type = path
    .help = "SHELX .ins/.res or CIF giving cell, space group and composition"
  cif_block = None
    .type = str
    .help = "Data block of the model CIF (default: the first with a structure)"
  unit_cell = None
    .type = unit_cell
  space_group = None
    .type = space_group
  composition = None
    .type = str
    .help = "Formula per formula unit, e.g. 'C12 H22 O11' (overrides SFAC/UNIT)"
  z = None
    .type = int
    .help = "Formula units per unit cell (with composition)"
}
"""


@dataclasses.dataclass
class ProgramInputs:
    reflections: object  # cctbx miller array with symmetry
    unit_cell_content: dict | None
    crystal_symmetry: object
    model_file: object | None  # xdxd_cctbx.io.model_files.ModelFile
    wavelength: float | None = None


def load_inputs(params_input) -> ProgramInputs:
    """Read what ``input`` (the PHIL scope above, extracted) points to."""
    from cctbx import crystal

    from xdxd_cctbx.io.composition import parse_formula, scale_composition
    from xdxd_cctbx.io.model_files import read_model_file
    from xdxd_cctbx.io.reflections import read_reflections

    p = params_input
    if p.reflections is None:
        raise InputError("no reflection file given: name a .hkl, .cif or .mtz file")
    model = read_model_file(p.model, block=p.cif_block) if p.model else None
    cs = model.crystal_symmetry if model is not None else None
    if p.unit_cell is not None or p.space_group is not None:
        unit_cell = p.unit_cell if p.unit_cell is not None else (cs.unit_cell() if cs else None)
        sg_info = p.space_group if p.space_group is not None else (cs.space_group_info() if cs else None)
        if unit_cell is None or sg_info is None:
            raise InputError("incomplete symmetry: give both unit_cell= and space_group= (or a model file)")
        if not sg_info.group().is_compatible_unit_cell(unit_cell):
            raise InputError(
                f"the unit cell {unit_cell.parameters()} is incompatible with space group "
                f"{sg_info}: check CELL/LATT/SYMM or unit_cell=/space_group=")
        cs = crystal.symmetry(unit_cell=unit_cell, space_group_info=sg_info)
    elif cs is not None and not cs.space_group().is_compatible_unit_cell(cs.unit_cell()):
        raise InputError(
            f"the unit cell {cs.unit_cell().parameters()} is incompatible with space group "
            f"{cs.space_group_info()}: check CELL/LATT/SYMM or unit_cell=/space_group=")
    reflections = read_reflections(p.reflections, cs, p.reflections_type)
    if cs is None:
        cs = reflections.crystal_symmetry()
        if cs is None or cs.unit_cell() is None or cs.space_group() is None:
            raise InputError("no cell or space group: give a model file (.ins/.res/.cif) or unit_cell= and space_group=")
    content = None
    if p.composition:
        formula = parse_formula(p.composition)
        z = p.z if p.z is not None else cs.space_group().order_z()
        if p.z is None:
            logger.info("z not given: one formula unit per asymmetric unit (z=%d)", z)
        content = scale_composition(formula, z)
    elif model is not None and model.unit_cell_content:
        content = model.unit_cell_content
    if content is None:
        raise InputError('the composition is unknown: give a .ins/.res with SFAC/UNIT, or composition="C12 H22 O11" z=4')
    return ProgramInputs(reflections, content, cs, model, model.wavelength if model else None)
