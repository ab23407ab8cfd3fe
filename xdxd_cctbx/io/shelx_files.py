"""SHELX reflection files and instruction headers (cell, symmetry, SFAC/UNIT, no atoms)."""
from __future__ import annotations

import io

from xdxd_cctbx.errors import InputError


def hklf4_text(i_obs) -> str:
    """HKLF 4 text of an intensity array (scaled down if F8.2 would overflow)."""
    out = io.StringIO()
    i_obs.export_as_shelx_hklf(file_object=out, normalise_if_format_overflow=True)
    return out.getvalue()


def latt_symm_lines(space_group) -> list[str]:
    from iotbx.shelx.write_ins import LATT_SYMM

    out = io.StringIO()
    try:
        LATT_SYMM(out, space_group)
    except RuntimeError as e:
        raise InputError(f"space group {space_group.info()} cannot be written for SHELX ({e}); use a standard setting")
    return out.getvalue().splitlines()


def sfac_unit_lines(unit_cell_content: dict) -> tuple[list[str], list[str]]:
    """SFAC and integer UNIT lines, C and H first (SHELX convention)."""
    def key(e):
        return (0 if e == "C" else 1 if e == "H" else 2, e)

    elements = sorted(unit_cell_content, key=key)
    return elements, [str(int(round(unit_cell_content[e]))) for e in elements]


def ins_header_text(crystal_symmetry, unit_cell_content: dict, title: str, wavelength: float = 0.71073) -> str:
    """A SHELX .ins without atoms: what a crystallographer has before solution."""
    a, b, c, al, be, ga = crystal_symmetry.unit_cell().parameters()
    elements, counts = sfac_unit_lines(unit_cell_content)
    z = crystal_symmetry.space_group().order_z()
    lines = [
        f"TITL {title}",
        f"CELL {wavelength:.5f} {a:.4f} {b:.4f} {c:.4f} {al:.3f} {be:.3f} {ga:.3f}",
        f"ZERR {z} 0.0010 0.0010 0.0010 0.010 0.010 0.010",
        *latt_symm_lines(crystal_symmetry.space_group()),
        "SFAC " + " ".join(elements),
        "UNIT " + " ".join(counts),
        "HKLF 4",
        "END",
    ]
    return "\n".join(lines) + "\n"


def unit_cell_content_of(xray_structure, include_hydrogens: bool = True) -> dict:
    """Atoms per unit cell by element (occupancy × multiplicity)."""
    content: dict = {}
    for sc in xray_structure.scatterers():
        e = sc.element_symbol() or sc.scattering_type
        if not include_hydrogens and e in ("H", "D"):
            continue
        content[e] = content.get(e, 0.0) + sc.occupancy * sc.multiplicity()
    return content
