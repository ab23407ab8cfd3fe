"""Quick synthetic crystals made on the fly (numpy only): the fallback training data.

Molecules are grown atom by atom with textbook geometry (bond lengths by
element pair and bond type, 109.5 / 120 degree angles, planar 5- and
6-membered rings, random torsions), optionally around a metal centre with 4 or
6 donor atoms; each is packed with a random pose into a random cell of a common
space group at about 17-22 A^3 per non-H atom (more when random poses
cannot pack it) without intermolecular contacts below 2.8 A. Crude next to
real molecules packed by PyXtal
(:mod:`xdxd_cctbx.dataset`), but local chemistry (bonds, angles, rings,
coordination) is right, which is what a short training run can learn.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

from xdxd_cctbx.diffusion.crystal import CrystalRecord, cell_matrix
from xdxd_cctbx.diffusion.diffraction import unique_reflections

# (symbol, crystal system, frequency %, operations)
TOY_SPACE_GROUPS = [
    ("P 1 21/c 1", "Monoclinic", 34.0, ["x,y,z", "-x,y+1/2,-z+1/2", "-x,-y,-z", "x,-y-1/2,z-1/2"]),
    ("P -1", "Triclinic", 25.0, ["x,y,z", "-x,-y,-z"]),
    ("C 1 2/c 1", "Monoclinic", 7.5, ["x,y,z", "-x,y,-z+1/2", "-x,-y,-z", "x,-y,z-1/2", "x+1/2,y+1/2,z",
                                      "-x+1/2,y+1/2,-z+1/2", "-x+1/2,-y+1/2,-z", "x+1/2,-y+1/2,z-1/2"]),
    ("P 21 21 21", "Orthorhombic", 7.0, ["x,y,z", "x+1/2,-y+1/2,-z", "-x,y+1/2,-z+1/2", "-x+1/2,-y,z+1/2"]),
    ("P 1 21 1", "Monoclinic", 5.0, ["x,y,z", "-x,y+1/2,-z"]),
    ("P b c a", "Orthorhombic", 3.2, ["x,y,z", "x+1/2,-y+1/2,-z", "-x,y+1/2,-z+1/2", "-x+1/2,-y,z+1/2",
                                      "-x,-y,-z", "-x+1/2,y+1/2,z", "x,-y+1/2,z+1/2", "x+1/2,y,-z+1/2"]),
    ("P n a 21", "Orthorhombic", 1.5, ["x,y,z", "-x,-y,z+1/2", "-x+1/2,y+1/2,z+1/2", "x+1/2,-y+1/2,z"]),
    ("P 1", "Triclinic", 1.0, ["x,y,z"]),
]

BOND = {  # (Z1, Z2) -> single-bond length (A); double/aromatic shortened below
    (6, 6): 1.53, (6, 7): 1.47, (6, 8): 1.43, (6, 16): 1.81, (6, 17): 1.75, (6, 9): 1.35, (6, 35): 1.92,
    (7, 7): 1.42, (7, 8): 1.40, (8, 8): 1.47, (6, 15): 1.84, (8, 15): 1.58, (8, 16): 1.45, (7, 16): 1.63,
}
VALENCE = {6: 4, 7: 3, 8: 2, 16: 2, 17: 1, 9: 1, 35: 1, 15: 4}
METALS = {29: (1.95, 2.05), 30: (2.0, 2.15), 28: (1.9, 2.1), 27: (1.9, 2.15), 26: (1.95, 2.2), 25: (2.1, 2.25),
          46: (2.0, 2.1), 78: (2.0, 2.1)}


def _parse_op(op: str) -> Tuple[np.ndarray, np.ndarray]:
    from xdxd_cctbx.sf.symmetry import parse_xyz

    r, t = parse_xyz(op)
    return r, np.mod(t, 1.0)


def _bond_length(z1: int, z2: int, order: float) -> float:
    if z1 in METALS or z2 in METALS:
        lo, hi = METALS.get(z1, METALS.get(z2))
        return 0.5 * (lo + hi)
    base = BOND.get((min(z1, z2), max(z1, z2)), 1.5)
    return base - {1.0: 0.0, 1.5: 0.13, 2.0: 0.2}[order]


def _random_unit(rng) -> np.ndarray:
    v = rng.standard_normal(3)
    return v / np.linalg.norm(v)


def _new_direction(rng, pos: np.ndarray, neighbours: List[np.ndarray], planar: bool) -> np.ndarray:
    """A bond direction from ``pos`` making tetrahedral (or trigonal) angles with existing bonds."""
    if not neighbours:
        return _random_unit(rng)
    units = [(n - pos) / np.linalg.norm(n - pos) for n in neighbours]
    if len(units) == 1:
        angle = math.radians(120.0 if planar else 109.5)
        u = units[0]
        perp = np.cross(u, _random_unit(rng))
        perp /= np.linalg.norm(perp)
        return math.cos(angle) * u + math.sin(angle) * perp
    s = -np.sum(units, axis=0)
    if np.linalg.norm(s) < 1e-3:
        s = np.cross(units[0], units[1])
    s /= np.linalg.norm(s)
    if len(units) == 2 and not planar:  # tetrahedral: tilt out of the plane
        n = np.cross(units[0], units[1])
        n /= np.linalg.norm(n) + 1e-9
        d = math.cos(math.radians(54.75)) * s + math.sin(math.radians(54.75)) * n * rng.choice([-1, 1])
        return d / np.linalg.norm(d)
    return s


class _Molecule:
    def __init__(self) -> None:
        self.z: List[int] = []
        self.pos: List[np.ndarray] = []
        self.nbr: List[List[int]] = []
        self.planar: List[bool] = []
        self.max_valence: List[int] = []

    def add(self, z: int, pos: np.ndarray, parent: Optional[int], planar: bool, valence: int) -> int:
        self.z.append(z)
        self.pos.append(np.asarray(pos, float))
        self.nbr.append([])
        self.planar.append(planar)
        self.max_valence.append(valence)
        i = len(self.z) - 1
        if parent is not None:
            self.nbr[parent].append(i)
            self.nbr[i].append(parent)
        return i

    def free_sites(self) -> List[int]:
        return [i for i in range(len(self.z)) if len(self.nbr[i]) < self.max_valence[i]]

    def clashes(self, p: np.ndarray, parent: int, min_dist: float = 2.45) -> bool:
        close = {parent, *self.nbr[parent]}
        for i, q in enumerate(self.pos):
            d = np.linalg.norm(q - p)
            if i in close:
                if d < 1.9 and i != parent:
                    return True
            elif d < min_dist:
                return True
        return False


def _add_ring(rng, mol: _Molecule, parent: int, size: int, z_choices) -> bool:
    """Attach a planar ring (5 or 6 atoms, aromatic-like bonds) to ``parent``."""
    bond = 1.39 if size == 6 else 1.38
    r_ring = bond / (2 * math.sin(math.pi / size))
    p0 = mol.pos[parent]
    d = _new_direction(rng, p0, [mol.pos[j] for j in mol.nbr[parent]], mol.planar[parent])
    first = p0 + d * 1.49
    centre = first + d * r_ring
    perp = np.cross(d, _random_unit(rng))
    perp /= np.linalg.norm(perp)
    pts = []
    for k in range(size):
        a = math.pi + 2 * math.pi * k / size
        pts.append(centre + r_ring * (math.cos(a) * d + math.sin(a) * perp))
    for q in pts:
        if mol.clashes(q, parent, 2.3):
            return False
    prev = parent
    idx = []
    for k, q in enumerate(pts):
        z = 6 if k == 0 else int(rng.choice(z_choices))
        i = mol.add(z, q, prev, True, 3 if z == 6 else 2)  # bonded to the previous ring atom (or the parent)
        idx.append(i)
        prev = i
    # close the ring
    mol.nbr[idx[0]].append(idx[-1])
    mol.nbr[idx[-1]].append(idx[0])
    return True


def random_molecule(rng: np.random.Generator, n_atoms: int, *, metal: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(atomic numbers (N,), Cartesian positions (N,3)) of a random organic-like molecule."""
    for _attempt in range(50):
        mol = _Molecule()
        if metal:
            zm = int(rng.choice(list(METALS)))
            mol.add(zm, np.zeros(3), None, False, 0)
            n_donor = int(rng.choice([4, 4, 6, 5]))
            dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
            if n_donor == 4 and rng.random() < 0.5:
                dirs = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) / math.sqrt(3)
            rot = _random_rotation(rng)
            for d in dirs[:n_donor]:
                zd = int(rng.choice([7, 8, 8, 17, 7]))
                lo, hi = METALS[zm]
                length = rng.uniform(lo, hi) + (0.25 if zd == 17 else 0.0)
                i = mol.add(zd, rot @ d * length, 0, zd == 7, VALENCE[zd])
            mol.max_valence[0] = n_donor
        else:
            mol.add(6, np.zeros(3), None, False, 4)
        tries = 0
        while len(mol.z) < n_atoms and tries < 400:
            tries += 1
            sites = [i for i in mol.free_sites() if mol.z[i] not in METALS and mol.z[i] not in (17, 9, 35)]
            if not sites:
                break
            parent = int(rng.choice(sites))
            room = n_atoms - len(mol.z)
            r = rng.random()
            if r < 0.18 and room >= 6 and mol.z[parent] in (6, 7):
                _add_ring(rng, mol, parent, 6 if rng.random() < 0.75 else 5, [6, 6, 6, 6, 7, 7, 8])
                continue
            zc = int(rng.choice([6, 7, 8, 16, 17, 9, 35, 15], p=[0.62, 0.13, 0.16, 0.025, 0.02, 0.015, 0.015, 0.015]))
            order = 1.0
            if zc == 8 and len(mol.nbr[parent]) <= 2 and mol.z[parent] == 6 and rng.random() < 0.5:
                order = 2.0
            if mol.planar[parent] and zc in (6, 7) and rng.random() < 0.3:
                order = 1.5
            length = _bond_length(mol.z[parent], zc, order) + rng.normal(0, 0.01)
            d = _new_direction(rng, mol.pos[parent], [mol.pos[j] for j in mol.nbr[parent]], mol.planar[parent])
            p = mol.pos[parent] + d * length
            if mol.clashes(p, parent):
                continue
            planar = order > 1.0 or rng.random() < 0.25
            valence = 1 if order == 2.0 and zc == 8 else VALENCE.get(zc, 4) - (1 if planar else 0)
            mol.add(zc, p, parent, planar, max(1, valence))
        if len(mol.z) >= max(3, int(0.8 * n_atoms)):
            return np.array(mol.z, dtype=np.int64), np.array(mol.pos)
    raise RuntimeError("could not grow a molecule")


