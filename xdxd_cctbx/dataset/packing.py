"""A fast numpy packer: rigid molecules into a space group at a target density, no clashes.

Molecules of the asymmetric unit get random orientations and fractional centres
(or a special position: an inversion centre, a 2-fold axis aligned with the
molecule's own); the cell starts with a random shape typical of the crystal
system. Then the cell is squeezed with the molecules' fractional centres and
orientations fixed: first isotropically, then edge by edge in a random order,
each time to the exact smallest scale at which no intermolecular contact is
below ``contact * (r_vdw_i + r_vdw_j)``. Because a contact vector is linear in
the scale of one edge (|u + s v|), the smallest allowed scale is the largest
root of one quadratic per atom pair: one evaluation, no bisection. That loose,
contact-limited packing is then densified: shrink the cell a few percent (all
edges or one), relax the rigid molecules (translation + rotation, descent on the
squared overlaps over a Verlet list of atom pairs), keep the step if every contact
is back above the threshold, else halve it. The volume never goes below the
target (sum of atomic volumes times a random factor); an attempt whose cell stays
more than ``max_excess`` above the target is rejected.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from xdxd_cctbx.dataset.elements import ATOMIC_VOLUME, VDW_RADIUS
from xdxd_cctbx.dataset.metal_complexes import _axis_rotation, _random_rotation, _rotation_to
from xdxd_cctbx.dataset.molecules import Molecule
from xdxd_cctbx.dataset.space_groups import (SpaceGroup, SpecialSite, cell_matrix, random_cell_shape)

logger = logging.getLogger(__name__)

_PAD = 1.0e4


@dataclass
class Placement:
    """A molecule of the asymmetric unit and its site (None: general position)."""

    molecule: Molecule
    site: Optional[SpecialSite] = None


@dataclass
class PackedCrystal:
    """Result of :func:`pack`."""

    space_group: SpaceGroup
    cell: np.ndarray                 # a, b, c, alpha, beta, gamma
    placements: List[Placement]
    local_xyz: List[np.ndarray]      # rotated Cartesian coordinates of each ASU molecule about its centre
    centres: np.ndarray              # (m, 3) fractional centres
    min_contact_ratio: float         # shortest intermolecular d / (r_vdw_i + r_vdw_j)
    target_volume: float

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(cell_matrix(self.cell))))


def _multiplicity_factor(p: Placement) -> int:
    return 1 if p.site is None else 2


def target_volume(placements: Sequence[Placement], order: int) -> float:
    """Sum of atomic volumes of the unit cell (Hofmann-type estimate)."""
    return float(sum(ATOMIC_VOLUME[p.molecule.z].sum() * order / _multiplicity_factor(p) for p in placements))


class _Packing:
    """The state of one packing attempt (instances of the molecules in the cell, padded arrays)."""

    def __init__(self, sg: SpaceGroup, placements: Sequence[Placement], shape: np.ndarray,
                 rng: np.random.Generator, contact: float):
        self.sg, self.placements, self.contact = sg, list(placements), contact
        self.cell = np.array(shape, dtype=float)
        m0 = cell_matrix(self.cell)
        minv = np.linalg.inv(m0)
        self.rc = np.einsum("ij,kjl,lm->kim", m0, sg.rotations, minv)  # Cartesian rotations of the ops
        self.nmax = max(len(p.molecule.z) for p in placements)
        self.local = []
        self.centres = np.zeros((len(placements), 3))
        for i, p in enumerate(placements):
            q = _random_rotation(rng)
            if p.site is not None and p.site.kind == "2-fold" and len(p.molecule.z) > 1:
                axis = m0 @ p.site.axis_frac
                axis /= np.linalg.norm(axis)
                q = _axis_rotation(axis, rng.uniform(0, 2 * np.pi)) @ _rotation_to(p.molecule.axis, axis)
            self.local.append(p.molecule.xyz @ q.T)
            self.centres[i] = p.site.point if p.site is not None else rng.random(3)
        self.mol_radius = np.array([float(np.linalg.norm(x, axis=1).max()) for x in self.local])
        self.rmax = float(self.mol_radius.max())
        self._build_instances()

    def _build_instances(self) -> None:
        rots, trans = self.sg.rotations, self.sg.translations
        inst_centre, inst_local, inst_rad, inst_mol, inst_op = [], [], [], [], []
        for i, p in enumerate(self.placements):
            seen: List[np.ndarray] = []
            for k in range(len(rots)):
                f = np.mod(rots[k] @ self.centres[i] + trans[k], 1.0)
                if seen and np.any(np.all(np.abs(np.mod(f - np.array(seen) + 0.5, 1.0) - 0.5) < 1e-6, axis=1)):
                    continue
                seen.append(f)
                loc = np.full((self.nmax, 3), _PAD)
                rad = np.full(self.nmax, -10.0)
                n = len(p.molecule.z)
                loc[:n] = self.local[i] @ self.rc[k].T
                rad[:n] = VDW_RADIUS[p.molecule.z]
                inst_centre.append(f if k else self.centres[i])
                inst_local.append(loc)
                inst_rad.append(rad)
                inst_mol.append(i)
                inst_op.append(k)
        self.inst_centre = np.array(inst_centre)
        self.inst_local = np.array(inst_local)
        self.inst_rad = np.array(inst_rad)
        self.inst_mol = np.array(inst_mol)
        self.inst_op = np.array(inst_op)
        self.asu_index = np.array([int(np.nonzero(self.inst_mol == i)[0][0]) for i in range(len(self.placements))])

    @property
    def matrix(self) -> np.ndarray:
        return cell_matrix(self.cell)

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.matrix)))

    def _pairs(self, mask: np.ndarray, s_lo: float, s_hi: float):
        """Candidate (asu molecule, instance, translation) triples over scales [s_lo, s_hi] of ``mask`` edges."""
        m = self.matrix
        minv = np.linalg.inv(m)
        spacing = 1.0 / np.linalg.norm(minv, axis=1)
        reach = 2 * self.rmax + 4.0
        scale = np.where(mask > 0, min(s_lo, 1.0), 1.0)
        nr = np.ceil(reach / (spacing * scale)).astype(int) + 1
        grid = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in nr], indexing="ij"), -1).reshape(-1, 3)
        g = (self.inst_centre[None, :, None, :] + grid[None, None, :, :]
             - self.inst_centre[self.asu_index][:, None, None, :])  # (A, I, T, 3)
        u = (g * (1 - mask)) @ m.T
        v = (g * mask) @ m.T
        vv = (v * v).sum(-1)
        uv = (u * v).sum(-1)
        s_opt = np.clip(np.where(vv > 1e-12, -uv / np.maximum(vv, 1e-12), s_hi), s_lo, s_hi)
        dmin = np.linalg.norm(u + s_opt[..., None] * v, axis=-1)
        r_pair = (self.mol_radius[self.inst_mol[self.asu_index]][:, None, None]
                  + self.mol_radius[self.inst_mol][None, :, None] + 4.0)
        a_idx, i_idx, t_idx = np.nonzero(dmin < r_pair)
        keep = ~((self.asu_index[a_idx] == i_idx) & np.all(grid[t_idx] == 0, axis=1))
        return a_idx[keep], i_idx[keep], u[a_idx, i_idx, t_idx][keep], v[a_idx, i_idx, t_idx][keep]

    def _intervals(self, mask: np.ndarray, s_lo: float, s_hi: float, contact: float):
        """Forbidden scale intervals (s1, s2) of all atom pairs; pairs with constant distance give clashes."""
        a_idx, i_idx, u, v = self._pairs(mask, s_lo, s_hi)
        if len(a_idx) == 0:
            return np.zeros(0), np.zeros(0), False
        la = self.inst_local[self.asu_index[a_idx]]          # (P, n, 3)
        lb = self.inst_local[i_idx]
        uu = u[:, None, None, :] + lb[:, None, :, :] - la[:, :, None, :]   # (P, n, n, 3)
        rho = contact * (self.inst_rad[self.asu_index[a_idx]][:, :, None] + self.inst_rad[i_idx][:, None, :])
        vv = (v * v).sum(-1)[:, None, None]
        uv = np.einsum("pijk,pk->pij", uu, v)
        c = (uu * uu).sum(-1) - np.sign(rho) * rho * rho
        valid = rho > 0
        const = valid & (vv < 1e-12)
        constant_clash = bool(np.any(const & (c < 0)))
        disc = uv * uv - vv * c
        ok = valid & (vv >= 1e-12) & (disc > 0)
        sq = np.sqrt(np.where(ok, disc, 0.0))
        vvb = np.broadcast_to(vv, ok.shape)
        s1 = (-uv[ok] - sq[ok]) / vvb[ok]
        s2 = (-uv[ok] + sq[ok]) / vvb[ok]
        return s1, s2, constant_clash

    def squeeze(self, mask: np.ndarray, s_lo: float) -> bool:
        """Shrink the ``mask`` edges to the smallest clash-free scale >= s_lo (current must be clash-free)."""
        s1, s2, bad = self._intervals(mask, s_lo, 1.0, self.contact)
        if bad:
            return False
        sel = s2 <= 1.0 + 1e-9
        s = max(s_lo, float(s2[sel].max()) if np.any(sel) else s_lo)
        if np.any((s1 < 1.0 - 1e-9) & (s2 > 1.0 + 1e-9)):
            return False  # clash at the current scale
        self._scale(mask, min(s * (1.0 + 1e-6), 1.0))
        return True

    def expand(self, s_hi: float = 8.0) -> bool:
        """Grow the cell isotropically to the smallest clash-free scale >= 1."""
        mask = np.ones(3)
        s1, s2, bad = self._intervals(mask, 1.0, s_hi, self.contact)
        if bad:
            return False
        order = np.argsort(s1)
        s1, s2 = s1[order], s2[order]
        s = 1.0
        for lo, hi in zip(s1, s2):
            if lo >= s:
                break
            if hi > s:
                s = hi
        if s > s_hi:
            return False
        self._scale(mask, s * (1.0 + 1e-6))
        return True

    def _scale(self, mask: np.ndarray, s: float) -> None:
        self.cell[:3] = self.cell[:3] * np.where(mask > 0, s, 1.0)

    def min_contact_ratio(self) -> float:
        """Shortest intermolecular contact as a fraction of the sum of van der Waals radii."""
        a_idx, i_idx, u, _ = self._pairs(np.zeros(3), 1.0, 1.0)
        if len(a_idx) == 0:
            return float("inf")
        la = self.inst_local[self.asu_index[a_idx]]
        lb = self.inst_local[i_idx]
        d = np.linalg.norm(u[:, None, None, :] + lb[:, None, :, :] - la[:, :, None, :], axis=-1)
        rsum = self.inst_rad[self.asu_index[a_idx]][:, :, None] + self.inst_rad[i_idx][:, None, :]
        ratio = np.where(rsum > 0, d / np.where(rsum > 0, rsum, 1.0), np.inf)
        return float(ratio.min())

    # ------------------------------------------------ rigid-body relaxation
    def build_list(self, contact: float, skin: float = 0.8) -> None:
        """Verlet list of intermolecular atom pairs closer than contact*(r_i+r_j) + skin."""
        m = self.matrix
        a_idx, i_idx, u, _ = self._pairs(np.zeros(3), 1.0, 1.0)
        la = self.inst_local[self.asu_index[a_idx]]
        lb = self.inst_local[i_idx]
        d = np.linalg.norm(u[:, None, None, :] + lb[:, None, :, :] - la[:, :, None, :], axis=-1)
        rho = contact * (self.inst_rad[self.asu_index[a_idx]][:, :, None] + self.inst_rad[i_idx][:, None, :])
        p, a, b = np.nonzero((rho > 0) & (d < rho + skin))
        minv = np.linalg.inv(m)
        # integer translation of the instance centre relative to the unwrapped R f + t
        ops = self.inst_op[i_idx[p]]
        mol_b = self.inst_mol[i_idx[p]]
        unwrapped = np.einsum("pij,pj->pi", self.sg.rotations[ops], self.centres[mol_b]) + self.sg.translations[ops]
        g = u[p] @ minv.T + self.centres[self.inst_mol[self.asu_index[a_idx[p]]]]  # f_j + T
        self.v_mol_a = self.inst_mol[self.asu_index[a_idx[p]]]
        self.v_a = a
        self.v_mol_b = mol_b
        self.v_op = ops
        self.v_b = b
        self.v_shift = np.round(g - unwrapped)
        self.v_rho = rho[p, a, b]
        self.v_rot = self.sg.rotations[ops]
        self.v_trans = self.sg.translations[ops] + self.v_shift
        self.v_rc = self.rc[ops]
        self.v_ref = self._positions(m)

    def _positions(self, m: Optional[np.ndarray] = None, y: Optional[np.ndarray] = None):
        m = self.matrix if m is None else m
        ya = self._ylocal() if y is None else y
        pa = self.centres[self.v_mol_a] @ m.T + ya[self.v_mol_a, self.v_a]
        fb = (np.einsum("pij,pj->pi", self.v_rot, self.centres[self.v_mol_b]) + self.v_trans)
        yb = np.einsum("pij,pj->pi", self.v_rc, ya[self.v_mol_b, self.v_b])
        return pa, fb @ m.T + yb

    def _ylocal(self):
        y = np.zeros((len(self.local), self.nmax, 3))
        for i, x in enumerate(self.local):
            y[i, :len(x)] = x
        return y

    def relax(self, contact: float, steps: int = 60) -> bool:
        """Rigid-body descent on sum(max(0, rho - d)^2) until no contact is below ``contact``."""
        self.list_contact = contact + 0.03
        self.build_list(self.list_contact)
        m = self.matrix
        minv = np.linalg.inv(m)
        n = len(self.local)
        movable = np.array([p.site is None for p in self.placements], dtype=float)
        axes = [None if p.site is None or p.site.kind == "inversion" or len(p.molecule.z) == 1
                else _unit(m @ p.site.axis_frac) for p in self.placements]
        inertia = np.array([max(float((x * x).sum()), 1.0) for x in self.local])
        count = np.array([len(x) for x in self.local], dtype=float)
        y = self._ylocal()
        rc_t = np.transpose(self.v_rc, (0, 2, 1))
        ok = False
        for step in range(steps):
            pa, pb = self._positions(m, y)
            dv = pb - pa
            d = np.sqrt((dv * dv).sum(1))
            o = self.v_rho - d
            if not np.any(o > 0.06):
                ok = True
                break
            act = o > 0
            g = np.zeros_like(dv)
            g[act] = (2.0 * o[act] / np.maximum(d[act], 1e-6))[:, None] * dv[act]  # dE/dpa; dE/dpb = -g
            gb = -np.einsum("pij,pj->pi", rc_t, g)
            ta = _cross(y[self.v_mol_a, self.v_a], g)
            tb = _cross(y[self.v_mol_b, self.v_b], gb)
            grad_c = np.zeros((n, 3))
            grad_w = np.zeros((n, 3))
            for c in range(3):
                grad_c[:, c] = (np.bincount(self.v_mol_a, g[:, c], n) + np.bincount(self.v_mol_b, gb[:, c], n))
                grad_w[:, c] = (np.bincount(self.v_mol_a, ta[:, c], n) + np.bincount(self.v_mol_b, tb[:, c], n))
            n_act = np.maximum(np.bincount(self.v_mol_a[act], minlength=n)
                               + np.bincount(self.v_mol_b[act], minlength=n), 1)
            dc = -0.5 * grad_c / n_act[:, None]
            dc = dc * np.minimum(1.0, 0.2 / np.maximum(np.sqrt((dc * dc).sum(1)), 1e-9))[:, None]
            dc *= movable[:, None]
            dw = -0.5 * grad_w / (2.0 * (inertia / count) * n_act)[:, None]
            for i in range(n):
                w = dw[i]
                if axes[i] is not None:
                    w = np.dot(w, axes[i]) * axes[i]
                ang = float(np.sqrt(w @ w))
                if ang > 1e-9:
                    y[i] = y[i] @ _axis_rotation(w / ang, min(ang, 0.06)).T
            self.centres = self.centres + dc @ minv.T
            if step % 5 == 4:
                pa2, pb2 = self._positions(m, y)
                moved = max(np.abs(pa2 - self.v_ref[0]).max(), np.abs(pb2 - self.v_ref[1]).max())
                if moved > 0.3:
                    self.local = [y[i, :len(x)].copy() for i, x in enumerate(self.local)]
                    self._build_instances()
                    self.build_list(self.list_contact)
                    rc_t = np.transpose(self.v_rc, (0, 2, 1))
        self.local = [y[i, :len(x)].copy() for i, x in enumerate(self.local)]
        self._build_instances()
        if not ok:
            return False
        return self._list_ratio(d) >= contact

    def _list_ratio(self, d: np.ndarray) -> float:
        """Shortest contact ratio over the Verlet list (exact below the list's cutoff)."""
        if len(d) == 0:
            return float("inf")
        return float(np.min(d / (self.v_rho / self.list_contact)))

    def snapshot(self):
        return self.cell.copy(), [x.copy() for x in self.local], self.centres.copy()

    def restore(self, snap) -> None:
        self.cell, local, self.centres = snap[0].copy(), [x.copy() for x in snap[1]], snap[2].copy()
        self.local = local
        self._build_instances()


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack([a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1], a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                     a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]], axis=1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _edge_masks(crystal_system: str) -> List[np.ndarray]:
    if crystal_system in ("Tetragonal", "Trigonal", "Hexagonal"):
        return [np.array([1.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])]
    return [np.eye(3)[k] for k in range(3)]


