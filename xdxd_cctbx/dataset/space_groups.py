"""Space groups of the synthetic crystals: a small table that runs without cctbx.

Each entry holds the Hermann-Mauguin symbol of the setting, the space-group number,
the Hall symbol (so that cctbx can rebuild it: ``sgtbx.space_group(hall)``), the
crystal system, a relative frequency close to that of organic and metal-organic
crystal structures (CSD/COD statistics, P21/c split over its P21/c, P21/n and
P21/a settings), and all symmetry operations (centring included) as xyz strings.
The operations were generated once with cctbx ``sgtbx`` (``all_ops().as_xyz()``);
``regression/tst_dataset.py`` checks them against cctbx.

The integer index of an entry in :data:`SPACE_GROUPS` is the ``sg_id`` stored in
the shards (the table is also written into every shard).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import numpy as np

# (symbol, number, hall, crystal system, relative frequency in %, operations)
_TABLE = [
    ("P 1 21/c 1", 14, "-P 2ybc", "Monoclinic", 20.5,
     ["x,y,z", "-x,y+1/2,-z+1/2", "-x,-y,-z", "x,-y-1/2,z-1/2"]),
    ("P 1 21/n 1", 14, "-P 2yn", "Monoclinic", 12.0,
     ["x,y,z", "-x+1/2,y+1/2,-z+1/2", "-x,-y,-z", "x-1/2,-y-1/2,z-1/2"]),
    ("P 1 21/a 1", 14, "-P 2yab", "Monoclinic", 1.5,
     ["x,y,z", "-x+1/2,y+1/2,-z", "-x,-y,-z", "x-1/2,-y-1/2,z"]),
    ("P -1", 2, "-P 1", "Triclinic", 25.0, ["x,y,z", "-x,-y,-z"]),
    ("C 1 2/c 1", 15, "-C 2yc", "Monoclinic", 7.5,
     ["x,y,z", "-x,y,-z+1/2", "-x,-y,-z", "x,-y,z-1/2", "x+1/2,y+1/2,z", "-x+1/2,y+1/2,-z+1/2",
      "-x+1/2,-y+1/2,-z", "x+1/2,-y+1/2,z-1/2"]),
    ("P 21 21 21", 19, "P 2ac 2ab", "Orthorhombic", 7.0,
     ["x,y,z", "x+1/2,-y+1/2,-z", "-x,y+1/2,-z+1/2", "-x+1/2,-y,z+1/2"]),
    ("P 1 21 1", 4, "P 2yb", "Monoclinic", 4.8, ["x,y,z", "-x,y+1/2,-z"]),
    ("P b c a", 61, "-P 2ac 2ab", "Orthorhombic", 3.2,
     ["x,y,z", "x+1/2,-y+1/2,-z", "-x,y+1/2,-z+1/2", "-x+1/2,-y,z+1/2", "-x,-y,-z",
      "-x-1/2,y-1/2,z", "x,-y-1/2,z-1/2", "x-1/2,y,-z-1/2"]),
    ("P n a 21", 33, "P 2c -2n", "Orthorhombic", 1.3,
     ["x,y,z", "-x,-y,z+1/2", "-x+1/2,y+1/2,z+1/2", "x+1/2,-y+1/2,z"]),
    ("C 1 c 1", 9, "C -2yc", "Monoclinic", 0.9,
     ["x,y,z", "x,-y,z+1/2", "x+1/2,y+1/2,z", "x+1/2,-y+1/2,z+1/2"]),
    ("P b c n", 60, "-P 2n 2ab", "Orthorhombic", 0.7,
     ["x,y,z", "x+1/2,-y+1/2,-z", "-x,y,-z+1/2", "-x+1/2,-y+1/2,z+1/2", "-x,-y,-z",
      "-x-1/2,y-1/2,z", "x,-y,z-1/2", "x-1/2,y-1/2,-z-1/2"]),
    ("P 1", 1, "P 1", "Triclinic", 0.9, ["x,y,z"]),
    ("C 1 2 1", 5, "C 2y", "Monoclinic", 0.8,
     ["x,y,z", "-x,y,-z", "x+1/2,y+1/2,z", "-x+1/2,y+1/2,-z"]),
    ("P c a 21", 29, "P 2c -2ac", "Orthorhombic", 0.6,
     ["x,y,z", "-x,-y,z+1/2", "-x+1/2,y,z+1/2", "x+1/2,-y,z"]),
    ("R -3 :H", 148, "-R 3", "Trigonal", 0.6,
     ["x,y,z", "-y,x-y,z", "-x+y,-x,z", "-x,-y,-z", "y,-x+y,-z", "x-y,x,-z",
      "x+1/3,y+2/3,z+2/3", "-y+1/3,x-y+2/3,z+2/3", "-x+y+1/3,-x+2/3,z+2/3",
      "-x+1/3,-y+2/3,-z+2/3", "y+1/3,-x+y+2/3,-z+2/3", "x-y+1/3,x+2/3,-z+2/3",
      "x+2/3,y+1/3,z+1/3", "-y+2/3,x-y+1/3,z+1/3", "-x+y+2/3,-x+1/3,z+1/3",
      "-x+2/3,-y+1/3,-z+1/3", "y+2/3,-x+y+1/3,-z+1/3", "x-y+2/3,x+1/3,-z+1/3"]),
    ("P 1 2/c 1", 13, "-P 2yc", "Monoclinic", 0.5,
     ["x,y,z", "-x,y,-z+1/2", "-x,-y,-z", "x,-y,z-1/2"]),
    ("P 21 21 2", 18, "P 2 2ab", "Orthorhombic", 0.4,
     ["x,y,z", "x+1/2,-y+1/2,-z", "-x+1/2,y+1/2,-z", "-x,-y,z"]),
    ("P n m a", 62, "-P 2ac 2n", "Orthorhombic", 0.5,
     ["x,y,z", "x+1/2,-y+1/2,-z+1/2", "-x,y+1/2,-z", "-x+1/2,-y,z+1/2", "-x,-y,-z",
      "-x-1/2,y-1/2,z-1/2", "x,-y-1/2,z", "x-1/2,y,-z-1/2"]),
    ("C 1 2/m 1", 12, "-C 2y", "Monoclinic", 0.4,
     ["x,y,z", "-x,y,-z", "-x,-y,-z", "x,-y,z", "x+1/2,y+1/2,z", "-x+1/2,y+1/2,-z",
      "-x+1/2,-y+1/2,-z", "x+1/2,-y+1/2,z"]),
    ("P c c n", 56, "-P 2ab 2ac", "Orthorhombic", 0.3,
     ["x,y,z", "x+1/2,-y,-z+1/2", "-x,y+1/2,-z+1/2", "-x+1/2,-y+1/2,z", "-x,-y,-z",
      "-x-1/2,y,z-1/2", "x,-y-1/2,z-1/2", "x-1/2,y-1/2,-z"]),
    ("P 41 21 2", 92, "P 4abw 2nw", "Tetragonal", 0.15,
     ["x,y,z", "-y+1/2,x+1/2,z+1/4", "y+1/2,-x+1/2,z+3/4", "x+1/2,-y+1/2,-z+3/4",
      "-x+1/2,y+1/2,-z+1/4", "-x,-y,z+1/2", "y,x,-z", "-y,-x,-z+1/2"]),
    ("P 43 21 2", 96, "P 4nw 2abw", "Tetragonal", 0.15,
     ["x,y,z", "-y+1/2,x+1/2,z+3/4", "y+1/2,-x+1/2,z+1/4", "x+1/2,-y+1/2,-z+1/4",
      "-x+1/2,y+1/2,-z+3/4", "-x,-y,z+1/2", "y,x,-z", "-y,-x,-z+1/2"]),
    ("I 41/a :2", 88, "-I 4ad", "Tetragonal", 0.3,
     ["x,y,z", "-y+1/4,x+3/4,z+3/4", "y+1/4,-x+1/4,z+1/4", "-x,-y+1/2,z", "-x,-y,-z",
      "y-1/4,-x-3/4,-z-3/4", "-y-1/4,x-1/4,-z-1/4", "x,y-1/2,-z", "x+1/2,y+1/2,z+1/2",
      "-y+3/4,x+5/4,z+5/4", "y+3/4,-x+3/4,z+3/4", "-x+1/2,-y+1,z+1/2", "-x+1/2,-y+1/2,-z+1/2",
      "y+1/4,-x-1/4,-z-1/4", "-y+1/4,x+1/4,-z+1/4", "x+1/2,y,-z+1/2"]),
    ("P -4 21 c", 114, "P -4 2n", "Tetragonal", 0.15,
     ["x,y,z", "y,-x,-z", "-y,x,-z", "x+1/2,-y+1/2,-z+1/2", "-x+1/2,y+1/2,-z+1/2", "-x,-y,z",
      "-y+1/2,-x+1/2,z+1/2", "y+1/2,x+1/2,z+1/2"]),
    ("F d d 2", 43, "F 2 -2d", "Orthorhombic", 0.25,
     ["x,y,z", "-x,-y,z", "-x+1/4,y+1/4,z+1/4", "x+1/4,-y+1/4,z+1/4", "x,y+1/2,z+1/2",
      "-x,-y+1/2,z+1/2", "-x+1/4,y+3/4,z+3/4", "x+1/4,-y+3/4,z+3/4", "x+1/2,y,z+1/2",
      "-x+1/2,-y,z+1/2", "-x+3/4,y+1/4,z+3/4", "x+3/4,-y+1/4,z+3/4", "x+1/2,y+1/2,z",
      "-x+1/2,-y+1/2,z", "-x+3/4,y+3/4,z+1/4", "x+3/4,-y+3/4,z+1/4"]),
    ("R 3 :H", 146, "R 3", "Trigonal", 0.2,
     ["x,y,z", "-y,x-y,z", "-x+y,-x,z", "x+1/3,y+2/3,z+2/3", "-y+1/3,x-y+2/3,z+2/3",
      "-x+y+1/3,-x+2/3,z+2/3", "x+2/3,y+1/3,z+1/3", "-y+2/3,x-y+1/3,z+1/3",
      "-x+y+2/3,-x+1/3,z+1/3"]),
    ("P 31", 144, "P 31", "Trigonal", 0.1, ["x,y,z", "-y,x-y,z+1/3", "-x+y,-x,z+2/3"]),
    ("P 32", 145, "P 32", "Trigonal", 0.1, ["x,y,z", "-y,x-y,z+2/3", "-x+y,-x,z+1/3"]),
    ("P 41", 76, "P 4w", "Tetragonal", 0.1, ["x,y,z", "-y,x,z+1/4", "y,-x,z+3/4", "-x,-y,z+1/2"]),
    ("P 43", 78, "P 4cw", "Tetragonal", 0.1, ["x,y,z", "-y,x,z+3/4", "y,-x,z+1/4", "-x,-y,z+1/2"]),
    ("I -4", 82, "I -4", "Tetragonal", 0.05,
     ["x,y,z", "y,-x,-z", "-y,x,-z", "-x,-y,z", "x+1/2,y+1/2,z+1/2", "y+1/2,-x+1/2,-z+1/2",
      "-y+1/2,x+1/2,-z+1/2", "-x+1/2,-y+1/2,z+1/2"]),
    ("P n n 2", 34, "P 2 -2n", "Orthorhombic", 0.05,
     ["x,y,z", "-x,-y,z", "-x+1/2,y+1/2,z+1/2", "x+1/2,-y+1/2,z+1/2"]),
]


def parse_xyz(op: str) -> Tuple[np.ndarray, np.ndarray]:
    """``'-x+1/2,y,-z'`` -> (3x3 integer rotation, translation reduced to [0, 1))."""
    rot = np.zeros((3, 3), dtype=float)
    trans = np.zeros(3, dtype=float)
    parts = op.replace(" ", "").lower().split(",")
    if len(parts) != 3:
        raise ValueError(f"not a symmetry operation: {op!r}")
    for row, expr in enumerate(parts):
        term, sign = "", 1.0
        for ch in expr + "+":
            if ch in "+-":
                if term:
                    if term in "xyz":
                        rot[row, "xyz".index(term)] += sign
                    else:
                        trans[row] += sign * float(Fraction(term))
                term, sign = "", (1.0 if ch == "+" else -1.0)
            else:
                term += ch
    return rot, np.mod(trans, 1.0)


@dataclass(frozen=True)
class SpaceGroup:
    """One entry of the table, with its operations as arrays."""

    sg_id: int
    symbol: str
    number: int
    hall: str
    crystal_system: str
    frequency: float
    ops_xyz: Tuple[str, ...]

    @property
    def rotations(self) -> np.ndarray:
        return _ops_arrays(self.sg_id)[0]

    @property
    def translations(self) -> np.ndarray:
        return _ops_arrays(self.sg_id)[1]

    @property
    def order(self) -> int:
        return len(self.ops_xyz)

    @property
    def centrosymmetric(self) -> bool:
        return any(np.allclose(r, -np.eye(3)) for r in self.rotations)

    @property
    def chiral(self) -> bool:
        """Only proper rotations (a Sohncke group): enantiopure crystals."""
        return all(np.linalg.det(r) > 0 for r in self.rotations)


SPACE_GROUPS: List[SpaceGroup] = [
    SpaceGroup(i, s, n, h, cs, f, tuple(ops)) for i, (s, n, h, cs, f, ops) in enumerate(_TABLE)]
SYMBOL_TO_ID = {sg.symbol: sg.sg_id for sg in SPACE_GROUPS}


@lru_cache(maxsize=None)
def _ops_arrays(sg_id: int) -> Tuple[np.ndarray, np.ndarray]:
    pairs = [parse_xyz(op) for op in SPACE_GROUPS[sg_id].ops_xyz]
    rot = np.array([p[0] for p in pairs])
    trans = np.array([p[1] for p in pairs])
    rot.setflags(write=False)
    trans.setflags(write=False)
    return rot, trans


def table_as_json() -> str:
    """The table (id, symbol, number, hall, ops) as JSON, written into every shard."""
    import json

    return json.dumps([{"sg_id": sg.sg_id, "symbol": sg.symbol, "number": sg.number, "hall": sg.hall,
                        "crystal_system": sg.crystal_system, "ops": list(sg.ops_xyz)} for sg in SPACE_GROUPS])


def sample_space_group(rng: np.random.Generator, allowed: Optional[Sequence[int]] = None) -> SpaceGroup:
    """Draw a space group with the table's frequencies (optionally among ``allowed`` ids)."""
    ids = np.arange(len(SPACE_GROUPS)) if allowed is None else np.asarray(allowed)
    w = np.array([SPACE_GROUPS[i].frequency for i in ids], dtype=float)
    return SPACE_GROUPS[int(rng.choice(ids, p=w / w.sum()))]