def _random_rotation(rng) -> np.ndarray:
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def _random_cell(rng, system: str, volume: float) -> np.ndarray:
    edges = np.exp(rng.normal(0.0, 0.3, size=3))
    if system == "Triclinic":
        angles = rng.uniform(75.0, 110.0, size=3)
    elif system == "Monoclinic":
        angles = np.array([90.0, 90.0 + abs(rng.normal(0, 12.0)), 90.0])
        angles[1] = min(angles[1], 120.0)
    else:
        angles = np.array([90.0, 90.0, 90.0])
    try:
        unit_v = abs(np.linalg.det(cell_matrix([*edges, *angles])))
    except ValueError:
        angles = np.array([90.0, 90.0, 90.0])
        unit_v = abs(np.linalg.det(cell_matrix([*edges, *angles])))
    edges *= (volume / unit_v) ** (1.0 / 3.0)
    return np.concatenate([edges, angles])


_SHIFTS = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)


def _min_contact(frac: np.ndarray, rot: np.ndarray, tr: np.ndarray, lat: np.ndarray) -> float:
    """Shortest distance between the molecule and its symmetry/lattice copies (excluding itself)."""
    centre = frac.mean(0)
    frac = frac - np.floor(centre)
    images = np.einsum("kij,nj->kni", rot, frac) + tr[:, None, :]  # (K,N,3)
    # bring each image molecule's centre next to the reference molecule's centre
    img_centre = images.mean(1)
    images = images - np.round(img_centre - frac.mean(0))[:, None, :]
    pts = images[:, None, :, :] + _SHIFTS[None, :, None, :]  # (K,27,N,3)
    keep = np.ones(pts.shape[:2], bool)
    keep[0, 13] = False  # identity operation, zero shift: the molecule itself
    cart_a = frac @ lat.T
    radius = np.sqrt(((cart_a - cart_a.mean(0)) ** 2).sum(-1).max())
    centres = pts.mean(2) @ lat.T  # (K,27,3)
    near = keep & (np.linalg.norm(centres - cart_a.mean(0), axis=-1) < 2 * radius + 4.0)
    if not near.any():
        return 10.0
    cart_b = pts[near].reshape(-1, 3) @ lat.T
    d2 = ((cart_a[:, None, :] - cart_b[None]) ** 2).sum(-1)
    return float(np.sqrt(d2.min()))


