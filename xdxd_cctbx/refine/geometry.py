"""Automatic distance restraints for small molecules (1-2 and 1-3 pairs).

Connectivity comes from the candidate's own geometry: covalent radii plus a
tolerance, symmetry-related pairs included, contacts below 0.6 times the
radii sum ignored (overlapping sites); over-coordinated atoms lose their
relatively longest contacts, and of two contacts at an angle below 75 deg the
longer goes (a 1-3 distance mistaken for a bond), except in real 3-rings.

Bond lengths: typical values per element pair and bond class (Allen et al.,
International Tables C, Table 9.5.1.1, rounded). The class is chosen from a
coarse hybridisation: 5- and 6-rings that are flattish (plane rms < 0.2 A) with
a mean bond below 1.445 A are aromatic; an atom can take a multiple bond only
when not saturated by its heavy-atom neighbours (C with 4, N with 4, O with 2,
a non-planar 3-connected C or N); among the allowed classes the length
nearest the current distance wins, with a 0.02 A preference for single bonds.
A bond more than 0.06 A from its chosen length gets a 2.5 times looser sigma.
Bonds to metals (and pairs missing from the table) are not restrained.

1-3 distances: from the two ideal bond lengths and an angle: the interior
angle of a planar or aromatic ring, else the current angle clamped into a
range set by the central atom: 102-116 deg (sp3), 115-125 (sp2), 170-180
(linear), 95-125 (other elements, small rings); a clamped angle also gets a
2.5 times looser sigma. Metal centres and metal ends get no 1-3 restraint.
Regenerating the restraints from the refined geometry (the driver does it
between macro cycles) lets the data correct a wrong first guess.
"""
from __future__ import annotations

import logging
import math
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

#: Typical bond lengths (Angstrom) by element pair: (bond class, length).
#: Classes other than "single" mark the centre as sp2/sp (multiple/aromatic).
BOND_LENGTHS: Dict[Tuple[str, str], Tuple[Tuple[str, float], ...]] = {
    ("C", "C"): (("single", 1.52), ("conjugated", 1.47), ("aromatic", 1.39),
                 ("double", 1.33), ("triple", 1.19)),
    ("C", "N"): (("single", 1.47), ("aromatic", 1.34), ("double", 1.28),
                 ("triple", 1.15)),
    ("C", "O"): (("single", 1.43), ("conjugated", 1.34), ("carboxylate", 1.25),
                 ("double", 1.21)),
    ("C", "S"): (("single", 1.81), ("aromatic", 1.71), ("double", 1.67)),
    ("C", "F"): (("single", 1.35),),
    ("C", "Cl"): (("single", 1.75),),
    ("C", "Br"): (("single", 1.91),),
    ("C", "I"): (("single", 2.10),),
    ("C", "P"): (("single", 1.81),),
    ("C", "Si"): (("single", 1.86),),
    ("C", "B"): (("single", 1.58),),
    ("C", "Se"): (("single", 1.94),),
    ("N", "N"): (("single", 1.42), ("aromatic", 1.33), ("double", 1.25),
                 ("triple", 1.12)),
    ("N", "O"): (("single", 1.41), ("nitro", 1.22)),
    ("N", "S"): (("single", 1.63),),
    ("N", "P"): (("single", 1.65),),
    ("N", "B"): (("single", 1.58),),
    ("O", "O"): (("single", 1.48),),
    ("O", "S"): (("single", 1.58), ("double", 1.43)),
    ("O", "P"): (("single", 1.59), ("double", 1.49)),
    ("O", "B"): (("single", 1.37),),
    ("O", "Si"): (("single", 1.63),),
    ("S", "S"): (("single", 2.05),),
    ("P", "F"): (("single", 1.59),),
    ("B", "F"): (("single", 1.38),),
    ("Cl", "O"): (("single", 1.44),),
}

#: Most covalent bonds an atom may make to non-metals; extra, longer
#: contacts are dropped. Elements not listed are not limited.
MAX_BONDS: Dict[str, int] = {
    "H": 1, "D": 1, "B": 4, "C": 4, "N": 4, "O": 2, "F": 1, "Si": 4, "P": 5,
    "S": 6, "Cl": 4, "Se": 4, "Br": 1, "I": 2,
}

#: Elements treated as non-metals; bonds to anything else are not restrained.
NON_METALS = frozenset(
    "H D He B C N O F Ne Si P S Cl Ar As Se Br Kr Te I Xe".split())