# ---------------------------------------------------------------- cells

def cell_matrix(cell: Sequence[float]) -> np.ndarray:
    """Orthogonalisation matrix (columns a, b, c; a along x, b in the xy plane): cart = M @ frac."""
    a, b, c, al, be, ga = cell
    al, be, ga = np.radians([al, be, ga])
    cg, sg = np.cos(ga), np.sin(ga)
    cb, ca = np.cos(be), np.cos(al)
    cx = c * cb
    cy = c * (ca - cb * cg) / sg
    cz2 = c * c - cx * cx - cy * cy
    if cz2 <= 1e-8:
        raise ValueError(f"impossible cell {tuple(cell)}")
    return np.array([[a, b * cg, cx], [0.0, b * sg, cy], [0.0, 0.0, np.sqrt(cz2)]])


def cell_volume(cell: Sequence[float]) -> float:
    return float(abs(np.linalg.det(cell_matrix(cell))))


def constrain_cell(cell: Sequence[float], crystal_system: str, symbol: str = "") -> np.ndarray:
    """Impose the metric of the crystal system (monoclinic unique axis b)."""
    a, b, c, al, be, ga = [float(v) for v in cell]
    if crystal_system == "Monoclinic":
        al = ga = 90.0
    elif crystal_system == "Orthorhombic":
        al = be = ga = 90.0
    elif crystal_system == "Tetragonal":
        b = a = 0.5 * (a + b)
        al = be = ga = 90.0
    elif crystal_system in ("Trigonal", "Hexagonal"):
        b = a = 0.5 * (a + b)
        al = be = 90.0
        ga = 120.0
    return np.array([a, b, c, al, be, ga])


