"""Reverse diffusion on the torus with diffraction guidance, a chemistry prior and a final
local optimisation: N candidate asymmetric units of one crystal in one batch.

Each step (variance-exploding SDE, Euler-Maruyama, per-axis fractional widths)::

    eps   = network(x, sigma | reflections, F_calc(x), grad L(x))
          + guidance(sigma) * (-grad L / rms)            # diffraction guidance
          + prior(sigma) * (-sigma grad E_prior)         # clash / bonding prior
    x    <- wrap(x + (s^2 - s'^2) eps / s + sqrt(s^2 - s'^2) z)

with L = 1 - corr(|E_obs|, |E_calc|). Guidance fades in below ``guidance_start``
Angstrom of noise, the prior below ``prior_start``. After the last step every
candidate is refined by Adam on L + prior_weight * E_prior / N and scored.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Optional

import torch

from xdxd_cctbx.diffusion.crystal import CrystalBatch
from xdxd_cctbx.diffusion.diffraction import DiffractionContext, r1_factor
from xdxd_cctbx.diffusion.features import build_inputs, select_reflection_tokens
from xdxd_cctbx.diffusion.priors import element_parameters, prior_energy
from xdxd_cctbx.diffusion.torus import SigmaSchedule, wrap

logger = logging.getLogger(__name__)

master_phil_str = """
sampler {
  n_samples = 24
    .type = int(value_min=1)
    .help = "Candidates generated in one batch"
  n_steps = 60
    .type = int(value_min=1)
    .help = "Reverse-diffusion steps"
  seed = None
    .type = int
    .help = "Random seed of the sampler (default: the solve seed)"
  conditioning = True
    .type = bool
    .help = "Condition the network on the reflections (False: the learned prior alone, no guidance)"
  guidance_scale = 1.0
    .type = float(value_min=0)
    .help = "Weight of the diffraction-loss gradient added to the score"
  guidance_start = 3.0
    .type = float(value_min=0)
    .help = "Noise level (Angstrom) below which guidance acts at full weight (fades in above)"
  prior_scale = 0.5
    .type = float(value_min=0)
    .help = "Weight of the clash/bonding prior during sampling"
  prior_start = 1.0
    .type = float(value_min=0)
    .help = "Noise level (Angstrom) below which the prior acts"
  noise_scale = 1.0
    .type = float(value_min=0)
    .help = "Temperature of the reverse SDE noise (1 = exact sampler)"
  refine_steps = 100
    .type = int(value_min=0)
    .help = "Adam steps of the final local optimisation on the diffraction loss + prior"
  refine_step_size = 0.03
    .type = float(value_min=0)
    .help = "Adam step (Angstrom) of the final optimisation"
  prior_weight = 0.05
    .type = float(value_min=0)
    .help = "Weight of the prior energy per atom in refinement and ranking"
  n_tokens = 96
    .type = int(value_min=1)
    .help = "Strongest reflections the network attends to"
}
"""


@dataclasses.dataclass
class SampleResult:
    """Candidates of one crystal, best first."""

    frac: torch.Tensor  # (S,N,3)
    loss: torch.Tensor  # (S,) 1 - corr(|E_obs|, |E_calc|)
    r1: torch.Tensor  # (S,) R1 on |F| with the least-squares scale
    prior: torch.Tensor  # (S,) prior energy per atom
    score: torch.Tensor  # (S,) ranking figure (lower is better)
    seconds: float

    def __repr__(self) -> str:
        return (f"SampleResult({self.frac.shape[0]} candidates, best loss {float(self.loss[0]):.3f}, "
                f"R1 {float(self.r1[0]):.3f}, {self.seconds:.1f} s)")


def default_sampler_params():
    """The PHIL defaults of the sampler scope as a namespace (no libtbx needed; a test keeps them equal)."""
    import types

    values = dict(n_samples=24, n_steps=60, seed=None, conditioning=True, guidance_scale=1.0,
                  guidance_start=3.0, prior_scale=0.5, prior_start=1.0, noise_scale=1.0, refine_steps=100,
                  refine_step_size=0.03, prior_weight=0.05, n_tokens=96)
    return types.SimpleNamespace(**values)


def _cart_to_eps(v: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    frac_v = torch.linalg.solve(lattice, v.transpose(1, 2)).transpose(1, 2)
    return frac_v * lattice.norm(dim=1).unsqueeze(1)


def _frac_grad_to_cart(g: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    return torch.einsum("bji,bnj->bni", torch.linalg.inv(lattice), g)


@torch.no_grad()
def sample(model: Optional[torch.nn.Module], crystal: CrystalBatch, params=None, *,
           schedule: SigmaSchedule = SigmaSchedule(), seed: int = 0) -> SampleResult:
    """Generate ``params.n_samples`` candidates for one crystal (batch of size 1 with e_obs, f_obs).

    model None: no network (diffraction guidance, prior and refinement only).
    Deterministic for a given seed on a given device.
    """
    p = params if params is not None else default_sampler_params()
    if crystal.batch_size != 1 or crystal.e_obs is None:
        raise ValueError("sample() needs one crystal with e_obs")
    t0 = time.time()
    dev, dtype = crystal.device, crystal.lattice.dtype
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    batch = crystal.repeat(p.n_samples)
    ctx = DiffractionContext(batch)
    s = batch.batch_size
    lat = batch.lattice
    lengths = batch.lengths
    mask = batch.atom_mask
    elem = element_parameters(batch.atomic_numbers)
    cond = bool(p.conditioning)
    conditioned = torch.full((s,), cond, dtype=torch.bool, device=dev)
    tokens = select_reflection_tokens(batch.e_obs, batch.refl_mask, p.n_tokens)
    sig = schedule.sigma(torch.linspace(1.0, 0.0, p.n_steps + 1, dtype=dtype)).to(dev)
    x = torch.rand(batch.frac.shape if batch.frac is not None else (s, mask.shape[1], 3), generator=gen
                   ).to(dev, dtype)
    for i in range(p.n_steps):
        s_a, s_next = sig[i].expand(s), sig[i + 1].expand(s)
        sf = schedule.frac_sigma(s_a, lengths)
        sf_next = schedule.frac_sigma(s_next, lengths)
        physics = ctx.loss_and_gradient(x, batch.e_obs)
        eps = torch.zeros_like(x)
        if model is not None:
            inputs = build_inputs(batch, ctx, x, s_a, conditioned=conditioned, token_index=tokens, physics=physics)
            eps = model(inputs).to(dtype)
        if cond and p.guidance_scale > 0:
            g_cart = _frac_grad_to_cart(physics[1], lat) * mask[..., None]
            rms = torch.sqrt((g_cart ** 2).sum((1, 2)) / mask.sum(1).clamp_min(1)).clamp_min(1e-8)
            ramp = min(1.0, (p.guidance_start / float(sig[i])) ** 2)
            eps = eps + p.guidance_scale * ramp * _cart_to_eps(-g_cart / rms[:, None, None], lat)
        if p.prior_scale > 0 and float(sig[i]) < p.prior_start:
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                e = prior_energy(xg, batch, params=elem)
                (ge,) = torch.autograd.grad(e.sum(), xg)
            g_cart = _frac_grad_to_cart(ge, lat)
            eps = eps + p.prior_scale * _cart_to_eps(-float(sig[i]) * g_cart, lat)
        var = (sf ** 2 - sf_next ** 2).clamp_min(0.0)[:, None, :]
        x = x + var * eps / sf[:, None, :]
        if i < p.n_steps - 1 and p.noise_scale > 0:
            z = torch.randn(x.shape, generator=gen).to(dev, dtype)
            x = x + p.noise_scale * torch.sqrt(var) * z
        x = wrap(x)
    x = refine_candidates(x, batch, ctx, steps=p.refine_steps, step_size=p.refine_step_size,
                          prior_weight=p.prior_weight, elem=elem)
    result = score_candidates(x, batch, ctx, prior_weight=p.prior_weight, elem=elem)
    result.seconds = time.time() - t0
    logger.debug("%s", result)
    return result


def refine_candidates(x: torch.Tensor, batch: CrystalBatch, ctx: DiffractionContext, *, steps: int,
                      step_size: float, prior_weight: float, elem=None) -> torch.Tensor:
    """Adam on Cartesian displacements minimising L + prior_weight * E_prior / N."""
    if steps <= 0:
        return x
    n_atoms = batch.atom_mask.sum(1).clamp_min(1).to(x.dtype)
    inv = torch.linalg.inv(batch.lattice)
    with torch.enable_grad():
        u = torch.zeros_like(x, requires_grad=True)
        opt = torch.optim.Adam([u], lr=step_size)
        for _ in range(steps):
            opt.zero_grad()
            xx = x + torch.einsum("bij,bnj->bni", inv, u)
            loss = ctx.loss(xx, batch.e_obs) + prior_weight * prior_energy(xx, batch, params=elem) / n_atoms
            loss.sum().backward()
            opt.step()
    return wrap((x + torch.einsum("bij,bnj->bni", inv, u)).detach())


@torch.no_grad()
def score_candidates(x: torch.Tensor, batch: CrystalBatch, ctx: DiffractionContext, *, prior_weight: float,
                     elem=None) -> SampleResult:
    """Diffraction loss, R1, prior energy; candidates sorted by loss + prior_weight * E/N."""
    n_atoms = batch.atom_mask.sum(1).clamp_min(1).to(x.dtype)
    loss = ctx.loss(x, batch.e_obs)
    r1 = torch.full_like(loss, float("nan"))
    if batch.f_obs is not None:
        r1 = r1_factor(batch.f_obs, torch.sqrt(ctx.intensities(x)), batch.refl_mask)
    prior = prior_energy(x, batch, params=elem) / n_atoms
    score = loss + prior_weight * prior
    order = torch.argsort(score)
    return SampleResult(frac=x[order], loss=loss[order], r1=r1[order], prior=prior[order], score=score[order],
                        seconds=0.0)


def noise_levels(schedule: SigmaSchedule, n_steps: int) -> torch.Tensor:
    """The sampler's noise levels (Angstrom), high to low: n_steps + 1 values."""
    return schedule.sigma(torch.linspace(1.0, 0.0, n_steps + 1))


__all__ = ["SampleResult", "master_phil_str", "noise_levels", "refine_candidates", "sample",
           "score_candidates", "default_sampler_params"]