_SP3_RANGE = (102.0, 116.0)
_SP2_RANGE = (115.0, 125.0)
_LINEAR_RANGE = (170.0, 180.0)
_WIDE_RANGE = (95.0, 125.0)
_AROMATIC_MEAN_BOND = 1.445  # A: mean ring bond length below which a flat ring is aromatic
_MIN_BOND_ANGLE = 75.0  # deg: a sharper angle between two contacts is not two bonds
_MIN_BOND_RATIO = 0.6  # contacts shorter than this times the radii sum are not bonds
_MULTIPLE_BIAS = 0.02  # A: prefer a single bond unless clearly shorter
_CONFIDENT_DEVIATION = 0.06  # A: a bond this far from its typical length ...
_UNSURE_SIGMA_FACTOR = 2.5  # ... (or a clamped angle) gets a looser restraint


class RestraintPair(NamedTuple):
    """A distance restraint: |x_i - rt_mx_ji * x_j| = ideal (sigma), Angstrom."""

    i_seq: int
    j_seq: int
    rt_mx_ji: object  # cctbx.sgtbx.rt_mx (a string such as "-x,y+1/2,-z" is accepted)
    ideal: float
    sigma: float


class Bond(NamedTuple):
    """A covalent pair found in the structure, with its classification."""

    i_seq: int
    j_seq: int
    rt_mx_ji: object
    distance: float
    ideal: float
    bond_class: str


def _element(scattering_type: str) -> str:
    """Element symbol of a scattering type ('O2-' -> 'O', 'FE3+' -> 'Fe')."""
    letters = "".join(ch for ch in scattering_type if ch.isalpha())
    return letters[:1].upper() + letters[1:2].lower() if letters else scattering_type


def typical_lengths(e1: str, e2: str) -> Tuple[Tuple[str, float], ...]:
    """Typical (class, length) options for an element pair; empty if unknown."""
    return BOND_LENGTHS.get((e1, e2)) or BOND_LENGTHS.get((e2, e1)) or ()


def _rt_mx(value):
    from cctbx import sgtbx

    if value is None:
        return sgtbx.rt_mx()
    if isinstance(value, str):
        try:
            return sgtbx.rt_mx(value)
        except RuntimeError as exc:
            raise InputError(f"bad symmetry operation {value!r} in a restraint: {exc}")
    return value


def _pair_distance(xray_structure, i_seq: int, j_seq: int, rt_mx_ji) -> float:
    sites = xray_structure.sites_frac()
    return xray_structure.unit_cell().distance(sites[i_seq], rt_mx_ji * sites[j_seq])


class Contact(NamedTuple):
    """A covalent pair: atom j_seq at rt_mx_ji * x_j is bonded to atom i_seq."""

    i_seq: int
    j_seq: int
    rt_mx_ji: object
    distance: float


def find_contacts(xray_structure, *, tolerance: float = 0.5,
                  exclude_hydrogens: bool = True) -> List[Contact]:
    """Covalent pairs (symmetry-related included), trimmed to MAX_BONDS per atom."""
    from cctbx import crystal
    from cctbx.array_family import flex
    from cctbx.eltbx import covalent_radii

    scatterers = xray_structure.scatterers()
    types = scatterers.extract_scattering_types()
    elements = [_element(t) for t in types]
    radii = {}
    for t, e in zip(types, elements):
        try:
            radii[t] = covalent_radii.table(e).radius()
        except RuntimeError:
            radii[t] = 1.5
            logger.warning("no covalent radius for %s: using 1.5 A", t)
    max_r = max(radii.values()) if radii else 1.0
    asu_mappings = xray_structure.asu_mappings(buffer_thickness=2 * max_r + tolerance)
    table = crystal.pair_asu_table(asu_mappings)
    exclude = flex.std_string(("H", "D")) if exclude_hydrogens else None
    table.add_covalent_pairs(types, exclude_scattering_types=exclude,
                             tolerance=tolerance, radii=radii)
    candidates = []
    for i_seq, pair_sym_dict in enumerate(table.extract_pair_sym_table()):
        for j_seq, ops in pair_sym_dict.items():
            for rt_mx_ji in ops:
                d = _pair_distance(xray_structure, i_seq, j_seq, rt_mx_ji)
                ratio = d / (radii[types[i_seq]] + radii[types[j_seq]])
                if ratio < _MIN_BOND_RATIO:  # overlapping sites (disorder, clash): no bond
                    logger.debug("ignored contact %s-%s %.2f A (too short)",
                                 scatterers[i_seq].label, scatterers[j_seq].label, d)
                    continue
                candidates.append((ratio, i_seq, j_seq, rt_mx_ji, d))
    # Trim over-coordinated atoms: drop the relatively longest contacts first.
    counts = [0] * scatterers.size()
    for _, i_seq, j_seq, rt_mx_ji, _ in candidates:
        counts[i_seq] += 1
        counts[j_seq] += 1
    kept = []
    for ratio, i_seq, j_seq, rt_mx_ji, d in sorted(candidates, key=lambda c: -c[0]):
        organic = elements[i_seq] in NON_METALS and elements[j_seq] in NON_METALS
        if organic and any(counts[k] > MAX_BONDS.get(elements[k], 99) for k in (i_seq, j_seq)):
            counts[i_seq] -= 1
            counts[j_seq] -= 1
            logger.debug("dropped contact %s-%s %.2f A (over-coordinated)",
                         scatterers[i_seq].label, scatterers[j_seq].label, d)
            continue
        kept.append((ratio, Contact(i_seq, j_seq, rt_mx_ji, d)))
    kept = _prune_acute(xray_structure, kept, elements)
    kept.sort(key=lambda b: (b.i_seq, b.j_seq, str(b.rt_mx_ji)))
    return kept


