"""Diffusion sampling of crystal structures conditioned on diffraction data."""
