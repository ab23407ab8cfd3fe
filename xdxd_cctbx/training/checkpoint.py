"""Training checkpoints (full training state) and export of shipped weights.

A checkpoint is a dict of tensors and JSON-like values saved with ``torch.save``
and read with ``torch.load(weights_only=True)``: format, version, architecture,
noise schedule, data recipe, seed, step, model / EMA / optimiser states, RNG
states and metrics. :func:`export_weights` writes the EMA weights in the
weights-file format read by :mod:`xdxd_cctbx.weights.loading`.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional, Tuple

import torch

from xdxd_cctbx.diffusion.torus import SigmaSchedule
from xdxd_cctbx.model.denoiser import XdxdDenoiser
from xdxd_cctbx.weights.loading import (
    FORMAT_VERSION,
    WEIGHTS_FORMAT,
    WeightsError,
    load_torch_dict,
    model_from_state,
    sha256_of,
)

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "xdxd_cctbx denoiser checkpoint"

__all__ = ["CHECKPOINT_FORMAT", "WeightsError", "export_weights", "load_checkpoint", "model_from_checkpoint",
           "save_checkpoint"]


def _atomic_save(data: Dict[str, Any], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    torch.save(data, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    """Write ``state`` plus format and version, atomically (a crash never leaves half a file)."""
    _atomic_save(dict(state, format=CHECKPOINT_FORMAT, version=FORMAT_VERSION), path)


def load_checkpoint(path: str) -> Dict[str, Any]:
    """A training checkpoint, checked for format and version."""
    return load_torch_dict(path, CHECKPOINT_FORMAT)


def model_from_checkpoint(path: str, *, use_ema: bool = True) -> Tuple[XdxdDenoiser, SigmaSchedule, Dict]:
    """(model in eval mode, schedule, checkpoint dict); EMA weights by default."""
    ckpt = load_checkpoint(path)
    state = ckpt["ema"] if use_ema and ckpt.get("ema") else ckpt["model"]
    model = model_from_state(ckpt["architecture"], state, source=f"checkpoint {path}")
    return model, SigmaSchedule(**ckpt["schedule"]), ckpt


def export_weights(checkpoint: Dict[str, Any], path: str, *, use_ema: bool = True,
                   extra: Optional[Dict[str, Any]] = None) -> str:
    """Write a checkpoint's (EMA) weights as a weights file; returns its sha256."""
    state = checkpoint["ema"] if use_ema and checkpoint.get("ema") else checkpoint["model"]
    data = {
        "format": WEIGHTS_FORMAT, "version": FORMAT_VERSION,
        "architecture": checkpoint["architecture"], "schedule": checkpoint["schedule"],
        "data_recipe": checkpoint.get("data_recipe", {}), "seed": checkpoint.get("seed"),
        "step": int(checkpoint.get("step", 0)),
        "state_dict": {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()},
    }
    if extra:
        data["extra"] = extra
    _atomic_save(data, path)
    return sha256_of(path)
