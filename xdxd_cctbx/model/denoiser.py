"""The XDXD-style denoiser: atoms attend to atoms (symmetry-aware geometry) and to reflections.

Per block (pre-norm, time/global conditioning by adaptive layer norm):

1. self-attention among asymmetric-unit atoms, biased per head by radial basis
   features of the shortest symmetry-image distance between atoms;
2. cross-attention from atoms to reflection tokens (strongest |E_obs|, with
   the current |E_calc| and phase), biased per head by each atom's own
   contribution to each reflection in the frame of the current F_calc - the
   physics that says which atom could fix which reflection; a learned null
   token lets unconditioned inputs attend to nothing;
3. a feed-forward layer.

Output: a Cartesian vector per atom from three heads - a free linear head, a
pairwise head along interatomic vectors (bond geometry), and a gated copy of
the diffraction-loss gradient direction - turned into per-axis ``eps`` on the
torus (``eps = sigma_frac * score``).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict

import torch
import torch.nn.functional as F
from torch import nn

from xdxd_cctbx.model.inputs import (
    ATOM_PHYSICS_DIM,
    ATOM_REFLECTION_DIM,
    GLOBAL_DIM,
    REFLECTION_DIM,
    DenoiserInputs,
)


@dataclasses.dataclass(frozen=True)
class DenoiserConfig:
    """Architecture parameters (saved in checkpoints and the weights registry)."""

    dim: int = 128
    depth: int = 4
    heads: int = 4
    pair_dim: int = 32
    n_rbf: int = 24
    rbf_max: float = 8.0
    n_fourier: int = 3
    max_z: int = 99
    pair_cutoff: float = 5.0

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "DenoiserConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown denoiser architecture parameters: {sorted(unknown)}")
        return cls(**data)


def sinusoidal_embedding(x: torch.Tensor, dim: int, max_period: float = 100.0) -> torch.Tensor:
    """(B,) -> (B,dim) sin/cos features over geometric frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=x.dtype) / half)
    ang = x[:, None] * freqs[None] * 2 * math.pi
    return torch.cat([torch.sin(ang), torch.cos(ang)], -1)


