"""xdxd.train: train the diffusion denoiser (CPU or CUDA, torchrun for several GPUs).

Usage examples:
  xdxd.train data.shards=dataset/ train.output_dir=runs/a train.steps=200000
  xdxd.train train.steps=3000 train.max_minutes=60 model.dim=96 model.depth=3
  torchrun --nproc_per_node=8 -m xdxd_cctbx.command_line.train data.shards=dataset/ train.batch_size=64

Register a trained checkpoint (EMA weights) in the package:
  xdxd.train export.checkpoint=runs/a/checkpoint_best.pt export.registry=xdxd_cctbx/weights/registry.json \
    export.version=0.1.0 export.figures=scratch/diffusion_validation/summary.json

Runs without cctbx (GPU machines): parameters are then read by a small PHIL
reader; validation needs cctbx once to cache the validation structures
(``validation.cache=``). Resumes from output_dir/checkpoint_latest.pt.
"""
from __future__ import annotations

import sys
from typing import List, Optional

import xdxd_cctbx  # noqa: F401  (first: owns the boost.python -> torch -> cctbx order)


def _master_text() -> str:
    from xdxd_cctbx.training.trainer import master_phil_str

    return master_phil_str


def parse_arguments(args: List[str]):
    """(params, printable text); libtbx.phil when installed, else the small reader."""
    try:
        import libtbx.phil
        from libtbx.phil.command_line import argument_interpreter
    except ImportError:
        from xdxd_cctbx.training.phil_lite import extract, format_params

        params = extract(_master_text(), args)
        return params, format_params(params)
    master = libtbx.phil.parse(_master_text())
    interpreter = argument_interpreter(master_phil=master)
    sources = [interpreter.process(arg=a) for a in args]
    working = master.fetch(sources=sources)
    return working.extract(), working.as_str()


def run(args: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if args is None else list(args)
    if any(a in ("-h", "--help", "help") for a in args):
        print(__doc__)
        print(_master_text())
        return 0
    try:
        params, text = parse_arguments(args)
    except Exception as exc:  # bad arguments: one clear line
        _sorry(f"xdxd.train: {exc}")
    if params.export.checkpoint:
        return _export(params.export)
    from xdxd_cctbx.training.trainer import Trainer

    trainer = Trainer(params, log=lambda line: print(line, flush=True))
    if trainer.rank == 0:
        print("xdxd.train parameters:\n" + text, flush=True)
    try:
        summary = trainer.run()
    except (FileNotFoundError, ValueError) as exc:
        _sorry(f"xdxd.train: {exc}")
    if trainer.rank == 0:
        print(f"done: step {summary['step']}, best validation metric {summary['best_metric']:.3f}", flush=True)
    return 0


def _export(p) -> int:
    from xdxd_cctbx.training.export import export_to_registry

    if not p.registry:
        _sorry("xdxd.train: export.registry= is needed with export.checkpoint=")
    try:
        entry = export_to_registry(p.checkpoint, p.registry, name=p.name, version=p.version, figures_path=p.figures,
                                   notes=p.notes or "")
    except (OSError, ValueError) as exc:
        _sorry(f"xdxd.train: {exc}")
    print(f"registered {entry['name']}-{entry['version']}: {entry['file']} sha256 {entry['sha256']} "
          f"({entry['n_parameters']:,} parameters, step {entry['training']['steps']})", flush=True)
    return 0


def _sorry(message: str) -> None:
    try:
        from libtbx.utils import Sorry
    except ImportError:
        raise SystemExit(message)
    raise Sorry(message)


if __name__ == "__main__":
    sys.exit(run())
