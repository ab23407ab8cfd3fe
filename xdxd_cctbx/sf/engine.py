"""Batched, differentiable X-ray structure factors in torch (no cctbx needed).

For a fixed crystal (unit cell, space group, reflections h) and many candidate
asymmetric units at once::

    F(h) = sum_j w_j f_j(s) exp(-B_j s^2) sum_{(R,t) in G} exp(2 pi i h.(R x_j + t))

with s = sin(theta)/lambda, w_j = occupancy_j / (order of the site-symmetry
group of atom j) -- the weight cctbx gives a scatterer when it sums over all
operations of the group (a general position has w = occupancy) -- and B = 8 pi^2 U.

The group G is factored into centring translations x {1, -1 at the origin} x
coset representatives (see :func:`factor_operators`); the sums over centring and
inversion are done analytically, so per atom only the representatives are
evaluated (cosines only when the group has -1 at the origin). h.R and h.t are
precomputed once per (space group, hkl set).

Example::

    ops = SymmetryOperators.from_xyz_strings(["x,y,z", "-x,y+1/2,-z+1/2",
                                              "-x,-y,-z", "x,-y+1/2,z+1/2"])
    calc = StructureFactorCalculator(hkl, (10.0, 12.0, 8.0, 90, 101.0, 90), ops,
                                     scattering_types=["C", "N", "O"])
    f = calc(frac, calc.type_index(["C", "C", "O"]), b_iso=b)   # (B, M) complex

Inputs may carry a batch dimension first: frac (B,N,3) or (N,3); b_iso / u_iso /
weights (B,N), (N,) or scalars; type_index (B,N) or (N,). Device and dtype
(float32 default, float64 for checks) follow ``frac``; gradients flow to frac,
b_iso / u_iso and weights. Padding atoms: give them weight 0.
"""
from __future__ import annotations

import logging
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.sf.form_factors import FormFactorTable
from xdxd_cctbx.sf.symmetry import SymmetryOperators

logger = logging.getLogger(__name__)

TWO_PI = 2.0 * math.pi
EIGHT_PI_SQ = 8.0 * math.pi**2

TensorLike = Union[torch.Tensor, np.ndarray, Sequence]


def cell_parameters(unit_cell) -> Tuple[float, ...]:
    """(a, b, c, alpha, beta, gamma) from a 6-sequence or a cctbx unit_cell."""
    params = unit_cell.parameters() if hasattr(unit_cell, "parameters") else unit_cell
    params = tuple(float(v) for v in params)
    if len(params) != 6 or min(params[:3]) <= 0:
        raise InputError(f"unit cell needs (a, b, c, alpha, beta, gamma), got {params}")
    return params


def metric_tensor(unit_cell) -> np.ndarray:
    """Real-space metric tensor G (3,3) of a cell (Angstrom^2)."""
    a, b, c, al, be, ga = cell_parameters(unit_cell)
    ca, cb, cg = (math.cos(math.radians(v)) for v in (al, be, ga))
    g = np.array(
        [
            [a * a, a * b * cg, a * c * cb],
            [a * b * cg, b * b, b * c * ca],
            [a * c * cb, b * c * ca, c * c],
        ]
    )
    if np.linalg.det(g) <= 0:
        raise InputError(f"unit cell {cell_parameters(unit_cell)} has no volume")
    return g


def stol_sq_from_cell(hkl: TensorLike, unit_cell) -> np.ndarray:
    """(sin(theta)/lambda)^2 = d*^2 / 4 of each reflection (float64)."""
    h = np.asarray(hkl, dtype=np.float64).reshape(-1, 3)
    g_star = np.linalg.inv(metric_tensor(unit_cell))
    return np.einsum("mi,ij,mj->m", h, g_star, h) / 4.0


