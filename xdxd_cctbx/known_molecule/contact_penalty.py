"""Short-contact penalty between all atoms and all symmetry copies, with an analytic gradient.

    penalty(pose) = sum over operations s, atoms i, j of
                    mask_s(i, j) * relu(d0(i, j) - |x_i - (R_s x_j + t_s) + n|)^2

(minimum image n; distances in Angstrom). ``mask_s`` leaves out inactive atoms,
an atom and its own body in the identity copy, and the site operations of a
body on a special position (its images there are itself).

In groups with many operations most copies of a body are far from every other
body: with the bodies' atom ranges given, the pairs of bodies (per pose and
operation) whose centroids are further apart than their radii plus the
longest contact distance are left out, which cannot change the penalty.

The search evaluates this for every pose at every Adam step over (B, N, N)
pairs per operation. Plain autograd keeps about ten (B, N, N[, 3]) temporaries
per operation for the backward pass; here the gradient is accumulated while the
penalty is computed (one (B, N, 3) tensor is kept), which halves the work.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch.autograd.function import once_differentiable

Ranges = Sequence[Tuple[int, int]]  # atom range (lo, hi) of each body
OnSite = Dict[int, torch.Tensor]  # body -> (B, n_ops) 1 where the operation is one of its site's


def _pair_terms(x: torch.Tensor, img: torch.Tensor, mask: torch.Tensor, own: Optional[torch.Tensor],
                thr: torch.Tensor, orth: torch.Tensor, want_grad: bool):
    """Penalty (P,) of atoms x (P,n,3) against images img (P,m,3), fractional; with ``want_grad``
    also its gradients with respect to x and img. mask (P or 1,n,m) weighs the pairs; own
    (P or 1,n,m), if given, marks pairs left out when their minimum image is the untranslated
    copy (an atom and its own body in the identity operation)."""
    d = x.unsqueeze(2) - img.unsqueeze(1)  # (P,n,m,3)
    lattice = torch.round(d)
    if own is not None:
        mask = mask * ~(own & (lattice == 0).all(-1))
    d.sub_(lattice)
    dc = d @ orth.T  # Cartesian
    dist = torch.sqrt((dc * dc).sum(-1) + 1e-8)
    short = torch.relu(thr - dist).mul_(mask)
    penalty = (short * short).sum((1, 2))
    if not want_grad:
        return penalty, None, None
    g_cart = dc.mul_(short.mul_(-2.0).div_(dist).unsqueeze(-1))  # d penalty / d dc
    return penalty, g_cart.sum(2) @ orth, -(g_cart.sum(1) @ orth)  # row vectors, fractional


def _penalty_and_gradient(frac: torch.Tensor, op_rot: torch.Tensor, op_tr: torch.Tensor, orth: torch.Tensor,
                          thr: torch.Tensor, active_pairs: torch.Tensor, same_body: torch.Tensor,
                          identity_op: int, ranges: Ranges, on_site: OnSite, want_grad: bool):
    total = torch.zeros(frac.shape[0], dtype=frac.dtype)
    grad = torch.zeros_like(frac) if want_grad else None
    site_blocks = []  # (N,N) block of the body, (B,n_ops) its site's operations
    for k, site_ops in on_site.items():
        lo, hi = ranges[k]
        block = torch.zeros_like(active_pairs)
        block[lo:hi, lo:hi] = 1.0
        site_blocks.append((block, site_ops))
    for s in range(op_rot.shape[0]):
        mask = active_pairs.unsqueeze(0)
        for block, site_ops in site_blocks:
            mask = mask * (1.0 - block * site_ops[:, s].view(-1, 1, 1))
        img = frac @ op_rot[s].T + op_tr[s]
        own = same_body.unsqueeze(0) if s == identity_op else None
        penalty, g_x, g_img = _pair_terms(frac, img, mask, own, thr, orth, want_grad)
        total += penalty
        if want_grad:
            grad += g_x + g_img @ op_rot[s]
    return total, grad


def _near_blocks(frac: torch.Tensor, op_rot: torch.Tensor, op_tr: torch.Tensor, orth: torch.Tensor,
                 longest_contact: float, ranges: Ranges) -> torch.Tensor:
    """(B,S,K,K) True where body k of a pose can touch the copy of body m under operation s:
    their centroids are closer than their radii plus the longest contact distance."""
    bsz = frac.shape[0]
    n_ops = op_rot.shape[0]
    orth_t = orth.T
    cart = frac @ orth_t
    centre = torch.stack([frac[:, lo:hi].mean(1) for lo, hi in ranges], 1)  # (B,K,3) fractional
    radius = torch.stack([(cart[:, lo:hi] - (centre[:, k] @ orth_t).unsqueeze(1)).norm(dim=-1).max(1).values
                          for k, (lo, hi) in enumerate(ranges)], 1)  # (B,K)
    img_c = torch.einsum("bkj,sij->bski", centre, op_rot) + op_tr.view(1, n_ops, 1, 3)  # (B,S,K,3)
    dc = centre.view(bsz, 1, -1, 1, 3) - img_c.unsqueeze(2)  # (B,S,K,K,3)
    dc = dc - torch.round(dc)
    # the nearest of the 27 neighbouring images (rounding is not the Cartesian minimum image in
    # oblique cells; the atoms' own rounding may pick any of these)
    shifts = torch.tensor([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)],
                          dtype=frac.dtype)
    nearest = ((dc.unsqueeze(-2) + shifts) @ orth_t).norm(dim=-1).min(-1).values  # (B,S,K,K)
    reach = radius.unsqueeze(2) + radius.unsqueeze(1) + longest_contact + 1e-3  # (B,K,K)
    return nearest < reach.unsqueeze(1)


def kept_pair_fraction(frac: torch.Tensor, op_rot: torch.Tensor, op_tr: torch.Tensor, orth: torch.Tensor,
                       longest_contact: float, ranges: Ranges) -> float:
    """The fraction of the atom pairs (over poses, operations and body pairs) that screening keeps
    for these poses (B,N,3): near 1, screening only adds its own overhead to the all-pairs sum."""
    with torch.no_grad():
        near = _near_blocks(frac, op_rot, op_tr, orth, longest_contact, ranges).to(torch.float64)
    sizes = torch.tensor([hi - lo for lo, hi in ranges], dtype=torch.float64)
    pairs = sizes[:, None] * sizes[None, :]
    return float((near * pairs).sum() / (near.shape[0] * near.shape[1] * pairs.sum()))


def _screened_penalty_and_gradient(frac, op_rot, op_tr, orth, thr, active_pairs, same_body, identity_op,
                                   ranges, on_site, want_grad):
    """As :func:`_penalty_and_gradient`, over the (pose, operation, body pair) blocks that can touch."""
    total = torch.zeros(frac.shape[0], dtype=frac.dtype)
    grad = torch.zeros_like(frac) if want_grad else None
    near = _near_blocks(frac, op_rot, op_tr, orth, float(thr.max()), ranges)
    for k, site_ops in on_site.items():  # a body's own images under its site's operations are itself
        near[:, :, k, k] &= site_ops < 0.5
    for k, (lo_k, hi_k) in enumerate(ranges):
        for m, (lo_m, hi_m) in enumerate(ranges):
            pairs = torch.nonzero(near[:, :, k, m])
            if not len(pairs):
                continue
            b, s = pairs[:, 0], pairs[:, 1]
            rot = op_rot[s]  # (P,3,3)
            img = torch.einsum("pnj,pij->pni", frac[b, lo_m:hi_m], rot) + op_tr[s].unsqueeze(1)
            own = (s == identity_op).view(-1, 1, 1) if k == m else None
            penalty, g_x, g_img = _pair_terms(frac[b, lo_k:hi_k], img, active_pairs[lo_k:hi_k, lo_m:hi_m],
                                              own, thr[lo_k:hi_k, lo_m:hi_m], orth, want_grad)
            total.index_add_(0, b, penalty)
            if want_grad:
                grad[:, lo_k:hi_k].index_add_(0, b, g_x)
                grad[:, lo_m:hi_m].index_add_(0, b, torch.bmm(g_img, rot))
    return total, grad


class _ContactPenalty(torch.autograd.Function):
    @staticmethod
    def forward(ctx, frac, op_rot, op_tr, orth, thr, active_pairs, same_body, identity_op, ranges, on_site,
                screen):
        run = _screened_penalty_and_gradient if screen else _penalty_and_gradient
        total, grad = run(frac.detach(), op_rot, op_tr, orth, thr, active_pairs, same_body, identity_op,
                          ranges, on_site, ctx.needs_input_grad[0])
        ctx.save_for_backward(grad if grad is not None else torch.zeros(0))
        return total

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_total):
        (grad,) = ctx.saved_tensors
        return (grad * grad_total.view(-1, 1, 1),) + (None,) * 10


def contact_penalty(frac: torch.Tensor, op_rot: torch.Tensor, op_tr: torch.Tensor, orth: torch.Tensor,
                    thr: torch.Tensor, active_pairs: torch.Tensor, same_body: torch.Tensor, identity_op: int,
                    ranges: Ranges, on_site: Optional[OnSite] = None, screen: bool = False) -> torch.Tensor:
    """Sum of squared short-contact depths per pose (B,) of fractional coordinates (B,N,3);
    differentiable with respect to ``frac`` (see the module docstring for the terms).

    ranges: the atom range (lo, hi) of each body; on_site: for bodies on special
    positions, which operations are their site's (per pose); screen: leave out
    body pairs whose centroids are too far apart to touch (worth it in groups
    with many operations; the result is the same)."""
    return _ContactPenalty.apply(frac, op_rot, op_tr, orth, thr, active_pairs, same_body, int(identity_op),
                                 [(int(lo), int(hi)) for lo, hi in ranges], dict(on_site or {}), bool(screen))
