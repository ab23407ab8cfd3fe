"""Validation during training: a few real structures, simulated data at 2 A, the sampler.

The structures are read once with cctbx (when installed) from the validation
folder and cached as ``validation.npz`` in the output folder; machines without
cctbx use that cache (``validation.cache=``). Matching here is approximate
(numpy/torch only): every reference atom within 0.5 A of some symmetry image of
some candidate atom after the best permitted origin shift / enantiomorph,
pairs not forced unique. ``benchmarks/diffusion_validation.py`` uses the exact
cctbx metric.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from xdxd_cctbx.diffusion.crystal import CrystalRecord, cell_matrix, collate, origin_choices
from xdxd_cctbx.diffusion.diffraction import simulate_observations, unique_reflections
from xdxd_cctbx.diffusion.sampler import default_sampler_params, sample
from xdxd_cctbx.diffusion.torus import SigmaSchedule

logger = logging.getLogger(__name__)


def read_validation_structures(folder: str, *, n: int, max_atoms: int) -> List[CrystalRecord]:
    """The first ``n`` structures (by file name) with <= max_atoms non-H atoms (needs cctbx)."""
    import xdxd_cctbx  # noqa: F401  (import order)
    from xdxd_cctbx.diffusion.diffraction import atomic_number
    from xdxd_cctbx.io.model_files import read_model_file
    from xdxd_cctbx.sf import SymmetryOperators

    with open(os.path.join(folder, "MANIFEST.json")) as handle:
        manifest = json.load(handle)
    records = []
    for entry in sorted(manifest, key=lambda e: e["file"]):
        if entry["nonH"] > max_atoms:
            continue
        model = read_model_file(os.path.join(folder, entry["file"]), block=entry.get("block"))
        xs = model.xray_structure
        xs = xs.select(~xs.hd_selection())
        ops = SymmetryOperators.from_space_group(xs.space_group())
        records.append(CrystalRecord(
            cell=np.array(xs.unit_cell().parameters()), rotations=ops.rotations.numpy(),
            translations=ops.translations.numpy(),
            atomic_numbers=np.array([atomic_number(sc.scattering_type) for sc in xs.scatterers()]),
            hkl=np.zeros((0, 3), np.int64), frac=np.array(xs.sites_frac()),
            u_iso=np.array(xs.extract_u_iso_or_u_equiv()), name=entry["file"].split(".")[0]))
        if len(records) == n:
            break
    return records


def save_records(records: List[CrystalRecord], path: str) -> None:
    payload = [{"cell": r.cell.tolist(), "rot": np.asarray(r.rotations).tolist(),
                "tr": np.asarray(r.translations).tolist(), "z": np.asarray(r.atomic_numbers).tolist(),
                "frac": np.asarray(r.frac).tolist(), "u": np.asarray(r.u_iso).tolist(), "name": r.name}
               for r in records]
    np.savez(path, records=np.array(json.dumps(payload)))


def load_records(path: str) -> List[CrystalRecord]:
    with np.load(path, allow_pickle=False) as d:
        payload = json.loads(str(d["records"]))
    return [CrystalRecord(cell=np.array(p["cell"]), rotations=np.array(p["rot"]), translations=np.array(p["tr"]),
                          atomic_numbers=np.array(p["z"]), hkl=np.zeros((0, 3), np.int64), frac=np.array(p["frac"]),
                          u_iso=np.array(p["u"]), name=p["name"]) for p in payload]


def load_validation_set(vparams, output_dir: str, *, log: Callable[[str], None] = print) -> Optional[List[CrystalRecord]]:
    """Records with simulated data at vparams.d_min (None when no validation data is reachable)."""
    cache = vparams.cache or os.path.join(output_dir, "validation.npz")
    if os.path.isfile(cache):
        records = load_records(cache)
    elif vparams.folder and os.path.isdir(vparams.folder):
        try:
            records = read_validation_structures(vparams.folder, n=vparams.n_structures, max_atoms=vparams.max_atoms)
        except ImportError as exc:
            raise RuntimeError(f"reading {vparams.folder} needs cctbx ({exc}); pass validation.cache=") from exc
        os.makedirs(output_dir, exist_ok=True)
        save_records(records, cache)
    else:
        log("validation: no folder or cache found; training without validation")
        return None
    out = [with_simulated_data(r, vparams.d_min, seed=i) for i, r in enumerate(records[: vparams.n_structures])]
    log(f"validation: {len(out)} structures at d_min {vparams.d_min} A ({', '.join(r.name for r in out)})")
    return out


def with_simulated_data(record: CrystalRecord, d_min: float, *, seed: int) -> CrystalRecord:
    """The record with hkl, f_obs and e_obs simulated with the torch engine (fixed seed)."""
    hkl, _ = unique_reflections(record.cell, record.rotations, record.translations, d_min)
    rec = CrystalRecord(cell=record.cell, rotations=record.rotations, translations=record.translations,
                        atomic_numbers=record.atomic_numbers, hkl=hkl, frac=record.frac, u_iso=record.u_iso,
                        name=record.name)
    batch = simulate_observations(collate([rec]), torch.Generator().manual_seed(seed), missing_max=0.0)
    rec.f_obs = batch.f_obs[0].numpy()
    rec.e_obs = batch.e_obs[0].numpy()
    return rec


def approximate_match(reference: CrystalRecord, frac: np.ndarray, *, tolerance: float = 0.5,
                      n_free_steps: int = 24) -> float:
    """Fraction of reference atoms within ``tolerance`` of an image of a candidate atom, best origin."""
    lat = torch.as_tensor(cell_matrix(reference.cell), dtype=torch.float64)
    rot = torch.as_tensor(np.asarray(reference.rotations), dtype=torch.float64)
    tr = torch.as_tensor(np.asarray(reference.translations), dtype=torch.float64)
    shifts, signs, free = origin_choices(np.asarray(reference.rotations), np.asarray(reference.translations))
    grids = [np.arange(n_free_steps) / n_free_steps if f else np.zeros(1) for f in free]
    free_shifts = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, 3)
    ref = torch.as_tensor(np.asarray(reference.frac), dtype=torch.float64)
    x = torch.as_tensor(np.asarray(frac), dtype=torch.float64)
    best = 0.0
    for s, sign in zip(shifts, signs):
        moved = sign * x[None] + torch.as_tensor(s + free_shifts)[:, None, :]  # (F,N,3)
        images = torch.einsum("kij,fnj->fnki", rot, moved) + tr  # (F,N,K,3)
        d = ref[None, :, None, None, :] - images[:, None]  # (F,Nref,N,K,3)
        d = d - torch.round(d)
        dist = torch.einsum("ij,...j->...i", lat, d).norm(dim=-1).flatten(2).min(-1).values  # (F,Nref)
        best = max(best, float((dist < tolerance).double().mean(1).max()))
    return best


def run_validation(model, schedule: SigmaSchedule, records: List[CrystalRecord], *, n_samples: int, n_steps: int,
                   device, seed: int = 0, on_structure: Optional[Callable[[int, CrystalRecord, Dict], None]] = None
                   ) -> Dict:
    """Sample each structure with and without conditioning; approximate match figures.

    on_structure(i, record, figures so far) is called after each structure (progress, partial results).
    """
    params = default_sampler_params()
    params.n_samples, params.n_steps = n_samples, n_steps
    out = {"n": 0, "n_match": 0, "matched_fraction": [], "loss": [], "prior_n_match": 0,
           "prior_matched_fraction": []}
    was_training = model.training
    model.eval()
    for i, rec in enumerate(records):
        crystal = collate([rec]).to(device)
        for conditioned in (True, False):
            params.conditioning = conditioned
            res = sample(model, crystal, params, schedule=schedule, seed=seed + i)
            frac = approximate_match(rec, res.frac[0].cpu().numpy())
            key = "" if conditioned else "prior_"
            out[key + "matched_fraction"].append(frac)
            out[key + "n_match"] += int(frac >= 1.0)
            if conditioned:
                out["loss"].append(float(res.loss[0]))
        out["n"] += 1
        out["mean_matched_fraction"] = float(np.mean(out["matched_fraction"]))
        out["prior_mean_matched_fraction"] = float(np.mean(out["prior_matched_fraction"]))
        out["mean_loss"] = float(np.mean(out["loss"]))
        if on_structure is not None:
            on_structure(i, rec, out)
    model.train(was_training)
    for key in ("mean_matched_fraction", "prior_mean_matched_fraction", "mean_loss"):
        out.setdefault(key, float("nan"))
    return out