def random_cell_shape(rng: np.random.Generator, crystal_system: str) -> np.ndarray:
    """Unit-volume-free cell shape: relative edge lengths and angles typical of the system."""
    edges = np.exp(rng.normal(0.0, 0.35, size=3))
    if crystal_system == "Triclinic":
        for _ in range(100):
            angles = rng.uniform(70.0, 115.0, size=3)
            try:
                cell_matrix([1, 1, 1, *angles])
            except ValueError:
                continue
            if cell_volume([1, 1, 1, *angles]) > 0.55:
                break
        else:
            angles = np.array([90.0, 90.0, 90.0])
    elif crystal_system == "Monoclinic":
        beta = 90.0 + abs(rng.normal(0.0, 12.0))
        angles = np.array([90.0, min(beta, 125.0), 90.0])
    else:
        angles = np.array([90.0, 90.0, 90.0])
    if crystal_system in ("Trigonal", "Hexagonal"):
        edges[2] *= 1.6  # R-3 in hexagonal axes: c usually the long axis
    return constrain_cell(np.concatenate([edges, angles]), crystal_system)


# ------------------------------------------------------ special positions

@dataclass(frozen=True)
class SpecialSite:
    """A site of a space group with an inversion centre or a 2-fold axis through it."""

    kind: str               # "inversion" or "2-fold"
    op_index: int           # the operation that leaves the site invariant
    point: np.ndarray       # fractional coordinates of a point of the site
    axis_frac: Optional[np.ndarray] = None  # direction of the 2-fold axis (fractional)


