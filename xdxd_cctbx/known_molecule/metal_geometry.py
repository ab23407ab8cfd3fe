"""Regular coordination geometry for metal centres of embedded conformers.

RDKit's ETKDG has no model of metal coordination: a linear Au(I) comes out
bent by 60-80 degrees and an octahedral Ni(H2O)6 with angles from 55 to 165
degrees and Ni-O from 1.6 to 2.7 A, and no force field in RDKit covers most
metals. A rigid body with such a centre cannot fit the data. Here each metal
with 2 to 6 separate donor atoms gets an ideal polyhedron (linear; trigonal;
tetrahedral or square planar; trigonal bipyramid or square pyramid;
octahedron), oriented and assigned to the donors by the best superposition
of donor directions, M-L distances from covalent radii; then all atoms are
relaxed in torch towards those donor sites while keeping the conformer's own
bond lengths and 1-3 distances elsewhere, with a soft repulsion between
atoms three or more bonds apart. Ambiguous coordination numbers (4, 5) give
one conformer per polyhedron: the data choose. Covalent radii miss real M-L
distances by up to 0.25-0.4 A (measured on 27 metal-organic COD structures:
octahedral Zn-N +0.26, Ni-O +0.15, Ru-P -0.23, Co-P -0.17, Ti-O -0.41), so the
ensemble also carries copies with all M-L distances scaled (``ML_SCALES``):
again the data choose.

Hapto ligands (donors bonded to each other, e.g. cyclopentadienyl) and
coordination numbers above 6 are left as embedded.
"""
from __future__ import annotations

import itertools
import logging
import math
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from xdxd_cctbx.known_molecule.molecules import METALS

logger = logging.getLogger(__name__)

_S2 = 1.0 / math.sqrt(2.0)
ML_SCALES = (0.9, 1.1)  # extra M-L distance scales of the first idealised conformer
POLYHEDRA: Dict[int, List[Tuple[str, np.ndarray]]] = {
    2: [("linear", np.array([[1, 0, 0], [-1, 0, 0]], float))],
    3: [("trigonal", np.array([[1, 0, 0], [-0.5, math.sqrt(3) / 2, 0], [-0.5, -math.sqrt(3) / 2, 0]]))],
    4: [("tetrahedral", np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) / math.sqrt(3)),
        ("square planar", np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], float))],
    5: [("trigonal bipyramid", np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-0.5, math.sqrt(3) / 2, 0],
                                         [-0.5, -math.sqrt(3) / 2, 0]])),
        ("square pyramid", np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], float))],
    6: [("octahedral", np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float))],
}


def metal_centres(mol) -> List[Tuple[int, List[int]]]:
    """(metal atom index, donor indices) for metals with 2-6 separate (non-hapto) donors."""
    out = []
    for atom in mol.GetAtoms():
        if atom.GetSymbol() not in METALS:
            continue
        donors = [n.GetIdx() for n in atom.GetNeighbors() if n.GetAtomicNum() > 1]
        if not 2 <= len(donors) <= 6:
            continue
        if any(mol.GetBondBetweenAtoms(a, b) is not None for a, b in itertools.combinations(donors, 2)):
            continue  # hapto ligand or a three-membered ring through the metal
        out.append((atom.GetIdx(), donors))
    return out