def random_crystal(rng: np.random.Generator, *, n_atoms_range=(6, 40), metal_fraction: float = 0.3,
                   d_min_range=(0.8, 2.5), volume_per_atom=(17.0, 22.0), min_contact: float = 2.8,
                   space_group: Optional[int] = None) -> CrystalRecord:
    """One random toy crystal with its reflection set (d_min drawn from ``d_min_range``)."""
    freq = np.array([g[2] for g in TOY_SPACE_GROUPS])
    sg_index = int(rng.choice(len(TOY_SPACE_GROUPS), p=freq / freq.sum())) if space_group is None else space_group
    symbol, system, _, ops = TOY_SPACE_GROUPS[sg_index]
    parsed = [_parse_op(o) for o in ops]
    rot = np.array([p[0] for p in parsed])
    tr = np.array([p[1] for p in parsed])
    n = int(rng.integers(n_atoms_range[0], n_atoms_range[1] + 1))
    z, pos = random_molecule(rng, n, metal=rng.random() < metal_fraction)
    pos = pos - pos.mean(0)
    vpa = rng.uniform(*volume_per_atom)
    for _grow in range(12):
        cell = _random_cell(rng, system, vpa * len(z) * len(rot))
        lat = cell_matrix(cell)
        inv = np.linalg.inv(lat)
        best = None
        for _ in range(25):
            r = _random_rotation(rng)
            frac = (inv @ (r @ pos.T)).T + rng.random(3)
            contact = _min_contact(frac, rot, tr, lat)
            if best is None or contact > best[0]:
                best = (contact, frac)
            if contact >= min_contact:
                break
        if best[0] >= min_contact:
            break
        vpa *= 1.08
    frac = np.mod(best[1], 1.0)
    d_min = float(rng.uniform(*d_min_range))
    hkl, _eps = unique_reflections(cell, rot, tr, d_min)
    u_iso = rng.uniform(0.02, 0.06, size=len(z)) * np.where(np.isin(z, list(METALS)), 0.7, 1.0)
    return CrystalRecord(cell=cell, rotations=rot, translations=tr, atomic_numbers=z, hkl=hkl, frac=frac,
                         u_iso=u_iso, name=f"toy-{symbol.replace(' ', '')}-{len(z)}")
