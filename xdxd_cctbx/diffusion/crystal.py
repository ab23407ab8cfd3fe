"""Crystals as padded torch batches, symmetry expansion and permitted origin shifts.

A :class:`CrystalRecord` is one crystal in plain numpy (cell, all symmetry
operations, asymmetric-unit atoms, reflections); :func:`collate` pads a list of
them into a :class:`CrystalBatch` of tensors (atoms, operations and reflections
padded and masked), the form the network, loss and sampler work on.

Conventions: fractional coordinates on the torus [0,1)^3; ``lattice`` (B,3,3)
has the cell vectors a, b, c as columns (cart = lattice @ frac, a along x, b in
the xy plane); operations act as ``x' = R x + t`` and include centring
translations; atomic number 0 marks padding.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from xdxd_cctbx.diffusion.torus import wrap_delta

_TOL = 1e-6


def cell_matrix(cell: Sequence[float]) -> np.ndarray:
    """Orthogonalisation matrix (columns a, b, c; a along x, b in the xy plane)."""
    a, b, c, al, be, ga = (float(v) for v in cell)
    al, be, ga = (math.radians(v) for v in (al, be, ga))
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    cz2 = c * c - cx * cx - cy * cy
    if cz2 <= 1e-8:
        raise ValueError(f"impossible unit cell {tuple(cell)}")
    return np.array([[a, b * math.cos(ga), cx], [0.0, b * math.sin(ga), cy], [0.0, 0.0, math.sqrt(cz2)]])


@dataclasses.dataclass
class CrystalRecord:
    """One crystal in numpy: what a shard row or a cctbx input turns into.

    frac may be None (unknown structure, at solve time); f_obs/e_obs may be None
    (simulated on the fly during training). ``u_iso`` (N,) is used by simulation only.
    """

    cell: np.ndarray  # (6,)
    rotations: np.ndarray  # (K,3,3)
    translations: np.ndarray  # (K,3)
    atomic_numbers: np.ndarray  # (N,) int
    hkl: np.ndarray  # (M,3) int, unique, no absences, no 000
    frac: Optional[np.ndarray] = None  # (N,3)
    f_obs: Optional[np.ndarray] = None  # (M,)
    e_obs: Optional[np.ndarray] = None  # (M,)
    u_iso: Optional[np.ndarray] = None  # (N,)
    occupancy: Optional[np.ndarray] = None  # (N,) scattering weight: occupancy / site-symmetry order
    name: str = ""

    @property
    def n_atoms(self) -> int:
        return int(len(self.atomic_numbers))


@dataclasses.dataclass
class CrystalBatch:
    """Padded tensors for B crystals (see the module docstring for conventions)."""

    lattice: torch.Tensor  # (B,3,3)
    rotations: torch.Tensor  # (B,K,3,3)
    translations: torch.Tensor  # (B,K,3)
    op_mask: torch.Tensor  # (B,K) bool
    atomic_numbers: torch.Tensor  # (B,N) long, 0 = padding
    atom_mask: torch.Tensor  # (B,N) bool
    hkl: torch.Tensor  # (B,M,3) float (integers)
    refl_mask: torch.Tensor  # (B,M) bool
    frac: Optional[torch.Tensor] = None  # (B,N,3)
    f_obs: Optional[torch.Tensor] = None  # (B,M)
    e_obs: Optional[torch.Tensor] = None  # (B,M)
    u_iso: Optional[torch.Tensor] = None  # (B,N)
    occupancy: Optional[torch.Tensor] = None  # (B,N) scattering weight (default 1)
    names: Tuple[str, ...] = ()

    @property
    def batch_size(self) -> int:
        return int(self.lattice.shape[0])

    @property
    def device(self) -> torch.device:
        return self.lattice.device

    @property
    def lengths(self) -> torch.Tensor:
        """Cell edge lengths (B,3)."""
        return self.lattice.norm(dim=1)

    def to(self, device) -> "CrystalBatch":
        changes = {
            f.name: getattr(self, f.name).to(device)
            for f in dataclasses.fields(self)
            if torch.is_tensor(getattr(self, f.name))
        }
        return dataclasses.replace(self, **changes)

    def replace(self, **changes) -> "CrystalBatch":
        return dataclasses.replace(self, **changes)

    def repeat(self, n: int) -> "CrystalBatch":
        """Each crystal repeated n times (B*n crystals, crystal-major order)."""
        changes = {
            f.name: torch.repeat_interleave(getattr(self, f.name), n, dim=0)
            for f in dataclasses.fields(self)
            if torch.is_tensor(getattr(self, f.name))
        }
        names = tuple(name for name in self.names for _ in range(n))
        return dataclasses.replace(self, names=names, **changes)


def collate(records: Sequence[CrystalRecord], *, dtype: torch.dtype = torch.float32) -> CrystalBatch:
    """Pad records into one :class:`CrystalBatch` (on the CPU)."""
    if not records:
        raise ValueError("collate needs at least one crystal")
    b = len(records)
    n = max(r.n_atoms for r in records)
    k = max(len(r.rotations) for r in records)
    m = max(len(r.hkl) for r in records)
    lattice = torch.zeros(b, 3, 3, dtype=dtype)
    rot = torch.zeros(b, k, 3, 3, dtype=dtype)
    rot[:, :] = torch.eye(3, dtype=dtype)
    tr = torch.zeros(b, k, 3, dtype=dtype)
    op_mask = torch.zeros(b, k, dtype=torch.bool)
    z = torch.zeros(b, n, dtype=torch.long)
    hkl = torch.zeros(b, m, 3, dtype=dtype)
    refl_mask = torch.zeros(b, m, dtype=torch.bool)
    have = {name: all(getattr(r, name) is not None for r in records)
            for name in ("frac", "f_obs", "e_obs", "u_iso", "occupancy")}
    frac = torch.zeros(b, n, 3, dtype=dtype) if have["frac"] else None
    f_obs = torch.zeros(b, m, dtype=dtype) if have["f_obs"] else None
    e_obs = torch.zeros(b, m, dtype=dtype) if have["e_obs"] else None
    u_iso = torch.zeros(b, n, dtype=dtype) if have["u_iso"] else None
    occ = torch.zeros(b, n, dtype=dtype) if have["occupancy"] else None
    for i, r in enumerate(records):
        lattice[i] = torch.from_numpy(cell_matrix(r.cell))
        kk, nn, mm = len(r.rotations), r.n_atoms, len(r.hkl)
        rot[i, :kk] = torch.as_tensor(np.asarray(r.rotations), dtype=dtype)
        tr[i, :kk] = torch.as_tensor(np.asarray(r.translations), dtype=dtype)
        op_mask[i, :kk] = True
        z[i, :nn] = torch.as_tensor(np.asarray(r.atomic_numbers), dtype=torch.long)
        hkl[i, :mm] = torch.as_tensor(np.asarray(r.hkl), dtype=dtype)
        refl_mask[i, :mm] = True
        if frac is not None:
            frac[i, :nn] = torch.as_tensor(np.asarray(r.frac), dtype=dtype)
        if f_obs is not None:
            f_obs[i, :mm] = torch.as_tensor(np.asarray(r.f_obs), dtype=dtype)
        if e_obs is not None:
            e_obs[i, :mm] = torch.as_tensor(np.asarray(r.e_obs), dtype=dtype)
        if u_iso is not None:
            u_iso[i, :nn] = torch.as_tensor(np.asarray(r.u_iso), dtype=dtype)
        if occ is not None:
            occ[i, :nn] = torch.as_tensor(np.asarray(r.occupancy), dtype=dtype)
    return CrystalBatch(
        lattice=lattice, rotations=rot, translations=tr, op_mask=op_mask, atomic_numbers=z,
        atom_mask=z > 0, hkl=hkl, refl_mask=refl_mask, frac=frac, f_obs=f_obs, e_obs=e_obs,
        u_iso=u_iso, occupancy=occ, names=tuple(r.name for r in records),
    )


# ------------------------------------------------------------ symmetry images

def symmetry_images(frac: torch.Tensor, batch: CrystalBatch) -> torch.Tensor:
    """All images R x + t of every atom: (B,N,K,3) (padded operations give x itself)."""
    return torch.einsum("bkij,bnj->bnki", batch.rotations, frac) + batch.translations.unsqueeze(1)


def nearest_image_vectors(frac: torch.Tensor, batch: CrystalBatch) -> Tuple[torch.Tensor, torch.Tensor]:
    """Symmetry-aware pair geometry: for atoms i, j the shortest vector from any
    image of j to i (over operations; lattice images by rounding, exact for
    distances below half the shortest cell width).

    Returns (vectors (B,N,N,3) Cartesian, Angstrom; distances (B,N,N)). For
    i == j the identity operation is excluded (distance to its own nearest
    symmetry copy; large when the atom is far from symmetry elements).
    Pairs involving padding atoms get distance 1e4.
    """
    images = symmetry_images(frac, batch)  # (B,N,K,3)
    d = wrap_delta(frac[:, :, None, None, :] - images[:, None, :, :, :])  # (B,Ni,Nj,K,3)
    cart = torch.einsum("bij,bpqkj->bpqki", batch.lattice, d)
    dist_sq = (cart * cart).sum(-1)  # (B,N,N,K)
    big = torch.finfo(dist_sq.dtype).max / 4
    invalid = ~batch.op_mask[:, None, None, :]
    n = frac.shape[1]
    eye = torch.eye(n, dtype=torch.bool, device=frac.device)
    identity = _identity_ops(batch)  # (B,K)
    invalid = invalid | (eye[None, :, :, None] & identity[:, None, None, :])
    dist_sq = dist_sq.masked_fill(invalid, big)
    best = dist_sq.argmin(-1)  # (B,N,N)
    vec = torch.gather(cart, 3, best[..., None, None].expand(*best.shape, 1, 3)).squeeze(3)
    dist = torch.sqrt(torch.gather(dist_sq, 3, best[..., None]).squeeze(-1).clamp_min(1e-12))
    pair_ok = batch.atom_mask[:, :, None] & batch.atom_mask[:, None, :]
    dist = torch.where(pair_ok & (dist < 1e3), dist, torch.full_like(dist, 1e4))
    vec = vec * pair_ok[..., None]
    return vec, dist


def _identity_ops(batch: CrystalBatch) -> torch.Tensor:
    eye = torch.eye(3, dtype=batch.rotations.dtype, device=batch.device)
    same_r = (batch.rotations - eye).abs().amax((-1, -2)) < 1e-4
    zero_t = wrap_delta(batch.translations).abs().amax(-1) < 1e-4
    return same_r & zero_t & batch.op_mask


# ------------------------------------------------------ permitted origin shifts

def _op_key(r: np.ndarray, t: np.ndarray) -> tuple:
    tw = np.mod(t, 1.0)
    return tuple(np.round(r).astype(int).ravel()) + tuple(int(v) % 48 for v in np.round(tw * 48).astype(int))


@lru_cache(maxsize=256)
def _origin_choices_cached(key: tuple) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(key) // 12
    arr = np.array(key, dtype=float).reshape(n, 12)
    rot = arr[:, :9].reshape(n, 3, 3)
    tr = arr[:, 9:] / 48.0
    group = {_op_key(r, t) for r, t in zip(rot, tr)}
    eye = np.eye(3)
    free = np.array([all(abs((eye - r)[:, i]).max() < _TOL for r in rot) for i in range(3)])
    grid = [0.0, 0.25, 0.5, 0.75]
    shifts, signs = [], []
    centric = any(np.allclose(r, -eye) for r in rot)
    for sign in (1.0, -1.0):
        if sign < 0 and centric:
            continue  # the inverted structure is the same one
        for s in itertools.product(*[[0.0] if free[i] else grid for i in range(3)]):
            s = np.array(s)
            ok = all(_op_key(r, sign * t + (eye - r) @ s) in group for r, t in zip(rot, tr))
            if ok:
                shifts.append(s)
                signs.append(sign)
    return np.array(shifts), np.array(signs), free


def origin_choices(rotations: np.ndarray, translations: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alternative origins that describe the same crystal with the same operations.

    Returns (shifts (S,3), signs (S,), free_axes (3,) bool): the structure
    ``sign * x + shift`` (plus any shift along a free axis of a polar group) is
    the same crystal. Shifts on the grid {0, 1/4, 1/2, 3/4}; sign -1 (the
    enantiomorph, indistinguishable by diffraction without anomalous signal)
    where the group allows it.
    """
    key = tuple(np.concatenate([np.round(np.asarray(r)).ravel(), np.round(np.mod(t, 1.0) * 48)])
                for r, t in zip(rotations, translations))
    flat = tuple(float(v) for row in key for v in row)
    return _origin_choices_cached(flat)


