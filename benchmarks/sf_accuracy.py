"""Accuracy of the torch structure-factor engine against cctbx on real structures.

Reads every structure of ../shared/data/cod_validation (MANIFEST.json), keeps the
non-H atoms, makes ADPs isotropic, and compares F_calc at d_min (default 1.0 A)
with cctbx direct summation. Prints, per structure, the maximum relative
deviation of |F| over strong reflections (|F| > 5 % of max) and the overall max.

    python benchmarks/sf_accuracy.py [--d-min 1.0] [--data PATH]
"""
import argparse
import json
import os
import sys
import time

import xdxd_cctbx  # noqa: F401  (import order: boost.python, torch, cctbx)
import torch

from xdxd_cctbx.sf import FormFactorTable
from xdxd_cctbx.sf.cctbx_bridge import compare_with_cctbx

DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def load_structure(folder: str, entry: dict):
    """Non-H, isotropic xray.structure of one MANIFEST entry."""
    import iotbx.cif

    path = os.path.join(folder, entry["file"])
    xs = iotbx.cif.reader(file_path=path).build_crystal_structures()[entry["block"]]
    xs = xs.select(~xs.hd_selection())
    xs.convert_to_isotropic()
    return xs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-min", type=float, default=1.0)
    parser.add_argument("--data", default=os.environ.get("XDXD_SHARED_DATA", DEFAULT_DATA))
    args = parser.parse_args()
    folder = os.path.join(os.path.abspath(args.data), "cod_validation")
    if not os.path.isdir(folder):
        print(f"no cod_validation data at {folder}")
        return 1
    with open(os.path.join(folder, "MANIFEST.json")) as handle:
        manifest = json.load(handle)
    modes = {
        "registry f64": dict(table=None, dtype=torch.float64),
        "json f64": dict(table=FormFactorTable.default(), dtype=torch.float64),
        "json f32": dict(table=FormFactorTable.default(), dtype=torch.float32),
    }
    worst = {name: 0.0 for name in modes}
    start = time.time()
    print("max relative deviation of |F| over strong reflections (|F| > 5 % of max) vs cctbx direct;")
    print("registry = cctbx's own Gaussians, json = shipped form_factors.json")
    print(f"{'file':12s} {'space group':20s} {'nonH':>4s} {'refl':>5s} " + " ".join(f"{n:>13s}" for n in modes))
    for entry in manifest:
        xs = load_structure(folder, entry)
        devs = []
        for name, kw in modes.items():
            r = compare_with_cctbx(xs, d_min=args.d_min, **kw)
            worst[name] = max(worst[name], r["max_rel_strong"])
            devs.append(r["max_rel_strong"])
        print(
            f"{entry['file']:12s} {entry['sg']:20s} {xs.scatterers().size():4d} "
            f"{r['n_reflections']:5d} " + " ".join(f"{d:13.2e}" for d in devs)
        )
    print(f"{len(manifest)} structures at d_min {args.d_min} A ({time.time() - start:.1f} s); overall max:")
    for name, value in worst.items():
        print(f"  {name:13s} {value:.2e}")
    worst = max(worst.values())
    return 0 if worst < 1e-3 else 2


if __name__ == "__main__":
    sys.exit(main())
