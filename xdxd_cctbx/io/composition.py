"""Chemical composition: formulas such as "C12 H22 O11" and unit-cell contents."""
from __future__ import annotations

import re

from xdxd_cctbx.errors import InputError

_TOKEN = re.compile(r"^([A-Za-z][A-Za-z]?)(\d*\.?\d*)$")


def normalise_element(symbol: str) -> str:
    """'CL' -> 'Cl', 'c' -> 'C'; raises InputError for unknown symbols."""
    from cctbx.eltbx import tiny_pse

    s = symbol.strip()
    s = s[:1].upper() + s[1:].lower()
    try:
        tiny_pse.table(s)
    except (RuntimeError, ValueError):
        raise InputError(f"unknown element '{symbol}': use element symbols such as C, N, O, Cl")
    return s


def parse_formula(formula: str) -> dict[str, float]:
    """Parse "C12 H22 O11" (or "C12H22O11") into {"C": 12, "H": 22, "O": 11}."""
    text = formula.replace(",", " ").strip()
    if not text:
        raise InputError('empty composition: give e.g. composition="C12 H22 O11"')
    tokens = text.split()
    if len(tokens) == 1:
        tokens = re.findall(r"[A-Z][a-z]?\d*\.?\d*", text)
        if "".join(tokens) != text:
            raise InputError(f"cannot read the formula '{formula}': write it as \"C12 H22 O11\"")
    result: dict[str, float] = {}
    for token in tokens:
        m = _TOKEN.match(token)
        if not m:
            raise InputError(f"cannot read '{token}' in the formula '{formula}': write it as \"C12 H22 O11\"")
        element = normalise_element(m.group(1))
        count = float(m.group(2)) if m.group(2) else 1.0
        if count <= 0:
            raise InputError(f"non-positive count for {element} in the formula '{formula}'")
        result[element] = result.get(element, 0.0) + count
    return result


def scale_composition(composition: dict[str, float], factor: float) -> dict[str, float]:
    return {element: count * factor for element, count in composition.items()}


def format_formula(composition: dict[str, float]) -> str:
    """Hill order (C, H, then alphabetical); integers without decimals."""
    def key(e):
        return (0 if e == "C" else 1 if e == "H" else 2, e)

    parts = []
    for element in sorted(composition, key=key):
        n = composition[element]
        parts.append(f"{element}{int(round(n))}" if abs(n - round(n)) < 1e-6 else f"{element}{n:g}")
    return " ".join(parts)


def non_hydrogen_atoms_per_asu(unit_cell_content: dict[str, float], space_group) -> dict[str, float]:
    """Expected non-H atoms per asymmetric unit, by element."""
    order = space_group.order_z()
    return {e: n / order for e, n in unit_cell_content.items() if e not in ("H", "D")}