def site_order(sg_id: int, x: np.ndarray) -> int:
    """Number of operations that map fractional point ``x`` onto itself (modulo lattice translations)."""
    rots, trans = _ops_arrays(sg_id)
    diff = np.einsum("kij,j->ki", rots, x) + trans - x
    return int(np.sum(np.all(np.abs(diff - np.round(diff)) < 1e-6, axis=1)))


def _equivalent(sg_id: int, x: np.ndarray, y: np.ndarray, axis: Optional[np.ndarray]) -> bool:
    """x is a symmetry image of y (modulo lattice), or lies on an image of y's 2-fold axis."""
    rots, trans = _ops_arrays(sg_id)
    for r, t in zip(rots, trans):
        d = r @ y + t - x
        d = d - np.round(d)
        if np.allclose(d, 0.0, atol=1e-6):
            return True
        if axis is not None:
            ax = r @ axis
            for shift in np.ndindex(3, 3, 3):
                if np.linalg.norm(np.cross(d + np.array(shift) - 1.0, ax)) < 1e-6:
                    return True
    return False


@lru_cache(maxsize=None)
def special_sites(sg_id: int) -> Tuple[SpecialSite, ...]:
    """Inversion centres and 2-fold rotation axes (not screw axes) of a group."""
    rots, trans = _ops_arrays(sg_id)
    sites: List[SpecialSite] = []
    for k, (r, t) in enumerate(zip(rots, trans)):
        is_inv = np.allclose(r, -np.eye(3))
        is_two = np.isclose(np.trace(r), -1.0) and np.isclose(np.linalg.det(r), 1.0)
        if not (is_inv or is_two):
            continue
        axis = None
        if is_two:
            w, v = np.linalg.eig(r)
            axis = np.real(v[:, np.argmin(abs(w - 1.0))])
            axis = axis / np.max(abs(axis))
        for shift in np.ndindex(4, 4, 4):  # points on a 1/4 grid fixed by the operation, site order 2
            x = np.array(shift, dtype=float) / 4.0
            diff = r @ x + t - x
            if not np.allclose(diff, np.round(diff), atol=1e-6) or site_order(sg_id, x) != 2:
                continue
            if any(_equivalent(sg_id, x, s_.point, axis if s_.kind == "2-fold" else None) for s_ in sites):
                continue
            sites.append(SpecialSite("inversion" if is_inv else "2-fold", k, x, axis))
    return tuple(sites)
