"""Metal complexes with plausible coordination geometry for synthetic crystals.

A metal centre (Cu, Zn, Ni, Co, Fe, Mn, Pd, Pt, Ag, Cd, Hg, Au, Ru, Cr) gets an
ideal coordination polyhedron (linear, trigonal, tetrahedral, square-planar,
square-pyramidal, octahedral) and its sites are filled by ligands built with
RDKit: monodentate donors (water, ammonia, halides, pyridines (also pyridine-type
N of drug-like MOSES molecules), imidazole, MeCN, DMSO, PPh3, NCS, acetate) along
their lone-pair direction, and chelates (bpy, phen, en, acac, oxalate, glycinate,
picolinate, 8-quinolinolate, dppe) fitted onto cis sites. M-L distances: typical
M-N distance of the metal and geometry plus the difference of covalent radii of
the donor and N, with a little noise. Centrosymmetric complexes (trans pairs of
identical ligands) are built exactly symmetric, so they can sit on inversion centres.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Sequence, Tuple

import numpy as np

from xdxd_cctbx.dataset.elements import COVALENT_RADIUS, VDW_RADIUS, Z_OF
from xdxd_cctbx.dataset.molecules import Molecule, _rdkit, symmetrise

logger = logging.getLogger(__name__)

# metal: (oxidation state, relative frequency, {geometry: weight}, typical M-N distance)
METALS = {
    "Cu2": ("Cu", 2, 6.0, {"square-planar": 0.35, "square-pyramidal": 0.25, "octahedral": 0.3, "tetrahedral": 0.1}, 2.00),
    "Cu1": ("Cu", 1, 1.5, {"tetrahedral": 0.6, "trigonal": 0.3, "linear": 0.1}, 2.03),
    "Zn2": ("Zn", 2, 4.0, {"tetrahedral": 0.6, "octahedral": 0.3, "square-pyramidal": 0.1}, 2.07),
    "Ni2": ("Ni", 2, 3.0, {"octahedral": 0.6, "square-planar": 0.4}, 2.08),
    "Co2": ("Co", 2, 2.0, {"octahedral": 0.6, "tetrahedral": 0.4}, 2.12),
    "Co3": ("Co", 3, 1.5, {"octahedral": 1.0}, 1.95),
    "Fe2": ("Fe", 2, 1.2, {"octahedral": 1.0}, 2.05),
    "Fe3": ("Fe", 3, 1.2, {"octahedral": 1.0}, 2.05),
    "Mn2": ("Mn", 2, 1.5, {"octahedral": 1.0}, 2.24),
    "Pd2": ("Pd", 2, 1.5, {"square-planar": 1.0}, 2.03),
    "Pt2": ("Pt", 2, 1.0, {"square-planar": 1.0}, 2.02),
    "Ag1": ("Ag", 1, 1.5, {"linear": 0.5, "trigonal": 0.2, "tetrahedral": 0.3}, 2.22),
    "Cd2": ("Cd", 2, 1.2, {"octahedral": 0.7, "tetrahedral": 0.3}, 2.32),
    "Hg2": ("Hg", 2, 0.5, {"linear": 0.4, "tetrahedral": 0.6}, 2.25),
    "Au1": ("Au", 1, 0.4, {"linear": 1.0}, 2.05),
    "Ru2": ("Ru", 2, 0.6, {"octahedral": 1.0}, 2.07),
    "Cr3": ("Cr", 3, 0.4, {"octahedral": 1.0}, 2.05),
}

_S3 = np.sqrt(3.0)
GEOMETRIES = {
    "linear": np.array([[0, 0, 1], [0, 0, -1]], dtype=float),
    "trigonal": np.array([[1, 0, 0], [-0.5, _S3 / 2, 0], [-0.5, -_S3 / 2, 0]]),
    "tetrahedral": np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) / _S3,
    "square-planar": np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], dtype=float),
    "square-pyramidal": np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0], [0, 0, 1]], dtype=float),
    "octahedral": np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float),
}
CENTROSYMMETRIC = {"linear", "square-planar", "octahedral"}

# name: (SMILES, charge, weight); the donor is found by element (first atom of MONO_DONOR)
MONODENTATE = {
    "water": ("O", 0, 3.0, "O"), "ammonia": ("N", 0, 0.7, "N"), "chloride": ("[Cl-]", -1, 3.0, "Cl"),
    "bromide": ("[Br-]", -1, 1.0, "Br"), "iodide": ("[I-]", -1, 0.5, "I"),
    "pyridine": ("c1ccncc1", 0, 2.0, "N"), "imidazole": ("c1c[nH]cn1", 0, 1.0, "N"),
    "acetonitrile": ("CC#N", 0, 0.8, "N"), "dmso": ("CS(C)=O", 0, 0.6, "O"),
    "ppho3": ("c1ccc(cc1)P(c1ccccc1)c1ccccc1", 0, 0.8, "P"), "thiocyanate": ("[N-]=C=S", -1, 0.8, "N"),
    "acetate": ("CC(=O)[O-]", -1, 1.0, "O"), "methanol": ("CO", 0, 0.7, "O"),
    "dmf": ("CN(C)C=O", 0, 0.4, "O"), "4-picoline": ("Cc1ccncc1", 0, 0.5, "N"),
}
CHELATES = {  # name: (SMILES, charge, weight, donor elements)
    "bpy": ("c1ccc(nc1)-c1ccccn1", 0, 2.0, "N"), "phen": ("c1cnc2c(c1)ccc1cccnc12", 0, 2.0, "N"),
    "en": ("NCCN", 0, 1.0, "N"), "acac": ("CC(=O)/C=C(/C)[O-]", -1, 1.5, "O"),
    "oxalate": ("[O-]C(=O)C(=O)[O-]", -2, 0.7, "O"), "glycinate": ("NCC(=O)[O-]", -1, 1.0, "NO"),
    "picolinate": ("[O-]C(=O)c1ccccn1", -1, 1.0, "NO"), "quinolinolate": ("[O-]c1cccc2cccnc12", -1, 1.0, "NO"),
    "dppe": ("c1ccc(cc1)P(CCP(c1ccccc1)c1ccccc1)c1ccccc1", 0, 0.5, "P"),
}


def _pick(rng: np.random.Generator, table: dict, index: int) -> str:
    names = list(table)
    w = np.array([table[k][index] for k in names], dtype=float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def _rotation_to(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotation taking unit vector u onto unit vector v."""
    w = np.cross(u, v)
    c = float(np.dot(u, v))
    if np.linalg.norm(w) < 1e-8:
        if c > 0:
            return np.eye(3)
        p = np.cross(u, [1.0, 0, 0] if abs(u[0]) < 0.9 else [0, 1.0, 0])
        p /= np.linalg.norm(p)
        return 2 * np.outer(p, p) - np.eye(3)
    k = np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])
    return np.eye(3) + k + k @ k * (1.0 / (1.0 + c))


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _kabsch(p: np.ndarray, q: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """R, t minimising |R p + t - q|."""
    pc, qc = p.mean(axis=0), q.mean(axis=0)
    h = (p - pc).T @ (q - qc)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1, 1, d]) @ u.T
    return r, qc - r @ pc


