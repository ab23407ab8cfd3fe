"""Hydrogen geometry for riding H: which group an atom carries, and where its H go.

Helpers of ``xdxd_cctbx.refine.hydrogens`` (see there for the rules). Group
kinds: xh3 (methyl, NH3+), xh2 (sp3 XH2), xh (tertiary XH), planar (aromatic
or sp2 XH), planar2 (=CH2, amide NH2), linear (alkyne CH), oh (hydroxyl, SH).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from xdxd_cctbx.refine.geometry import NON_METALS, typical_lengths

AFIX = {"xh3": 137, "xh2": 23, "xh": 13, "planar": 43, "planar2": 93, "linear": 163, "oh": 147}
N_H = {"xh3": 3, "xh2": 2, "xh": 1, "planar": 1, "planar2": 2, "linear": 1, "oh": 1}
N_PIVOT_NEIGHBOURS = {"xh3": 1, "xh2": 2, "xh": 3, "planar": 2, "planar2": 1, "linear": 1, "oh": 1}
X_H = {
    ("C", "xh3"): 0.96, ("C", "xh2"): 0.97, ("C", "xh"): 0.98, ("C", "planar"): 0.93,
    ("C", "planar2"): 0.93, ("C", "linear"): 0.93,
    ("N", "xh3"): 0.89, ("N", "xh2"): 0.90, ("N", "xh"): 0.91, ("N", "planar"): 0.86,
    ("N", "planar2"): 0.86, ("O", "oh"): 0.82, ("S", "oh"): 1.20,
}
TETRAHEDRAL = math.degrees(math.acos(-1.0 / 3.0))
PLANAR_SUM = 348.0  # deg: angle sum above which a 3-connected atom is planar
_LINEAR = 160.0  # deg: a 2-connected atom this straight takes no H
_SLACK_CH = 2.0  # C-H may exceed the composition count by this much
_SLACK_XH = 1.0  # N/O/S-H groups may overshoot the count by this much


@dataclass(frozen=True)
class RidingGroup:
    """The H atoms of one parent (pivot) and how they ride on it."""

    pivot: int
    hydrogens: Tuple[int, ...]
    kind: str  # key of AFIX
    bond_length: float
    u_multiplier: float
    neighbours: Tuple[Tuple[int, object], ...]  # (i_seq, rt_mx) of the pivot's non-H neighbours
    reference: Optional[Tuple[int, object]] = None  # substituent of the neighbour (azimuth, plane)
    score: float = 1.0  # how certain the group is (1: C-H from geometry)

    @property
    def afix(self) -> int:
        """SHELX AFIX mn code of the group."""
        return AFIX[self.kind]


@dataclass
class Candidate:
    """A group an atom may carry, with how sure the geometry is (score 0-1)."""

    pivot: int
    kind: str
    score: float
    reference: Optional[Tuple[int, object]] = None
    element: str = "C"
    occupancy: float = 1.0

    @property
    def n_h(self) -> int:
        return N_H[self.kind]

    @property
    def count(self) -> float:
        """H atoms the group adds to the composition (occupancy-weighted)."""
        return N_H[self.kind] * self.occupancy


# ----------------------------------------------------------------------------
# Geometry

def cart(xs, i_seq: int, rt_mx=None) -> np.ndarray:
    """Cartesian site of atom i_seq (moved by rt_mx when given)."""
    site = xs.scatterers()[i_seq].site
    if rt_mx is not None:
        site = rt_mx * site
    return np.array(xs.unit_cell().orthogonalize(site))


def unit(v: np.ndarray) -> np.ndarray:
    """v normalised (v itself when it is ~0)."""
    n = np.linalg.norm(v)
    return v / n if n > 1e-8 else v


def perpendicular(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Unit component of v perpendicular to the unit vector axis (any if none)."""
    p = v - np.dot(v, axis) * axis
    if np.linalg.norm(p) < 1e-6:
        trial = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        p = trial - np.dot(trial, axis) * axis
    return unit(p)


