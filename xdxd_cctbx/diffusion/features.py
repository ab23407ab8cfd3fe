"""Build the denoiser's inputs for noisy crystals: geometry plus physics in the loop.

Physics features (the current F_calc of the noisy structure, its agreement with
the data, the per-atom gradient of the diffraction loss and each atom's
contribution to the strongest reflections) are computed here with the batched
torch engine, without gradients into the network. A per-crystal ``conditioned``
flag switches all of them off (the prior-only mode, also used for
conditioning dropout in training).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from xdxd_cctbx.diffusion.crystal import CrystalBatch, nearest_image_vectors
from xdxd_cctbx.diffusion.diffraction import DiffractionContext
from xdxd_cctbx.model.inputs import DenoiserInputs


def select_reflection_tokens(e_obs: torch.Tensor, mask: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Indices (B,T) of the strongest |E_obs| per crystal (T = min(n_tokens, M))."""
    t = min(n_tokens, e_obs.shape[1])
    score = torch.where(mask, e_obs, torch.full_like(e_obs, -1.0))
    return torch.topk(score, t, dim=1).indices


def build_inputs(
    batch: CrystalBatch,
    ctx: DiffractionContext,
    x_t: torch.Tensor,
    sigma_a: torch.Tensor,
    *,
    conditioned: Optional[torch.Tensor] = None,
    token_index: Optional[torch.Tensor] = None,
    n_tokens: int = 128,
    physics: Optional[tuple] = None,
) -> DenoiserInputs:
    """DenoiserInputs for coordinates x_t (B,N,3) at noise sigma_a (B,) Angstrom.

    batch must carry e_obs; ``conditioned`` (B,) bool (default all True);
    ``physics`` = ctx.loss_and_gradient(x_t, e_obs) when already computed.
    """
    b, n, _ = x_t.shape
    dev, dtype = x_t.device, x_t.dtype
    cond = torch.ones(b, dtype=torch.bool, device=dev) if conditioned is None else conditioned.to(dev)
    cf = cond.to(dtype)
    mask = batch.atom_mask
    with torch.no_grad():
        vec, dist = nearest_image_vectors(x_t, batch)
    loss, grad, e_calc, phase = physics if physics is not None else ctx.loss_and_gradient(x_t, batch.e_obs)
    inv_lat = torch.linalg.inv(batch.lattice)
    g_cart = torch.einsum("bji,bnj->bni", inv_lat, grad) * mask[..., None]
    n_atoms = mask.sum(1).clamp_min(1).to(dtype)
    rms = torch.sqrt((g_cart ** 2).sum((1, 2)) / n_atoms).clamp_min(1e-8)
    direction = -g_cart / rms[:, None, None] * cf[:, None, None]
    rel = torch.log(g_cart.norm(dim=-1) / rms[:, None] + 1e-3) * cf[:, None]
    shortest = dist.min(-1).values.clamp(max=4.0) / 4.0
    atom_physics = torch.cat([direction, rel.unsqueeze(-1), shortest.unsqueeze(-1)], -1) * mask[..., None]
    rmask = batch.refl_mask
    n_refl = rmask.sum(1).clamp_min(1).to(dtype)
    d_star_max = torch.sqrt(torch.where(rmask, ctx.d_star_sq, torch.zeros_like(ctx.d_star_sq)).amax(1))
    global_features = torch.stack([
        loss * cf,
        torch.log(rms) / 5.0 * cf,
        d_star_max,
        torch.log(n_atoms) / 4.0,
        cf,
        torch.log(n_refl / n_atoms) / 3.0 * cf,
    ], -1)
    if token_index is None:
        token_index = select_reflection_tokens(batch.e_obs, rmask, n_tokens)
    take = lambda v: torch.gather(v, 1, token_index)  # noqa: E731
    s = torch.gather(ctx.reciprocal_vectors, 1, token_index[..., None].expand(-1, -1, 3))
    s_len = s.norm(dim=-1).clamp_min(1e-6)
    e_o, e_c, ph = take(batch.e_obs), take(e_calc), take(phase)
    diff = e_o - e_c
    reflections = torch.cat([
        s / s_len[..., None], s_len[..., None], e_o[..., None], e_c[..., None], diff[..., None],
        torch.cos(ph)[..., None], torch.sin(ph)[..., None]], -1)
    tok_mask = take(rmask) & cond[:, None]
    reflections = reflections * tok_mask[..., None]
    u = ctx.atom_contributions(x_t, token_index)  # (B,N,T,2)
    u = u / batch.op_mask.sum(1).clamp_min(1).to(dtype)[:, None, None, None]
    c, si = torch.cos(ph)[:, None], torch.sin(ph)[:, None]
    re = u[..., 0] * c + u[..., 1] * si
    im = u[..., 1] * c - u[..., 0] * si
    dd = diff[:, None]
    atom_reflection = torch.stack([re, im, re * dd, im * dd], -1) * tok_mask[:, None, :, None] * mask[:, :, None, None]
    return DenoiserInputs(
        atomic_numbers=batch.atomic_numbers, atom_mask=mask, frac=x_t, lattice=batch.lattice,
        log_sigma=torch.log(sigma_a) / math.log(10.0), pair_vectors=vec, pair_distances=dist,
        atom_physics=atom_physics, gradient_direction=direction, global_features=global_features,
        reflections=reflections, reflection_mask=tok_mask, atom_reflection=atom_reflection,
    )
