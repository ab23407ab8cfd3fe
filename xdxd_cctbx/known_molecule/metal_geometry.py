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

A hapto ligand (carbon donors bonded to each other) is one coordination site
spanning one vertex (eta2), two (eta3, eta4) or three (eta5, eta6): its
centre sits on the mean direction of its vertices, every ring atom at the M-C
radii sum (piano stools and sandwiches come out octahedral). Centres bonded to
another metal, or spanning more than six vertices, are left as embedded.

Hypervalent main-group ions (PF6-, SbF6-, SiF6 2-, and the ClO6 that a
perchlorate disordered over two orientations turns into) come out of ETKDG
with X-Y from 0.8 to 7 A and F-P-F angles of 30 degrees. A non-metal centre
with five or six terminal ligands is treated as a metal centre here, with
X-Y distances from typical bond lengths (``MAIN_GROUP_DISTANCES``).

Metal clusters (metals bonded to each other) are left far off by ETKDG too:
the W6 octahedron of W6S8(NH2Me)6 (COD 1004000) comes out with W-W 3.3-3.6 A
(2.65 in the crystal) and W-S from 1.97 to 2.95 A. :func:`relax_clusters`
moves all atoms towards M-M bonds of the metallic radii sum
(``METALLIC_RADII``) and M-L bonds of the covalent radii sum, both times the
same scale, keeping the other bonds and the 1-3 distances not ending on a
cluster metal, and pushing apart atoms three or more bonds apart and the
ligands of one cluster metal; the first conformer also gets copies at each
of ``ML_SCALES``.
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


# typical X-Y bond lengths (A) of hypervalent ions; other pairs take 0.9 x the covalent radii sum
MAIN_GROUP_DISTANCES = {("Cl", "O"): 1.43, ("Br", "O"): 1.61, ("I", "O"): 1.85, ("P", "F"): 1.59,
                        ("As", "F"): 1.71, ("Sb", "F"): 1.88, ("Si", "F"): 1.68, ("S", "F"): 1.56,
                        ("Ge", "F"): 1.78, ("Se", "F"): 1.70, ("Te", "F"): 1.84, ("P", "Cl"): 2.12}


# metallic radii (A, 12-coordination) for M-M bond lengths; other metals take their covalent radius
METALLIC_RADII = {"Ti": 1.47, "V": 1.35, "Cr": 1.29, "Mn": 1.37, "Fe": 1.26, "Co": 1.25, "Ni": 1.25,
                  "Cu": 1.28, "Zn": 1.37, "Zr": 1.60, "Nb": 1.47, "Mo": 1.40, "Tc": 1.35, "Ru": 1.34,
                  "Rh": 1.34, "Pd": 1.37, "Ag": 1.44, "Cd": 1.52, "Hf": 1.59, "Ta": 1.47, "W": 1.41,
                  "Re": 1.37, "Os": 1.35, "Ir": 1.36, "Pt": 1.39, "Au": 1.44, "Hg": 1.55}


def span(site: List[int]) -> int:
    """Polyhedron vertices a coordination site takes: 1 for a donor atom or a
    2-atom hapto group (alkene, alkyne), 2 for eta3/eta4, 3 for eta5/eta6 rings."""
    return 1 if len(site) <= 2 else 2 if len(site) <= 4 else 3


def bonded_groups(mol, atoms) -> List[List[int]]:
    """Connected parts of the bond graph of ``mol`` restricted to ``atoms`` (each sorted,
    in order of their first atom)."""
    left, out = set(atoms), []
    while left:
        group, todo = [], [min(left)]
        left.discard(todo[0])
        while todo:
            a = todo.pop()
            group.append(a)
            for n in mol.GetAtomWithIdx(a).GetNeighbors():
                if n.GetIdx() in left:
                    left.discard(n.GetIdx())
                    todo.append(n.GetIdx())
        out.append(sorted(group))
    return out


