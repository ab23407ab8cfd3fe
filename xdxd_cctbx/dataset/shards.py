"""Compact npz shards of synthetic crystal structures: write (atomically), read, iterate.

One shard holds N structures as flat arrays with offsets (ragged atoms):

- ``cell`` (N, 6) float32: a, b, c (Angstrom), alpha, beta, gamma (degrees)
- ``sg_id`` (N,) int16: index into the space-group table (``space_group_table``, JSON,
  also :data:`xdxd_cctbx.dataset.space_groups.SPACE_GROUPS`); symmetry operations as xyz strings
- ``atom_offset`` (N+1,) int64: atoms of structure i are ``atom_offset[i]:atom_offset[i+1]``
- per asymmetric-unit atom: ``z`` uint8 (atomic number; H atoms included, ``is_h`` flags them),
  ``frac`` (A, 3) float32, ``uiso`` float32 (A^2), ``mol_id`` uint8 (molecule of the asymmetric
  unit), ``site_mult`` uint8 (number of positions in the unit cell), ``special`` bool (on a
  special position: an inversion centre or a 2-fold axis)
- per structure: ``smiles`` (moiety SMILES joined by '.', one entry per molecule of the
  asymmetric unit, a molecule on a special position prefixed by '1/2*'; a metal complex is
  written as its dissociated parts: metal ion and ligands), ``recipe``,
  ``n_mol``, ``min_contact`` (shortest intermolecular d / sum of vdW radii), ``volume_target``
- ``meta``: JSON with seed, shard index, builder version
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence

import numpy as np

from xdxd_cctbx.dataset.space_groups import SPACE_GROUPS, table_as_json

SHARD_VERSION = 1


@dataclass
class CrystalRecord:
    """One synthetic structure (asymmetric unit)."""

    cell: np.ndarray
    sg_id: int
    z: np.ndarray
    frac: np.ndarray
    uiso: np.ndarray
    mol_id: np.ndarray
    site_mult: np.ndarray
    special: np.ndarray
    smiles: str
    recipe: str
    min_contact: float
    volume_target: float

    @property
    def is_h(self) -> np.ndarray:
        return self.z == 1

    @property
    def space_group(self):
        return SPACE_GROUPS[self.sg_id]

    @property
    def n_mol(self) -> int:
        return int(self.mol_id.max()) + 1 if len(self.mol_id) else 0

    def n_non_h_cell(self) -> int:
        """Non-H atoms in the unit cell (site multiplicities summed)."""
        return int(self.site_mult[self.z > 1].sum())


def shard_path(directory: str, index: int) -> str:
    return os.path.join(directory, f"shard_{index:05d}.npz")


def write_shard(path: str, records: Sequence[CrystalRecord], meta: Dict) -> None:
    """Write ``records`` to ``path`` (via a temporary file, so a partly written shard never exists)."""
    n = len(records)
    counts = np.array([len(r.z) for r in records], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(counts)])

    def cat(name, dtype, shape=()):
        if n == 0:
            return np.zeros((0,) + shape, dtype=dtype)
        return np.concatenate([np.asarray(getattr(r, name)).reshape((-1,) + shape) for r in records]).astype(dtype)

    arrays = dict(
        cell=np.array([r.cell for r in records], dtype=np.float32).reshape(n, 6),
        sg_id=np.array([r.sg_id for r in records], dtype=np.int16),
        atom_offset=offset,
        z=cat("z", np.uint8), frac=cat("frac", np.float32, (3,)), uiso=cat("uiso", np.float32),
        is_h=cat("z", np.uint8) == 1, mol_id=cat("mol_id", np.uint8), site_mult=cat("site_mult", np.uint8),
        special=cat("special", bool),
        smiles=np.array([r.smiles for r in records], dtype=str),
        recipe=np.array([r.recipe for r in records], dtype=str),
        n_mol=np.array([r.n_mol for r in records], dtype=np.uint8),
        min_contact=np.array([r.min_contact for r in records], dtype=np.float32),
        volume_target=np.array([r.volume_target for r in records], dtype=np.float32),
        space_group_table=np.array(table_as_json()),
        meta=np.array(json.dumps(dict(meta, version=SHARD_VERSION, n_structures=n))),
    )
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def read_shard(path: str) -> List[CrystalRecord]:
    """All structures of a shard."""
    with np.load(path, allow_pickle=False) as d:
        a = {k: d[k] for k in d.files}
    out = []
    off = a["atom_offset"]
    for i in range(len(a["sg_id"])):
        s = slice(int(off[i]), int(off[i + 1]))
        out.append(CrystalRecord(
            cell=a["cell"][i].astype(float), sg_id=int(a["sg_id"][i]), z=a["z"][s].astype(np.int64),
            frac=a["frac"][s].astype(float), uiso=a["uiso"][s].astype(float), mol_id=a["mol_id"][s].astype(int),
            site_mult=a["site_mult"][s].astype(int), special=a["special"][s].astype(bool),
            smiles=str(a["smiles"][i]), recipe=str(a["recipe"][i]), min_contact=float(a["min_contact"][i]),
            volume_target=float(a["volume_target"][i])))
    return out


def shard_meta(path: str) -> Dict:
    with np.load(path, allow_pickle=False) as d:
        return json.loads(str(d["meta"]))


def list_shards(directory: str) -> List[str]:
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if f.startswith("shard_") and f.endswith(".npz") and ".tmp" not in f)


def iter_records(directory: str) -> Iterator[CrystalRecord]:
    for path in list_shards(directory):
        yield from read_shard(path)


def to_xray_structure(record: CrystalRecord, hydrogens: bool = True):
    """A cctbx ``xray.structure`` of the record (needs cctbx; import xdxd_cctbx first)."""
    from cctbx import crystal, sgtbx, xray

    from xdxd_cctbx.dataset.elements import SYMBOLS

    symmetry = crystal.symmetry(unit_cell=tuple(float(v) for v in record.cell),
                                space_group=sgtbx.space_group(record.space_group.hall))
    scatterers = []
    count: Dict[str, int] = {}
    for z, f, u, h in zip(record.z, record.frac, record.uiso, record.is_h):
        if h and not hydrogens:
            continue
        sym = SYMBOLS[int(z)]
        count[sym] = count.get(sym, 0) + 1
        scatterers.append(xray.scatterer(label=f"{sym}{count[sym]}", site=tuple(float(v) for v in f),
                                         u=float(u), scattering_type=sym))
    from cctbx.array_family import flex

    special = symmetry.special_position_settings(min_distance_sym_equiv=0.05)
    return xray.structure(special_position_settings=special, scatterers=flex.xray_scatterer(scatterers))
