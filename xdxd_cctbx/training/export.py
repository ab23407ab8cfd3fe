"""Ship a checkpoint: write its EMA weights next to a registry and add the registry entry."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from xdxd_cctbx.training.checkpoint import export_weights, load_checkpoint
from xdxd_cctbx.weights.loading import model_from_state


def export_to_registry(checkpoint_path: str, registry_path: str, *, name: str, version: str,
                       figures_path: Optional[str] = None, notes: str = "", make_default: bool = True
                       ) -> Dict[str, Any]:
    """Write ``<name>-<version>.pt`` beside ``registry_path`` and add (or replace) its entry.

    The entry holds name, version, file, sha256, architecture, schedule, parameter
    count, the training recipe (data, seed, steps, loss history tail, validation
    during training) and, from ``figures_path`` (a benchmark summary.json), the
    measured validation figures.
    """
    ckpt = load_checkpoint(checkpoint_path)
    model = model_from_state(ckpt["architecture"], ckpt["ema"], source=f"checkpoint {checkpoint_path}")
    weights_dir = os.path.dirname(os.path.abspath(registry_path))
    file_name = f"{name}-{version}.pt"
    digest = export_weights(ckpt, os.path.join(weights_dir, file_name))
    history = ckpt.get("history", [])
    losses = [h for h in history if "loss" in h]
    validations = [h["validation"] for h in history if "validation" in h]
    entry = {
        "name": name, "version": version, "file": file_name, "sha256": digest, "default": make_default,
        "architecture": ckpt["architecture"], "schedule": ckpt["schedule"],
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "training": {
            "command": "xdxd.train", "data_recipe": ckpt.get("data_recipe", {}), "seed": ckpt.get("seed"),
            "steps": int(ckpt["step"]), "wall_minutes": round(losses[-1]["minutes"], 1) if losses else None,
            "final_loss": round(losses[-1]["loss"], 4) if losses else None,
            "validation_during_training": validations[-1] if validations else None,
        },
        "validation": _figures(figures_path),
        "notes": notes,
    }
    registry = {"format": "xdxd_cctbx weights registry", "version": 1, "models": []}
    if os.path.isfile(registry_path):
        with open(registry_path) as handle:
            registry = json.load(handle)
    models = [m for m in registry.get("models", []) if not (m["name"] == name and m["version"] == version)]
    if make_default:
        for m in models:
            m["default"] = False
    registry["models"] = models + [entry]
    tmp = registry_path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(registry, handle, indent=1)
        handle.write("\n")
    os.replace(tmp, registry_path)
    return entry


def _figures(path: Optional[str]) -> Any:
    if not path:
        return None
    with open(path) as handle:
        data = json.load(handle)
    return data.get("summary", data)
