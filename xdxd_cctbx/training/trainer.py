"""The training loop: denoising score matching on synthetic crystals, data simulated on the fly.

Needs torch + numpy + shard files only (no cctbx): GPU machines run it as is.
CPU or CUDA (``device=auto``), bf16 autocast on CUDA, ``torchrun`` DDP when
WORLD_SIZE > 1 (each rank draws its own crystals; rank 0 logs, validates and
saves), checkpoints every ``checkpoint_every`` steps and resume from the latest.

One step: draw crystals, pick a random d_min and reflection set for each,
simulate |F_obs| / |E_obs| (B factors, counting noise, missing reflections,
scale), move to a random permitted origin, add torus noise at a random level,
compute physics features of the noisy structure, predict eps, regress on the
symmetry- and origin-invariant target (:mod:`xdxd_cctbx.diffusion.loss`).
A fraction ``cond_dropout`` of crystals is shown without any diffraction
features, so the same network also serves as the unconditioned prior.
"""
from __future__ import annotations

import copy
import glob
import logging
import math
import os
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from xdxd_cctbx.diffusion.crystal import CrystalBatch, random_origin_change
from xdxd_cctbx.diffusion.diffraction import DiffractionContext, simulate_observations
from xdxd_cctbx.diffusion.features import build_inputs
from xdxd_cctbx.diffusion.loss import denoising_target, noisy_coordinates, score_matching_loss
from xdxd_cctbx.diffusion.torus import SigmaSchedule
from xdxd_cctbx.model.denoiser import DenoiserConfig, XdxdDenoiser
from xdxd_cctbx.training.checkpoint import load_checkpoint, save_checkpoint
from xdxd_cctbx.training.data import CrystalPool, make_batch

logger = logging.getLogger(__name__)

master_phil_str = """
train {
  output_dir = scratch/train
    .type = path
    .help = "Checkpoints (checkpoint_latest.pt, checkpoint_best.pt) and the log go here"
  steps = 20000
    .type = int(value_min=1)
  batch_size = 16
    .type = int(value_min=1)
  lr = 5e-4
    .type = float
  warmup = 200
    .type = int
  weight_decay = 0.01
    .type = float
  grad_clip = 1.0
    .type = float
  ema_decay = 0.995
    .type = float
  cond_dropout = 0.15
    .type = float
    .help = "Fraction of crystals shown without diffraction features (trains the prior too)"
  seed = 0
    .type = int
  device = *auto cpu cuda
    .type = choice
  amp = True
    .type = bool
    .help = "bf16 autocast on CUDA (ignored on the CPU)"
  num_threads = 1
    .type = int
    .help = "torch CPU threads"
  log_every = 20
    .type = int
  checkpoint_every = 250
    .type = int
  resume = True
    .type = bool
    .help = "Continue from output_dir/checkpoint_latest.pt when it exists"
  max_minutes = None
    .type = float
    .help = "Stop (with a checkpoint) after this much wall time"
}
data {
  shards = None
    .type = path
    .help = "Folder (or glob) of shard_*.npz from xdxd.build_dataset; None: toy crystals"
  toy_pool = 2000
    .type = int
    .help = "Toy crystals generated (and cached in output_dir) when no shards are given"
  toy_pool_file = None
    .type = path
    .help = "Toy pools written earlier (CrystalPool.save_npz): a path, a glob or a comma-separated list; added to data.shards when both are given"
  max_atoms = 60
    .type = int
  d_min_low = 0.8
    .type = float
  d_min_high = 2.5
    .type = float
  max_reflections = 1200
    .type = int
  missing_max = 0.15
    .type = float
  n_tokens = 96
    .type = int
    .help = "Strongest reflections shown to the network as tokens (sampler.n_tokens at solve time)"
  reflection_workers = 0
    .type = int(value_min=0)
    .help = "Processes that list every crystal's reflections before training (0: each crystal's list is \
             made when first drawn, then reused). GPU machines: their idle cores"
}
model {
  dim = 128
    .type = int
  depth = 4
    .type = int
  heads = 4
    .type = int
  pair_dim = 32
    .type = int
  n_rbf = 24
    .type = int
}
schedule {
  sigma_min = 0.02
    .type = float
  sigma_max = 12.0
    .type = float
}
export {
  checkpoint = None
    .type = path
    .help = "Do not train: write this checkpoint's EMA weights beside export.registry and register them"
  registry = None
    .type = path
    .help = "registry.json to update (the weights file is written next to it)"
  name = xdxd-denoiser
    .type = str
  version = 0.1.0
    .type = str
  figures = None
    .type = path
    .help = "summary.json of benchmarks/diffusion_validation.py, recorded in the registry entry"
  notes = None
    .type = str
}
validation {
  folder = ../shared/data/cod_validation
    .type = path
    .help = "Validation structures (needs cctbx to read; cached to output_dir/validation.npz)"
  cache = None
    .type = path
    .help = "validation.npz written by a run with cctbx (for machines without it)"
  n_structures = 8
    .type = int
  max_atoms = 30
    .type = int
  d_min = 2.0
    .type = float
  every = 1000
    .type = int
  n_samples = 16
    .type = int
  n_steps = 60
    .type = int
}
"""