def _prune_acute(xray_structure, rated: List[Tuple[float, Contact]],
                 elements: Sequence[str]) -> List[Contact]:
    """Drop contacts that make an angle below _MIN_BOND_ANGLE with another bond.

    Such a pair is usually a 1-3 distance mistaken for a bond; of the two
    contacts the relatively longer one goes. Real three-membered rings
    (three mutually bonded atoms, sides within 20 %) are kept.
    """
    uc = xray_structure.unit_cell()
    sites = xray_structure.sites_frac()
    while True:
        contacts = [c for _, c in rated]
        ratio = {id(c): r for r, c in rated}
        keys = {_canonical(c.i_seq, c.j_seq, c.rt_mx_ji) for c in contacts}
        around: List[list] = [[] for _ in range(sites.size())]
        for c in contacts:
            around[c.i_seq].append((c, c.j_seq, c.rt_mx_ji))
            if c.i_seq != c.j_seq or not c.rt_mx_ji.is_unit_mx():
                around[c.j_seq].append((c, c.i_seq, c.rt_mx_ji.inverse()))
        worst = None
        for centre, nbs in enumerate(around):
            if elements[centre] not in NON_METALS or len(nbs) < 2:
                continue
            x0 = uc.orthogonalize(sites[centre])
            vecs = [tuple(b - a for a, b in zip(x0, uc.orthogonalize(op * sites[k])))
                    for _, k, op in nbs]
            for a in range(len(nbs)):
                for b in range(a + 1, len(nbs)):
                    (c_a, k_a, op_a), (c_b, k_b, op_b) = nbs[a], nbs[b]
                    if _angle(vecs[a], vecs[b]) >= _MIN_BOND_ANGLE:
                        continue
                    if elements[k_a] not in NON_METALS or elements[k_b] not in NON_METALS:
                        continue
                    closing = _canonical(k_a, k_b, op_a.inverse().multiply(op_b))
                    sides = (c_a.distance, c_b.distance)
                    if closing in keys and max(sides) / min(sides) < 1.2:
                        continue  # a genuine three-membered ring
                    longer = c_a if ratio[id(c_a)] >= ratio[id(c_b)] else c_b
                    if worst is None or ratio[id(longer)] > ratio[id(worst)]:
                        worst = longer
        if worst is None:
            return contacts
        logger.debug("dropped contact %d-%d %.2f A (acute angle)",
                     worst.i_seq, worst.j_seq, worst.distance)
        rated = [(r, c) for r, c in rated if c is not worst]


def _neighbours(contacts: Sequence[Contact], n_atoms: int):
    """Per atom: list of (other i_seq, rt_mx putting the other next to it)."""
    result: List[list] = [[] for _ in range(n_atoms)]
    for c in contacts:
        result[c.i_seq].append((c.j_seq, c.rt_mx_ji))
        if c.i_seq != c.j_seq or not c.rt_mx_ji.is_unit_mx():
            result[c.j_seq].append((c.i_seq, c.rt_mx_ji.inverse()))
    return result