def proper_rotation(h: np.ndarray) -> np.ndarray:
    """The proper rotation R best taking points p onto q (R p ~ q; Kabsch), from h = sum over pairs of p q^T."""
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def coordination_sites(mol, metal: int) -> Optional[List[List[int]]]:
    """Donor atoms of ``metal`` grouped into sites, or None when the centre is not modelled.

    A site is one donor atom or a hapto group (carbon donors bonded to each
    other). Donors bonded to each other that are not all carbon (a chelating
    carbonate drawn with an M-C bond) count as separate donor atoms, their
    carbons dropped. Centres bonded to another metal, or taking more than six
    vertices, are not modelled.
    """
    atom = mol.GetAtomWithIdx(metal)
    donors = [n.GetIdx() for n in atom.GetNeighbors() if n.GetAtomicNum() > 1]
    if any(mol.GetAtomWithIdx(d).GetSymbol() in METALS for d in donors):
        return None
    sites = []
    for group in bonded_groups(mol, donors):
        if len(group) > 1 and any(mol.GetAtomWithIdx(a).GetSymbol() != "C" for a in group):
            sites += [[a] for a in sorted(group) if mol.GetAtomWithIdx(a).GetSymbol() != "C"]
        else:
            sites.append(sorted(group))
    if not 2 <= sum(span(s) for s in sites) <= 6:
        return None
    return sites


def hypervalent_sites(mol, centre: int) -> Optional[List[List[int]]]:
    """One site per ligand of a non-metal with five or six terminal non-H ligands, else None."""
    atom = mol.GetAtomWithIdx(centre)
    if atom.GetSymbol() in METALS or atom.GetAtomicNum() <= 2:
        return None
    ligands = list(atom.GetNeighbors())
    if not 5 <= len(ligands) <= 6 or any(n.GetDegree() != 1 or n.GetAtomicNum() == 1 for n in ligands):
        return None
    return [[n.GetIdx()] for n in ligands]


def metal_centres(mol) -> List[Tuple[int, List[List[int]]]]:
    """(centre atom index, coordination sites) for the metals modelled (see
    :func:`coordination_sites`) and the hypervalent centres (:func:`hypervalent_sites`)."""
    out = []
    for atom in mol.GetAtoms():
        if atom.GetSymbol() in METALS:
            sites = coordination_sites(mol, atom.GetIdx())
        else:
            sites = hypervalent_sites(mol, atom.GetIdx())
        if sites is not None:
            out.append((atom.GetIdx(), sites))
    return out


def site_directions(vertices: np.ndarray, spans: List[int]) -> List[np.ndarray]:
    """Every way (up to permutation within a site) to give each site ``span`` adjacent
    vertices: unit directions (n_sites, 3), the mean of each site's vertices."""
    out, seen = [], set()
    for perm in itertools.permutations(range(len(vertices))):
        chunks, k = [], 0
        for s in spans:
            chunks.append(tuple(sorted(perm[k:k + s])))
            k += s
        key = tuple(chunks)
        if key in seen:
            continue
        seen.add(key)
        if any(vertices[a] @ vertices[b] < -0.6 for c in chunks for a, b in itertools.combinations(c, 2)):
            continue  # a hapto group spans neighbouring vertices, never trans ones
        dirs = np.array([vertices[list(c)].mean(0) for c in chunks])
        out.append(dirs / np.linalg.norm(dirs, axis=1, keepdims=True))
    return out


def _best_assignment(directions: np.ndarray, vertices: np.ndarray, spans: List[int]) -> np.ndarray:
    """Site directions of the polyhedron rotated onto the current ones (k,3), best assignment."""
    best, best_err = None, None
    weights = np.array(spans, dtype=float)[:, None]
    for v in site_directions(vertices, spans):
        rot = proper_rotation((v * weights).T @ directions)
        fitted = v @ rot.T
        err = float((weights * (fitted - directions) ** 2).sum())
        if best_err is None or err < best_err:
            best, best_err = fitted, err
    return best


def site_distances(mol, coords: np.ndarray, metal: int, site: List[int], scale: float = 1.0):
    """(M-donor distance, M-to-site-centre distance) targets of a site.

    M-donor: ``scale`` times the covalent radii sum (for a hypervalent centre
    the typical bond length); a hapto group's centre lies where every group
    atom is at that distance from the metal.
    """
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    pair = (mol.GetAtomWithIdx(metal).GetSymbol(), mol.GetAtomWithIdx(site[0]).GetSymbol())
    bond = table.GetRcovalent(pair[0]) + table.GetRcovalent(pair[1])
    if pair[0] not in METALS:
        bond = MAIN_GROUP_DISTANCES.get(pair, 0.9 * bond)
    d = scale * bond
    if len(site) == 1:
        return d, d
    x = coords[site]
    radius = float(np.linalg.norm(x - x.mean(0), axis=1).mean())
    return d, math.sqrt(max(d * d - radius * radius, 0.25 * d * d))


