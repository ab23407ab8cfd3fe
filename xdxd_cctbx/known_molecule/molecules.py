"""Molecules given by the user: parsing, formulae, copies per asymmetric unit.

A molecule is typed as a SMILES string or given as a ``.mol``/``.sdf``/``.xyz``
file (3-D coordinates in a file become one extra conformer). An optional
prefix ``N*`` gives the copies per asymmetric unit, e.g. ``0.5*c1ccccc1`` for a
benzene on an inversion centre or ``2*O`` for two waters.

Copies that are not whole (0.5, 1/3, 1.5, ...) mean one copy sits on a
symmetry element whose site-symmetry order is ``1 / fraction``; the search
places that copy on the matching special positions (see :mod:`.sites`).
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import product
from typing import Dict, List, Optional, Sequence, Tuple

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

METALS = frozenset(
    "Li Be Na Mg Al K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn "
    "Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po "
    "Fr Ra Ac Th Pa U Np Pu Am Cm".split()
)
FILE_SUFFIXES = (".mol", ".sdf", ".mol2", ".xyz", ".pdb")
# Smallest volume per non-H atom seen in molecular crystals is ~11 A^3 (dense
# nitro compounds, metal halides); below 7 A^3 the cell cannot hold the atoms.
MIN_VOLUME_PER_ATOM = 7.0
_COPIES_PREFIX = re.compile(r"^\s*(\d+(?:\.\d*)?|\d+/\d+)\s*\*\s*(\S.*)$")
_ALLOWED_ORDERS = (2, 3, 4, 6, 8, 12, 16, 24)


@dataclass
class MoleculeSpec:
    """One distinct molecule or ion of the asymmetric unit.

    mol: RDKit molecule with explicit hydrogens (as many as the input implies);
    copies: copies per asymmetric unit (None until resolved);
    coordinates: Cartesian coordinates of all atoms from a file, or None.
    """

    name: str
    source: str
    mol: object
    copies: Optional[float] = None
    coordinates: Optional[object] = None
    lenient: bool = False  # RDKit sanitisation relaxed (metal valences)
    notes: List[str] = field(default_factory=list)

    @property
    def elements(self) -> List[str]:
        return [a.GetSymbol() for a in self.mol.GetAtoms()]

    @property
    def heavy_formula(self) -> Dict[str, int]:
        return formula(self.mol, include_h=False)

    @property
    def n_heavy(self) -> int:
        return sum(self.heavy_formula.values())

    @property
    def smiles(self) -> str:
        from rdkit import Chem

        try:
            return Chem.MolToSmiles(Chem.RemoveHs(self.mol, sanitize=False))
        except Exception:  # noqa: BLE001 - a description only
            return self.source

    def split_copies(self) -> Tuple[int, Optional[int]]:
        """(whole copies, site-symmetry order of the fractional copy or None)."""
        return split_copies(self.copies if self.copies is not None else 1.0, self.source)


def formula(mol, include_h: bool = True) -> Dict[str, int]:
    """Element counts of an RDKit molecule (implicit hydrogens included)."""
    counts: Dict[str, int] = {}
    for atom in mol.GetAtoms():
        el = atom.GetSymbol()
        if el == "D":
            el = "H"
        counts[el] = counts.get(el, 0) + 1
        n_h = atom.GetTotalNumHs() if include_h else 0
        if n_h:
            counts["H"] = counts.get("H", 0) + n_h
    if not include_h:
        counts.pop("H", None)
    return counts


def formula_string(counts: Dict[str, float]) -> str:
    """Hill-order formula text, e.g. ``C12 H10 N2 O``."""
    keys = sorted(counts, key=lambda e: (e != "C", e != "H" or "C" not in counts, e))
    parts = []
    for el in keys:
        n = counts[el]
        if abs(n) < 1e-9:
            continue
        parts.append(el if abs(n - 1) < 1e-9 else f"{el}{_number(n)}")
    return " ".join(parts) or "(nothing)"


def _number(x: float) -> str:
    return str(int(round(x))) if abs(x - round(x)) < 1e-6 else f"{x:.3g}"


def copies_prefix(text: str) -> Tuple[Optional[float], str]:
    """``"0.5*SMILES"`` -> (0.5, "SMILES"); (None, text) without a prefix (or for an existing file)."""
    m = _COPIES_PREFIX.match(text)
    if m is None or os.path.exists(text):
        return None, text
    return float(Fraction(m.group(1))), m.group(2).strip()


def split_copies(copies: float, source: str = "") -> Tuple[int, Optional[int]]:
    """Copies per ASU -> (whole copies, order of the special site or None).

    0.5 -> (0, 2); 1.5 -> (1, 2); 1/3 -> (0, 3); 2 -> (2, None).
    """
    if copies is None or copies <= 0:
        raise InputError(f"copies={copies} for {source!r} must be positive, e.g. 1 or 0.5")
    whole = int(copies + 1e-6)
    rest = copies - whole
    if rest < 1e-3:
        return whole, None
    order = int(round(1.0 / rest))
    if order not in _ALLOWED_ORDERS or abs(1.0 / order - rest) > 0.01:
        raise InputError(
            f"copies={copies:g} for {source!r} is not a whole number plus 1/2, 1/3, 1/4 or 1/6: "
            "give the copies per asymmetric unit, e.g. 1, 2 or 0.5 (on a symmetry element)")
    return whole, order


def _mol_from_smiles(text: str, name: str):
    """RDKit molecule from SMILES; strict sanitisation, relaxed only for metal complexes."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    raw = Chem.MolFromSmiles(text, sanitize=False)
    if raw is None or raw.GetNumAtoms() == 0:
        raise InputError(
            f"molecule {name}: cannot parse {text!r} as SMILES: check brackets, ring-closure "
            "digits and element symbols, or give a .mol/.sdf/.xyz file")
    mol = Chem.Mol(raw)
    try:
        Chem.SanitizeMol(mol)
        return mol, False
    except Exception as exc:  # noqa: BLE001 - RDKit raises several types
        has_metal = any(a.GetSymbol() in METALS for a in raw.GetAtoms())
        if not has_metal:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"molecule {name}: SMILES {text!r} is not a valid molecule ({reason}): "
                "fix the valences or charges")
    mol = Chem.Mol(raw)
    mol.UpdatePropertyCache(strict=False)
    flags = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
    Chem.SanitizeMol(mol, flags, catchErrors=True)
    return mol, True