def _distributed() -> tuple:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def _device(choice: str, local_rank: int) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device=cuda but CUDA is not available")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def data_recipe(params) -> Dict:
    d = params.data
    return {
        "source": "; ".join(f"{name}:{value}" for name, value in (("shards", d.shards),
                                                                 ("toy_pool_file", d.toy_pool_file)) if value)
        or f"toy:{d.toy_pool}",
        "max_atoms": d.max_atoms, "d_min_range": [d.d_min_low, d.d_min_high],
        "max_reflections": d.max_reflections, "missing_max": d.missing_max, "b_range": [1.5, 6.0],
        "noise": "counting statistics, mean 200-5000 counts, 2 % floor", "seed": params.train.seed,
        "cond_dropout": params.train.cond_dropout,
    }


def build_pool(params, rank: int = 0) -> CrystalPool:
    """Training crystals: builder shards and/or saved toy pools (both when both are given), else a new toy pool."""
    d = params.data
    records, parts = [], []
    if d.shards:
        pool = CrystalPool.from_shards(d.shards, max_atoms=d.max_atoms)
        records.extend(pool.records)
        parts.append(pool.description)
    for path in toy_pool_files(d.toy_pool_file):
        pool = CrystalPool.load_npz(path)
        records.extend(r for r in pool.records if r.n_atoms <= d.max_atoms)
        parts.append(pool.description)
    if records:
        return CrystalPool(records, description="; ".join(parts))
    cache = os.path.join(params.train.output_dir, f"toy_pool_n{d.toy_pool}_seed{params.train.seed}.npz")
    if os.path.isfile(cache):
        return CrystalPool.load_npz(cache)
    pool = CrystalPool.toy(d.toy_pool, seed=params.train.seed + 1000 * rank, max_atoms=min(d.max_atoms, 40))
    if rank == 0:
        pool.save_npz(cache)
    return pool


def toy_pool_files(spec: Optional[str]) -> List[str]:
    """Files named by ``data.toy_pool_file``: a path, a glob or a comma-separated list; a name matching nothing is an error."""
    if not spec:
        return []
    files = []
    for item in (part.strip() for part in str(spec).split(",")):
        if not item:
            continue
        matched = sorted(glob.glob(item))
        if not matched:
            raise FileNotFoundError(f"data.toy_pool_file: no file matches {item}")
        files.extend(matched)
    return files