class Ligand:
    """An embedded ligand: atoms, donor indices and their lone-pair directions."""

    def __init__(self, smiles: str, z: np.ndarray, xyz: np.ndarray, donors: List[int], charge: int,
                 neighbours: List[List[int]]):
        self.smiles, self.z, self.xyz, self.donors, self.charge = smiles, z, xyz, donors, charge
        self.neighbours = neighbours

    def lone_pair(self, i: int, rng: np.random.Generator) -> np.ndarray:
        nb = self.neighbours[i]
        if not nb:
            v = rng.normal(size=3)
            return v / np.linalg.norm(v)
        s = sum((self.xyz[j] - self.xyz[i]) / np.linalg.norm(self.xyz[j] - self.xyz[i]) for j in nb)
        if np.linalg.norm(s) < 1e-3:  # linear arrangement (e.g. N=C=S): any perpendicular... keep axis
            s = self.xyz[nb[0]] - self.xyz[i]
        return -s / np.linalg.norm(s)


def build_ligand(smiles: str, charge: int, donor_elements: str, rng: np.random.Generator,
                 denticity: int) -> Optional[Ligand]:
    """Embed a ligand (ETKDG, MMFF) and find its donor atom(s); for chelates a syn donor pair."""
    Chem, AllChem = _rdkit()
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    mol = Chem.AddHs(mol)
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int64)
    nbrs = [[n.GetIdx() for n in a.GetNeighbors()] for a in mol.GetAtoms()]
    cand = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() in donor_elements
            and not (a.GetSymbol() == "N" and a.GetTotalNumHs() > 0 and a.GetIsAromatic())
            and not (a.GetSymbol() == "N" and sum(n.GetAtomicNum() > 1 for n in a.GetNeighbors()) >= 3)
            and not (a.GetSymbol() == "S")]
    if len(mol.GetAtoms()) == 1:
        return Ligand(smiles, z, np.zeros((1, 3)), [0], charge, [[]])
    params = AllChem.ETKDGv3()
    params.randomSeed = int(rng.integers(1, 2 ** 31 - 1))
    n_conf = 1 if denticity == 1 else 6
    cids = list(AllChem.EmbedMultipleConfs(mol, numConfs=n_conf, params=params))
    if not cids:
        return None
    try:
        AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=300)
    except Exception:  # noqa: BLE001
        pass
    if denticity == 1:
        if not cand:
            return None
        # carbonyl/sulfoxide O (one neighbour) and pyridine N preferred over amide/ether
        xyz = np.array(mol.GetConformer(cids[0]).GetPositions())
        return Ligand(smiles, z, xyz - xyz[cand[0]], [int(rng.choice(cand))], charge, nbrs)
    topo = Chem.GetDistanceMatrix(mol)
    for cid in cids:
        xyz = np.array(mol.GetConformer(cid).GetPositions())
        best = None
        for a in cand:
            for b in cand:
                if b <= a or topo[a, b] not in (3, 4):
                    continue
                d = np.linalg.norm(xyz[a] - xyz[b])
                if 2.3 < d < 3.3 and (best is None or d < best[0]):
                    best = (d, a, b)
        if best is not None:
            return Ligand(smiles, z, xyz, [best[1], best[2]], charge, nbrs)
    return None