def ideal_h_sites(xs, group: RidingGroup, azimuth_towards: Optional[np.ndarray] = None,
                   anti: bool = True) -> List[np.ndarray]:
    """Cartesian H sites of ``group`` from the current non-H sites.

    xh3/oh: tetrahedral about the X-Y axis; the first H points towards
    ``azimuth_towards`` (a point) when given, else anti to the reference
    substituent of Y (staggered). planar2: in the plane of the reference.
    """
    x = cart(xs, group.pivot)
    nbs = [cart(xs, j, op) for j, op in group.neighbours]
    units = [unit(p - x) for p in nbs]
    d = group.bond_length
    kind = group.kind
    if kind == "xh":
        return [x + d * unit(-(units[0] + units[1] + units[2]))]
    if kind == "planar":
        return [x + d * unit(-(units[0] + units[1]))]
    if kind == "xh2":
        bis = unit(-(units[0] + units[1]))
        normal = unit(np.cross(units[0], units[1]))
        half = math.radians(TETRAHEDRAL) / 2
        return [x + d * (math.cos(half) * bis + s * math.sin(half) * normal) for s in (1, -1)]
    axis = -units[0]  # from Y towards X
    if kind == "linear":
        return [x + d * axis]
    ref = None
    if group.reference is not None:
        ref = cart(xs, *group.reference)
    if kind == "planar2":
        e = perpendicular((ref - nbs[0]) if ref is not None else axis, axis)
        c, s = math.cos(math.radians(60)), math.sin(math.radians(60))
        return [x + d * (c * axis + s * e), x + d * (c * axis - s * e)]
    # xh3 / oh: H-X-Y tetrahedral, azimuth from a target point or the reference
    c = math.cos(math.radians(180 - TETRAHEDRAL))
    s = math.sin(math.radians(180 - TETRAHEDRAL))
    if azimuth_towards is not None:
        e1 = perpendicular(azimuth_towards - x, axis)
    else:
        e1 = perpendicular((ref - nbs[0]) if ref is not None else axis, axis)
        if anti:
            e1 = -e1
    e2 = np.cross(axis, e1)
    sites = []
    for k in range(N_H[kind]):
        phi = 2 * math.pi * k / 3
        sites.append(x + d * (c * axis + s * (math.cos(phi) * e1 + math.sin(phi) * e2)))
    return sites


def reference_substituent(topology, xs, pivot: int, j_seq: int, op) -> Optional[Tuple[int, object]]:
    """A non-H neighbour of the pivot's neighbour (j_seq at op), other than the pivot."""
    x_pivot = cart(xs, pivot)
    best = None
    for k, op_k in topology.neighbours[j_seq]:
        full = op.multiply(op_k)
        p = cart(xs, k, full)
        if np.linalg.norm(p - x_pivot) < 0.1:
            continue
        d = np.linalg.norm(p - cart(xs, j_seq, op))
        if best is None or d < best[0]:
            best = (d, (k, full))
    return None if best is None else best[1]


def nearby_in_molecule(topology, xs, pivot: int, depth: int = 3) -> List[np.ndarray]:
    """Cartesian sites within ``depth`` bonds of the pivot (itself included)."""
    from cctbx import sgtbx

    seen = [cart(xs, pivot)]
    frontier = [(pivot, sgtbx.rt_mx())]
    for _ in range(depth):
        nxt = []
        for i, op in frontier:
            for j, op_ij in topology.neighbours[i]:
                full = op.multiply(op_ij)
                p = cart(xs, j, full)
                if all(np.linalg.norm(p - q) > 0.1 for q in seen):
                    seen.append(p)
                    nxt.append((j, full))
        frontier = nxt
    return seen


def acceptor_point(topology, xs, pivot: int, neighbour: np.ndarray) -> Optional[np.ndarray]:
    """Nearest O/N acceptor 2.5-3.2 A from the pivot, more than 3 bonds away, at
    90-150 deg from the pivot's neighbour: where a hydroxyl H points."""
    from cctbx import crystal

    table = crystal.pair_asu_table(xs.asu_mappings(buffer_thickness=3.2))
    table.add_all_pairs(distance_cutoff=3.2)
    sym = table.extract_pair_sym_table(skip_j_seq_less_than_i_seq=False,
                                       all_interactions_from_inside_asu=True)
    x = cart(xs, pivot)
    close = nearby_in_molecule(topology, xs, pivot)
    best = None
    for j, ops in sym[pivot].items():
        if topology.elements[j] not in ("O", "N"):
            continue
        for op in ops:
            p = cart(xs, j, op)
            d = np.linalg.norm(p - x)
            if not 2.5 <= d <= 3.2 or any(np.linalg.norm(p - q) < 0.1 for q in close):
                continue
            if 90.0 <= angle_deg(neighbour - x, p - x) <= 150.0 and (best is None or d < best[0]):
                best = (d, p)
    return None if best is None else best[1]


# ----------------------------------------------------------------------------
# Classification

def _single_length(e1: str, e2: str) -> Optional[float]:
    for bond_class, length in typical_lengths(e1, e2):
        if bond_class == "single":
            return length
    return None


def angle_deg(u, v) -> float:
    c = float(np.dot(unit(np.asarray(u)), unit(np.asarray(v))))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def _is_sp2_pair(topology, i_seq: int, lengths, elements_nb) -> bool:
    """Two-connected atom: sp2 (planar X-H) rather than sp3 (XH2)?"""
    if i_seq in topology.aromatic_atoms:
        return True
    e = topology.elements[i_seq]
    for d, y in zip(lengths, elements_nb):
        single = _single_length(e, y)
        if single is not None and d < single - 0.10:
            return True
    vecs = topology.vectors[i_seq]
    return angle_deg(vecs[0], vecs[1]) > 119.0