def _pairs(mol, centres: set):
    """Bonds, 1-3 pairs (not through a metal or an idealised centre) and pairs >= 3 bonds apart."""
    from rdkit import Chem

    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    dist = Chem.GetDistanceMatrix(mol)
    angles = []
    for atom in mol.GetAtoms():
        if atom.GetSymbol() in METALS or atom.GetIdx() in centres:
            continue
        nbs = [x.GetIdx() for x in atom.GetNeighbors()]
        angles += list(itertools.combinations(nbs, 2))
    far = np.argwhere(np.triu(dist >= 3, 1))
    return np.array(bonds, dtype=np.int64).reshape(-1, 2), np.array(angles, dtype=np.int64).reshape(-1, 2), far


def _lengths(x: torch.Tensor, pairs) -> torch.Tensor:
    """Distances of the atom pairs (m,2) in coordinates x (n,3)."""
    return (x[pairs[:, 0]] - x[pairs[:, 1]]).norm(dim=1)


def _off(x: torch.Tensor, pairs, targets: torch.Tensor, weight: float) -> torch.Tensor:
    """weight * sum of squared deviations of the pairs' distances from their targets."""
    return (_lengths(x, pairs) - targets).pow(2).sum() * weight


def _repulsion(x: torch.Tensor, pairs, closest: float = 2.9) -> torch.Tensor:
    """Sum of squared shortfalls of the pairs' distances below ``closest`` (A)."""
    return torch.relu(closest - _lengths(x, pairs)).pow(2).sum()


def _minimise(x0: torch.Tensor, energy, steps: int) -> np.ndarray:
    """Coordinates after Adam on all of them against energy(x): learning rate 0.05, then 0.01
    after half the steps."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    for step in range(steps):
        opt.zero_grad()
        energy(x).backward()
        opt.step()
        if step == steps // 2:
            for g in opt.param_groups:
                g["lr"] = 0.01
    return x.detach().numpy()


def cluster_metals(mol) -> List[int]:
    """Indices of the metals bonded to another metal."""
    return [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() in METALS
            and any(n.GetSymbol() in METALS for n in a.GetNeighbors())]


def cluster_bond_length(mol, i: int, j: int) -> float:
    """Target length of a bond of a cluster metal: the metallic radii sum for M-M, else the covalent one."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    a, b = mol.GetAtomWithIdx(i).GetSymbol(), mol.GetAtomWithIdx(j).GetSymbol()
    if a in METALS and b in METALS:
        return METALLIC_RADII.get(a, table.GetRcovalent(a)) + METALLIC_RADII.get(b, table.GetRcovalent(b))
    return table.GetRcovalent(a) + table.GetRcovalent(b)


def relax_clusters(mol, coords: np.ndarray, scale: float = 1.0, steps: int = 400) -> Optional[np.ndarray]:
    """Coordinates (n,3) with the metal clusters' bonds at ``scale`` times their typical lengths
    (:func:`cluster_bond_length`), or None when the molecule has no metal-metal bond."""
    from rdkit import Chem

    cluster = set(cluster_metals(mol))
    if not cluster:
        return None
    bonds, angles, far = _pairs(mol, cluster)
    on_cluster = np.array([i in cluster or j in cluster for i, j in bonds], dtype=bool)
    target = torch.tensor([scale * cluster_bond_length(mol, int(i), int(j)) for i, j in bonds[on_cluster]],
                          dtype=torch.float64)
    cb, bonds = bonds[on_cluster], bonds[~on_cluster]
    in_cluster = np.array([a.GetIdx() in cluster for a in mol.GetAtoms()])
    angles = angles[~(in_cluster[angles[:, 0]] | in_cluster[angles[:, 1]])]  # M-X-M' and M-X-Y free
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    dist = Chem.GetDistanceMatrix(mol)
    around = [(p, q) for m in cluster for p, q in itertools.combinations(
        [n.GetIdx() for n in mol.GetAtomWithIdx(m).GetNeighbors()], 2) if dist[p, q] == 2]
    apart = np.concatenate([far, np.array(around, dtype=np.int64).reshape(-1, 2)])
    apart = apart[heavy[apart[:, 0]] & heavy[apart[:, 1]]]
    x0 = torch.tensor(coords, dtype=torch.float64)
    b0, a0 = _lengths(x0, bonds), _lengths(x0, angles)

    def energy(x):
        e = _off(x, cb, target, 10.0)
        e = e + _off(x, bonds, b0, 10.0)
        e = e + _off(x, angles, a0, 3.0)
        if len(apart):
            e = e + _repulsion(x, apart)
        return e
    out = _minimise(x0, energy, steps)
    err = float(np.abs(np.linalg.norm(out[cb[:, 0]] - out[cb[:, 1]], axis=1) - target.numpy()).max())
    logger.debug("metal clusters relaxed (scale %.2f): worst bond off by %.2f A", scale, err)
    return out