class StructureFactorCalculator:
    """F_calc for many candidate structures of one crystal (cell, group, hkl set).

    hkl: (M,3) integer Miller indices; unit_cell: (a,b,c,alpha,beta,gamma) or a
    cctbx unit_cell (may be None when ``stol_sq`` is given); ops: all operations
    of the space group; scattering_types: labels of the atom types used (index
    into it with ``type_index``); table: form factors (default: shipped cctbx
    table); stol_sq: (M,) (sin(theta)/lambda)^2 instead of the cell.
    """

    def __init__(
        self,
        hkl: TensorLike,
        unit_cell,
        ops: SymmetryOperators,
        scattering_types: Sequence[str],
        table: Optional[FormFactorTable] = None,
        stol_sq: Optional[TensorLike] = None,
        fast_backward: bool = True,
    ) -> None:
        self.fast_backward = fast_backward
        h = torch.as_tensor(np.asarray(hkl), dtype=torch.float64).cpu()
        if h.dim() != 2 or h.shape[1] != 3 or h.shape[0] == 0:
            raise InputError(f"hkl must be a non-empty (M,3) array, got shape {tuple(h.shape)}")
        if not torch.equal(h, torch.round(h)):
            raise InputError("hkl must be integer Miller indices")
        if isinstance(scattering_types, str) or len(scattering_types) == 0:
            raise InputError("scattering_types must be a non-empty list of labels")
        self.hkl = h.to(torch.int64)
        self.ops = ops
        self.table = table if table is not None else FormFactorTable.default()
        self.scattering_types = [self.table.standard_label(t) for t in scattering_types]
        if stol_sq is None:
            if unit_cell is None:
                raise InputError("give a unit cell or stol_sq")
            s2 = torch.from_numpy(stol_sq_from_cell(h.numpy(), unit_cell))
        else:
            s2 = torch.as_tensor(np.asarray(stol_sq), dtype=torch.float64).reshape(-1)
            if s2.shape[0] != h.shape[0]:
                raise InputError("stol_sq must have one value per reflection")
        self.stol_sq = s2
        factors = ops.factors()
        self.centric = factors.origin_centric
        self.n_centring = len(factors.centring)
        self.n_representatives = len(factors.rotations)
        rot = torch.from_numpy(factors.rotations)  # (K,3,3)
        tr = torch.from_numpy(factors.translations)  # (K,3)
        # (h R)_j = sum_i h_i R_ij: phase of atom x under op k is 2 pi ((hR_k).x + h.t_k)
        h_rot = torch.einsum("mi,kij->jkm", h, rot)  # (3,K,M)
        h_t = torch.remainder(torch.einsum("mi,ki->km", h, tr), 1.0)
        centring = torch.from_numpy(factors.centring)
        c_sum = torch.cos(TWO_PI * (h @ centring.T)).sum(1)  # n_c or 0 (absence)
        c_sum = torch.round(c_sum)
        self.absent = c_sum == 0
        self._base = {
            "w": (TWO_PI * h_rot).reshape(3, -1),
            "shift": (TWO_PI * h_t).reshape(-1),
            "scale": c_sum * (2.0 if self.centric else 1.0),
            "stol_sq": s2,
            "f0": self.table.evaluate(self.scattering_types, s2),
        }
        self._cache: Dict[Tuple[torch.device, torch.dtype], Dict[str, torch.Tensor]] = {}
        logger.debug(
            "sf calculator: %d reflections, %d ops = %d centring x %d x %d representatives",
            h.shape[0], len(ops), self.n_centring, 2 if self.centric else 1, self.n_representatives,
        )

    @property
    def n_reflections(self) -> int:
        return int(self.hkl.shape[0])

    def type_index(self, labels: Sequence[str], device=None) -> torch.Tensor:
        """Indices into ``scattering_types`` of per-atom labels (int64 tensor)."""
        try:
            idx = [self.scattering_types.index(self.table.standard_label(lab)) for lab in labels]
        except ValueError:
            raise InputError(
                f"atom labels {sorted(set(labels))} not all among the calculator's "
                f"scattering types {self.scattering_types}"
            )
        return torch.tensor(idx, dtype=torch.int64, device=device)

    def _buffers(self, device: torch.device, dtype: torch.dtype) -> Dict[str, torch.Tensor]:
        key = (device, dtype)
        if key not in self._cache:
            self._cache[key] = {k: v.to(device=device, dtype=dtype) for k, v in self._base.items()}
        return self._cache[key]

    def real_imag(
        self,
        frac: torch.Tensor,
        type_index: TensorLike,
        b_iso: Optional[TensorLike] = None,
        weights: Optional[TensorLike] = None,
        u_iso: Optional[TensorLike] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(A, B) = (Re F, Im F), each (B, M) (or (M,) for unbatched frac).

        b_iso (Angstrom^2) or u_iso (B = 8 pi^2 U), default 0; weights =
        occupancy / site-symmetry order, default 1.
        """
        if not torch.is_tensor(frac) or not frac.is_floating_point():
            frac = torch.as_tensor(np.asarray(frac), dtype=torch.float32)
        unbatched = frac.dim() == 2
        x = frac.unsqueeze(0) if unbatched else frac
        if x.dim() != 3 or x.shape[-1] != 3:
            raise InputError(f"frac must be (B,N,3) or (N,3), got {tuple(frac.shape)}")
        n_batch, n_atoms, _ = x.shape
        dev, dt = x.device, x.dtype
        buf = self._buffers(dev, dt)
        if b_iso is not None and u_iso is not None:
            raise InputError("give b_iso or u_iso, not both")
        if u_iso is not None:
            b = _per_atom(u_iso, n_batch, n_atoms, dev, dt, "u_iso") * EIGHT_PI_SQ
        else:
            b = _per_atom(0.0 if b_iso is None else b_iso, n_batch, n_atoms, dev, dt, "b_iso")
        w = _per_atom(1.0 if weights is None else weights, n_batch, n_atoms, dev, dt, "weights")
        tidx = torch.as_tensor(type_index, device=dev)
        if (
            tidx.dtype not in (torch.int64, torch.int32)
            or tidx.dim() not in (1, 2)
            or tidx.shape[-1] != n_atoms
        ):
            raise InputError("type_index must be integer (N,) or (B,N) matching frac")
        n_types = len(self.scattering_types)
        if n_atoms and dev.type == "cpu" and not 0 <= int(tidx.min()) <= int(tidx.max()) < n_types:
            raise InputError(f"type_index out of range for {n_types} scattering types")
        f0 = buf["f0"][tidx.long()]  # (N,M) or (B,N,M)
        # atomic factor g = w f0 exp(-B s^2): (B,N,M)
        g = f0 * torch.exp(-b.unsqueeze(-1) * buf["stol_sq"]) * w.unsqueeze(-1)
        x = x - torch.floor(x.detach())  # h R integer: wrap for float32 accuracy
        shape = (n_batch, n_atoms, self.n_representatives, self.n_reflections)
        if self.fast_backward:
            cos_sum, sin_sum = _PhaseSums.apply(x, buf["w"], buf["shift"], shape, self.centric)
        else:
            cos_sum, sin_sum = _phase_sums(x, buf["w"], buf["shift"], shape, self.centric)
        a = (g * cos_sum).sum(1) * buf["scale"]
        if self.centric:
            im = torch.zeros_like(a)
        else:
            im = (g * sin_sum).sum(1) * buf["scale"]
        if unbatched:
            return a[0], im[0]
        return a, im

    def __call__(
        self,
        frac: torch.Tensor,
        type_index: TensorLike,
        b_iso: Optional[TensorLike] = None,
        weights: Optional[TensorLike] = None,
        u_iso: Optional[TensorLike] = None,
    ) -> torch.Tensor:
        """Complex F_calc, (B, M) (or (M,)); see :meth:`real_imag`."""
        a, b = self.real_imag(frac, type_index, b_iso=b_iso, weights=weights, u_iso=u_iso)
        return torch.complex(a, b)


def _phase_sums(
    x: torch.Tensor, w: torch.Tensor, shift: torch.Tensor, shape: Tuple[int, ...], centric: bool
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Sum over representatives of cos and sin of the phases: (B,N,M) each (plain autograd)."""
    n_batch, n_atoms, k, m = shape
    phase = torch.addmm(shift, x.reshape(-1, 3), w).view(shape)
    cos_sum = torch.cos(phase).sum(2)
    sin_sum = None if centric else torch.sin(phase).sum(2)
    return cos_sum, sin_sum


class _PhaseSums(torch.autograd.Function):
    """:func:`_phase_sums` with an analytic backward that reuses cos and sin."""

    @staticmethod
    def forward(ctx, x, w, shift, shape, centric):
        n_batch, n_atoms, k, m = shape
        phase = torch.addmm(shift, x.detach().reshape(-1, 3), w)
        cos = torch.cos(phase)
        cos_sum = cos.view(shape).sum(2)
        need_sin = (not centric) or ctx.needs_input_grad[0]
        sin = torch.sin(phase) if need_sin else None
        sin_sum = None if centric else sin.view(shape).sum(2)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(cos, sin, w)
        ctx.shape = shape
        ctx.centric = centric
        return cos_sum, sin_sum

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_cos_sum, grad_sin_sum):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        cos, sin, w = ctx.saved_tensors
        n_batch, n_atoms, k, m = ctx.shape
        rows = n_batch * n_atoms
        # d(phase) = -sin * dC + cos * dS, broadcast over the representatives
        if grad_cos_sum is None:
            d_phase = torch.zeros_like(cos).view(rows, k, m)
        else:
            d_phase = sin.view(rows, k, m) * grad_cos_sum.reshape(rows, 1, m).neg()
        if grad_sin_sum is not None:
            d_phase = torch.addcmul(d_phase, cos.view(rows, k, m), grad_sin_sum.reshape(rows, 1, m))
        grad_x = torch.mm(d_phase.view(rows, k * m), w.t()).view(n_batch, n_atoms, 3)
        return grad_x, None, None, None, None