class AdaptiveNorm(nn.Module):
    """LayerNorm whose scale and shift come from a conditioning vector (zero-initialised)."""

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.to_scale_shift = nn.Linear(cond_dim, 2 * dim)
        nn.init.zeros_(self.to_scale_shift.weight)
        nn.init.zeros_(self.to_scale_shift.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.to_scale_shift(cond).unsqueeze(1).chunk(2, -1)
        return self.norm(x) * (1 + scale) + shift


class BiasedAttention(nn.Module):
    """Multi-head attention with an additive (B,H,Nq,Nk) bias."""

    def __init__(self, dim: int, heads: int, *, kv_dim: int = 0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(kv_dim or dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.to_q(x).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.to_kv(context).chunk(2, -1)
        k = k.view(b, -1, h, d // h).transpose(1, 2)
        v = v.view(b, -1, h, d // h).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class DenoiserBlock(nn.Module):
    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        d = cfg.dim
        self.norm_self = AdaptiveNorm(d, d)
        self.self_attn = BiasedAttention(d, cfg.heads)
        self.pair_bias = nn.Linear(cfg.n_rbf, cfg.heads)
        self.norm_cross = AdaptiveNorm(d, d)
        self.cross_attn = BiasedAttention(d, cfg.heads)
        self.refl_bias = nn.Sequential(nn.Linear(ATOM_REFLECTION_DIM, 16), nn.GELU(), nn.Linear(16, cfg.heads))
        self.norm_ff = AdaptiveNorm(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        nn.init.zeros_(self.ff[-1].weight)
        nn.init.zeros_(self.ff[-1].bias)

    def forward(self, h, cond, rbf, key_mask_bias, refl, refl_feats, refl_key_bias):
        bias = self.pair_bias(rbf).permute(0, 3, 1, 2) + key_mask_bias
        x = self.norm_self(h, cond)
        h = h + self.self_attn(x, x, bias)
        rb = self.refl_bias(refl_feats).permute(0, 3, 1, 2)  # (B,H,N,T)
        rb = F.pad(rb, (1, 0)) + refl_key_bias  # (B,H,N,1+T), null token first
        h = h + self.cross_attn(self.norm_cross(h, cond), refl, rb)
        h = h + self.ff(self.norm_ff(h, cond))
        return h


class XdxdDenoiser(nn.Module):
    """Predicts per-axis eps on the torus for noisy asymmetric-unit atoms (see module doc)."""

    def __init__(self, config: DenoiserConfig = DenoiserConfig()) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.element = nn.Embedding(config.max_z + 1, d, padding_idx=0)
        n_four = 6 * config.n_fourier
        self.atom_in = nn.Linear(d + n_four + ATOM_PHYSICS_DIM, d)
        self.cond_in = nn.Sequential(nn.Linear(64 + GLOBAL_DIM, d), nn.GELU(), nn.Linear(d, d))
        self.refl_in = nn.Sequential(nn.Linear(REFLECTION_DIM, d), nn.GELU(), nn.Linear(d, d))
        self.null_token = nn.Parameter(torch.zeros(1, 1, d))
        self.register_buffer("rbf_centres", torch.linspace(0.0, config.rbf_max, config.n_rbf), persistent=False)
        self.blocks = nn.ModuleList([DenoiserBlock(config) for _ in range(config.depth)])
        self.norm_out = AdaptiveNorm(d, d)
        self.head_free = nn.Linear(d, 3)
        self.head_grad = nn.Linear(d, 1)
        p = config.pair_dim
        self.pair_i = nn.Linear(d, p)
        self.pair_j = nn.Linear(d, p, bias=False)
        self.pair_r = nn.Linear(config.n_rbf, p, bias=False)
        self.pair_out = nn.Sequential(nn.GELU(), nn.Linear(p, 1))
        for lin in (self.head_free, self.head_grad, self.pair_out[-1]):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def _rbf(self, dist: torch.Tensor) -> torch.Tensor:
        width = self.config.rbf_max / self.config.n_rbf
        return torch.exp(-((dist.unsqueeze(-1) - self.rbf_centres) / width) ** 2)

    def forward(self, inp: DenoiserInputs) -> torch.Tensor:
        cfg = self.config
        mask = inp.atom_mask
        b, n = mask.shape
        k = torch.arange(1, cfg.n_fourier + 1, device=inp.frac.device, dtype=inp.frac.dtype)
        ang = 2 * math.pi * inp.frac.unsqueeze(-1) * k  # (B,N,3,F)
        fourier = torch.cat([torch.sin(ang), torch.cos(ang)], -1).flatten(2)
        z = inp.atomic_numbers.clamp(0, cfg.max_z)
        h = self.atom_in(torch.cat([self.element(z), fourier, inp.atom_physics], -1))
        cond = self.cond_in(torch.cat([sinusoidal_embedding(inp.log_sigma, 64), inp.global_features], -1))
        rbf = self._rbf(inp.pair_distances)  # (B,N,N,R)
        neg = torch.finfo(h.dtype).min / 4
        key_mask_bias = torch.zeros(b, 1, 1, n, dtype=h.dtype, device=h.device).masked_fill(
            ~mask[:, None, None, :], neg)
        refl = torch.cat([self.null_token.expand(b, 1, -1), self.refl_in(inp.reflections)], 1)
        refl_ok = F.pad(inp.reflection_mask, (1, 0), value=True)
        refl_key_bias = torch.zeros(b, 1, 1, refl_ok.shape[1], dtype=h.dtype, device=h.device).masked_fill(
            ~refl_ok[:, None, None, :], neg)
        for block in self.blocks:
            h = block(h, cond, rbf, key_mask_bias, refl, inp.atom_reflection, refl_key_bias)
        h = self.norm_out(h, cond)
        # pairwise head: weighted sum of unit vectors from neighbours' images to each atom
        dist = inp.pair_distances
        m = self.pair_out(self.pair_i(h)[:, :, None] + self.pair_j(h)[:, None] + self.pair_r(rbf)).squeeze(-1)
        cutoff = 0.5 * (torch.cos(math.pi * (dist / cfg.pair_cutoff).clamp(max=1.0)) + 1.0)
        cutoff = cutoff * (mask[:, :, None] & mask[:, None, :])
        unit = inp.pair_vectors / dist.clamp_min(0.1).unsqueeze(-1)
        v_pair = ((m * cutoff).unsqueeze(-1) * unit).sum(2)
        v = self.head_free(h) + v_pair + self.head_grad(h) * inp.gradient_direction
        # Cartesian -> fractional, in units of the per-axis noise width
        frac_v = torch.linalg.solve(inp.lattice, v.transpose(1, 2)).transpose(1, 2)
        eps = frac_v * inp.lattice.norm(dim=1).unsqueeze(1)
        return eps * mask.unsqueeze(-1)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
