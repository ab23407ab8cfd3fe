"""A chemistry prior for sampling and refinement: clash repulsion and bonding attraction.

Energy (Angstrom^2 units, per crystal) over all symmetry images of all atoms:

- clash: sum over pairs of relu(d_clash - d)^2 (d_clash 1.1 A; 1.6 A for pairs
  involving a metal, whose bonds are long);
- bonding: each atom's ``min_neighbours`` nearest partners are pulled into its
  bonded range (about 1.2-1.6 A for light atoms, longer for S, P, halogens and
  metals): relu(d - hi)^2 + relu(lo - d)^2;
- over-coordination: partners beyond ``max_neighbours`` are pushed out to 2.0 A.

Expected neighbour counts are for non-H atoms only (H is not modelled).
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch

from xdxd_cctbx.diffusion.crystal import CrystalBatch, symmetry_images
from xdxd_cctbx.diffusion.torus import wrap_delta

# Z -> (min neighbours, max neighbours, bond lo, bond hi)
_LIGHT = (1.15, 1.62)
_TABLE: Dict[int, Tuple[int, int, float, float]] = {
    5: (2, 4, 1.35, 1.75), 6: (2, 4, *_LIGHT), 7: (1, 4, *_LIGHT), 8: (1, 2, *_LIGHT),
    9: (0, 1, 1.25, 1.45), 14: (3, 4, 1.6, 1.95), 15: (2, 5, 1.45, 1.9), 16: (1, 4, 1.4, 1.9),
    17: (0, 1, 1.65, 2.5), 34: (1, 3, 1.75, 2.0), 35: (0, 1, 1.8, 2.6), 53: (0, 1, 2.0, 2.8),
}
_METAL = (2, 6, 1.75, 2.6)


def _is_metal(z: int) -> bool:
    return z in (3, 4, 11, 12, 13) or 19 <= z <= 32 or 37 <= z <= 51 or 55 <= z <= 84 or z >= 87


def element_parameters(atomic_numbers: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Per-atom (min_nb, max_nb, lo, hi, is_metal) tensors for (B,N) atomic numbers."""
    zs = atomic_numbers.detach().cpu().view(-1).tolist()
    rows = [(_TABLE.get(z) or (_METAL if _is_metal(z) else (1, 4, 1.3, 2.0))) for z in zs]
    dev = atomic_numbers.device
    shape = atomic_numbers.shape
    mk = lambda i, dt: torch.tensor([r[i] for r in rows], dtype=dt, device=dev).view(shape)  # noqa: E731
    metal = torch.tensor([_is_metal(z) for z in zs], dtype=torch.bool, device=dev).view(shape)
    return mk(0, torch.long), mk(1, torch.long), mk(2, torch.float32), mk(3, torch.float32), metal


def contact_distances(frac: torch.Tensor, batch: CrystalBatch) -> torch.Tensor:
    """Distances (B,N,N*K) from each atom to the nearest lattice image of every symmetry
    image of every atom (itself under the identity excluded; padding at 1e4)."""
    b, n, _ = frac.shape
    images = symmetry_images(frac, batch)  # (B,N,K,3)
    d = wrap_delta(frac[:, :, None, None, :] - images[:, None])  # (B,N,N,K,3)
    cart = torch.einsum("bij,bpqkj->bpqki", batch.lattice, d)
    dist = torch.sqrt((cart * cart).sum(-1) + 1e-12)
    k = images.shape[2]
    eye = torch.eye(n, dtype=torch.bool, device=frac.device)[None, :, :, None]
    ident = torch.zeros(b, 1, 1, k, dtype=torch.bool, device=frac.device)
    rot_eye = (batch.rotations - torch.eye(3, dtype=frac.dtype, device=frac.device)).abs().amax((-1, -2)) < 1e-4
    ident = (rot_eye & (wrap_delta(batch.translations).abs().amax(-1) < 1e-4))[:, None, None, :]
    invalid = (eye & ident) | ~batch.op_mask[:, None, None, :]
    invalid = invalid | ~(batch.atom_mask[:, :, None] & batch.atom_mask[:, None, :])[..., None]
    dist = dist.masked_fill(invalid, 1e4)
    return dist.reshape(b, n, n * k)


def prior_energy(frac: torch.Tensor, batch: CrystalBatch, *, params=None, d_clash: float = 1.1,
                 d_nonbonded: float = 2.0) -> torch.Tensor:
    """Chemistry prior energy per crystal (B,) (differentiable in frac)."""
    if params is None:
        params = element_parameters(batch.atomic_numbers)
    min_nb, max_nb, lo, hi, metal = params
    dist = contact_distances(frac, batch)
    mask = batch.atom_mask
    n_keep = int(min(dist.shape[-1], int(max_nb.max()) + 2))
    near = torch.topk(dist, n_keep, dim=-1, largest=False).values  # (B,N,k) ascending
    rank = torch.arange(n_keep, device=frac.device)
    # clash: for all contacts; metal atoms get a longer clash distance towards everyone
    d_c = torch.where(metal, torch.full_like(lo, 1.6), torch.full_like(lo, d_clash)).to(frac.dtype)
    clash = torch.relu(d_c.unsqueeze(-1) - near) ** 2
    bonded = rank[None, None, :] < min_nb.unsqueeze(-1)
    bond = (torch.relu(near - hi.unsqueeze(-1).to(frac.dtype)) ** 2
            + torch.relu(lo.unsqueeze(-1).to(frac.dtype) - near) ** 2) * bonded
    over = (rank[None, None, :] >= max_nb.unsqueeze(-1)) & (near < 1e3)
    overcoord = torch.relu(d_nonbonded - near) ** 2 * over
    e = (10.0 * clash + bond + overcoord) * mask.unsqueeze(-1)
    return e.sum((1, 2))
