"""Padded, batched, differentiable diffraction for many different crystals at once.

:mod:`xdxd_cctbx.sf` computes F_calc for many candidates of *one* crystal; training
needs a batch of *different* crystals (cells, groups, reflection sets). This
module does that with padding (operations, atoms and reflections masked) and
reuses sf's form-factor table:

    F(h) = sum_j f_j(s) exp(-B_j s^2) sum_k exp(2 pi i h.(R_k x_j + t_k))

(all operations, centring included; atoms on general positions). It also holds
the numpy reflection-set builder (unique hkl, absences removed, epsilon), the
|E| normalisation in resolution shells (the same recipe as
:func:`xdxd_cctbx.data.prepare.normalised_amplitudes`), the diffraction loss
``1 - corr(|E_obs|, |E_calc|)`` and the on-the-fly data simulation used in training.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from xdxd_cctbx.diffusion.crystal import CrystalBatch, cell_matrix
from xdxd_cctbx.sf.form_factors import FormFactorTable

TWO_PI = 2.0 * math.pi
EIGHT_PI_SQ = 8.0 * math.pi ** 2
MAX_Z = 98

_ELEMENTS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br "
    "Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho "
    "Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf"
).split()
ELEMENT_SYMBOLS = ("X",) + tuple(_ELEMENTS)  # index = atomic number
ATOMIC_NUMBERS = {s: i for i, s in enumerate(ELEMENT_SYMBOLS) if i}


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (case-insensitive, charges ignored)."""
    clean = "".join(ch for ch in symbol if ch.isalpha())
    key = clean[:1].upper() + clean[1:2].lower()
    if key not in ATOMIC_NUMBERS:
        key = clean[:1].upper()
    if key not in ATOMIC_NUMBERS:
        raise ValueError(f"unknown element {symbol!r}")
    return ATOMIC_NUMBERS[key]


_COEFFS: dict = {}