def _compress(state: _Packing, v_target: float, rng: np.random.Generator, cycles: int) -> bool:
    masks = _edge_masks(state.sg.crystal_system)
    if not state.squeeze(np.ones(3), (v_target / state.volume) ** (1 / 3)):
        return False
    for _ in range(cycles):
        v0 = state.volume
        for k in rng.permutation(len(masks)):
            if state.volume <= v_target * 1.0005:
                return True
            power = masks[k].sum()
            if not state.squeeze(masks[k], (v_target / state.volume) ** (1 / power)):
                return False
        if state.volume > 0.995 * v0:
            break
    return True


def _densify(state: _Packing, v_target: float, rng: np.random.Generator, contact: float,
              min_step: float = 0.01, step: float = 0.08) -> None:
    """Shrink the cell a few percent at a time (isotropically or one edge), relaxing the
    molecules after each shrink; the step halves after a failure, down to ``min_step``."""
    masks = [np.ones(3)] + _edge_masks(state.sg.crystal_system)
    while state.volume > v_target * 1.001 and step >= min_step:
        k = 0 if rng.random() < 0.4 else int(rng.integers(1, len(masks)))
        power = masks[k].sum()
        s = max((1.0 - step) ** (1.0 / power), (v_target / state.volume) ** (1.0 / power))
        snap = state.snapshot()
        state._scale(masks[k], s)
        state._build_instances()
        if not state.relax(contact):
            state.restore(snap)
            step *= 0.5


