"""Training crystals: shards from ``xdxd.build_dataset`` or toy crystals, batched with
random resolution (numpy + torch only; no cctbx on the training machines).

Shard format: see :mod:`xdxd_cctbx.dataset.shards` (read here directly with numpy,
symmetry operations from the shard's own space-group table). Only non-H atoms
are used; atoms on special positions get the scattering weight
``site_mult / order`` so the simulated data are right.
"""
from __future__ import annotations

import glob
import json
import logging
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from xdxd_cctbx.diffusion.crystal import CrystalBatch, CrystalRecord, cell_matrix, collate
from xdxd_cctbx.diffusion.diffraction import reciprocal_metric, unique_reflections
from xdxd_cctbx.sf.symmetry import parse_xyz

logger = logging.getLogger(__name__)


def _ops_from_strings(ops: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    parsed = [parse_xyz(op) for op in ops]
    return np.array([p[0] for p in parsed]), np.mod(np.array([p[1] for p in parsed]), 1.0)


def read_shard_records(path: str, *, max_atoms: int = 120, min_atoms: int = 2) -> List[CrystalRecord]:
    """Non-H asymmetric units of one shard as structure-only CrystalRecords (no hkl yet)."""
    with np.load(path, allow_pickle=False) as d:
        a = {k: d[k] for k in d.files}
    table = json.loads(str(a["space_group_table"]))
    ops = {entry["sg_id"]: _ops_from_strings(entry["ops"]) for entry in table}
    off = a["atom_offset"]
    out = []
    for i in range(len(a["sg_id"])):
        s = slice(int(off[i]), int(off[i + 1]))
        z = a["z"][s].astype(np.int64)
        heavy = z > 1
        n = int(heavy.sum())
        if not min_atoms <= n <= max_atoms:
            continue
        rot, tr = ops[int(a["sg_id"][i])]
        mult = a["site_mult"][s][heavy].astype(float) if "site_mult" in a else np.full(n, len(rot), float)
        out.append(CrystalRecord(
            cell=a["cell"][i].astype(float), rotations=rot, translations=tr, atomic_numbers=z[heavy],
            hkl=np.zeros((0, 3), np.int64), frac=a["frac"][s][heavy].astype(float),
            u_iso=a["uiso"][s][heavy].astype(float), occupancy=np.clip(mult / len(rot), 0.0, 1.0),
            name=f"{os.path.basename(path)}:{i}"))
    return out


def list_shard_files(path: str) -> List[str]:
    """Shard files under a folder (``shard_*.npz``) or a glob pattern."""
    if os.path.isdir(path):
        return sorted(p for p in glob.glob(os.path.join(path, "shard_*.npz")) if ".tmp" not in p)
    return sorted(glob.glob(path))


class CrystalPool:
    """Structure-only crystals to draw training batches from (loaded into memory)."""

    def __init__(self, records: List[CrystalRecord], *, description: str = "") -> None:
        if not records:
            raise ValueError(f"no training crystals ({description or 'empty pool'})")
        self.records = records
        self.description = description
        self._reflections: Dict[Tuple[float, int], Dict[int, Tuple[np.ndarray, np.ndarray]]] = {}

    @classmethod
    def from_shards(cls, path: str, *, max_atoms: int = 120, max_files: Optional[int] = None) -> "CrystalPool":
        files = list_shard_files(path)
        if not files:
            raise FileNotFoundError(f"no shard_*.npz files at {path}")
        records: List[CrystalRecord] = []
        for f in files[:max_files]:
            records.extend(read_shard_records(f, max_atoms=max_atoms))
        return cls(records, description=f"{len(records)} crystals from {len(files[:max_files])} shards at {path}")

    @classmethod
    def toy(cls, n: int, *, seed: int, max_atoms: int = 40) -> "CrystalPool":
        from xdxd_cctbx.training.toy_crystals import random_crystal

        rng = np.random.default_rng(seed)
        records = [random_crystal(rng, n_atoms_range=(5, max_atoms)) for _ in range(n)]
        return cls(records, description=f"{n} toy crystals (seed {seed})")

    def save_npz(self, path: str) -> None:
        """Write the pool as a shard-like npz (toy pools, so that a run can be repeated)."""
        recs = self.records
        off = np.concatenate([[0], np.cumsum([r.n_atoms for r in recs])])
        ops_json = json.dumps([[r.rotations.tolist(), r.translations.tolist()] for r in recs])
        np.savez_compressed(
            path, cell=np.array([r.cell for r in recs]), atom_offset=off,
            z=np.concatenate([r.atomic_numbers for r in recs]), frac=np.concatenate([r.frac for r in recs]),
            uiso=np.concatenate([r.u_iso for r in recs]), ops=np.array(ops_json),
            names=np.array([r.name for r in recs]))

    @classmethod
    def load_npz(cls, path: str) -> "CrystalPool":
        with np.load(path, allow_pickle=False) as d:
            a = {k: d[k] for k in d.files}
        ops = json.loads(str(a["ops"]))
        off = a["atom_offset"]
        recs = []
        for i, (rot, tr) in enumerate(ops):
            s = slice(int(off[i]), int(off[i + 1]))
            recs.append(CrystalRecord(
                cell=a["cell"][i], rotations=np.array(rot), translations=np.array(tr), atomic_numbers=a["z"][s],
                hkl=np.zeros((0, 3), np.int64), frac=a["frac"][s], u_iso=a["uiso"][s], name=str(a["names"][i])))
        return cls(recs, description=f"{len(recs)} crystals from {path}")

    def __len__(self) -> int:
        return len(self.records)

    def reflections(self, index: int, d_min: float, *, d_min_floor: float, max_reflections: int) -> np.ndarray:
        """Unique reflections of crystal ``index`` to ``d_min``, at most ``max_reflections`` (lowest angle kept).

        The first call per crystal lists its reflections to ``d_min_floor`` once
        (sorted by d, at most ``max_reflections`` kept); later calls only select.
        """
        key = (float(d_min_floor), int(max_reflections))
        cache = self._reflections.setdefault(key, {})
        cached = cache.get(index)
        if cached is None:
            r = self.records[index]
            cached = lowest_angle_reflections(r.cell, r.rotations, r.translations, min(d_min_floor, d_min),
                                              max_reflections)
            if d_min >= d_min_floor:
                cache[index] = cached
        hkl, d_star_sq = cached
        keep = d_star_sq <= np.float32(1.0 / d_min ** 2 * (1 + 1e-6))
        return hkl[keep].astype(np.int64)

    def precompute_reflections(self, *, d_min_floor: float, max_reflections: int, workers: int) -> None:
        """Fill the reflection cache of every crystal with ``workers`` processes (GPU machines' idle cores)."""
        from concurrent.futures import ProcessPoolExecutor

        cache = self._reflections.setdefault((float(d_min_floor), int(max_reflections)), {})
        todo = [i for i in range(len(self.records)) if i not in cache]
        jobs = [(r.cell, r.rotations, r.translations, d_min_floor, max_reflections)
                for r in (self.records[i] for i in todo)]
        with ProcessPoolExecutor(max_workers=workers) as executor:
            for i, lists in zip(todo, executor.map(_lowest_angle_job, jobs, chunksize=64)):
                cache[i] = lists


def _lowest_angle_job(args):
    return lowest_angle_reflections(*args)


def lowest_angle_reflections(cell, rotations, translations, d_min: float, max_reflections: int
                             ) -> Tuple[np.ndarray, np.ndarray]:
    """(hkl int16, d*^2 float32) of the unique reflections to ``d_min``, lowest angle first, at most max_reflections.

    Lists only as far as needed: about 4 pi V / (3 d^3 2K) unique reflections lie beyond d.
    """
    volume = abs(np.linalg.det(cell_matrix(cell)))
    d_enough = 0.9 * (4.0 * np.pi * volume / (3.0 * 2.0 * len(rotations) * max_reflections)) ** (1 / 3)
    hkl, _ = unique_reflections(cell, rotations, translations, max(d_min, d_enough))
    if len(hkl) < max_reflections and d_enough > d_min:
        hkl, _ = unique_reflections(cell, rotations, translations, d_min)
    d_star_sq = np.einsum("mi,ij,mj->m", hkl, reciprocal_metric(cell), hkl)
    order = np.argsort(d_star_sq, kind="stable")[:max_reflections]
    return hkl[order].astype(np.int16), d_star_sq[order].astype(np.float32)


def sample_d_min(rng: np.random.Generator, d_min_range: Tuple[float, float], focus: float = 0.5) -> float:
    """Uniform in the range, except a fraction ``focus`` drawn from its low-resolution half."""
    lo, hi = d_min_range
    if rng.random() < focus:
        lo = 0.5 * (lo + hi)
    return float(rng.uniform(lo, hi))


def make_batch(pool: CrystalPool, rng: np.random.Generator, *, batch_size: int,
               d_min_range: Tuple[float, float] = (0.8, 2.5), max_reflections: int = 1200,
               max_atoms_per_batch: int = 1200) -> CrystalBatch:
    """A padded batch of random crystals with reflection sets to random d_min.

    A set larger than ``max_reflections`` keeps its ``max_reflections`` lowest-angle
    reflections (d_min raised to fit). Each crystal's list is computed once and reused.
    """
    chosen: List[CrystalRecord] = []
    n_atoms = 0
    while len(chosen) < batch_size:
        i = int(rng.integers(len(pool.records)))
        r = pool.records[i]
        if chosen and n_atoms + r.n_atoms > max_atoms_per_batch:
            break
        d_min = sample_d_min(rng, d_min_range)
        hkl = pool.reflections(i, d_min, d_min_floor=d_min_range[0], max_reflections=max_reflections)
        if len(hkl) < 10:
            continue
        chosen.append(CrystalRecord(cell=r.cell, rotations=r.rotations, translations=r.translations,
                                    atomic_numbers=r.atomic_numbers, hkl=hkl, frac=r.frac, u_iso=r.u_iso,
                                    occupancy=r.occupancy if r.occupancy is not None else np.ones(r.n_atoms),
                                    name=r.name))
        n_atoms += r.n_atoms
    return collate(chosen)
