"""Shipped denoiser weights: the registry, checksums and strict loading.

``registry.json`` (next to this module) lists the weights shipped in the
package: name, version, file, sha256, architecture, noise schedule, training
data recipe and seed, steps, validation figures. ``load_denoiser()`` resolves a
registry name (or a path to a weights file), checks the sha256 and loads the
state dict strictly: a missing or unexpected key, a wrong shape or a wrong
checksum raises :class:`WeightsError` with the reason.

Weights files are dicts saved by ``torch.save`` and read with
``torch.load(weights_only=True)``: format, version, architecture, schedule,
data recipe, step and the (EMA) ``state_dict``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

import torch

from xdxd_cctbx.diffusion.torus import SigmaSchedule
from xdxd_cctbx.errors import XdxdError
from xdxd_cctbx.model.denoiser import DenoiserConfig, XdxdDenoiser

logger = logging.getLogger(__name__)

WEIGHTS_DIR = os.path.dirname(os.path.abspath(__file__))
REGISTRY_PATH = os.path.join(WEIGHTS_DIR, "registry.json")
WEIGHTS_FORMAT = "xdxd_cctbx denoiser weights"
FORMAT_VERSION = 1
DEFAULT_NAME = "default"


class WeightsError(XdxdError, ValueError):
    """A weights or checkpoint file is missing, damaged or does not fit the network."""


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_registry(path: str = REGISTRY_PATH) -> List[Dict[str, Any]]:
    """The registry's entries (empty list when no weights are shipped)."""
    if not os.path.isfile(path):
        return []
    with open(path) as handle:
        data = json.load(handle)
    return list(data.get("models", []))


def registry_entry(name: str = DEFAULT_NAME, path: str = REGISTRY_PATH) -> Dict[str, Any]:
    """The entry called ``name`` ("default": the entry marked default, else the first)."""
    entries = load_registry(path)
    if not entries:
        raise WeightsError(f"no denoiser weights are registered in {path}: train with xdxd.train and register them")
    if name == DEFAULT_NAME:
        marked = [e for e in entries if e.get("default")]
        return marked[0] if marked else entries[0]
    for e in entries:
        if e.get("name") == name or f"{e.get('name')}-{e.get('version')}" == name:
            return e
    raise WeightsError(f"no weights named {name!r}; registered: {', '.join(e['name'] for e in entries)}")


def read_weights_file(path: str) -> Dict[str, Any]:
    """The weights file's dict, checked for format and version (torch.load weights_only)."""
    return load_torch_dict(path, WEIGHTS_FORMAT)


def load_torch_dict(path: str, expected_format: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        raise WeightsError(f"weights file {path} not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged file, or pickled code that weights_only refuses
        raise WeightsError(f"cannot read {path} as a {expected_format} file: {exc}") from exc
    fmt = data.get("format") if isinstance(data, dict) else type(data).__name__
    if fmt != expected_format:
        raise WeightsError(f"{path} is not a {expected_format} file (format {fmt!r})")
    if int(data.get("version", -1)) > FORMAT_VERSION:
        raise WeightsError(f"{path} has format version {data.get('version')}; "
                           f"this xdxd_cctbx reads up to version {FORMAT_VERSION}")
    return data


def load_state_strict(model: torch.nn.Module, state: Dict[str, torch.Tensor], *, source: str) -> None:
    """``load_state_dict`` that names every missing or unexpected key and shape mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise WeightsError(f"{source} does not fit the {type(model).__name__} architecture: "
                           f"missing keys {missing}; unexpected keys {unexpected}")
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items() if state[k].shape != v.shape]
    if wrong:
        raise WeightsError(f"{source} does not fit the {type(model).__name__} architecture: "
                           f"shape mismatch {wrong}")
    model.load_state_dict(state, strict=True)


def model_from_state(architecture: Dict[str, Any], state: Dict[str, torch.Tensor], *, source: str) -> XdxdDenoiser:
    """Build the network from architecture parameters and load ``state`` strictly (eval mode)."""
    try:
        config = DenoiserConfig.from_dict(dict(architecture))
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{source}: bad architecture parameters: {exc}") from exc
    model = XdxdDenoiser(config)
    load_state_strict(model, state, source=source)
    model.eval()
    return model


def load_weights_file(path: str, *, sha256: Optional[str] = None) -> Tuple[XdxdDenoiser, SigmaSchedule, Dict]:
    """(model, schedule, metadata) from a weights file; with ``sha256`` the checksum must match."""
    if sha256 is not None and os.path.isfile(path):
        actual = sha256_of(path)
        if actual != sha256:
            raise WeightsError(f"checksum mismatch for {path}: registry says sha256 {sha256}, file has {actual}")
    data = read_weights_file(path)
    model = model_from_state(data["architecture"], data["state_dict"], source=f"weights file {path}")
    meta = {k: v for k, v in data.items() if k != "state_dict"}
    return model, SigmaSchedule(**data["schedule"]), meta


def load_denoiser(name: str = DEFAULT_NAME, *, path: Optional[str] = None, device: str = "cpu",
                  registry_path: str = REGISTRY_PATH) -> Tuple[XdxdDenoiser, SigmaSchedule, Dict]:
    """The denoiser by registry name, or from ``path`` (a weights file; no checksum then).

    Returns (model on ``device`` in eval mode, noise schedule, metadata with the
    registry entry under "registry" when loaded by name).
    """
    if path:
        model, schedule, meta = load_weights_file(path)
        meta["id"] = f"{os.path.basename(path)} sha256:{sha256_of(path)[:16]}"
    else:
        entry = registry_entry(name, registry_path)
        file_path = os.path.join(os.path.dirname(registry_path), entry["file"])
        model, schedule, meta = load_weights_file(file_path, sha256=entry["sha256"])
        arch = {k: v for k, v in meta["architecture"].items()}
        if entry.get("architecture") and entry["architecture"] != arch:
            raise WeightsError(f"registry entry {entry['name']} lists architecture {entry['architecture']}, "
                               f"but {file_path} holds {arch}")
        meta["registry"] = entry
        meta["id"] = f"{entry['name']}-{entry['version']} sha256:{entry['sha256'][:16]}"
    return model.to(device), schedule, meta