def metal_ligand_distance(d_mn: float, donor_z: int, rng: np.random.Generator) -> float:
    d = d_mn + COVALENT_RADIUS[donor_z] - COVALENT_RADIUS[7]
    if donor_z == 8:
        d -= 0.03
    return float(d + rng.normal(0.0, 0.03))


def _place_mono(lig: Ligand, site: np.ndarray, d: float, rng: np.random.Generator) -> np.ndarray:
    donor = lig.donors[0]
    lp = lig.lone_pair(donor, rng)
    rot = _rotation_to(lp, -site)  # metal lies along the lone pair: donor->metal = -site
    spin = _axis_rotation(site, rng.uniform(0, 2 * np.pi))
    return (spin @ rot @ (lig.xyz - lig.xyz[donor]).T).T + d * site


def _place_chelate(lig: Ligand, sites: Tuple[np.ndarray, np.ndarray], dists: Tuple[float, float],
                   rng: np.random.Generator) -> np.ndarray:
    a, b = lig.donors
    pa, pb = lig.xyz[a], lig.xyz[b]
    mid = 0.5 * (pa + pb)
    u = lig.lone_pair(a, rng) + lig.lone_pair(b, rng)
    ab = (pb - pa) / np.linalg.norm(pb - pa)
    u = u - np.dot(u, ab) * ab
    u /= max(np.linalg.norm(u), 1e-6)
    half = 0.5 * np.linalg.norm(pb - pa)
    h = np.sqrt(max(0.5 * (dists[0] ** 2 + dists[1] ** 2) - half ** 2, 0.25))
    metal = mid + h * u
    r, t = _kabsch(np.array([pa, pb, metal]), np.array([dists[0] * sites[0], dists[1] * sites[1], np.zeros(3)]))
    return lig.xyz @ r.T + t


def _clash(placed: List[np.ndarray], placed_z: List[np.ndarray], xyz: np.ndarray, z: np.ndarray,
           factor: float = 0.75) -> bool:
    for p, pz in zip(placed, placed_z):
        d = np.linalg.norm(p[:, None, :] - xyz[None, :, :], axis=2)
        lim = factor * (VDW_RADIUS[pz][:, None] + VDW_RADIUS[z][None, :])
        if np.any(d < lim):
            return True
    return False


def build_complex(rng: np.random.Generator, pyridine_smiles: Sequence[str] = (),
                  max_tries: int = 6) -> Optional[Molecule]:
    """A random metal complex (a :class:`Molecule` of kind 'complex' with its formal charge)."""
    for _ in range(max_tries):
        m = _try_complex(rng, pyridine_smiles)
        if m is not None:
            return m
    return None


def _choose_mono(rng: np.random.Generator, pyridine_smiles: Sequence[str], n_big: List[int]):
    if pyridine_smiles and n_big[0] < 2 and rng.random() < 0.15:
        n_big[0] += 1
        return str(rng.choice(list(pyridine_smiles))), 0, "N"
    name = _pick(rng, MONODENTATE, 2)
    smi, charge, _, donor = MONODENTATE[name]
    return smi, charge, donor