def _angle(u, v) -> float:
    nu = math.sqrt(sum(x * x for x in u))
    nv = math.sqrt(sum(x * x for x in v))
    if nu < 1e-6 or nv < 1e-6:
        return 109.5
    c = sum(a * b for a, b in zip(u, v)) / (nu * nv)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def _canonical(i_seq: int, j_seq: int, rt_mx_ji) -> Tuple[int, int, str]:
    if j_seq < i_seq:
        i_seq, j_seq, rt_mx_ji = j_seq, i_seq, rt_mx_ji.inverse()
    key = str(rt_mx_ji)
    if i_seq == j_seq:
        key = min(key, str(rt_mx_ji.inverse()))
    return i_seq, j_seq, key


def _find_rings(neighbours, max_size: int = 6) -> List[List[Tuple[int, object]]]:
    """Simple cycles of 3..max_size atoms as lists of (i_seq, rt_mx) nodes."""
    from cctbx import sgtbx

    rings = []
    seen = set()
    n_atoms = len(neighbours)
    for start in range(n_atoms):
        stack = [[(start, sgtbx.rt_mx())]]
        while stack:
            path = stack.pop()
            i_seq, op = path[-1]
            for j_seq, op_ij in neighbours[i_seq]:
                op_j = op.multiply(op_ij)
                if j_seq == start and op_j.is_unit_mx():
                    if len(path) >= 3:
                        key = frozenset((k, str(o)) for k, o in path)
                        if key not in seen and min(k for k, _ in path) == start:
                            seen.add(key)
                            rings.append(path)
                    continue
                if j_seq < start or len(path) >= max_size:
                    continue
                if any(k == j_seq and str(o) == str(op_j) for k, o in path):
                    continue
                stack.append(path + [(j_seq, op_j)])
    return rings


def _plane_rms(points) -> float:
    import numpy as np

    xyz = np.asarray(points, dtype=float)
    xyz = xyz - xyz.mean(axis=0)
    return float(np.linalg.svd(xyz, compute_uv=False)[-1] / math.sqrt(len(points)))