def _mol_from_file(path: str, name: str):
    """RDKit molecule (hydrogens kept) and its coordinates from a file."""
    from rdkit import Chem

    lower = path.lower()
    mol = None
    if lower.endswith((".mol", ".sdf")):
        supplier = Chem.SDMolSupplier(path, removeHs=False, sanitize=True)
        mol = next((m for m in supplier if m is not None), None)
    elif lower.endswith(".mol2"):
        mol = Chem.MolFromMol2File(path, removeHs=False)
    elif lower.endswith(".pdb"):
        mol = Chem.MolFromPDBFile(path, removeHs=False)
    elif lower.endswith(".xyz"):
        from rdkit.Chem import rdDetermineBonds

        mol = Chem.MolFromXYZFile(path)
        if mol is not None:
            rdDetermineBonds.DetermineConnectivity(mol)
            mol.UpdatePropertyCache(strict=False)
            Chem.SanitizeMol(mol, Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES,
                             catchErrors=True)
    if mol is None or mol.GetNumAtoms() == 0:
        raise InputError(f"molecule {name}: cannot read a molecule from {path!r}: "
                         "give a valid .mol/.sdf/.mol2/.pdb/.xyz file or a SMILES string")
    coords = None
    if mol.GetNumConformers() and mol.GetConformer().Is3D():
        coords = mol.GetConformer().GetPositions()
    return mol, coords


def parse_molecule(text: str, name: str = "M1", copies: Optional[float] = None) -> MoleculeSpec:
    """A :class:`MoleculeSpec` from a SMILES string or a molecule file path.

    A ``N*`` prefix sets the copies per asymmetric unit (overrides ``copies``).
    """
    from rdkit import Chem

    if text is None or not str(text).strip():
        raise InputError(f"molecule {name} is empty: give a SMILES string or a .mol/.sdf/.xyz file")
    text = str(text).strip()
    prefixed, rest = copies_prefix(text)
    if prefixed is not None:
        copies, text = prefixed, rest
    looks_like_file = text.lower().endswith(FILE_SUFFIXES) or os.path.isfile(text)
    coords = None
    lenient = False
    if looks_like_file:
        if not os.path.isfile(text):
            raise InputError(f"molecule {name}: file {text!r} not found: give an existing .mol/.sdf/.xyz "
                             "file or a SMILES string")
        mol, coords = _mol_from_file(text, name)
        if coords is not None and any(a.GetNumImplicitHs() for a in mol.GetAtoms()):
            coords = None  # hydrogens missing from the file: positions would not match AddHs
        if coords is None:
            mol = Chem.AddHs(mol)
    else:
        mol, lenient = _mol_from_smiles(text, name)
        mol = Chem.AddHs(mol)
    spec = MoleculeSpec(name=name, source=text, mol=mol, copies=copies, coordinates=coords,
                        lenient=lenient)
    if copies is not None:
        split_copies(copies, text)
    logger.info("molecule %s: %s, %d non-H atoms, copies %s", name, formula_string(formula(mol)),
                spec.n_heavy, "auto" if copies is None else f"{copies:g}")
    return spec