def _per_atom(value, n_batch: int, n_atoms: int, dev, dt, name: str) -> torch.Tensor:
    """A scalar, (N,) or (B,N) per-atom quantity as (B,N), or (1,N) when it is the same for the batch."""
    t = value if torch.is_tensor(value) else torch.as_tensor(np.asarray(value, dtype=np.float64))
    t = t.to(device=dev, dtype=dt)
    if t.dim() > 2 or (t.dim() >= 1 and t.shape[-1] != n_atoms) or (
        t.dim() == 2 and t.shape[0] not in (1, n_batch)
    ):
        raise InputError(f"{name} must be a scalar, (N,) or (B,N), got {tuple(t.shape)}")
    # no batch dimension of its own: one row, broadcast (the atomic factors are then computed
    # once for the whole batch, not once per pose)
    return t.expand(t.shape[0] if t.dim() == 2 else 1, n_atoms)


def structure_factors(
    frac: torch.Tensor,
    type_index: TensorLike,
    b_iso: Optional[TensorLike],
    weights: Optional[TensorLike],
    hkl: TensorLike,
    ops: SymmetryOperators,
    unit_cell,
    scattering_types: Sequence[str],
    table: Optional[FormFactorTable] = None,
    stol_sq: Optional[TensorLike] = None,
) -> torch.Tensor:
    """One-off functional form of :class:`StructureFactorCalculator` (complex (B,M)).

    Builds the calculator on every call: reuse a calculator for repeated calls.
    """
    calc = StructureFactorCalculator(hkl, unit_cell, ops, scattering_types, table, stol_sq)
    return calc(frac, type_index, b_iso=b_iso, weights=weights)
