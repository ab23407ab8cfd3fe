"""Geometry of the flat torus [0,1)^3 and the wrapped normal distribution on it.

Noise lives in fractional coordinates with one width per cell axis,
``sigma_frac[i] = sigma_A / |a_i|`` (an approximately isotropic noise in Angstrom),
so the wrapped normal factorises over the three axes::

    p(x | mu, s) = prod_i sum_n N(x_i + n; mu_i, s_i^2)

:func:`wrapped_normal_score` is d/dx log p, evaluated with ``n_images`` lattice
images on each side (enough for s <= :data:`MAX_SIGMA_FRAC`, beyond which the
wrapped normal is uniform to 1e-4 and is treated as such).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MAX_SIGMA_FRAC = 0.7  # wrapped normal with s >= 0.7 is uniform to ~6e-5


def wrap(x: torch.Tensor) -> torch.Tensor:
    """Fractional coordinates reduced to [0, 1)."""
    return x - torch.floor(x)


def wrap_delta(d: torch.Tensor) -> torch.Tensor:
    """Differences reduced to [-0.5, 0.5) (nearest lattice image)."""
    return d - torch.round(d)


def _image_offsets(n_images: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(-n_images, n_images + 1, device=like.device, dtype=like.dtype)


def wrapped_normal_log_prob(
    x: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, *, n_images: int = 3
) -> torch.Tensor:
    """Per-axis log density of the wrapped normal (broadcasting), same shape as x - mu.

    The constant -log(sqrt(2 pi) sigma) is included, so densities of different
    widths are comparable.
    """
    d = wrap_delta(x - mu).unsqueeze(-1) + _image_offsets(n_images, x)
    s = sigma.unsqueeze(-1)
    log_terms = -0.5 * (d / s) ** 2
    return torch.logsumexp(log_terms, dim=-1) - torch.log(sigma) - 0.5 * math.log(2 * math.pi)


def wrapped_normal_score(
    x: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, *, n_images: int = 3
) -> torch.Tensor:
    """d/dx log p(x | mu, sigma) per axis for the wrapped normal (broadcasting)."""
    d = wrap_delta(x - mu).unsqueeze(-1) + _image_offsets(n_images, x)
    s = sigma.unsqueeze(-1)
    weights = torch.softmax(-0.5 * (d / s) ** 2, dim=-1)
    return -(weights * d).sum(-1) / (sigma * sigma)


@dataclass(frozen=True)
class SigmaSchedule:
    """Geometric noise levels in Angstrom: sigma(t) = s_min (s_max/s_min)^t, t in [0,1].

    ``frac_sigma`` turns them into per-axis fractional widths for given cell
    edge lengths (capped at :data:`MAX_SIGMA_FRAC`, where the distribution is
    already uniform).
    """

    sigma_min: float = 0.02
    sigma_max: float = 12.0

    def __post_init__(self) -> None:
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """Noise level (Angstrom) at time t (any shape)."""
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def time(self, sigma: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`sigma`."""
        return torch.log(sigma / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)

    @staticmethod
    def frac_sigma(sigma_a: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Per-axis fractional widths (B,3) from sigma (B,) in Angstrom and edges (B,3)."""
        return torch.clamp(sigma_a.unsqueeze(-1) / lengths, max=MAX_SIGMA_FRAC)

    def as_dict(self) -> dict:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max}
