"""Build a synthetic crystal-structure dataset: compositions, packing, shards; parallel and resumable.

Every shard ``i`` is generated from its own random stream ``default_rng([seed, i])`` and
the molecule pools (drawn once from ``seed``), so the output does not depend on ``nproc``
or on the order in which shards finish, and a rerun skips the shards already written.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from xdxd_cctbx.dataset import molecules as mols
from xdxd_cctbx.dataset.elements import IS_METAL
from xdxd_cctbx.dataset.metal_complexes import build_complex
from xdxd_cctbx.dataset.packing import Placement, asu_atoms, pack
from xdxd_cctbx.dataset.shards import CrystalRecord, list_shards, shard_path, write_shard
from xdxd_cctbx.dataset.space_groups import sample_space_group, special_sites

logger = logging.getLogger(__name__)

master_phil_str = """
n_structures = 1000
  .type = int
  .help = "Number of structures to build (rounded up to whole shards)"
shard_size = 500
  .type = int
  .help = "Structures per shard file"
seed = 0
  .type = int
  .help = "Random seed: the same seed gives the same shards"
nproc = 1
  .type = int
  .help = "Worker processes"
sources {
  moses = None
    .type = path
    .help = "MOSES: the molsets wheel (.whl) or package folder; default: the installed package"
  qm9 = None
    .type = path
    .help = "QM9: the qm9pack wheel (.whl) or package folder; default: the installed package (None found: no QM9)"
  moses_pool = 200000
    .type = int
    .help = "SMILES drawn from MOSES for the build"
  qm9_pool = 30000
    .type = int
    .help = "QM9 molecules drawn for the build"
}
composition {
  organic = 0.33
    .type = float
    .help = "Weight of neutral drug-like organic molecules (MOSES)"
  qm9 = 0.12
    .type = float
    .help = "Weight of small QM9 molecules"
  salt = 0.08
    .type = float
    .help = "Weight of organic salts (protonated amine + anion)"
  complex = 0.37
    .type = float
    .help = "Weight of metal complexes (with counter-ions when charged)"
  organic_heavy = 0.10
    .type = float
    .help = "Weight of organics with a Br/I substituent"
  z_prime_2 = 0.08
    .type = float
    .help = "Probability of two independent molecules (different conformers) for organics"
  solvent = 0.25
    .type = float
    .help = "Probability of a solvent molecule in the asymmetric unit"
  special_position = 0.9
    .type = float
    .help = "Probability of putting a symmetric molecule on an inversion centre / 2-fold axis when the group has one"
  conformers_per_molecule = 4
    .type = int
    .help = "Conformers generated per organic molecule (each used in one crystal)"
}
packing {
  contact_min = 0.805
    .type = float
    .help = "Packing squeezes until the shortest contact is this fraction of the vdW sum (lower bound of a random value)"
  contact_max = 0.88
    .type = float
  volume_factor = 0.95
    .type = float
    .help = "Mean target volume / sum of atomic volumes (Hofmann volumes are for room temperature)"
  volume_factor_sd = 0.05
    .type = float
    .help = "Spread of the target volume around the sum of atomic volumes"
  max_excess = 0.12
    .type = float
    .help = "Reject a packing whose volume stays above (1 + max_excess) x target"
}
"""


@dataclass
class BuildParams:
    """Plain-python view of the PHIL parameters (also usable from scripts)."""

    n_structures: int = 1000
    shard_size: int = 500
    seed: int = 0
    nproc: int = 1
    moses: Optional[str] = None
    qm9: Optional[str] = None
    moses_pool: int = 200000
    qm9_pool: int = 30000
    weights: Dict[str, float] = field(default_factory=lambda: dict(
        organic=0.33, qm9=0.12, salt=0.08, complex=0.37, organic_heavy=0.10))
    z_prime_2: float = 0.08
    solvent: float = 0.25
    special_position: float = 0.9
    conformers_per_molecule: int = 4
    contact_min: float = 0.805
    contact_max: float = 0.88
    volume_factor_sd: float = 0.05
    volume_factor: float = 0.95
    max_excess: float = 0.12

    @classmethod
    def from_phil(cls, p) -> "BuildParams":
        c, k = p.composition, p.packing
        return cls(n_structures=p.n_structures, shard_size=p.shard_size, seed=p.seed, nproc=p.nproc,
                   moses=p.sources.moses, qm9=p.sources.qm9, moses_pool=p.sources.moses_pool,
                   qm9_pool=p.sources.qm9_pool,
                   weights=dict(organic=c.organic, qm9=c.qm9, salt=c.salt, complex=c.complex,
                                organic_heavy=c.organic_heavy),
                   z_prime_2=c.z_prime_2, solvent=c.solvent, special_position=c.special_position,
                   conformers_per_molecule=c.conformers_per_molecule, contact_min=k.contact_min,
                   contact_max=k.contact_max, volume_factor_sd=k.volume_factor_sd, volume_factor=k.volume_factor,
                   max_excess=k.max_excess)


@dataclass
class Pools:
    moses: List[str]
    qm9: List[Tuple[str, np.ndarray, np.ndarray]]


def load_pools(params: BuildParams) -> Pools:
    """Molecule pools drawn once from the seed (QM9 is optional: skipped with a warning when absent)."""
    rng = np.random.default_rng([params.seed, 7919])
    moses = mols.load_moses_smiles(params.moses_pool, rng, params.moses)
    try:
        qm9 = mols.load_qm9(params.qm9_pool, rng, params.qm9) if params.weights.get("qm9", 0) > 0 else []
    except FileNotFoundError as e:
        logger.warning("%s: building without QM9", e)
        qm9 = []
    return Pools(moses, qm9)


class _ShardBuilder:
    """Generates the structures of one shard from its random stream."""

    def __init__(self, params: BuildParams, pools: Pools, rng: np.random.Generator):
        self.p, self.pools, self.rng = params, pools, rng
        self._queue: Dict[str, List[mols.Molecule]] = {"organic": [], "organic_heavy": [], "salt": []}
        self._ligands = [s for s in (pools.moses[int(i)] for i in rng.integers(0, len(pools.moses), 200))
                         if "n" in s.replace("[nH]", "")][:40]

    # -------------------------------------------------------- molecules
    def _organic(self, recipe: str, n: int = 1) -> List[mols.Molecule]:
        """``n`` conformers of one molecule (taken from the queue of prepared conformers)."""
        q = self._queue[recipe]
        for _ in range(20):
            if len(q) >= n:
                break
            smi = self.pools.moses[int(self.rng.integers(len(self.pools.moses)))]
            mol, smi2 = mols.prepare_mol(smi, self.rng, heavy_substituent=1.0 if recipe == "organic_heavy" else 0.0,
                                         protonate=recipe == "salt")
            if mol is None:
                continue
            confs = mols.conformers(mol, smi2, self.p.conformers_per_molecule, self.rng)
            if n > 1 and len(confs) >= n:
                return confs[:n]
            q.extend(confs)
        if len(q) < n:
            return []
        out = [q.pop() for _ in range(n)]
        return out if len({m.smiles for m in out}) == 1 else out[:1]

    def _qm9(self, n: int = 1) -> List[mols.Molecule]:
        if not self.pools.qm9:
            return self._organic("organic", n)
        smi, z, xyz = self.pools.qm9[int(self.rng.integers(len(self.pools.qm9)))]
        out = []
        if self.rng.random() < 0.5:
            out.append(mols.qm9_molecule(smi, z, xyz))
        if len(out) < n:
            mol, smi2 = mols.prepare_mol(smi, self.rng)
            if mol is not None:
                out.extend(mols.conformers(mol, smi, n - len(out), self.rng, kind="qm9"))
        return out[:n]

    def composition(self) -> Tuple[str, List[mols.Molecule]]:
        w = self.p.weights
        names = list(w)
        prob = np.array([w[k] for k in names], dtype=float)
        recipe = names[int(self.rng.choice(len(names), p=prob / prob.sum()))]
        zp2 = self.rng.random() < self.p.z_prime_2
        if recipe in ("organic", "organic_heavy"):
            found = self._organic(recipe, 2 if zp2 else 1)
        elif recipe == "qm9":
            found = self._qm9(2 if zp2 else 1)
        elif recipe == "salt":
            found = self._organic("salt", 1)
            if found:
                found.append(mols.random_anion(self.rng))
        else:
            cx = build_complex(self.rng, self._ligands)
            found = [cx] if cx is not None else []
            if cx is not None and cx.charge != 0:
                found += self._counter_ions(cx.charge)
        if found and self.rng.random() < self.p.solvent:
            solv = mols.random_solvent(self.rng)
            if solv is not None:
                found.append(solv)
        return recipe, [m for m in found if m is not None]

    def _counter_ions(self, charge: int) -> List[mols.Molecule]:
        if charge > 0:
            return [mols.random_anion(self.rng) for _ in range(charge)]
        out = []
        for _ in range(-charge):
            c = mols.random_cation(self.rng)
            if c is not None:
                out.append(c)
        return out

    # -------------------------------------------------------- placement
    def placements(self, found: List[mols.Molecule]):
        """Space group and sites: a symmetric main molecule (even charge) on an inversion centre
        or 2-fold axis (then half its counter-ions), a symmetric neutral solvent on another site."""
        sg = sample_space_group(self.rng)
        sites = list(special_sites(sg.sg_id))
        main = found[0]
        out = [Placement(m) for m in found]
        used = []
        if main.symmetry is not None and sites and self.rng.random() < self.p.special_position:
            match = [s for s in sites if s.kind == main.symmetry]
            rest_charge = sum(m.charge for m in found[1:])
            if match and main.charge % 2 == 0 and (rest_charge == 0 or main.kind == "complex"):
                site = match[int(self.rng.integers(len(match)))]
                used.append(site)
                ions = [m for m in found[1:] if m.kind == "ion"]
                others = [m for m in found[1:] if m.kind != "ion"]
                out = ([Placement(main, site)] + [Placement(m) for m in ions[:len(ions) // 2]]
                       + [Placement(m) for m in others])
        for k, p in enumerate(out):
            m = p.molecule
            if k == 0 or m.kind != "solvent" or m.symmetry is None or self.rng.random() > self.p.special_position:
                continue
            free = [s for s in sites if s.kind == m.symmetry and all(s is not u for u in used)]
            if free:
                site = free[int(self.rng.integers(len(free)))]
                used.append(site)
                out[k] = Placement(m, site)
        return sg, out

    def structure(self) -> Optional[CrystalRecord]:
        recipe, found = self.composition()
        if not found:
            return None
        sg, placements = self.placements(found)
        if sum(len(p.molecule.z) for p in placements) > 255:
            return None
        contact = self.rng.uniform(self.p.contact_min, self.p.contact_max)
        factor = float(np.clip(self.rng.normal(self.p.volume_factor, self.p.volume_factor_sd), 0.85, 1.2))
        crystal = pack(sg, placements, self.rng, volume_factor=factor, contact=contact,
                       max_excess=self.p.max_excess)
        if crystal is None:
            return None
        z, frac, mol_id, mult, special = asu_atoms(crystal)
        base = self.rng.uniform(0.015, 0.05)
        uiso = base * np.clip(1 + 0.25 * self.rng.normal(size=len(z)), 0.5, 1.8)
        uiso = np.where(z == 1, 1.3 * base, np.where(IS_METAL[z], 0.8 * uiso, uiso))
        smiles = ".".join(("1/2*" if p.site is not None else "") + p.molecule.smiles for p in placements)
        return CrystalRecord(np.array(crystal.cell), sg.sg_id, z, frac, uiso, mol_id, mult, special, smiles,
                             recipe, crystal.min_contact_ratio, crystal.target_volume)


def build_shard(params: BuildParams, pools: Pools, index: int, size: int) -> List[CrystalRecord]:
    """The ``size`` structures of shard ``index`` (deterministic for ``params.seed``)."""
    rng = np.random.default_rng([params.seed, index])
    builder = _ShardBuilder(params, pools, rng)
    out: List[CrystalRecord] = []
    failures = 0
    while len(out) < size:
        rec = builder.structure()
        if rec is None:
            failures += 1
            if failures > 20 * size + 100:
                raise RuntimeError(f"shard {index}: too many failed packings ({failures})")
            continue
        out.append(rec)
    return out


_POOLS: Optional[Pools] = None


def _worker(args) -> Tuple[int, int, float, str]:
    params, index, size, directory = args
    t0 = time.time()
    records = build_shard(params, _POOLS, index, size)
    path = shard_path(directory, index)
    write_shard(path, records, dict(seed=params.seed, shard=index))
    return index, len(records), time.time() - t0, path


def build_dataset(params: BuildParams, directory: str) -> Dict:
    """Write ``ceil(n_structures / shard_size)`` shards to ``directory``; skip those already there."""
    global _POOLS
    os.makedirs(directory, exist_ok=True)
    n_shards = -(-params.n_structures // params.shard_size)
    done = {os.path.basename(p) for p in list_shards(directory)}
    todo = [i for i in range(n_shards) if os.path.basename(shard_path(directory, i)) not in done]
    logger.info("%d shards of %d structures: %d already written, %d to build with %d process(es)",
                n_shards, params.shard_size, n_shards - len(todo), len(todo), params.nproc)
    if not todo:
        return dict(n_shards=n_shards, built=0, seconds=0.0)
    t0 = time.time()
    _POOLS = load_pools(params)
    logger.info("molecule pools loaded in %.1f s", time.time() - t0)
    tasks = [(params, i, params.shard_size, directory) for i in todo]
    t1 = time.time()
    built = 0
    if params.nproc <= 1:
        results = map(_worker, tasks)
    else:
        ctx = multiprocessing.get_context("fork")
        pool = ctx.Pool(params.nproc)
        results = pool.imap_unordered(_worker, tasks)
    try:
        for k, (index, n, dt, path) in enumerate(results, 1):
            built += n
            elapsed = time.time() - t1
            logger.info("shard %d: %d structures in %.0f s (%d/%d shards, %.2f structures/s overall)",
                        index, n, dt, k, len(todo), built / max(elapsed, 1e-9))
    finally:
        if params.nproc > 1:
            pool.close()
            pool.join()
    return dict(n_shards=n_shards, built=built, seconds=time.time() - t1)
