"""The denoiser's input contract: plain tensors, built by :mod:`xdxd_cctbx.diffusion.features`."""
from __future__ import annotations

import dataclasses

import torch

# widths of the feature groups (the network's constructor reads these)
ATOM_PHYSICS_DIM = 5  # normalised diffraction-loss gradient (3, Cartesian), its log norm, shortest contact
GLOBAL_DIM = 6  # diffraction loss, log rms gradient, 1/d_min, log n_atoms, conditioned flag, completeness
REFLECTION_DIM = 9  # direction of s (3), |s|, |E_obs|, |E_calc|, |E_obs|-|E_calc|, cos phi_calc, sin phi_calc
ATOM_REFLECTION_DIM = 4  # atom's contribution in the frame of F_calc (re, im), both times (|E_obs|-|E_calc|)


@dataclasses.dataclass
class DenoiserInputs:
    """Everything the network sees for B noisy crystals with N (padded) atoms.

    Shapes: atomic_numbers (B,N) long (0 = padding), atom_mask (B,N) bool,
    frac (B,N,3), lattice (B,3,3) (columns a, b, c), log_sigma (B,) (noise in
    Angstrom), pair_vectors (B,N,N,3) Cartesian shortest vector from any image of
    j to i (identity excluded for i == j), pair_distances (B,N,N),
    atom_physics (B,N,ATOM_PHYSICS_DIM), gradient_direction (B,N,3) Cartesian,
    global_features (B,GLOBAL_DIM), reflections (B,T,REFLECTION_DIM),
    reflection_mask (B,T) bool, atom_reflection (B,N,T,ATOM_REFLECTION_DIM).
    """

    atomic_numbers: torch.Tensor
    atom_mask: torch.Tensor
    frac: torch.Tensor
    lattice: torch.Tensor
    log_sigma: torch.Tensor
    pair_vectors: torch.Tensor
    pair_distances: torch.Tensor
    atom_physics: torch.Tensor
    gradient_direction: torch.Tensor
    global_features: torch.Tensor
    reflections: torch.Tensor
    reflection_mask: torch.Tensor
    atom_reflection: torch.Tensor