class Trainer:
    """Holds the model, EMA, optimiser, data and RNGs; ``run()`` trains to ``params.train.steps``."""

    def __init__(self, params, *, log: Callable[[str], None] = print) -> None:
        self.params = params
        self.log = log
        tp = params.train
        self.world, self.rank, local = _distributed()
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and tp.device != "cpu" else "gloo"
            torch.distributed.init_process_group(backend=backend)
        self.device = _device(tp.device, local)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        else:
            torch.set_num_threads(max(1, tp.num_threads))
        self.config = DenoiserConfig(dim=params.model.dim, depth=params.model.depth, heads=params.model.heads,
                                     pair_dim=params.model.pair_dim, n_rbf=params.model.n_rbf)
        self.schedule = SigmaSchedule(params.schedule.sigma_min, params.schedule.sigma_max)
        torch.manual_seed(tp.seed)
        self.model = XdxdDenoiser(self.config).to(self.device)
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.dim() < 2 or "element" in name else decay).append(p)
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": tp.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=tp.lr)
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.rng = np.random.default_rng([tp.seed, self.rank])
        self.gen = torch.Generator().manual_seed(tp.seed * 1000 + self.rank)
        self.step = 0
        self.best_metric = -math.inf
        self.history: list = []
        self.pool: Optional[CrystalPool] = None
        self.validation = None

    # -------------------------------------------------------------- state
    def state(self) -> Dict:
        return {
            "architecture": self.config.as_dict(), "schedule": self.schedule.as_dict(),
            "data_recipe": data_recipe(self.params), "seed": self.params.train.seed, "step": self.step,
            "model": self.model.state_dict(), "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(), "best_metric": self.best_metric,
            "history": self.history, "torch_rng": self.gen.get_state(),
            "numpy_rng": self.rng.bit_generator.state,
        }

    def load_state(self, ckpt: Dict) -> None:
        from xdxd_cctbx.weights.loading import load_state_strict

        if ckpt["architecture"] != self.config.as_dict():
            raise ValueError(f"checkpoint architecture {ckpt['architecture']} differs from {self.config.as_dict()}")
        load_state_strict(self.model, ckpt["model"], source="checkpoint")
        load_state_strict(self.ema, ckpt["ema"], source="checkpoint (EMA)")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step = int(ckpt["step"])
        self.best_metric = float(ckpt.get("best_metric", -math.inf))
        self.history = list(ckpt.get("history", []))
        if "torch_rng" in ckpt:
            self.gen.set_state(ckpt["torch_rng"])
        if "numpy_rng" in ckpt:
            self.rng.bit_generator.state = ckpt["numpy_rng"]

    def save(self, name: str) -> str:
        path = os.path.join(self.params.train.output_dir, name)
        save_checkpoint(path, self.state())
        return path

    # -------------------------------------------------------------- one step
    def training_batch(self) -> CrystalBatch:
        d = self.params.data
        batch = make_batch(self.pool, self.rng, batch_size=self.params.train.batch_size,
                           d_min_range=(d.d_min_low, d.d_min_high), max_reflections=d.max_reflections)
        batch = batch.to(self.device)
        batch = simulate_observations(batch, self.gen, missing_max=d.missing_max)
        batch = batch.replace(occupancy=None)  # unknown at solve time
        return batch.replace(frac=random_origin_change(batch, self.gen))

    def loss_on_batch(self, batch: CrystalBatch, t: Optional[torch.Tensor] = None,
                      conditioned: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Mean denoising loss of a batch (random noise levels unless ``t`` is given)."""
        b = batch.batch_size
        if t is None:
            t = torch.rand(b, generator=self.gen)
        t = t.to(self.device, batch.lattice.dtype)
        if conditioned is None:
            conditioned = torch.rand(b, generator=self.gen) >= self.params.train.cond_dropout
        sigma_a = self.schedule.sigma(t)
        sf = self.schedule.frac_sigma(sigma_a, batch.lengths)
        x_t = noisy_coordinates(batch.frac, sf, self.gen)
        ctx = DiffractionContext(batch)
        inputs = build_inputs(batch, ctx, x_t, sigma_a, conditioned=conditioned.to(self.device),
                              n_tokens=self.params.data.n_tokens)
        target, _ = denoising_target(x_t, batch.frac, sf, batch)
        use_amp = self.params.train.amp and self.device.type == "cuda"
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=use_amp):
            pred = self.net(inputs)
        return score_matching_loss(pred.float(), target, batch.atom_mask).mean()

    def train_step(self, batch: CrystalBatch) -> float:
        tp = self.params.train
        lr = tp.lr * min(1.0, (self.step + 1) / max(1, tp.warmup))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        loss = self.loss_on_batch(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tp.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), tp.grad_clip)
        self.optimizer.step()
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
                pe.lerp_(pm, 1.0 - tp.ema_decay)
        self.step += 1
        return float(loss.detach())

    # -------------------------------------------------------------- loop
    def run(self) -> Dict:
        tp = self.params.train
        os.makedirs(tp.output_dir, exist_ok=True)
        latest = os.path.join(tp.output_dir, "checkpoint_latest.pt")
        if tp.resume and os.path.isfile(latest):
            self.load_state(load_checkpoint(latest))
            self._say(f"resumed from {latest} at step {self.step}")
        self.pool = build_pool(self.params, self.rank)
        self._say(f"data: {self.pool.description}; model: {self.model.n_parameters():,} parameters; "
                  f"device {self.device}; world size {self.world}")
        d = self.params.data
        if d.reflection_workers > 0:
            t0 = time.time()
            self.pool.precompute_reflections(d_min_floor=d.d_min_low, max_reflections=d.max_reflections,
                                             workers=d.reflection_workers)
            self._say(f"reflection lists of {len(self.pool)} crystals in {time.time() - t0:.0f} s "
                      f"({d.reflection_workers} processes)")
        if self.rank == 0:
            self.validation = self._validation_set()
        t_start = time.time()
        window: list = []
        t_window = time.time()
        while self.step < tp.steps:
            batch = self.training_batch()
            window.append(self.train_step(batch))
            if self.step % tp.log_every == 0 and self.rank == 0:
                rate = len(window) / max(1e-9, time.time() - t_window)
                self._say(f"step {self.step:6d}  loss {np.mean(window):.4f}  lr "
                          f"{self.optimizer.param_groups[0]['lr']:.2e}  {rate:.2f} steps/s  "
                          f"{(time.time() - t_start) / 60:.1f} min")
                self.history.append({"step": self.step, "loss": float(np.mean(window)),
                                     "minutes": (time.time() - t_start) / 60})
                window, t_window = [], time.time()
            out_of_time = tp.max_minutes is not None and time.time() - t_start > 60 * tp.max_minutes
            if self.rank == 0 and (self.step % tp.checkpoint_every == 0 or self.step == tp.steps or out_of_time):
                self.save("checkpoint_latest.pt")
            if self.rank == 0 and self.validation and (
                    self.step % self.params.validation.every == 0 or self.step == tp.steps or out_of_time):
                self._validate()
            if out_of_time:
                self._say(f"stopping at step {self.step}: max_minutes={tp.max_minutes} reached")
                break
        if self.world > 1:
            torch.distributed.barrier()
        return {"step": self.step, "best_metric": self.best_metric, "history": self.history}

    def _say(self, text: str) -> None:
        if self.rank == 0:
            self.log(text)
            logger.info(text)

    def _validation_set(self):
        from xdxd_cctbx.training.validation import load_validation_set

        try:
            return load_validation_set(self.params.validation, self.params.train.output_dir, log=self._say)
        except Exception as exc:  # validation is optional: report and train on
            self._say(f"validation disabled: {exc}")
            return None

    def _validate(self) -> None:
        from xdxd_cctbx.training.validation import run_validation

        v = self.params.validation
        t0 = time.time()
        metrics = run_validation(self.ema, self.schedule, self.validation, n_samples=v.n_samples,
                                 n_steps=v.n_steps, device=self.device, seed=self.params.train.seed)
        metrics["step"] = self.step
        self.history.append({"validation": metrics, "step": self.step})
        self._say(f"validation at step {self.step}: match {metrics['n_match']}/{metrics['n']} "
                  f"(approx.), matched atoms {metrics['mean_matched_fraction']:.2f}, "
                  f"loss {metrics['mean_loss']:.3f}, prior-only matched atoms "
                  f"{metrics['prior_mean_matched_fraction']:.2f}, {time.time() - t0:.0f} s")
        metric = metrics["n_match"] + metrics["mean_matched_fraction"]
        if metric > self.best_metric:
            self.best_metric = metric
            self.save("checkpoint_best.pt")
            self._say(f"new best checkpoint (metric {metric:.3f})")