def parse_molecules(texts: Sequence[str], copies: Optional[Sequence[float]] = None) -> List[MoleculeSpec]:
    """Parse every molecule; ``copies`` (optional) has one entry per molecule."""
    if isinstance(texts, str):
        texts = [texts]
    texts = [t for t in (texts or []) if t is not None and str(t).strip()]
    if not texts:
        raise InputError("no molecule given: give at least one SMILES string or molecule file (molecule=...)")
    if copies is not None and len(copies) not in (0, len(texts)):
        raise InputError(f"{len(copies)} copies values for {len(texts)} molecules: give one per molecule")
    specs = []
    for k, text in enumerate(texts):
        c = copies[k] if copies else None
        specs.append(parse_molecule(text, name=f"M{k + 1}", copies=c))
    return specs


def _normalise_composition(content: Dict[str, float]) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for el, n in content.items():
        key = str(el).strip().capitalize()
        if key == "D":
            key = "H"
        out[key] = out.get(key, 0.0) + float(n)
    return out


def resolve_copies(specs: List[MoleculeSpec], order_z: int,
                   unit_cell_content: Optional[Dict[str, float]] = None) -> List[float]:
    """Fill in missing copies (from the cell content, else 1) and check the formula.

    order_z: number of symmetry operations of the space group (centring
    included); unit_cell_content: element -> atoms per unit cell (e.g. UNIT).
    Hydrogen counts are not compared (often approximate). Raises InputError
    when the molecules cannot add up to the content.
    """
    content = _normalise_composition(unit_cell_content) if unit_cell_content else None
    missing = [k for k, s in enumerate(specs) if s.copies is None]
    if content is not None and missing:
        _solve_missing_copies(specs, missing, order_z, content)
    for s in specs:
        if s.copies is None:
            s.copies = 1.0
    if content is not None:
        _check_formula(specs, order_z, content)
    return [s.copies for s in specs]


def _cell_counts(specs: Sequence[MoleculeSpec], copies: Sequence[float], order_z: int) -> Dict[str, float]:
    total: Dict[str, float] = {}
    for s, c in zip(specs, copies):
        for el, n in s.heavy_formula.items():
            total[el] = total.get(el, 0.0) + n * c * order_z
    return total


def _mismatch(a: Dict[str, float], b: Dict[str, float]) -> float:
    keys = (set(a) | set(b)) - {"H"}
    return sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys)


def _solve_missing_copies(specs, missing, order_z, content) -> None:
    choices = sorted({w + f for w in range(0, 9) for f in (0.0, 1 / 2, 1 / 3, 1 / 4, 1 / 6)} - {0.0})
    if len(missing) > 4:
        return  # too many unknowns: default to 1 each, the check below reports mismatches
    fixed = [s.copies for s in specs]
    best, best_err = None, None
    for combo in product(choices, repeat=len(missing)):
        trial = list(fixed)
        for k, c in zip(missing, combo):
            trial[k] = c
        err = _mismatch(_cell_counts(specs, trial, order_z), content)
        if best_err is None or err < best_err - 1e-9:
            best, best_err = trial, err
    if best is not None and best_err < 0.5:
        for k in missing:
            specs[k].copies = best[k]
            logger.info("molecule %s: %g copies per asymmetric unit (from the cell content)",
                        specs[k].name, best[k])


def _check_formula(specs, order_z, content) -> None:
    have = _cell_counts(specs, [s.copies for s in specs], order_z)
    want = {k: v for k, v in content.items() if k != "H"}
    if _mismatch(have, want) > 0.5 + 0.02 * sum(want.values()):
        copies = ", ".join(f"{s.name} x{s.copies:g}" for s in specs)
        raise InputError(
            f"the molecules ({copies}, {order_z} symmetry operations) give {formula_string(have)} "
            f"non-H atoms per cell but the cell content (UNIT) says {formula_string(want)}: "
            "check the SMILES, the copies per asymmetric unit and UNIT")


def check_cell_volume(specs: Sequence[MoleculeSpec], order_z: int, volume: float) -> None:
    """InputError when the molecules cannot fit into the unit cell."""
    n_atoms = sum(s.n_heavy * (s.copies or 1.0) for s in specs) * order_z
    need = n_atoms * MIN_VOLUME_PER_ATOM
    if need > volume:
        copies = ", ".join(f"{s.name} x{(s.copies or 1.0):g}" for s in specs)
        raise InputError(
            f"too many atoms for the cell: {copies} per asymmetric unit gives {n_atoms:.0f} non-H atoms "
            f"per cell ({order_z} symmetry operations), which need at least {need:.0f} A^3 but the cell "
            f"has {volume:.0f} A^3: reduce the copies or check the cell and space group")