def form_factor_coefficients(device, dtype) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian coefficients a (Z,G), b (Z,G), c (Z,) indexed by atomic number (row 0 zero)."""
    key = (str(device), dtype)
    if key not in _COEFFS:
        table = FormFactorTable.default()
        a, b, c = table.coefficients(list(ELEMENT_SYMBOLS[1:]))
        zeros = torch.zeros(1, a.shape[1], dtype=a.dtype)
        _COEFFS[key] = (
            torch.cat([zeros, a]).to(device, dtype),
            torch.cat([zeros, b]).to(device, dtype),
            torch.cat([torch.zeros(1, dtype=c.dtype), c]).to(device, dtype),
        )
    return _COEFFS[key]


# ------------------------------------------------------------------ reflection sets

def reciprocal_metric(cell) -> np.ndarray:
    """G* (numpy) with d*^2 = h G* h."""
    lat = cell_matrix(cell)
    return np.linalg.inv(lat.T @ lat)


def unique_reflections(cell, rotations: np.ndarray, translations: np.ndarray, d_min: float
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """Unique, non-absent reflections to ``d_min`` (numpy): (hkl (M,3) int, epsilon (M,)).

    One representative per Friedel/point-group orbit; 000 excluded.
    """
    lat = cell_matrix(cell)
    g_star = reciprocal_metric(cell)
    hmax = np.floor(np.linalg.norm(lat, axis=0) / d_min).astype(int) + 1
    grids = np.meshgrid(*[np.arange(-m, m + 1) for m in hmax], indexing="ij")
    h = np.stack([g.ravel() for g in grids], 1)
    d_star_sq = np.einsum("mi,ij,mj->m", h, g_star, h)
    h = h[(d_star_sq <= 1.0 / d_min ** 2 + 1e-9) & (d_star_sq > 0)]
    rot = np.round(np.asarray(rotations)).astype(int)
    equiv = np.einsum("mi,kij->mkj", h, rot)  # h R
    equiv = np.concatenate([equiv, -equiv], 1)
    base = 2 * int(hmax.max()) + 3
    key = lambda v: ((v[..., 0] + base) * base * 4 + (v[..., 1] + base)) * base * 4 + (v[..., 2] + base)  # noqa: E731
    keep = key(h) == key(equiv).max(1)
    h = h[keep]
    hr = np.einsum("mi,kij->mkj", h, rot)
    fixed = np.all(hr == h[:, None, :], axis=2)  # (M,K): ops with hR = h
    ht = np.einsum("mi,ki->mk", h, np.asarray(translations))
    frac_part = np.abs(ht - np.round(ht))
    absent = np.any(fixed & (frac_part > 1e-4), axis=1)
    n_centring = int(np.sum(np.all(rot == np.eye(3, dtype=int), axis=(1, 2))))
    eps = fixed.sum(1) / max(n_centring, 1)
    return h[~absent].astype(np.int64), eps[~absent].astype(np.float64)


# ------------------------------------------------------------------ structure factors

class _BatchedPhaseSums(torch.autograd.Function):
    """(A, B) = sum_n g_n sum_k w_k (cos, sin)(h_rot.x_n + h_t); backward to x only.

    w_k (B,K) is 1 for real and 0 for padded operations. The backward recomputes
    the phases instead of storing (B,N,K,M) tensors.
    """

    @staticmethod
    def forward(ctx, x, h_rot, h_t, g, op_w):
        phase = torch.einsum("bnj,bkmj->bnkm", x, h_rot) + h_t.unsqueeze(1)
        w = op_w[:, None, :, None]
        a = torch.einsum("bnm,bnkm->bm", g, torch.cos(phase) * w)
        b = torch.einsum("bnm,bnkm->bm", g, torch.sin(phase) * w)
        ctx.save_for_backward(x, h_rot, h_t, g, op_w)
        return a, b

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_a, grad_b):
        x, h_rot, h_t, g, op_w = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        phase = torch.einsum("bnj,bkmj->bnkm", x, h_rot) + h_t.unsqueeze(1)
        ga = grad_a[:, None, None, :]
        gb = grad_b[:, None, None, :]
        d_phase = (torch.cos(phase) * gb - torch.sin(phase) * ga) * g.unsqueeze(2) * op_w[:, None, :, None]
        grad_x = torch.einsum("bnkm,bkmj->bnj", d_phase, h_rot)
        return grad_x, None, None, None, None


class DiffractionContext:
    """Per-batch precomputation of everything F_calc needs except the coordinates.

    Holds 2 pi h R_k (B,K,M,3), 2 pi h.t_k (B,K,M) (zero weight for padded
    operations), (sin theta / lambda)^2, form factors f0 (B,N,M), epsilon and
    equal-count resolution shells for the |E| normalisation.
    """

    def __init__(self, batch: CrystalBatch, *, reflections_per_shell: int = 50, max_shells: int = 30) -> None:
        self.batch = batch
        hkl = batch.hkl
        dtype = batch.lattice.dtype
        opw = batch.op_mask.to(dtype)
        self.h_rot = TWO_PI * torch.einsum("bmi,bkij->bkmj", hkl, batch.rotations)
        self.h_t = TWO_PI * torch.einsum("bmi,bki->bkm", hkl, batch.translations)
        self.op_weight = opw  # padded operations contribute nothing
        g_star = torch.linalg.inv(batch.lattice.transpose(1, 2) @ batch.lattice)
        self.d_star_sq = torch.einsum("bmi,bij,bmj->bm", hkl, g_star, hkl)
        self.stol_sq = self.d_star_sq / 4.0
        self.refl_mask = batch.refl_mask
        self.reciprocal_vectors = torch.einsum("bji,bmj->bmi", torch.linalg.inv(batch.lattice), hkl)
        hr = torch.einsum("bmi,bkij->bkmj", hkl, batch.rotations)
        fixed = ((hr - hkl.unsqueeze(1)).abs().amax(-1) < 1e-4) & batch.op_mask.unsqueeze(-1)
        eye = torch.eye(3, dtype=dtype, device=hkl.device)
        centring = ((batch.rotations - eye).abs().amax((-1, -2)) < 1e-4) & batch.op_mask
        self.epsilon = (fixed.sum(1).to(dtype) / centring.sum(1, keepdim=True).clamp_min(1).to(dtype)).clamp_min(1.0)
        self.shell, self.n_shells = _shells(self.d_star_sq, batch.refl_mask, reflections_per_shell, max_shells)
        a, b, c = form_factor_coefficients(hkl.device, dtype)
        z = batch.atomic_numbers
        self.f0 = (a[z].unsqueeze(-1) * torch.exp(-b[z].unsqueeze(-1) * self.stol_sq[:, None, None, :])).sum(2) \
            + c[z].unsqueeze(-1)  # (B,N,M)
        self.f0 = self.f0 * batch.atom_mask.unsqueeze(-1)
        if batch.occupancy is not None:
            self.f0 = self.f0 * batch.occupancy.unsqueeze(-1)

    def f_calc(self, frac: torch.Tensor, *, b_iso: Optional[torch.Tensor] = None
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(A, B) = (Re F, Im F), each (B,M), for coordinates (B,N,3); b_iso (B,N) or None."""
        g = self.f0
        if b_iso is not None:
            g = g * torch.exp(-b_iso.unsqueeze(-1) * self.stol_sq.unsqueeze(1))
        x = frac.to(self.h_rot.dtype)
        x = x - torch.floor(x.detach())
        return _BatchedPhaseSums.apply(x, self.h_rot, self.h_t, g, self.op_weight)

    def intensities(self, frac: torch.Tensor, *, b_iso: Optional[torch.Tensor] = None) -> torch.Tensor:
        """|F_calc|^2 (B,M)."""
        a, b = self.f_calc(frac, b_iso=b_iso)
        return a * a + b * b

    def normalise(self, f_sq: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """E^2 = (F^2/epsilon) / <F^2/epsilon>_shell over ``mask`` (default: all reflections)."""
        mask = self.refl_mask if mask is None else mask
        v = f_sq / self.epsilon * mask
        sums = torch.zeros(v.shape[0], self.n_shells, dtype=v.dtype, device=v.device).scatter_add_(1, self.shell, v)
        counts = torch.zeros_like(sums).scatter_add_(1, self.shell, mask.to(v.dtype))
        mean = sums / counts.clamp_min(1.0)
        return v / torch.gather(mean, 1, self.shell).clamp_min(1e-12)

    def e_calc(self, frac: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """|E_calc| (B,M) with the observed data's shells."""
        return torch.sqrt(self.normalise(self.intensities(frac), mask).clamp_min(1e-12))

    def loss(self, frac: torch.Tensor, e_obs: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Diffraction loss 1 - corr(|E_obs|, |E_calc|) per crystal (B,)."""
        mask = self.refl_mask if mask is None else mask
        return 1.0 - masked_correlation(e_obs, self.e_calc(frac, mask), mask)

    def loss_and_gradient(self, frac: torch.Tensor, e_obs: torch.Tensor, mask: Optional[torch.Tensor] = None
                          ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss (B,), d loss / d frac (B,N,3), |E_calc| (B,M), phase of F_calc (B,M)); no graph kept."""
        mask = self.refl_mask if mask is None else mask
        with torch.enable_grad():
            x = frac.detach().clone().requires_grad_(True)
            a, b = self.f_calc(x)
            e = torch.sqrt(self.normalise(a * a + b * b, mask).clamp_min(1e-12))
            loss = 1.0 - masked_correlation(e_obs, e, mask)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        return loss.detach(), grad.detach(), e.detach(), torch.atan2(b.detach(), a.detach())

    def atom_contributions(self, frac: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Unit-atom structure factors sum_k exp(2 pi i h.(R_k x + t_k)) for a subset of
        reflections (index (B,T)): complex as (B,N,T,2) real tensor (cos, sin sums)."""
        h_rot, h_t = self.h_rot, self.h_t
        idx = index[:, None, :, None].expand(-1, h_rot.shape[1], -1, 3)
        hr = torch.gather(h_rot, 2, idx)
        ht = torch.gather(h_t, 2, index[:, None, :].expand(-1, h_t.shape[1], -1))
        phase = torch.einsum("bnj,bkmj->bnkm", frac.detach(), hr) + ht.unsqueeze(1)
        w = self.op_weight[:, None, :, None]
        return torch.stack([(torch.cos(phase) * w).sum(2), (torch.sin(phase) * w).sum(2)], -1)


def _shells(d_star_sq: torch.Tensor, mask: torch.Tensor, per_shell: int, max_shells: int
            ) -> Tuple[torch.Tensor, int]:
    """Equal-count resolution shells per crystal: index (B,M) and the number of shells."""
    big = torch.where(mask, d_star_sq, torch.full_like(d_star_sq, float("inf")))
    rank = torch.argsort(torch.argsort(big, dim=1), dim=1)
    n_valid = mask.sum(1, keepdim=True)
    n_bins = torch.clamp(n_valid // per_shell, 1, max_shells)
    shell = torch.div(rank * n_bins, n_valid.clamp_min(1), rounding_mode="floor")
    shell = torch.minimum(shell, n_bins - 1).clamp_min(0)
    return shell.long(), int(max_shells)


def masked_correlation(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of x and y over mask, per row (B,)."""
    w = mask.to(x.dtype)
    n = w.sum(1).clamp_min(1.0)
    mx = (x * w).sum(1) / n
    my = (y * w).sum(1) / n
    dx = (x - mx[:, None]) * w
    dy = (y - my[:, None]) * w
    return (dx * dy).sum(1) / torch.sqrt((dx * dx).sum(1) * (dy * dy).sum(1)).clamp_min(1e-12)


def r1_factor(f_obs: torch.Tensor, f_calc_abs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """R1 = sum| |Fo| - k|Fc| | / sum |Fo| with the least-squares scale k, per row (B,)."""
    w = mask.to(f_obs.dtype)
    k = (f_obs * f_calc_abs * w).sum(1) / (f_calc_abs * f_calc_abs * w).sum(1).clamp_min(1e-12)
    return ((f_obs - k[:, None] * f_calc_abs).abs() * w).sum(1) / (f_obs * w).sum(1).clamp_min(1e-12)


def simulate_observations(
    batch: CrystalBatch,
    generator: torch.Generator,
    *,
    b_range: Tuple[float, float] = (1.5, 6.0),
    missing_max: float = 0.15,
    mean_counts_range: Tuple[float, float] = (200.0, 5000.0),
    background: float = 20.0,
    error_floor: float = 0.02,
) -> CrystalBatch:
    """Simulated |F_obs| and |E_obs| for the true coordinates of ``batch`` (training data).

    Random overall B (plus the atoms' own U when given), counting noise with a
    random mean intensity, a 2 % error floor, 0 to ``missing_max`` missing
    reflections (removed from the mask) and a random overall scale.
    """
    dev, dtype = batch.device, batch.lattice.dtype
    bsz = batch.batch_size
    rand = lambda *shape: torch.rand(*shape, generator=generator).to(device=dev, dtype=dtype)  # noqa: E731
    randn = lambda *shape: torch.randn(*shape, generator=generator).to(device=dev, dtype=dtype)  # noqa: E731
    ctx = DiffractionContext(batch)
    b_over = b_range[0] + (b_range[1] - b_range[0]) * rand(bsz, 1)
    b_atom = b_over.expand_as(batch.atom_mask.to(dtype))
    if batch.u_iso is not None:  # the crystal's own U where known, else the random overall B
        b_atom = torch.where(batch.u_iso > 0, EIGHT_PI_SQ * batch.u_iso, b_atom)
    b_atom = b_atom * (1.0 + 0.15 * randn(*batch.atom_mask.shape)).clamp(0.6, 1.4)
    with torch.no_grad():
        i_true = ctx.intensities(batch.frac, b_iso=b_atom)
        mask = batch.refl_mask
        mean_i = (i_true * mask).sum(1) / mask.sum(1).clamp_min(1)
        counts = mean_counts_range[0] * (mean_counts_range[1] / mean_counts_range[0]) ** rand(bsz, 1)
        i_counts = i_true * counts / mean_i[:, None].clamp_min(1e-12)
        sigma = torch.sqrt(i_counts + 2.0 * background + (error_floor * i_counts) ** 2)
        i_meas = i_counts + sigma * randn(*i_counts.shape)
        f_obs = torch.sqrt(i_meas.clamp_min(0.0)) * (0.1 + 10 * rand(bsz, 1))
        keep = rand(*mask.shape) >= missing_max * rand(bsz, 1)
        new_mask = mask & keep
        ctx_mask = DiffractionContext(batch.replace(refl_mask=new_mask))
        e_obs = torch.sqrt(ctx_mask.normalise(f_obs * f_obs).clamp_min(0.0)) * new_mask
    return batch.replace(f_obs=f_obs * new_mask, e_obs=e_obs, refl_mask=new_mask)
