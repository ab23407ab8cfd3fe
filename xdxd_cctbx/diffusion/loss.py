"""Denoising score matching on the torus, invariant to how the crystal is written down.

A crystal has many equivalent descriptions: each asymmetric-unit atom may be
any of its symmetry images, and the origin may move by any permitted shift
(and invert, for the enantiomorph). The target for a noisy structure x_t is the
exact score of the noising kernel *mixed over all symmetry images* of each
atom, taken for the permitted origin that best explains x_t (continuous shifts
along the free axes of polar groups included). The loss is therefore unchanged
when the reference is rewritten in any equivalent way.

Network parameterisation: the network predicts ``eps = sigma_frac * score`` per
axis (dimensionless, O(1) at every noise level).
"""
from __future__ import annotations

from typing import Tuple

import torch

from xdxd_cctbx.diffusion.crystal import CrystalBatch, batch_origin_choices, symmetry_images
from xdxd_cctbx.diffusion.torus import wrap_delta, wrapped_normal_log_prob, wrapped_normal_score

TWO_PI = 2.0 * torch.pi


def noisy_coordinates(x0: torch.Tensor, sigma_frac: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x_t = wrap(x0 + sigma * z), sigma_frac (B,3)."""
    z = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
    x = x0 + sigma_frac[:, None, :] * z
    return x - torch.floor(x)


def denoising_target(x_t: torch.Tensor, x0: torch.Tensor, sigma_frac: torch.Tensor, batch: CrystalBatch,
                     *, n_images: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """Target eps (B,N,3) and the index of the chosen origin (B,) for noisy x_t.

    For every permitted origin choice c: images y = sign_c (R x0 + t) + shift_c
    (+ the best continuous shift along free axes); per atom, the mixture
    log-likelihood over images; c maximising the summed log-likelihood is used,
    and the target is sigma * sum_k softmax_k(log p_k) * score_k.
    """
    shifts, signs, cmask, free = batch_origin_choices(batch)
    images = symmetry_images(x0, batch)  # (B,N,K,3)
    y = signs[:, :, None, None, None] * images[:, None] + shifts[:, :, None, None, :]  # (B,S,N,K,3)
    d = wrap_delta(x_t[:, None, :, None, :] - y)
    s = sigma_frac[:, None, None, None, :]
    op_ok = batch.op_mask[:, None, None, :]
    atom_ok = batch.atom_mask[:, None, :]
    if bool(free.any()):
        # nearest image per atom, then the circular mean displacement along free axes
        dist = ((d / s) ** 2).sum(-1).masked_fill(~op_ok, float("inf"))
        best = dist.argmin(-1)  # (B,S,N)
        dn = torch.gather(d, 3, best[..., None, None].expand(*best.shape, 1, 3)).squeeze(3)  # (B,S,N,3)
        w = atom_ok[..., None].to(d.dtype)
        ang = TWO_PI * dn
        mean = torch.atan2((torch.sin(ang) * w).sum(2), (torch.cos(ang) * w).sum(2)) / TWO_PI  # (B,S,3)
        d = wrap_delta(d - (mean * free[:, None, :])[:, :, None, None, :])
    logp = wrapped_normal_log_prob(d, torch.zeros_like(d), s.expand_as(d), n_images=n_images).sum(-1)
    logp = logp.masked_fill(~op_ok, float("-inf"))  # (B,S,N,K)
    per_atom = torch.logsumexp(logp, dim=-1).masked_fill(~atom_ok, 0.0)  # (B,S,N)
    total = per_atom.sum(-1).masked_fill(~cmask, float("-inf"))
    choice = total.argmax(1)  # (B,)
    idx = torch.arange(x0.shape[0], device=x0.device)
    d_c, logp_c = d[idx, choice], logp[idx, choice]  # (B,N,K,3), (B,N,K)
    weights = torch.softmax(logp_c, dim=-1)
    sc = sigma_frac[:, None, None, :].expand_as(d_c)
    score = wrapped_normal_score(d_c, torch.zeros_like(d_c), sc, n_images=n_images)
    score = (weights.unsqueeze(-1) * score).sum(2)  # (B,N,3)
    eps = score * sigma_frac[:, None, :] * batch.atom_mask[..., None]
    return eps, choice


def score_matching_loss(pred_eps: torch.Tensor, target_eps: torch.Tensor, atom_mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error per crystal over real atoms and axes (B,)."""
    w = atom_mask.to(pred_eps.dtype)[..., None]
    err = ((pred_eps - target_eps) ** 2 * w).sum((1, 2))
    return err / (3.0 * w.sum((1, 2)).clamp_min(1.0))