def classify(topology, xs, i_seq: int) -> Optional[Candidate]:
    """The H group atom i_seq most likely carries (score: how sure), or None."""
    e = topology.elements[i_seq]
    nbs = topology.neighbours[i_seq]
    vecs = topology.vectors[i_seq]
    n = len(nbs)
    nb_el = [topology.elements[j] for j, _ in nbs]
    lengths = [float(np.linalg.norm(v)) for v in vecs]
    metal = [el not in NON_METALS for el in nb_el]
    if n == 0 or e not in ("C", "N", "O", "S"):
        return None
    if n == 1 and metal[0]:
        return None  # CO/CN ligands, aqua, hydroxo: not placed
    angle_sum = topology.angle_sum(i_seq) if n >= 2 else 0.0

    def ref():
        j, op = nbs[0]
        return reference_substituent(topology, xs, i_seq, j, op)

    if e == "C":
        if n == 1:
            d, y = lengths[0], nb_el[0]
            if y in ("N", "O") and d < 1.22:
                return None  # nitrile, isocyanide
            if y == "C" and d < 1.26:
                return Candidate(i_seq, "linear", 0.6)
            reference = ref()
            if y in ("C", "N") and d < 1.39 and reference is not None:
                return Candidate(i_seq, "planar2", 0.6, reference)
            return Candidate(i_seq, "xh3", 0.75, reference)
        if n == 2:
            if angle_sum > _LINEAR:
                return None
            if _is_sp2_pair(topology, i_seq, lengths, nb_el):
                return Candidate(i_seq, "planar", 0.95 if i_seq in topology.aromatic_atoms else 0.8)
            return Candidate(i_seq, "xh2", 0.85)
        if n == 3 and angle_sum < PLANAR_SUM:
            return Candidate(i_seq, "xh", 0.9)
        return None
    if e == "N":
        if n == 1:
            d, y = lengths[0], nb_el[0]
            if d < 1.20:
                return None  # nitrile N
            reference = ref()
            if y == "C" and d < 1.40 and reference is not None:
                return Candidate(i_seq, "planar2", 0.8, reference)
            return Candidate(i_seq, "xh3", 0.4, reference)
        if n == 2:
            if angle_sum > _LINEAR or any(metal):
                return None
            if _is_sp2_pair(topology, i_seq, lengths, nb_el):
                if i_seq in topology.aromatic_atoms:
                    # pyrrole/pyridinium N-H opens the ring angle; pyridine N does not
                    wide = angle_sum > (107.5 if _ring_size(topology, i_seq) == 5 else 120.5)
                    return Candidate(i_seq, "planar", 0.5 if wide else 0.15)
                if min(lengths) < 1.30:
                    return Candidate(i_seq, "planar", 0.2)  # imine-like
                return Candidate(i_seq, "planar", 0.7)  # amide, aniline-like N-H
            return Candidate(i_seq, "xh2", 0.25)  # R2NH2+
        if n == 3 and angle_sum < PLANAR_SUM and not any(metal) and min(lengths) > 1.44:
            return Candidate(i_seq, "xh", 0.2)  # R3NH+
        return None
    # O and S: only one neighbour can carry H here
    if n != 1:
        return None
    d, y = lengths[0], nb_el[0]
    if e == "S":
        return Candidate(i_seq, "oh", 0.3, ref()) if y == "C" and d > 1.75 else None
    if y == "C":
        if d >= 1.34:
            return Candidate(i_seq, "oh", 0.9, ref())
        if d >= 1.28:
            return Candidate(i_seq, "oh", 0.5, ref())  # carboxylic acid, enol
        return None
    minimum = {"N": 1.36, "P": 1.53, "S": 1.50, "B": 0.0, "Si": 0.0, "As": 1.68, "Se": 1.70}.get(y)
    if minimum is None or d < minimum:
        return None
    return Candidate(i_seq, "oh", 0.4 if y in ("S", "N") else 0.6, ref())


def _ring_size(topology, i_seq: int) -> int:
    """Smallest ring through i_seq that the topology marked planar (0 if none)."""
    sizes = [round(360.0 / (180.0 - angle)) for (centre, _), angle in topology.ring_angles.items()
             if centre == i_seq and angle < 180.0]
    return min(sizes) if sizes else 0


def select_candidates(candidates: List[Candidate], n_target: Optional[float], skipped: List[str],
            labels: Sequence[str]) -> List[Candidate]:
    """C-H first (most certain first), then N/O/S-H while the count allows.

    Counts are occupancy-weighted, like a composition's.
    """
    def order(c):
        return (-c.score, c.pivot)

    carbon = sorted((c for c in candidates if c.element == "C"), key=order)
    hetero = sorted((c for c in candidates if c.element != "C"), key=order)
    chosen: List[Candidate] = []
    n = 0
    for c in carbon:
        if n_target is not None and n + c.count > n_target + _SLACK_CH:
            skipped.append(f"{labels[c.pivot]}: {c.kind} would exceed the H count {n_target:g}")
            continue
        chosen.append(c)
        n += c.count
    if n_target is None:
        skipped.extend(f"{labels[c.pivot]}: {c.kind} (no composition H count)" for c in hetero)
        return chosen
    for c in hetero:
        if n >= n_target - 0.5 or n + c.count > n_target + _SLACK_XH:
            skipped.append(f"{labels[c.pivot]}: {c.kind} (score {c.score:.2f}) not needed by the H count")
            continue
        chosen.append(c)
        n += c.count
    return chosen