def _try_complex(rng: np.random.Generator, pyridine_smiles: Sequence[str]) -> Optional[Molecule]:
    key = _pick(rng, METALS, 2)
    symbol, ox, _, geoms, d_mn = METALS[key]
    geom = list(geoms)[int(rng.choice(len(geoms), p=np.array(list(geoms.values())) / sum(geoms.values())))]
    sites = GEOMETRIES[geom] @ _random_rotation(rng).T
    if geom == "square-planar" and symbol == "Ni":
        d_mn = 1.92
    if geom == "tetrahedral":
        d_mn -= 0.05
    centro = geom in CENTROSYMMETRIC and rng.random() < 0.75
    n_sites = len(sites)
    if centro:
        free = list(range(n_sites // 2)) if geom != "octahedral" else [0, 1, 4]
    else:
        free = list(range(n_sites))
    # pairs of cis sites available for chelates (90 degrees apart, both free)
    atoms_xyz: List[np.ndarray] = []
    atoms_z: List[np.ndarray] = []
    smiles: List[str] = []
    charge = ox
    n_big = [0]
    used: set = set()
    if geom != "linear" and geom != "trigonal" and rng.random() < 0.55:
        n_chel = int(rng.integers(1, 3 if geom != "octahedral" else 4))
        for _ in range(n_chel):
            pairs = [(i, j) for i in free for j in free if i < j and i not in used and j not in used
                     and -0.5 < np.dot(sites[i], sites[j]) < 0.5]
            if not pairs:
                break
            i, j = pairs[int(rng.integers(len(pairs)))]
            name = _pick(rng, CHELATES, 2)
            smi, lcharge, _, donors = CHELATES[name]
            lig = build_ligand(smi, lcharge, donors, rng, 2)
            if lig is None:
                continue
            dists = (metal_ligand_distance(d_mn, lig.z[lig.donors[0]], rng),
                     metal_ligand_distance(d_mn, lig.z[lig.donors[1]], rng))
            xyz = _place_chelate(lig, (sites[i], sites[j]), dists, rng)
            if _clash(atoms_xyz, atoms_z, xyz, lig.z):
                continue
            atoms_xyz.append(xyz)
            atoms_z.append(lig.z)
            smiles.append(smi)
            charge += lcharge
            used.update((i, j))
    for i in free:
        if i in used:
            continue
        smi, lcharge, donor = _choose_mono(rng, pyridine_smiles, n_big)
        lig = build_ligand(smi, lcharge, donor, rng, 1)
        if lig is None:
            return None
        d = metal_ligand_distance(d_mn, lig.z[lig.donors[0]], rng)
        if geom == "square-pyramidal" and i == 4 or (symbol == "Cu" and geom == "octahedral" and i >= 4):
            d += rng.uniform(0.2, 0.45)  # apical / Jahn-Teller elongated bonds
        for _ in range(8):
            xyz = _place_mono(lig, sites[i], d, rng)
            if not _clash(atoms_xyz, atoms_z, xyz, lig.z):
                break
        else:
            return None
        atoms_xyz.append(xyz)
        atoms_z.append(lig.z)
        smiles.append(smi)
        charge += lcharge
        used.add(i)
    if centro:
        half_xyz, half_z = list(atoms_xyz), list(atoms_z)
        for xyz, z in zip(half_xyz, half_z):
            image = -xyz
            if _clash(atoms_xyz, atoms_z, image, z):
                return None
            atoms_xyz.append(image)
            atoms_z.append(z)
        smiles = smiles + smiles
        charge = ox + 2 * (charge - ox)
    if abs(charge) > 3:
        return None
    z = np.concatenate([[Z_OF[symbol]]] + atoms_z).astype(np.int64)
    xyz = np.vstack([np.zeros((1, 3))] + atoms_xyz)
    sign = "+" if ox > 0 else "-"
    smi = ".".join([f"[{symbol}{sign}{ox}]"] + smiles)
    mol = Molecule(z, xyz, smi, "complex", int(charge), info={"metal": symbol, "geometry": geom})
    if centro:
        mol = symmetrise(mol, tol=0.05)
        # symmetrise centres on the mean of the atoms, which is the metal for an exact image
    else:
        mol = Molecule(z, xyz - xyz.mean(axis=0), smi, "complex", int(charge), info=dict(mol.info))
    return mol