def _best_assignment(directions: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Vertices rotated onto the donor directions (k,3) under the best permutation."""
    best, best_err = vertices, None
    for perm in itertools.permutations(range(len(vertices))):
        v = vertices[list(perm)]
        h = v.T @ directions
        u, _, vt = np.linalg.svd(h)
        d = np.sign(np.linalg.det(vt.T @ u.T))
        rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
        fitted = v @ rot.T
        err = float(((fitted - directions) ** 2).sum())
        if best_err is None or err < best_err:
            best, best_err = fitted, err
    return best


def _pairs(mol, n: int):
    """Bonds, 1-3 pairs (not through a metal) and pairs >= 3 bonds apart."""
    from rdkit import Chem

    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    dist = Chem.GetDistanceMatrix(mol)
    angles = []
    for atom in mol.GetAtoms():
        if atom.GetSymbol() in METALS:
            continue
        nbs = [x.GetIdx() for x in atom.GetNeighbors()]
        angles += list(itertools.combinations(nbs, 2))
    far = np.argwhere(np.triu(dist >= 3, 1))
    return np.array(bonds, dtype=np.int64).reshape(-1, 2), np.array(angles, dtype=np.int64).reshape(-1, 2), far


def idealise(mol, coords: np.ndarray, polyhedron_choice: int = 0, steps: int = 300,
             scale: float = 1.0) -> Optional[np.ndarray]:
    """Coordinates (n,3) of all atoms with regular metal centres, or None if nothing to do.

    scale: M-L distances are ``scale`` times the sum of covalent radii.
    """
    from rdkit import Chem

    centres = metal_centres(mol)
    if not centres:
        return None
    table = Chem.GetPeriodicTable()
    targets_m, targets_d, targets_v = [], [], []
    for m, donors in centres:
        options = POLYHEDRA[len(donors)]
        name, vertices = options[min(polyhedron_choice, len(options) - 1)]
        dirs = coords[donors] - coords[m]
        dirs /= np.maximum(np.linalg.norm(dirs, axis=1, keepdims=True), 1e-6)
        fitted = _best_assignment(dirs, vertices)
        r_m = table.GetRcovalent(mol.GetAtomWithIdx(m).GetSymbol())
        for d, v in zip(donors, fitted):
            targets_m.append(m)
            targets_d.append(d)
            targets_v.append(v * scale * (r_m + table.GetRcovalent(mol.GetAtomWithIdx(d).GetSymbol())))
    bonds, angles, far = _pairs(mol, len(coords))
    metal = np.array([a.GetSymbol() in METALS for a in mol.GetAtoms()])
    keep_b = ~(metal[bonds[:, 0]] | metal[bonds[:, 1]]) if len(bonds) else np.zeros(0, bool)
    bonds = bonds[keep_b]
    x0 = torch.tensor(coords, dtype=torch.float64)
    b0 = (x0[bonds[:, 0]] - x0[bonds[:, 1]]).norm(dim=1)
    a0 = (x0[angles[:, 0]] - x0[angles[:, 1]]).norm(dim=1)
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    far = far[heavy[far[:, 0]] & heavy[far[:, 1]]]
    tm = torch.tensor(targets_m)
    td = torch.tensor(targets_d)
    tv = torch.tensor(np.array(targets_v))
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    for step in range(steps):
        opt.zero_grad()
        e = ((x[bonds[:, 0]] - x[bonds[:, 1]]).norm(dim=1) - b0).pow(2).sum() * 10.0
        e = e + ((x[angles[:, 0]] - x[angles[:, 1]]).norm(dim=1) - a0).pow(2).sum() * 3.0
        e = e + (x[td] - x[tm] - tv).pow(2).sum() * 10.0
        if len(far):
            d = (x[far[:, 0]] - x[far[:, 1]]).norm(dim=1)
            e = e + torch.relu(2.9 - d).pow(2).sum()
        e.backward()
        opt.step()
        if step == steps // 2:
            for g in opt.param_groups:
                g["lr"] = 0.01
    out = x.detach().numpy()
    err = float(np.abs(np.linalg.norm(out[targets_d] - out[targets_m] - np.array(targets_v), axis=1)).max())
    logger.debug("metal centres idealised (choice %d): worst donor off its site by %.2f A", polyhedron_choice, err)
    return out


def n_choices(mol) -> int:
    """How many polyhedron variants the metal centres admit (1 or 2)."""
    return max([len(POLYHEDRA[len(d)]) for _, d in metal_centres(mol)] or [0])