def idealise(mol, coords: np.ndarray, polyhedron_choice: int = 0, steps: int = 300,
             scale: float = 1.0) -> Optional[np.ndarray]:
    """Coordinates (n,3) of all atoms with regular metal centres, or None if nothing to do.

    scale: M-L distances are ``scale`` times the sum of covalent radii.
    """
    centres = metal_centres(mol)
    if not centres:
        return None
    targets_m, targets_g, targets_v, hapto_m, hapto_a, hapto_d = [], [], [], [], [], []
    for m, sites in centres:
        spans = [span(site) for site in sites]
        options = POLYHEDRA[sum(spans)]
        name, vertices = options[min(polyhedron_choice, len(options) - 1)]
        dirs = np.array([coords[site].mean(0) for site in sites]) - coords[m]
        dirs /= np.maximum(np.linalg.norm(dirs, axis=1, keepdims=True), 1e-6)
        fitted = _best_assignment(dirs, vertices, spans)
        for site, v in zip(sites, fitted):
            d_atom, d_centre = site_distances(mol, coords, m, site, scale)
            targets_m.append(m)
            targets_g.append(site)
            targets_v.append(v * d_centre)
            if len(site) > 1:
                hapto_m += [m] * len(site)
                hapto_a += site
                hapto_d += [d_atom] * len(site)
    # site centres as a (n_sites, n_atoms) averaging matrix
    centre_mx = torch.zeros(len(targets_g), len(coords), dtype=torch.float64)
    for k, site in enumerate(targets_g):
        centre_mx[k, site] = 1.0 / len(site)
    bonds, angles, far = _pairs(mol, set(targets_m))
    cluster = set(cluster_metals(mol))  # their bonds keep the lengths given (relax_clusters)
    metal = np.array([(a.GetSymbol() in METALS and a.GetIdx() not in cluster) or a.GetIdx() in targets_m
                      for a in mol.GetAtoms()])
    keep_b = ~(metal[bonds[:, 0]] | metal[bonds[:, 1]]) if len(bonds) else np.zeros(0, bool)
    bonds = bonds[keep_b]
    x0 = torch.tensor(coords, dtype=torch.float64)
    b0, a0 = _lengths(x0, bonds), _lengths(x0, angles)
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    far = far[heavy[far[:, 0]] & heavy[far[:, 1]]]
    tm = torch.tensor(targets_m)
    tv = torch.tensor(np.array(targets_v))
    hapto = torch.stack([torch.tensor(hapto_a, dtype=torch.long), torch.tensor(hapto_m, dtype=torch.long)], 1)
    hd = torch.tensor(hapto_d, dtype=torch.float64)

    def energy(x):
        e = _off(x, bonds, b0, 10.0)
        e = e + _off(x, angles, a0, 3.0)
        e = e + (centre_mx @ x - x[tm] - tv).pow(2).sum() * 10.0
        if len(hapto):
            e = e + _off(x, hapto, hd, 10.0)
        if len(far):
            e = e + _repulsion(x, far)
        return e
    out = _minimise(x0, energy, steps)
    err = float(np.linalg.norm(centre_mx.numpy() @ out - out[targets_m] - np.array(targets_v), axis=1).max())
    logger.debug("metal centres idealised (choice %d): worst site off its place by %.2f A", polyhedron_choice, err)
    return out


def n_choices(mol) -> int:
    """How many polyhedron variants the metal centres admit (1 or 2)."""
    return max([len(POLYHEDRA[sum(span(s) for s in sites)]) for _, sites in metal_centres(mol)] or [0])
