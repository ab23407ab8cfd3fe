"""Molecules for synthetic crystals: sources (MOSES/ZINC SMILES, QM9), RDKit conformers, ions, solvents.

A :class:`Molecule` is a rigid 3-D object: atomic numbers and Cartesian
coordinates centred on its origin (centroid, or its symmetry centre when it has
an inversion centre or a 2-fold axis, see :func:`symmetrise`).

Sources are read from the data files inside the PyPI packages ``molsets``
(``moses/dataset/data/train.csv.gz``, 1.58 M drug-like SMILES from ZINC) and
``qm9pack`` (``qm9pack/data/qm9_part*.csv``, 131 k DFT geometries): from an
installed package (``pip install --no-deps molsets qm9pack``) or from a
downloaded wheel (``pip download --no-deps molsets``); nothing is imported from them.
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import re
import logging
import os
import zipfile
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from xdxd_cctbx.dataset.elements import SYMBOLS, Z_OF

logger = logging.getLogger(__name__)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Molecule:
    """A rigid molecule or ion: atomic numbers, Cartesian coordinates (Angstrom) about its origin."""

    z: np.ndarray
    xyz: np.ndarray
    smiles: str
    kind: str                      # organic, qm9, complex, ion, solvent
    charge: int = 0
    symmetry: Optional[str] = None  # None, "inversion" or "2-fold" (about the origin)
    axis: Optional[np.ndarray] = None  # unit vector of the 2-fold axis
    partner: Optional[np.ndarray] = None  # index of each atom's symmetry mate
    info: dict = field(default_factory=dict)

    @property
    def n_heavy(self) -> int:
        return int(np.count_nonzero(self.z > 1))

    @property
    def radius(self) -> float:
        return float(np.sqrt((self.xyz ** 2).sum(axis=1)).max()) if len(self.z) else 0.0

    def centred(self) -> "Molecule":
        c = self.xyz.mean(axis=0)
        return Molecule(self.z, self.xyz - c, self.smiles, self.kind, self.charge, info=dict(self.info))


# ------------------------------------------------------------------ sources

def _package_dir(name: str) -> Optional[str]:
    spec = importlib.util.find_spec(name)  # does not import (execute) the package
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _open_member(path: Optional[str], package: str, member: str) -> Optional[io.BufferedIOBase]:
    """Open ``member`` (path inside the package, e.g. 'dataset/data/train.csv.gz') from a wheel or a folder."""
    if path and path.endswith(".whl"):
        zf = zipfile.ZipFile(path)
        return zf.open(f"{package}/{member}")
    base = path or _package_dir(package)
    if base is None:
        return None
    full = os.path.join(base, member)
    if not os.path.exists(full):
        full = os.path.join(base, package, member)
    return open(full, "rb") if os.path.exists(full) else None


def load_moses_smiles(n: int, rng: np.random.Generator, path: Optional[str] = None) -> List[str]:
    """``n`` SMILES drawn without replacement from the MOSES training set (ZINC clean leads)."""
    handle = _open_member(path, "moses", "dataset/data/train.csv.gz")
    if handle is None:
        raise FileNotFoundError("MOSES SMILES not found: pip install --no-deps molsets, or give the wheel's path")
    with gzip.open(handle, "rt") as f:
        lines = f.read().split()
    smiles = [s for s in lines[1:] if s and s != "SMILES"]
    idx = rng.choice(len(smiles), size=min(n, len(smiles)), replace=False)
    logger.info("MOSES: %d of %d SMILES", len(idx), len(smiles))
    return [smiles[i] for i in np.sort(idx)]


def load_qm9(n: int, rng: np.random.Generator, path: Optional[str] = None,
             min_heavy: int = 4) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """``n`` QM9 molecules (SMILES, atomic numbers, B3LYP geometry) with at least ``min_heavy`` heavy atoms."""
    rows: List[Tuple[str, str, str]] = []
    csv.field_size_limit(10 ** 8)
    for part in (1, 2, 3):
        handle = _open_member(path, "qm9pack", f"data/qm9_part{part}.csv")
        if handle is None:
            raise FileNotFoundError("QM9 not found: pip install --no-deps qm9pack, or give the wheel's path")
        with io.TextIOWrapper(handle) as f:
            reader = csv.reader(f)
            header = next(reader)
            i_smi, i_el, i_xyz = header.index("SMILES"), header.index("Elements"), header.index("XYZ_Ang")
            for row in reader:
                rows.append((row[i_smi], row[i_el], row[i_xyz]))
    out = []
    for i in rng.permutation(len(rows)):
        smi, el, xyz = rows[int(i)]
        z = np.array([Z_OF[e.strip().strip("'\"")] for e in el.strip("[]").split(",")], dtype=np.int64)
        if np.count_nonzero(z > 1) < min_heavy:
            continue
        nums = _NUMBER.findall(xyz.replace("*^", "e"))
        if len(nums) != 3 * len(z):
            continue
        out.append((smi, z, np.array(nums, dtype=float).reshape(-1, 3)))
        if len(out) >= n:
            break
    logger.info("QM9: %d of %d molecules", len(out), len(rows))
    return out


# --------------------------------------------------------------- conformers

def _rdkit():
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    return Chem, AllChem


def prepare_mol(smiles: str, rng: np.random.Generator, heavy_substituent: float = 0.0,
                protonate: bool = False):
    """RDKit molecule with explicit H, optionally with an aryl H replaced by Br/I (or Cl by Br/I),
    or a basic amine protonated (a cation for a salt). Returns (mol, smiles) or (None, reason)."""
    Chem, _ = _rdkit()
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None, "bad SMILES"
    if protonate:
        cands = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "N" and not a.GetIsAromatic()
                 and a.GetFormalCharge() == 0 and a.GetDegree() <= 3 and a.GetTotalNumHs() + a.GetDegree() == 3
                 and not any(n.GetIsAromatic() or n.GetSymbol() not in ("C",) or
                             any(b.GetBondTypeAsDouble() > 1 for b in n.GetBonds()) for n in a.GetNeighbors())]
        if not cands:
            return None, "no basic amine"
        atom = mol.GetAtomWithIdx(int(rng.choice(cands)))
        atom.SetFormalCharge(1)
        atom.SetNumExplicitHs(atom.GetTotalNumHs() + 1)
        atom.SetNoImplicit(True)
    if heavy_substituent > 0 and rng.random() < heavy_substituent:
        halogen = 53 if rng.random() < 0.35 else 35
        cl = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "Cl"]
        if cl and rng.random() < 0.5:
            mol.GetAtomWithIdx(int(rng.choice(cl))).SetAtomicNum(halogen)
        else:
            aryl = [a.GetIdx() for a in mol.GetAtoms() if a.GetIsAromatic() and a.GetSymbol() == "C"
                    and a.GetTotalNumHs() == 1]
            if aryl:
                rw = Chem.RWMol(mol)
                idx = int(rng.choice(aryl))
                new = rw.AddAtom(Chem.Atom(halogen))
                rw.AddBond(idx, new, Chem.BondType.SINGLE)
                rw.GetAtomWithIdx(idx).SetNumExplicitHs(0)
                rw.GetAtomWithIdx(idx).SetNoImplicit(True)
                mol = rw.GetMol()
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001  (RDKit raises many kinds)
        return None, "sanitize failed"
    return Chem.AddHs(mol), Chem.MolToSmiles(mol)


def conformers(mol, smiles: str, n: int, rng: np.random.Generator, kind: str = "organic",
               p_raw: float = 0.35, p_partial: float = 0.25) -> List[Molecule]:
    """Up to ``n`` diverse conformers: ETKDGv3 with a random seed, pruned by RMSD; each kept as
    embedded (p_raw), partly MMFF-relaxed (p_partial, 5-60 iterations) or MMFF-minimised."""
    Chem, AllChem = _rdkit()
    params = AllChem.ETKDGv3()
    params.randomSeed = int(rng.integers(1, 2 ** 31 - 1))
    params.pruneRmsThresh = 0.3
    params.maxIterations = 200
    params.numThreads = 1
    params.useRandomCoords = bool(rng.random() < 0.3)
    try:
        cids = list(AllChem.EmbedMultipleConfs(mol, numConfs=n, params=params))
    except Exception:  # noqa: BLE001
        cids = []
    if not cids:
        return []
    props = None
    try:
        props = AllChem.MMFFGetMoleculeProperties(mol)
        if props is None or not AllChem.MMFFHasAllMoleculeParams(mol):
            props = None
    except Exception:  # noqa: BLE001
        props = None
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    charge = int(Chem.GetFormalCharge(mol))
    out = []
    for cid in cids:
        u = rng.random()
        treatment = "etkdg"
        if props is not None and u >= p_raw:
            iters = int(rng.integers(5, 60)) if u < p_raw + p_partial else 1000
            try:
                ff = AllChem.MMFFGetMoleculeForceField(mol, props, confId=cid)
                ff.Minimize(maxIts=iters)
                treatment = "mmff" if iters == 1000 else f"mmff{iters}"
            except Exception:  # noqa: BLE001
                pass
        xyz = np.array(mol.GetConformer(cid).GetPositions(), dtype=float)
        m = Molecule(z, xyz - xyz.mean(axis=0), smiles, kind, charge, info={"conformer": treatment})
        out.append(symmetrise(m))
    return out


def qm9_molecule(smiles: str, z: np.ndarray, xyz: np.ndarray) -> Molecule:
    """A QM9 molecule in its DFT geometry (symmetry detected and imposed when present)."""
    m = Molecule(np.asarray(z), np.asarray(xyz, dtype=float), smiles, "qm9", 0, info={"conformer": "dft"})
    return symmetrise(m.centred())


# ----------------------------------------------------------------- symmetry

def _match(xyz: np.ndarray, z: np.ndarray, image: np.ndarray, tol: float) -> Optional[np.ndarray]:
    """Partner of each atom under an operation (``image`` = transformed xyz), or None."""
    d = np.linalg.norm(xyz[:, None, :] - image[None, :, :], axis=2)
    d[z[:, None] != z[None, :]] = 1e9
    partner = d.argmin(axis=0)  # atom whose position is nearest to the image of atom j
    if d[partner, np.arange(len(z))].max() > tol:
        return None
    if len(set(partner.tolist())) != len(z) or not np.array_equal(partner[partner], np.arange(len(z))):
        return None
    return partner


def symmetrise(m: Molecule, tol: float = 0.25) -> Molecule:
    """Detect an inversion centre or a 2-fold axis (within ``tol`` Angstrom) and impose it exactly."""
    if len(m.z) < 2:
        return m
    xyz = m.xyz - m.xyz.mean(axis=0)
    partner = _match(xyz, m.z, -xyz, tol)
    if partner is not None:
        sym = 0.5 * (xyz - xyz[partner])
        return Molecule(m.z, sym, m.smiles, m.kind, m.charge, "inversion", None, partner, dict(m.info))
    w = np.ones(len(m.z))
    inertia = (w[:, None, None] * (np.einsum("ij,ik->ijk", xyz, xyz))).sum(axis=0)
    _, vecs = np.linalg.eigh(inertia)
    for k in range(3):
        axis = vecs[:, k]
        rot = 2.0 * np.outer(axis, axis) - np.eye(3)  # 180 degrees about axis
        partner = _match(xyz, m.z, xyz @ rot.T, tol)
        if partner is not None:
            sym = 0.5 * (xyz + xyz[partner] @ rot.T)
            return Molecule(m.z, sym, m.smiles, m.kind, m.charge, "2-fold", axis, partner, dict(m.info))
    return Molecule(m.z, xyz, m.smiles, m.kind, m.charge, info=dict(m.info))


# ------------------------------------------------------ ions and solvents

def polyhedron_ion(centre: str, ligand: str, distance: float, geometry: str, smiles: str,
                   charge: int) -> Molecule:
    """A rigid ion from ideal geometry (ClO4-, BF4-, PF6-, NO3-, SO4 2-, ...)."""
    vecs = {
        "tetrahedral": np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) / np.sqrt(3),
        "octahedral": np.vstack([np.eye(3), -np.eye(3)]),
        "trigonal": np.array([[1, 0, 0], [-0.5, np.sqrt(3) / 2, 0], [-0.5, -np.sqrt(3) / 2, 0]]),
    }[geometry]
    z = np.array([Z_OF[centre]] + [Z_OF[ligand]] * len(vecs), dtype=np.int64)
    xyz = np.vstack([np.zeros(3), distance * vecs])
    return symmetrise(Molecule(z, xyz, smiles, "ion", charge))


def monatomic(symbol: str, charge: int) -> Molecule:
    sign = "+" if charge > 0 else "-"
    smi = f"[{symbol}{sign if abs(charge) == 1 else sign + str(abs(charge))}]"
    return Molecule(np.array([Z_OF[symbol]]), np.zeros((1, 3)), smi, "ion", charge, "inversion",
                    None, np.array([0]))


ANIONS = {  # name: (builder, relative frequency)
    "Cl": (lambda: monatomic("Cl", -1), 3.0),
    "Br": (lambda: monatomic("Br", -1), 1.5),
    "I": (lambda: monatomic("I", -1), 0.8),
    "ClO4": (lambda: polyhedron_ion("Cl", "O", 1.43, "tetrahedral", "[O-][Cl+3]([O-])([O-])[O-]", -1), 1.5),
    "BF4": (lambda: polyhedron_ion("B", "F", 1.39, "tetrahedral", "F[B-](F)(F)F", -1), 1.0),
    "PF6": (lambda: polyhedron_ion("P", "F", 1.59, "octahedral", "F[P-](F)(F)(F)(F)F", -1), 1.0),
    "NO3": (lambda: polyhedron_ion("N", "O", 1.25, "trigonal", "[O-][N+](=O)[O-]", -1), 1.0),
}
SOLVENT_SMILES = {"water": ("O", 4.0), "methanol": ("CO", 2.0), "dichloromethane": ("ClCCl", 1.5),
                  "chloroform": ("ClC(Cl)Cl", 0.7), "acetonitrile": ("CC#N", 1.0), "ethanol": ("CCO", 1.0),
                  "acetone": ("CC(C)=O", 0.5), "dmso": ("CS(C)=O", 0.5), "dmf": ("CN(C)C=O", 0.5),
                  "thf": ("C1CCOC1", 0.5), "benzene": ("c1ccccc1", 0.3), "toluene": ("Cc1ccccc1", 0.3)}
CATIONS = {"NEt4": ("CC[N+](CC)(CC)CC", 1.0), "NMe4": ("C[N+](C)(C)C", 0.5), "NH4": ("[NH4+]", 0.5),
           "Na": (None, 0.6), "K": (None, 0.6)}


def _weighted(rng: np.random.Generator, table: dict) -> str:
    names = list(table)
    w = np.array([table[k][1] for k in names], dtype=float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def small_molecule(smiles: str, rng: np.random.Generator, kind: str) -> Optional[Molecule]:
    mol, smi = prepare_mol(smiles, rng)
    if mol is None:
        return None
    confs = conformers(mol, smi, 1, rng, kind=kind, p_raw=0.0, p_partial=0.0)
    return confs[0] if confs else None


def random_anion(rng: np.random.Generator, allowed: Sequence[str] = ()) -> Molecule:
    table = {k: v for k, v in ANIONS.items() if not allowed or k in allowed}
    return table[_weighted(rng, table)][0]()


def random_cation(rng: np.random.Generator) -> Optional[Molecule]:
    name = _weighted(rng, CATIONS)
    if CATIONS[name][0] is None:
        return monatomic(name, 1)
    return small_molecule(CATIONS[name][0], rng, "ion")


def random_solvent(rng: np.random.Generator) -> Optional[Molecule]:
    name = _weighted(rng, SOLVENT_SMILES)
    return small_molecule(SOLVENT_SMILES[name][0], rng, "solvent")


def element_symbols(z: Sequence[int]) -> List[str]:
    return [SYMBOLS[int(v)] for v in z]
