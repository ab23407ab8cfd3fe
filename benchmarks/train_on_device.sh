#!/bin/bash
# Train the denoiser on a GPU machine that has torch but no cctbx (the device tool's machines).
#
#   OUT=/path/for/results bash benchmarks/train_on_device.sh [extra xdxd.train arguments]
#
# Reads the training pools made beforehand on a cctbx machine:
#   scratch/gpu_pool/toy_seed*.npz   CrystalPool.toy(...).save_npz(...)  (toy crystals)
#   scratch/dataset/                 xdxd.build_dataset shards (real QM9/MOSES molecules, packed)
#   scratch/gpu_pool/validation_40.npz  read_validation_structures(cod_validation, max_atoms=40)
# Writes $OUT/train.log and $OUT/checkpoint_{latest,best}_slim.pt (EMA weights and history only:
# what `xdxd.train export.checkpoint=` needs).
set -euo pipefail
OUT=${OUT:-scratch/train_device}
RUN=${RUN:-/tmp/xdxd_train_device}
mkdir -p "$OUT" "$RUN"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
shards=()
if ls scratch/dataset/shard_*.npz >/dev/null 2>&1; then shards=(data.shards=scratch/dataset); fi
PYTHONPATH=. ${PYTHON:-python} command_line/train.py \
  train.output_dir="$RUN" train.device=cuda train.amp=True train.seed=7 \
  train.steps=200000 train.max_minutes=${MAX_MINUTES:-5} train.batch_size=64 train.lr=4e-4 train.warmup=300 \
  train.checkpoint_every=500 train.log_every=100 \
  "${shards[@]}" data.reflection_workers=${REFLECTION_WORKERS:-14} data.toy_pool_file='scratch/gpu_pool/toy_seed*.npz' data.max_atoms=60 \
  model.dim=160 model.depth=6 model.heads=8 model.pair_dim=32 model.n_rbf=24 \
  validation.cache=scratch/gpu_pool/validation_40.npz validation.n_structures=16 validation.every=2500 \
  validation.n_samples=16 validation.n_steps=60 \
  "$@" 2>&1 | tee "$OUT/train.log"
PYTHONPATH=. ${PYTHON:-python} - "$RUN" "$OUT" <<'PY' 2>&1 | tee -a "$OUT/train.log"
import os, sys
import xdxd_cctbx  # noqa: F401  (import order)
import torch
from xdxd_cctbx.training.checkpoint import load_checkpoint, save_checkpoint
run, out = sys.argv[1:3]
keep = ("architecture", "schedule", "ema", "history", "step", "data_recipe", "seed", "metrics", "best_metric")
for name in ("checkpoint_latest", "checkpoint_best"):
    path = os.path.join(run, name + ".pt")
    if os.path.isfile(path):
        ckpt = load_checkpoint(path)
        slim = {k: v for k, v in ckpt.items() if k in keep}
        save_checkpoint(os.path.join(out, name + "_slim.pt"), slim)
        print(name, "step", ckpt["step"], "->", os.path.getsize(os.path.join(out, name + "_slim.pt")), "bytes")
PY
# Approximate match (validation.approximate_match) of the best checkpoint on every cached structure,
# conditioned and prior-only, at the sampler's defaults; bounded so the device time is not overrun.
# One line per structure and final_validation.json rewritten after each, so a time limit still leaves figures.
PYTHONPATH=. timeout ${EVAL_SECONDS:-120} ${PYTHON:-python} - "$OUT" <<'PY' 2>&1 | tee -a "$OUT/train.log" || echo "final evaluation stopped (time limit)" | tee -a "$OUT/train.log"
import json, os, sys, time
import xdxd_cctbx  # noqa: F401  (import order)
import torch
from types import SimpleNamespace
from xdxd_cctbx.training.checkpoint import model_from_checkpoint
from xdxd_cctbx.training.validation import load_validation_set, run_validation
out = sys.argv[1]
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model, schedule, ckpt = model_from_checkpoint(os.path.join(out, "checkpoint_best_slim.pt"))
model.to(device)
v = SimpleNamespace(cache="scratch/gpu_pool/validation_40.npz", folder=None, n_structures=int(os.environ.get("EVAL_N", 49)),
                    max_atoms=40, d_min=2.0)
records = load_validation_set(v, out, log=print)
t0 = time.time()


def progress(i, rec, m):
    m.update(step=int(ckpt["step"]), seconds=round(time.time() - t0, 1), names=[r.name for r in records[:i + 1]])
    json.dump(m, open(os.path.join(out, "final_validation.json"), "w"), indent=1)
    print(f"eval {i + 1}/{len(records)} {rec.name}: matched {m['matched_fraction'][-1]:.3f}, prior-only "
          f"{m['prior_matched_fraction'][-1]:.3f}; so far match {m['n_match']}/{m['n']}, mean "
          f"{m['mean_matched_fraction']:.3f}, prior-only mean {m['prior_mean_matched_fraction']:.3f}, {m['seconds']} s",
          flush=True)


m = run_validation(model, schedule, records, n_samples=int(os.environ.get("EVAL_SAMPLES", 24)),
                   n_steps=int(os.environ.get("EVAL_STEPS", 60)), device=device, seed=0, on_structure=progress)
print(f"final: match {m['n_match']}/{m['n']} (approx.), matched atoms {m['mean_matched_fraction']:.3f}, "
      f"prior-only {m['prior_n_match']}/{m['n']}, matched atoms {m['prior_mean_matched_fraction']:.3f}, "
      f"{m['seconds']} s")
PY
