"""Read cell, space group and composition (and atoms, if any) from .ins/.res/.cif."""
from __future__ import annotations

import dataclasses
import logging
import os

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.io.composition import normalise_element

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ModelFile:
    """What a model file tells: symmetry, unit-cell content, atoms (may be empty)."""

    path: str
    crystal_symmetry: object  # cctbx.crystal.symmetry
    unit_cell_content: dict  # element -> atoms per unit cell (H included when given)
    xray_structure: object | None  # cctbx.xray.structure, None when no atoms
    wavelength: float | None = None

    def __repr__(self):
        cs = self.crystal_symmetry
        n = 0 if self.xray_structure is None else self.xray_structure.scatterers().size()
        return (f"ModelFile({os.path.basename(self.path)}: {cs.space_group_info()}, "
                f"cell {cs.unit_cell().parameters()}, {n} atoms, content {self.unit_cell_content})")


def read_model_file(path: str, block: str | None = None) -> ModelFile:
    """Read a SHELX .ins/.res or a small-molecule CIF."""
    if not os.path.isfile(path):
        raise InputError(f"model file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".ins", ".res"):
        return _read_shelx(path)
    if ext in (".cif",):
        return read_cif_model(path, block=block)
    raise InputError(f"unsupported model file '{path}': give a SHELX .ins/.res or a CIF")


def _shelx_commands(path: str) -> dict[str, list[list[str]]]:
    commands: dict[str, list[list[str]]] = {}
    with open(path, errors="replace") as f:
        lines = f.read().splitlines()
    joined: list[str] = []
    for line in lines:  # '=' at the end continues a line
        if joined and joined[-1].rstrip().endswith("="):
            joined[-1] = joined[-1].rstrip()[:-1] + " " + line
        else:
            joined.append(line)
    for line in joined:
        tokens = line.split("!")[0].split()
        if not tokens:
            continue
        commands.setdefault(tokens[0].upper(), []).append(tokens[1:])
    return commands


def _read_shelx(path: str) -> ModelFile:
    commands = _shelx_commands(path)
    name = os.path.basename(path)
    for required in ("CELL", "SFAC", "UNIT"):
        if required not in commands:
            raise InputError(f"{name} has no {required} instruction: a SHELX .ins/.res needs CELL, SFAC and UNIT")
    from iotbx.shelx import crystal_symmetry_from_ins

    try:
        cs = crystal_symmetry_from_ins.extract_from(path)
    except Exception as e:  # iotbx raises several types for bad instructions
        raise InputError(f"cannot read the cell/symmetry of {name}: {e}")
    if cs is None or cs.unit_cell() is None or cs.space_group() is None:
        raise InputError(f"{name}: incomplete CELL/LATT/SYMM instructions")
    sfac: list[str] = []
    for args in commands["SFAC"]:
        if len(args) > 2 and _is_number(args[1]):  # long form: SFAC E a1 b1 ...
            sfac.append(normalise_element(args[0]))
        else:
            sfac.extend(normalise_element(a) for a in args)
    unit_values = [float(v) for args in commands["UNIT"] for v in args]
    if len(unit_values) != len(sfac):
        raise InputError(f"{name}: UNIT has {len(unit_values)} numbers but SFAC names {len(sfac)} elements; give one UNIT count per SFAC element")
    content: dict[str, float] = {}
    for element, count in zip(sfac, unit_values):
        content[element] = content.get(element, 0.0) + count
    wavelength = float(commands["CELL"][0][0]) if commands["CELL"][0] else None
    xs = None
    if _has_atoms(commands, sfac):
        from cctbx import xray

        try:
            xs = xray.structure.from_shelx(filename=path, strictly_shelxl=False, set_grad_flags=False)
        except Exception as e:
            logger.warning("atoms of %s not read (%s); using its symmetry and composition only", name, e)
            xs = None
        if xs is not None and xs.scatterers().size() == 0:
            xs = None
    return ModelFile(path, cs, content, xs, wavelength)


def _has_atoms(commands, sfac) -> bool:  # noqa: ARG001
    """An atom line: a label (not an instruction) followed by sfac number, x, y, z, sof."""
    instructions = {"TITL", "CELL", "ZERR", "LATT", "SYMM", "SFAC", "UNIT", "END", "HKLF",
                    "FVAR", "WGHT", "DFIX", "DANG", "SADI", "FLAT", "ANIS", "AFIX", "PART",
                    "EXYZ", "EADP", "DELU", "SIMU", "RIGU", "ISOR", "L.S.", "CGLS", "PLAN",
                    "FMAP", "BOND", "CONF", "LIST", "ACTA", "SIZE", "TEMP", "OMIT", "SHEL"}
    for key, occurrences in commands.items():
        if key in instructions or len(key) > 4:
            continue
        for args in occurrences:
            if len(args) >= 5 and all(_is_number(t) for t in args[:5]):
                return True
    return False


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def read_cif_model(path: str, block: str | None = None) -> ModelFile:
    import iotbx.cif

    name = os.path.basename(path)
    try:
        model = iotbx.cif.reader(file_path=path).model()
    except Exception as e:
        raise InputError(f"cannot parse the CIF {name}: {e}")
    try:
        structures = iotbx.cif.reader(file_path=path).build_crystal_structures()
    except Exception:
        structures = {}
    blocks = list(model.keys())
    if not blocks:
        raise InputError(f"{name} holds no data block")
    if block is None:
        candidates = [b for b in blocks if b in structures] or blocks
        block = candidates[0]
    if block not in model:
        raise InputError(f"{name} has no data block '{block}': blocks are {', '.join(blocks)}")
    cif_block = model[block]
    xs = structures.get(block)
    if xs is not None:
        cs = xs.crystal_symmetry()
    else:
        from cctbx import crystal, sgtbx, uctbx

        try:
            cell = [float(_strip_su(cif_block[f"_cell_{k}"])) for k in
                    ("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma")]
        except KeyError:
            raise InputError(f"{name} block '{block}' has no complete _cell_ items")
        sg = _cif_space_group(cif_block)
        if sg is None:
            raise InputError(f"{name} block '{block}' names no space group (_space_group_symop_operation_xyz or _symmetry_space_group_name_H-M)")
        cs = crystal.symmetry(uctbx.unit_cell(cell), space_group_info=sgtbx.space_group_info(group=sg))
    content = _cif_content(cif_block, xs)
    if xs is not None and xs.scatterers().size() == 0:
        xs = None
    return ModelFile(path, cs, content, xs, None)


def _strip_su(value: str) -> str:
    return value.split("(")[0]


def _cif_space_group(cif_block):
    from cctbx import sgtbx

    for key in ("_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz"):
        ops = cif_block.get(key)
        if ops is not None:
            sg = sgtbx.space_group()
            for op in ops:
                sg.expand_smx(sgtbx.rt_mx(str(op)))
            return sg
    for key in ("_space_group_name_H-M_alt", "_symmetry_space_group_name_H-M", "_space_group_name_Hall"):
        name = cif_block.get(key)
        if name:
            try:
                return sgtbx.space_group_info(str(name)).group()
            except RuntimeError:
                continue
    return None


def _cif_content(cif_block, xs) -> dict:
    """Unit-cell content from _chemical_formula_sum × Z, else from the atoms."""
    from xdxd_cctbx.io.composition import parse_formula

    formula = cif_block.get("_chemical_formula_sum")
    z = cif_block.get("_cell_formula_units_Z")
    if formula and z and formula not in ("?", "."):
        try:
            content = parse_formula(str(formula))
            return {e: n * float(_strip_su(str(z))) for e, n in content.items()}
        except (InputError, ValueError):
            pass
    if xs is None:
        return {}
    content: dict[str, float] = {}
    for sc in xs.scatterers():
        e = sc.element_symbol() or sc.scattering_type
        content[e] = content.get(e, 0.0) + sc.occupancy * sc.multiplicity()
    return content
