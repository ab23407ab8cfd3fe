"""Conformer ensembles and torsion trees of the user's molecules.

One RDKit ETKDG conformer of the right molecule is often not the crystal's
(ring puckers, torsion minima, zwitterion shapes), so the search gets an
ensemble: many ETKDG seeds, each kept as embedded and force-field optimised
(MMFF, else UFF), pruned to a diverse subset by heavy-atom RMSD. Torsion
angles of rotatable bonds are refined against the data later (see
:mod:`.placement`); this module defines them (axis atoms and moving side).

Metal complexes RDKit cannot embed as a whole are embedded split at the
metal-ligand bonds; a single-metal complex is then put back together around
its metal (:mod:`.complex_assembly`), any other stays split: the ligands and
metal atoms become separate rigid bodies ("fragments").
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from xdxd_cctbx.known_molecule.molecules import METALS, MoleculeSpec

logger = logging.getLogger(__name__)


@dataclass
class Torsion:
    """Rotation about bond a-b (indices into the selected atoms) moving ``moving``."""

    a: int
    b: int
    moving: np.ndarray  # int indices of atoms on b's side
    kind: str = "free"  # free | conjugated (planar: 0 or 180 deg) | amide (kept near its value)


def _bond_kind(bond) -> str:
    """'amide' for C(=O)-N / C(=O)-O type bonds, 'conjugated' for other conjugated ones."""
    from rdkit import Chem

    for x, y in ((bond.GetBeginAtom(), bond.GetEndAtom()), (bond.GetEndAtom(), bond.GetBeginAtom())):
        if x.GetSymbol() == "C" and y.GetSymbol() in ("N", "O"):
            for nb in x.GetBonds():
                other = nb.GetOtherAtom(x)
                if nb.GetBondType() == Chem.BondType.DOUBLE and other.GetSymbol() in ("O", "S"):
                    return "amide"
    return "conjugated" if bond.GetIsConjugated() else "free"


def sample_torsion_angles(torsions: List[Torsion], n: int, rng: np.random.Generator,
                          max_changed: float = 3.0) -> np.ndarray:
    """Random torsion changes (n, T) radians: about ``max_changed`` bonds per row.

    Free bonds get any angle, conjugated ones 0 or 180 degrees (plus 20 degrees
    noise), amide-like ones only small changes.
    """
    t = len(torsions)
    out = np.zeros((n, t))
    if t == 0:
        return out
    pick = rng.random((n, t)) < min(1.0, max_changed / t)
    for j, tor in enumerate(torsions):
        if tor.kind == "free":
            vals = rng.uniform(-np.pi, np.pi, n)
        elif tor.kind == "conjugated":
            vals = np.pi * rng.integers(0, 2, n) + rng.normal(0.0, 0.35, n)
        else:
            vals = rng.normal(0.0, 0.15, n)
        out[:, j] = np.where(pick[:, j], vals, 0.0)
    return out


def apply_torsions_np(x: np.ndarray, angles: np.ndarray, torsions: List[Torsion]) -> np.ndarray:
    """Torsion changes applied to coordinates x (n,3) (numpy twin of the torch version)."""
    x = x.copy()
    for ang, tor in zip(angles, torsions):
        if abs(ang) < 1e-9:
            continue
        origin = x[tor.a]
        u = x[tor.b] - origin
        u /= max(np.linalg.norm(u), 1e-9)
        p = x[tor.moving] - origin
        c, s_ = np.cos(ang), np.sin(ang)
        x[tor.moving] = origin + p * c + np.cross(u, p) * s_ + np.outer(p @ u, u) * (1 - c)
    return x


@dataclass
class ConformerSet:
    """Conformers of one rigid body (a whole molecule, or a fragment of one).

    atom_ids: indices of the body's atoms in the RDKit molecule; elements and
    coords (C, n, 3) Cartesian, centred on the first conformer's centroid per
    conformer; bonds: 1-2 pairs and angles: 1-3 pairs (body indexing) with
    their mean distances over the conformers; far_pairs: pairs at least 4
    bonds apart (intramolecular clash check during torsion refinement).
    """

    molecule: str
    atom_ids: np.ndarray
    elements: List[str]
    coords: np.ndarray
    torsions: List[Torsion]
    bonds: List[Tuple[int, int, float]]
    angles: List[Tuple[int, int, float]]
    far_pairs: np.ndarray
    far_min: np.ndarray
    origin: List[str] = field(default_factory=list)
    key: str = ""  # canonical SMILES of the body (identical fragments share it)
    core: Optional[np.ndarray] = None  # rigid core: atoms no torsion moves relative to each other

    @property
    def n_atoms(self) -> int:
        return len(self.elements)

    @property
    def n_conformers(self) -> int:
        return int(self.coords.shape[0])


def _embed(mol, n: int, seed: int, seconds: float, random_coords: bool, plain: bool = False) -> List[int]:
    """Up to n ETKDG conformers added to ``mol``, one seed at a time, within ``seconds``.

    One call per conformer, each with its own time-out: RDKit's time-out on a
    multi-conformer call discards everything, and some complexes never embed.
    ``plain``: distance geometry alone (no torsion preferences or ring knowledge,
    smoothing failures ignored), which embeds metal clusters ETKDG cannot.
    """
    from rdkit.Chem import AllChem

    params = AllChem.ETKDGv3()
    params.numThreads = 1
    params.useRandomCoords = random_coords
    if plain:
        params.useBasicKnowledge = params.useExpTorsionAnglePrefs = False
        params.ignoreSmoothingFailures = True
    params.enforceChirality = True
    params.clearConfs = False
    t_end = time.time() + seconds
    ids: List[int] = []
    n_fail = 0
    for i in range(4 * n):
        left = t_end - time.time()
        if len(ids) >= n or left <= 0 or n_fail >= max(4, 2 * len(ids) + 4):
            break
        params.randomSeed = int(seed) * 7919 + i
        params.timeout = max(1, int(min(left, 10.0)))
        try:
            cid = AllChem.EmbedMolecule(mol, params)
        except RuntimeError as exc:  # RDKit bounds-matrix invariants on odd complexes
            logger.debug("embedding failed: %s", exc)
            return ids
        if cid >= 0:
            ids.append(cid)
        else:
            n_fail += 1
    return ids


def _optimise(mol, conf_ids: List[int], max_iters: int = 400) -> List[int]:
    """Force-field optimised copies of conformers, appended to ``mol``; only the copies
    move (a file's coordinates and idealised metal centres stay as they are)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    use_mmff = AllChem.MMFFHasAllMoleculeParams(mol)
    if not use_mmff and not AllChem.UFFHasAllMoleculeParams(mol):
        return []
    props = AllChem.MMFFGetMoleculeProperties(mol) if use_mmff else None
    new_ids = []
    for cid in conf_ids:
        new_ids.append(mol.AddConformer(Chem.Conformer(mol.GetConformer(cid)), assignId=True))
    try:
        for cid in new_ids:
            ff = (AllChem.MMFFGetMoleculeForceField(mol, props, confId=cid) if use_mmff
                  else AllChem.UFFGetMoleculeForceField(mol, confId=cid))
            ff.Minimize(maxIts=max_iters)
    except (RuntimeError, ValueError, AttributeError) as exc:  # AttributeError: no force field set up
        logger.debug("force-field optimisation failed: %s", exc)
        for cid in new_ids:
            mol.RemoveConformer(cid)
        return []
    return new_ids


def _has_cluster(mol) -> bool:
    from xdxd_cctbx.known_molecule.metal_geometry import cluster_metals

    return bool(cluster_metals(mol))


def _hypervalent_ion(mol) -> bool:
    """Whether the molecule is one hypervalent centre and its terminal ligands (PF6-, ClO6)."""
    from xdxd_cctbx.known_molecule.metal_geometry import hypervalent_sites

    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    return any((sites := hypervalent_sites(mol, i)) is not None and len(sites) + 1 == len(heavy)
               for i in heavy)


def _idealise_metals(mol, conf_ids: List[int], max_confs: int = 8) -> Dict[int, str]:
    """Copies of conformers with regular metal coordination and metal clusters of typical bond
    lengths (see :mod:`.metal_geometry`).

    Returns new conformer id -> origin: "metal" (M-L distances from covalent
    radii, M-M from metallic radii) or "metal-scaled" (the first conformer's
    centres and clusters with those distances scaled by each of ``ML_SCALES``).
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from xdxd_cctbx.known_molecule.metal_geometry import (
        ML_SCALES, cluster_metals, idealise, n_choices, relax_clusters)

    if AllChem.MMFFHasAllMoleculeParams(mol):
        return {}
    clusters = bool(cluster_metals(mol))
    choices = max(n_choices(mol), 1 if clusters else 0)
    new_ids: Dict[int, str] = {}
    for n, cid in enumerate(conf_ids[:max_confs]):
        for choice in range(choices):
            for scale in (1.0,) + (tuple(ML_SCALES) if n == 0 else ()):
                xyz = mol.GetConformer(cid).GetPositions()
                relaxed = relax_clusters(mol, xyz, scale=scale) if clusters else None
                xyz = idealise(mol, xyz if relaxed is None else relaxed, choice, scale=scale)
                xyz = relaxed if xyz is None else xyz
                if xyz is None:
                    continue
                conf = Chem.Conformer(mol.GetNumAtoms())
                for k, p in enumerate(xyz):
                    conf.SetAtomPosition(k, p.tolist())
                conf.Set3D(True)
                new_ids[mol.AddConformer(conf, assignId=True)] = "metal" if scale == 1.0 else "metal-scaled"
    return new_ids


def _kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean(0)
    b = b - b.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    s[-1] *= d
    e = (a * a).sum() + (b * b).sum() - 2 * s.sum()
    return float(np.sqrt(max(e, 0.0) / len(a)))


def select_diverse(coords: np.ndarray, n: int, first: int = 0, threshold: float = 0.15) -> List[int]:
    """Greedy max-min subset (by Kabsch RMSD) of ``coords`` (C, m, 3), starting at ``first``."""
    c = coords.shape[0]
    if c == 0:
        return []
    chosen = [first]
    dmin = np.array([_kabsch_rmsd(coords[first], coords[i]) for i in range(c)])
    while len(chosen) < min(n, c):
        k = int(np.argmax(dmin))
        if dmin[k] < threshold:
            break
        chosen.append(k)
        dmin = np.minimum(dmin, [_kabsch_rmsd(coords[k], coords[i]) for i in range(c)])
    return chosen


def _graph(mol, atoms: np.ndarray):
    """Adjacency (body indexing) of the selected atoms, bond objects kept."""
    index = {int(a): k for k, a in enumerate(atoms)}
    adj = [[] for _ in atoms]
    bonds = []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if i in index and j in index:
            a, b = index[i], index[j]
            adj[a].append(b)
            adj[b].append(a)
            bonds.append((a, b, bond))
    return adj, bonds


def _topological_distances(adj) -> np.ndarray:
    n = len(adj)
    dist = np.full((n, n), 99, dtype=int)
    for s in range(n):
        dist[s, s] = 0
        frontier = [s]
        while frontier:
            nxt = []
            for u in frontier:
                for v in adj[u]:
                    if dist[s, v] > dist[s, u] + 1:
                        dist[s, v] = dist[s, u] + 1
                        nxt.append(v)
            frontier = nxt
    return dist


def _side(adj, start: int, blocked: int) -> List[int]:
    seen = {start, blocked}
    stack = [start]
    out = [start]
    while stack:
        u = stack.pop()
        for v in adj[u]:
            if v not in seen:
                seen.add(v)
                out.append(v)
                stack.append(v)
    return out


def find_torsions(mol, atoms: np.ndarray) -> List[Torsion]:
    """Rotatable bonds among the selected atoms: single or dative (a monodentate ligand on
    its metal), acyclic, both ends branching."""
    from rdkit import Chem

    adj, bonds = _graph(mol, atoms)
    heavy = np.array([mol.GetAtomWithIdx(int(a)).GetAtomicNum() > 1 for a in atoms])
    torsions = []
    for a, b, bond in bonds:
        if bond.IsInRing() or bond.GetBondType() not in (Chem.BondType.SINGLE, Chem.BondType.DATIVE):
            continue
        if not heavy[a] or not heavy[b]:
            continue
        if sum(heavy[v] for v in adj[a]) < 2 or sum(heavy[v] for v in adj[b]) < 2:
            continue
        side_b = _side(adj, b, a)
        side_a = _side(adj, a, b)
        if len(side_a) + len(side_b) != len(atoms):
            continue  # the bond is in a ring of the selected subgraph after all
        if sum(heavy[v] for v in side_b) > sum(heavy[v] for v in side_a):
            a, b, side_b = b, a, side_a
        moving = np.array(sorted(v for v in side_b if v != b), dtype=np.int64)
        if len(moving):
            torsions.append(Torsion(a, b, moving, _bond_kind(bond)))
    return torsions


def _fragments(mol, atoms: np.ndarray) -> List[np.ndarray]:
    adj, _ = _graph(mol, atoms)
    seen = set()
    out = []
    for s in range(len(atoms)):
        if s not in seen:
            comp = _side(adj, s, -1)
            comp = [c for c in comp if c >= 0]
            seen.update(comp)
            out.append(np.array(sorted(comp), dtype=np.int64))
    return out


def _split_at_metals(mol):
    """A copy of ``mol`` without metal-nonmetal bonds (RDKit cannot embed some complexes)."""
    from rdkit import Chem

    rw = Chem.RWMol(mol)
    for bond in list(mol.GetBonds()):
        a, b = bond.GetBeginAtom(), bond.GetEndAtom()
        if (a.GetSymbol() in METALS) != (b.GetSymbol() in METALS) or (
                a.GetSymbol() in METALS and b.GetSymbol() in METALS):
            rw.RemoveBond(a.GetIdx(), b.GetIdx())
            for atom in (a, b):
                atom.SetNoImplicit(True)
    out = rw.GetMol()
    out.UpdatePropertyCache(strict=False)
    Chem.SanitizeMol(out, Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES,
                     catchErrors=True)
    return out


def _assemble(mol, pieces, conf_ids: List[int], seed: int) -> List[int]:
    """Whole-complex conformers added to ``mol`` from embeddings of its ``pieces``
    (see :mod:`.complex_assembly`); [] when the complex is not one that can be assembled."""
    from rdkit import Chem

    from xdxd_cctbx.known_molecule.complex_assembly import assemble
    from xdxd_cctbx.known_molecule.metal_geometry import n_choices

    rng = np.random.default_rng(seed)
    choices = max(1, n_choices(mol))
    new_ids = []
    for k, cid in enumerate(conf_ids):
        xyz = assemble(mol, pieces.GetConformer(cid).GetPositions(), rng, polyhedron_choice=k % choices)
        if xyz is None:
            return []
        conf = Chem.Conformer(mol.GetNumAtoms())
        for i, p in enumerate(xyz):
            conf.SetAtomPosition(i, p.tolist())
        conf.Set3D(True)
        new_ids.append(mol.AddConformer(conf, assignId=True))
    return new_ids


def embed_ensemble(spec: MoleculeSpec, n_conformers: int = 16, seed: int = 0,
                   max_seconds: float = 60.0, include_hydrogens: bool = False) -> List[ConformerSet]:
    """Diverse conformers of ``spec``: one :class:`ConformerSet` per rigid body.

    Usually one body (the whole molecule); metal complexes that RDKit cannot
    embed whole give one body per ligand and per metal atom, except metal
    clusters that plain distance geometry embeds (their bonds are set by
    :func:`.metal_geometry.relax_clusters`).
    """
    from rdkit import Chem

    t0 = time.time()
    mol = Chem.Mol(spec.mol)
    mol.RemoveAllConformers()
    n_embed = max(2 * n_conformers, 8)
    seconds = max(5.0, max_seconds)
    ids = _embed(mol, n_embed, seed, seconds * 0.6, random_coords=False)
    split, assembled = False, []
    if len(ids) < max(1, n_conformers // 4):
        ids += _embed(mol, n_embed - len(ids), seed + 1, max(2.0, t0 + seconds - time.time()),
                      random_coords=True)
    if not ids and _has_cluster(mol):  # its bonds are set right afterwards (relax_clusters)
        ids = _embed(mol, n_embed, seed, max(2.0, t0 + seconds - time.time()), random_coords=True, plain=True)
        if ids:
            logger.info("molecule %s: metal cluster embedded by plain distance geometry", spec.name)
    if not ids and any(a.GetSymbol() in METALS for a in mol.GetAtoms()):
        logger.info("molecule %s: RDKit cannot embed the complex whole; embedding its ligands "
                    "apart", spec.name)
        pieces = _split_at_metals(mol)
        ids = _embed(pieces, n_embed, seed, max(5.0, t0 + 1.5 * seconds - time.time()), random_coords=True)
        assembled = _assemble(mol, pieces, ids, seed)
        if assembled:
            ids = assembled
        else:
            logger.warning("molecule %s: cannot assemble the complex (more than one metal, or an "
                           "unmodelled centre); its ligands and metals become separate rigid bodies",
                           spec.name)
            mol, split = pieces, True
    origin = {cid: ("assembled" if assembled else "etkdg") for cid in ids}
    if spec.coordinates is not None and not split:
        conf = Chem.Conformer(mol.GetNumAtoms())
        for k, p in enumerate(np.asarray(spec.coordinates)):
            conf.SetAtomPosition(k, p.tolist())
        cid = mol.AddConformer(conf, assignId=True)
        origin[cid] = "file"
    for cid in _optimise(mol, list(ids)):
        origin[cid] = "optimised"
    origin.update(_idealise_metals(mol, list(ids)))
    if _hypervalent_ion(mol) and any(tag.startswith("metal") for tag in origin.values()):
        for cid in [c for c, tag in origin.items() if not tag.startswith("metal")]:
            mol.RemoveConformer(cid)  # ETKDG's PF6- and ClO6 are not worth a search
    selected = np.array([a.GetIdx() for a in mol.GetAtoms()
                         if include_hydrogens or a.GetAtomicNum() > 1], dtype=np.int64)
    if len(selected) == 0:
        selected = np.arange(mol.GetNumAtoms(), dtype=np.int64)
    conf_ids = [c.GetId() for c in mol.GetConformers()]
    all_xyz = np.array([mol.GetConformer(c).GetPositions() for c in conf_ids])  # (C, n_all, 3)
    bodies = _fragments(mol, selected) if split else [np.arange(len(selected), dtype=np.int64)]
    sets = []
    preferred = [c for tag in ("file", "metal", "optimised") for c in conf_ids if origin[c] == tag]
    first = conf_ids.index(preferred[0] if preferred else conf_ids[0])
    rng = np.random.default_rng(seed)
    for body in bodies:
        atoms = selected[body]
        xyz = all_xyz[:, atoms, :]
        chosen = select_diverse(xyz, n_conformers, first=first) if len(atoms) > 2 else [first]
        chosen += [i for i, c in enumerate(conf_ids) if origin[c] == "metal-scaled" and i not in chosen]
        kept, tags = xyz[chosen], [origin[conf_ids[c]] for c in chosen]
        extra = _torsion_variants(mol, atoms, kept, max(2, n_conformers // 2), rng)
        if len(extra):
            kept = np.concatenate([kept, extra])
            tags += ["torsions"] * len(extra)
        sets.append(_conformer_set(spec, mol, atoms, kept, tags))
    logger.info("molecule %s: %d conformers kept of %d (%d bodies, %d torsions) in %.1f s",
                spec.name, sets[0].n_conformers, len(conf_ids), len(sets),
                sum(len(s.torsions) for s in sets), time.time() - t0)
    return sets


def _torsion_variants(mol, atoms: np.ndarray, confs: np.ndarray, n: int, rng: np.random.Generator,
                      min_contact: float = 2.9, n_tries: int = 40) -> np.ndarray:
    """Up to n clash-free, diverse conformers with randomised torsions (from ``confs``).

    ETKDG and force fields favour gas-phase shapes (folded chains, salt bridges
    in zwitterions); crystals often hold extended ones.
    """
    torsions = [t for t in find_torsions(mol, atoms) if t.kind != "amide"]
    if not torsions or len(atoms) < 4:
        return np.zeros((0, len(atoms), 3))
    adj, _ = _graph(mol, atoms)
    far = np.argwhere(np.triu(_topological_distances(adj) >= 4, 1))
    if not len(far):
        return np.zeros((0, len(atoms), 3))
    limit = np.minimum(min_contact, np.min(np.linalg.norm(
        confs[:, far[:, 0]] - confs[:, far[:, 1]], axis=-1), axis=0) - 0.1)
    pool = []
    angles = sample_torsion_angles(torsions, n * n_tries, rng, max_changed=len(torsions))
    for i in range(n * n_tries):
        x = apply_torsions_np(confs[i % len(confs)], angles[i], torsions)
        if np.all(np.linalg.norm(x[far[:, 0]] - x[far[:, 1]], axis=-1) >= limit):
            pool.append(x - x.mean(0))
        if len(pool) >= 4 * n:
            break
    if not pool:
        return np.zeros((0, len(atoms), 3))
    pool = np.array(pool)
    chosen = select_diverse(pool, n, first=0, threshold=0.3)
    return pool[chosen]


def _conformer_set(spec, mol, atoms: np.ndarray, xyz: np.ndarray, origin: List[str]) -> ConformerSet:
    adj, bonds = _graph(mol, atoms)
    centred = xyz - xyz.mean(1, keepdims=True)
    dist = np.linalg.norm(centred[:, :, None, :] - centred[:, None, :, :], axis=-1)  # (C, n, n)
    good = [i for i, o in enumerate(origin) if o in ("optimised", "file", "metal")] or list(range(len(origin)))
    mean_d = dist[good].mean(0)  # restraint targets from force-field geometry where there is one
    topo = _topological_distances(adj)
    bond_list = [(a, b, float(mean_d[a, b])) for a, b, _ in bonds]
    angle_list = []
    n = len(atoms)
    is_metal = [mol.GetAtomWithIdx(int(a)).GetSymbol() in METALS for a in atoms]
    for i in range(n):
        for j in range(i + 1, n):
            if topo[i, j] == 2 and not all(is_metal[c] for c in set(adj[i]) & set(adj[j])):
                angle_list.append((i, j, float(mean_d[i, j])))  # not across a metal centre
    from rdkit import Chem

    try:
        key = Chem.MolFragmentToSmiles(mol, atomsToUse=[int(a) for a in atoms], canonical=True)
    except Exception:  # noqa: BLE001 - a label only
        key = ".".join(sorted(mol.GetAtomWithIdx(int(a)).GetSymbol() for a in atoms))
    far = np.argwhere(np.triu(topo >= 4, 1))
    far_min = dist.min(0)[far[:, 0], far[:, 1]] if len(far) else np.zeros(0)
    torsions = find_torsions(mol, atoms)
    return ConformerSet(
        molecule=spec.name, atom_ids=atoms,
        elements=[mol.GetAtomWithIdx(int(a)).GetSymbol() for a in atoms],
        coords=centred, torsions=torsions, bonds=bond_list, angles=angle_list,
        far_pairs=far.astype(np.int64), far_min=np.asarray(far_min, dtype=np.float64), origin=origin,
        key=key, core=rigid_core(mol, atoms, adj, torsions),
    )


def rigid_core(mol, atoms: np.ndarray, adj, torsions: List[Torsion]) -> np.ndarray:
    """Atoms of the strongest-scattering part that no torsion moves internally."""
    cut = {(t.a, t.b) for t in torsions} | {(t.b, t.a) for t in torsions}
    n = len(atoms)
    seen = np.full(n, -1)
    best, best_power = np.arange(n), -1.0
    for s in range(n):
        if seen[s] >= 0:
            continue
        comp, stack = [s], [s]
        seen[s] = s
        while stack:
            u = stack.pop()
            for v in adj[u]:
                if seen[v] < 0 and (u, v) not in cut:
                    seen[v] = s
                    comp.append(v)
                    stack.append(v)
        comp += sorted({v for u in comp for v in adj[u] if (u, v) in cut} - set(comp))  # axis atoms
        power = sum(mol.GetAtomWithIdx(int(atoms[i])).GetAtomicNum() ** 2 for i in comp)
        if power > best_power:
            best, best_power = np.array(sorted(comp), dtype=np.int64), power
    return best