class _Topology:
    """Bond graph with rings, planarity and a coarse hybridisation per atom."""

    def __init__(self, xray_structure, contacts: Sequence[Contact],
                 planarity_tolerance: float = 0.1):
        uc = xray_structure.unit_cell()
        sites = xray_structure.sites_frac()
        n = sites.size()
        self.elements = [_element(t) for t in
                         xray_structure.scatterers().extract_scattering_types()]
        self.neighbours = _neighbours(contacts, n)
        self.vectors = []
        for centre in range(n):
            x0 = uc.orthogonalize(sites[centre])
            self.vectors.append([
                tuple(b - a for a, b in zip(x0, uc.orthogonalize(op * sites[other])))
                for other, op in self.neighbours[centre]])
        self.n_organic = [sum(self.elements[j] in NON_METALS for j, _ in nbs)
                          for nbs in self.neighbours]
        self.aromatic_atoms = set()
        self.aromatic_bonds = set()
        self.ring_angles: Dict[Tuple[int, Tuple[int, int, str]], float] = {}
        self.small_ring_atoms = set()
        for ring in _find_rings(self.neighbours):
            points = [uc.orthogonalize(op * sites[k]) for k, op in ring]
            size = len(ring)
            plane_rms = _plane_rms(points) if size > 3 else 0.0
            planar = plane_rms < planarity_tolerance
            mean_bond = sum(
                math.dist(points[pos], points[pos - 1]) for pos in range(size)) / size
            # Aromatic: flattish (noisy models lose planarity) with short bonds.
            flat_and_short = plane_rms < 2 * planarity_tolerance and mean_bond < _AROMATIC_MEAN_BOND
            if size <= 4:
                self.small_ring_atoms.update(k for k, _ in ring)
            for pos, (k, op) in enumerate(ring):
                (a, op_a), (b, op_b) = ring[pos - 1], ring[(pos + 1) % size]
                key = (k, _canonical(a, b, op_a.inverse().multiply(op_b)))
                if planar or flat_and_short or size <= 4:
                    self.ring_angles[key] = 180.0 * (size - 2) / size
            if flat_and_short and size in (5, 6) and self._aromatic_capable(ring):
                self.aromatic_atoms.update(k for k, _ in ring)
                for pos, (k, op) in enumerate(ring):
                    j, op_j = ring[(pos + 1) % size]
                    self.aromatic_bonds.add(_canonical(k, j, op.inverse().multiply(op_j)))
        self.unsaturated = [self._unsaturated(i) for i in range(n)]

    def _aromatic_capable(self, ring) -> bool:
        n_chalcogen = 0
        for k, _ in ring:
            e, nb = self.elements[k], self.n_organic[k]
            if e in ("C", "N", "B") and nb <= 3:
                continue
            if e in ("O", "S", "Se") and nb == 2 and len(ring) == 5:
                n_chalcogen += 1
                continue
            return False
        return n_chalcogen <= 1

    def angle_sum(self, i_seq: int) -> float:
        vecs = self.vectors[i_seq]
        return sum(_angle(vecs[a], vecs[b])
                   for a in range(len(vecs)) for b in range(a + 1, len(vecs)))

    def _unsaturated(self, i_seq: int) -> bool:
        """Could this atom take part in a multiple or conjugated bond?"""
        if i_seq in self.aromatic_atoms:
            return True
        e, nb = self.elements[i_seq], self.n_organic[i_seq]
        n_all = len(self.neighbours[i_seq])
        if e == "C":
            if nb >= 4:
                return False
            if nb == 3:
                return n_all == 3 and self.angle_sum(i_seq) > 348.0
            if nb == 2 and n_all == 2:
                return self.angle_sum(i_seq) > 115.0
            return True
        if e == "N":
            if nb >= 4:
                return False
            if nb == 3:
                return self.angle_sum(i_seq) > 348.0
            if nb == 2:
                return self.angle_sum(i_seq) > 114.0
            return True
        if e in ("O", "Se"):
            return nb <= 1
        if e == "S":
            return nb != 2
        return True

    def bond_ideal(self, c: Contact) -> Tuple[float, str]:
        """Typical length for a bond given the atoms' hybridisation."""
        e1, e2 = self.elements[c.i_seq], self.elements[c.j_seq]
        options = typical_lengths(e1, e2)
        if not options or e1 not in NON_METALS or e2 not in NON_METALS:
            return c.distance, "current"
        if _canonical(c.i_seq, c.j_seq, c.rt_mx_ji) in self.aromatic_bonds:
            for wanted in ("aromatic", "conjugated"):
                for bond_class, length in options:
                    if bond_class == wanted:
                        return length, bond_class
        u1, u2 = self.unsaturated[c.i_seq], self.unsaturated[c.j_seq]
        linear = self._linear(c.i_seq) and self._linear(c.j_seq)
        allowed = [(cls, length) for cls, length in options
                   if cls == "single" or (cls == "conjugated" and (u1 or u2))
                   or (u1 and u2 and (cls != "triple" or linear))]
        bond_class, length = min(
            allowed or options[:1],
            key=lambda o: abs(o[1] - c.distance) + (0.0 if o[0] == "single" else _MULTIPLE_BIAS))
        return length, bond_class

    def _linear(self, i_seq: int) -> bool:
        nbs = len(self.neighbours[i_seq])
        return nbs == 1 or (nbs == 2 and self.angle_sum(i_seq) > 160.0)

    def angle_range(self, centre: int, n_multiple: int) -> Tuple[float, float]:
        """Allowed range of bond angles at an atom (degrees)."""
        nbs = len(self.neighbours[centre])
        if nbs == 2 and self.angle_sum(centre) > 160.0:
            return _LINEAR_RANGE
        if self.elements[centre] not in ("C", "N", "O") or centre in self.small_ring_atoms:
            return _WIDE_RANGE
        if n_multiple or (self.unsaturated[centre] and nbs == 3):
            return _SP2_RANGE
        return _SP3_RANGE


def find_bonds(xray_structure, *, tolerance: float = 0.5) -> List[Bond]:
    """Covalent bonds with the typical length chosen for each."""
    contacts = find_contacts(xray_structure, tolerance=tolerance)
    topology = _Topology(xray_structure, contacts)
    return [Bond(c.i_seq, c.j_seq, c.rt_mx_ji, c.distance, *topology.bond_ideal(c))
            for c in contacts]


