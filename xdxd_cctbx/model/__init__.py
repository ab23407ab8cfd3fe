"""The denoiser network only (no diffusion schedule, no training loop).

    from xdxd_cctbx.model import XdxdDenoiser, DenoiserConfig, DenoiserInputs
"""
from xdxd_cctbx.model.denoiser import DenoiserConfig, XdxdDenoiser
from xdxd_cctbx.model.inputs import DenoiserInputs

__all__ = ["DenoiserConfig", "DenoiserInputs", "XdxdDenoiser"]