def batch_origin_choices(batch: CrystalBatch) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded origin choices of a batch: shifts (B,S,3), signs (B,S), mask (B,S), free (B,3)."""
    rot = batch.rotations.detach().cpu().numpy()
    tr = batch.translations.detach().cpu().numpy()
    mask_ops = batch.op_mask.cpu().numpy()
    choices = [origin_choices(rot[i][mask_ops[i]], tr[i][mask_ops[i]]) for i in range(batch.batch_size)]
    s = max(len(c[0]) for c in choices)
    dtype, dev = batch.lattice.dtype, batch.device
    shifts = torch.zeros(batch.batch_size, s, 3, dtype=dtype)
    signs = torch.ones(batch.batch_size, s, dtype=dtype)
    mask = torch.zeros(batch.batch_size, s, dtype=torch.bool)
    free = torch.zeros(batch.batch_size, 3, dtype=torch.bool)
    for i, (sh, sg, fr) in enumerate(choices):
        shifts[i, : len(sh)] = torch.from_numpy(sh)
        signs[i, : len(sg)] = torch.from_numpy(sg)
        mask[i, : len(sh)] = True
        free[i] = torch.from_numpy(fr)
    return shifts.to(dev), signs.to(dev), mask.to(dev), free.to(dev)


def random_origin_change(batch: CrystalBatch, generator: torch.Generator) -> torch.Tensor:
    """batch.frac moved to a random permitted origin (augmentation): (B,N,3)."""
    shifts, signs, mask, free = batch_origin_choices(batch)
    b = batch.batch_size
    u = torch.rand(b, shifts.shape[1], generator=generator).to(batch.device)
    pick = torch.where(mask, u, torch.full_like(u, -1.0)).argmax(1)
    s = shifts[torch.arange(b), pick]
    sign = signs[torch.arange(b), pick]
    s = s + free * torch.rand(b, 3, generator=generator).to(batch.device)
    x = sign[:, None, None] * batch.frac + s[:, None, :]
    return x - torch.floor(x)


def element_counts(records: Sequence[CrystalRecord]) -> Dict[int, int]:
    out: Dict[int, int] = {}
    for r in records:
        for z in r.atomic_numbers:
            out[int(z)] = out.get(int(z), 0) + 1
    return out


def records_summary(records: List[CrystalRecord]) -> str:
    n = [r.n_atoms for r in records]
    m = [len(r.hkl) for r in records]
    return f"{len(records)} crystals, {min(n)}-{max(n)} atoms, {min(m)}-{max(m)} reflections"