def pack(sg: SpaceGroup, placements: Sequence[Placement], rng: np.random.Generator,
         volume_factor: float = 1.0, contact: float = 0.85, max_excess: float = 0.12,
         attempts: int = 2, cycles: int = 2) -> Optional[PackedCrystal]:
    """Pack ``placements`` into ``sg``; None when every attempt stays above (1+max_excess)*target volume."""
    v_target = target_volume(placements, sg.order) * volume_factor
    best = None
    for _ in range(attempts):
        shape = random_cell_shape(rng, sg.crystal_system)
        state = _Packing(sg, placements, shape, rng, contact)
        # start loose: about 4x the target volume, then grow until no contact is short
        state._scale(np.ones(3), (4.0 * v_target / state.volume) ** (1 / 3))
        if not state.expand(s_hi=20.0) or not _compress(state, v_target, rng, cycles):
            continue
        _densify(state, v_target, rng, contact)
        if best is None or state.volume < best.volume:
            best = state
        if state.volume <= v_target * (1 + max_excess):
            break
    if best is None or best.volume > v_target * (1 + max_excess):
        return None
    return PackedCrystal(sg, np.array(best.cell), list(placements), best.local, best.centres,
                         best.min_contact_ratio(), v_target)


def asu_atoms(crystal: PackedCrystal) -> Tuple[np.ndarray, ...]:
    """Asymmetric-unit atoms: (z, frac xyz, molecule id, site multiplicity, on special position).

    A molecule on an inversion centre or 2-fold axis keeps one atom of each symmetry-related
    pair; its atoms on the symmetry element have half the general multiplicity.
    """
    m = cell_matrix(crystal.cell)
    minv = np.linalg.inv(m)
    order = crystal.space_group.order
    zs, fr, mol, mult, special = [], [], [], [], []
    for i, (p, loc) in enumerate(zip(crystal.placements, crystal.local_xyz)):
        frac = crystal.centres[i] + loc @ minv.T
        keep = np.arange(len(p.molecule.z))
        mul = np.full(len(keep), order)
        sp = np.zeros(len(keep), dtype=bool)
        if p.site is not None:
            partner = p.molecule.partner if p.molecule.partner is not None else np.zeros(1, dtype=int)
            keep = np.array([a for a in range(len(p.molecule.z)) if partner[a] >= a])
            sp = partner[keep] == keep
            mul = np.where(sp, order // 2, order)
        zs.append(p.molecule.z[keep])
        fr.append(frac[keep])
        mol.append(np.full(len(keep), i))
        mult.append(mul)
        special.append(sp)
    return (np.concatenate(zs), np.concatenate(fr), np.concatenate(mol), np.concatenate(mult),
            np.concatenate(special))
