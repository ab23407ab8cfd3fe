"""Molecules per benchmark structure, for ``methods=known_molecule``.

A molecules table is a JSON object: structure name -> list of molecules, each a
SMILES string (``"N*SMILES"`` for N copies per asymmetric unit) or an object
``{"smiles": ..., "copies": ...}`` (the form ``benchmarks/molecules_of_set.py``
writes). Structure names are those of the benchmark set (the manifest's name,
else the CIF's file name without extension; a measured set's folder name).
"""
from __future__ import annotations

import json
from fractions import Fraction
from typing import Dict, List, Optional

from xdxd_cctbx.errors import InputError

KNOWN_MOLECULE = "known_molecule"


def copies_text(copies: float) -> str:
    """Copies per asymmetric unit as the molecule prefix writes them: 1, 0.5, 1/3."""
    frac = Fraction(float(copies)).limit_denominator(12)
    if abs(float(frac) - float(copies)) > 1e-3:
        return f"{float(copies):.4f}"
    return str(frac.numerator) if frac.denominator == 1 else f"{frac.numerator}/{frac.denominator}"


def molecule_strings(entry) -> List[str]:
    """One table entry as the ``molecule=`` strings solve() takes."""
    if not isinstance(entry, list) or not entry:
        raise InputError("a molecules-table entry must be a non-empty list of SMILES or {smiles, copies} objects")
    out = []
    for item in entry:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("smiles"), str):
            copies = item.get("copies")
            out.append(item["smiles"] if copies is None else f"{copies_text(copies)}*{item['smiles']}")
        else:
            raise InputError(f"molecules-table item {item!r}: give a SMILES string or {{\"smiles\", \"copies\"}}")
    return out


def read_molecule_table(path: str) -> Dict[str, List[str]]:
    """The table at ``path`` as name -> molecule strings. Raises InputError when unreadable."""
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError as e:
        raise InputError(f"cannot read the molecules table {path}: {e.strerror}")
    except ValueError as e:
        raise InputError(f"the molecules table {path} is not valid JSON: {e}")
    if not isinstance(raw, dict):
        raise InputError(f"the molecules table {path} must be a JSON object: structure name -> list of SMILES")
    table = {}
    for name, entry in raw.items():
        try:
            table[str(name)] = molecule_strings(entry)
        except InputError as e:
            raise InputError(f"{path}, structure {name}: {e}")
    return table


def molecules_from_table(table: Dict[str, List[str]], structure, method: str) -> Optional[dict]:
    """``method_inputs`` hook of the runner: ``molecules=`` for known_molecule tasks."""
    if method != KNOWN_MOLECULE:
        return None
    if structure.name not in table:
        raise InputError(f"no molecules for {structure.name} in the molecules table: add an entry "
                         f'"{structure.name}": ["SMILES", ...]')
    return {"molecules": list(table[structure.name])}


def check_table_covers(table: Dict[str, List[str]], structures) -> None:
    """InputError naming the first structures the table lacks."""
    missing = [s.name for s in structures if s.name not in table]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise InputError(f"the molecules table has no entry for {', '.join(missing[:3])}{more}: "
                         "add them (benchmarks/molecules_of_set.py writes a table for a set)")


def molecule_types(molecules: List[str]) -> List[str]:
    """Kinds of a structure's molecules for the report: single (one molecule, one
    copy) or several; on_symmetry when a copy count is fractional."""
    from xdxd_cctbx.known_molecule.molecules import copies_prefix

    copies = [copies_prefix(text)[0] or 1.0 for text in molecules]
    types = ["single" if len(copies) == 1 and abs(copies[0] - 1.0) < 1e-6 else "several"]
    if any(abs(c - round(c)) > 1e-3 for c in copies):
        types.append("on_symmetry")
    return types