def auto_restraint_pairs(xray_structure, *, bond_sigma: float = 0.02,
                         angle_sigma: float = 0.04,
                         tolerance: float = 0.5) -> List[RestraintPair]:
    """Bond (1-2) and 1-3 distance restraints generated from the geometry."""
    contacts = find_contacts(xray_structure, tolerance=tolerance)
    topology = _Topology(xray_structure, contacts)
    ideal: Dict[Tuple[int, int, str], Tuple[float, str]] = {}
    pairs = []
    for c in contacts:
        length, bond_class = topology.bond_ideal(c)
        ideal[_canonical(c.i_seq, c.j_seq, c.rt_mx_ji)] = (length, bond_class)
        if bond_class == "current":
            continue  # metal-ligand or unknown pair: left to the data
        sigma = bond_sigma
        if bond_class != "aromatic" and abs(c.distance - length) > _CONFIDENT_DEVIATION:
            sigma *= _UNSURE_SIGMA_FACTOR
        pairs.append(RestraintPair(c.i_seq, c.j_seq, c.rt_mx_ji, length, sigma))
    seen = set()
    for centre, nbs in enumerate(topology.neighbours):
        if topology.elements[centre] not in NON_METALS or not 2 <= len(nbs) <= 4:
            continue
        bonds = [ideal[_canonical(centre, other, op)] for other, op in nbs]
        n_multiple = sum(cls not in ("single", "current") for _, cls in bonds)
        lo, hi = topology.angle_range(centre, n_multiple)
        vecs = topology.vectors[centre]
        for a in range(len(nbs)):
            for b in range(a + 1, len(nbs)):
                (i_a, op_a), (i_b, op_b) = nbs[a], nbs[b]
                if topology.elements[i_a] not in NON_METALS \
                        or topology.elements[i_b] not in NON_METALS:
                    continue
                rt_mx_ji = op_a.inverse().multiply(op_b)
                key = _canonical(i_a, i_b, rt_mx_ji)
                if key in seen or (i_a == i_b and rt_mx_ji.is_unit_mx()):
                    continue
                seen.add(key)
                sigma = angle_sigma
                angle = topology.ring_angles.get((centre, key))
                if angle is None:
                    current = _angle(vecs[a], vecs[b])
                    angle = min(max(current, lo), hi)
                    if angle != current:  # outside the expected range: less sure
                        sigma *= _UNSURE_SIGMA_FACTOR
                d1, d2 = bonds[a][0], bonds[b][0]
                length = math.sqrt(d1 * d1 + d2 * d2
                                   - 2 * d1 * d2 * math.cos(math.radians(angle)))
                pairs.append(RestraintPair(i_a, i_b, rt_mx_ji, length, sigma))
    return pairs


def normalise_pairs(pairs: Iterable[Union[RestraintPair, Sequence]],
                    n_scatterers: int) -> List[RestraintPair]:
    """Validate user-supplied (i_seq, j_seq, rt_mx_ji, ideal, sigma) tuples."""
    result = []
    for k, pair in enumerate(pairs):
        try:
            i_seq, j_seq, rt_mx_ji, ideal, sigma = pair
        except (TypeError, ValueError):
            raise InputError(
                f"restraint {k}: expected (i_seq, j_seq, rt_mx_ji, ideal, sigma), got {pair!r}")
        i_seq, j_seq = int(i_seq), int(j_seq)
        if not (0 <= i_seq < n_scatterers and 0 <= j_seq < n_scatterers):
            raise InputError(f"restraint {k}: atom index out of range 0..{n_scatterers - 1}")
        if not (float(ideal) > 0 and float(sigma) > 0):
            raise InputError(f"restraint {k}: ideal and sigma must be positive")
        result.append(RestraintPair(i_seq, j_seq, _rt_mx(rt_mx_ji), float(ideal), float(sigma)))
    return result


def bond_proxies(pairs: Sequence[RestraintPair]):
    """cctbx bond_simple_proxy array for smtbx's restraints manager."""
    from cctbx import geometry_restraints

    proxies = geometry_restraints.shared_bond_simple_proxy()
    for p in pairs:
        weight = 1.0 / (p.sigma * p.sigma)
        if p.rt_mx_ji.is_unit_mx():
            proxies.append(geometry_restraints.bond_simple_proxy(
                i_seqs=(p.i_seq, p.j_seq), distance_ideal=p.ideal, weight=weight))
        else:
            proxies.append(geometry_restraints.bond_simple_proxy(
                i_seqs=(p.i_seq, p.j_seq), rt_mx_ji=p.rt_mx_ji,
                distance_ideal=p.ideal, weight=weight))
    return proxies


def restraint_rms_deviation(xray_structure, pairs: Sequence[RestraintPair]) -> Optional[float]:
    """Root-mean-square (distance - ideal) over the pairs, or None if none."""
    if not pairs:
        return None
    total = 0.0
    for p in pairs:
        total += (_pair_distance(xray_structure, p.i_seq, p.j_seq, p.rt_mx_ji) - p.ideal) ** 2
    return math.sqrt(total / len(pairs))
