"""Speed of the torch structure-factor engine against cctbx direct summation.

Reference case: a random R-3 (hexagonal) structure with 31 atoms at d_min 2.0 A,
a batch of 64 candidates (perturbed copies). cctbx computes values only, one
candidate at a time (``algorithm="direct"``); the engine computes values AND the
gradient w.r.t. fractional coordinates of a loss (sum of |F|^2) for the whole
batch. Target: engine (values + gradients, 64 batch) <= cctbx (64 x values).

    python benchmarks/sf_speed.py [--space-group R-3] [--atoms 31] [--d-min 2.0]
                                  [--batch 64] [--threads 2] [--repeats 20]
"""
import argparse
import statistics
import time
from typing import Tuple

import xdxd_cctbx  # noqa: F401  (import order: boost.python, torch, cctbx)
import numpy as np
import torch

from xdxd_cctbx.sf import StructureFactorCalculator, SymmetryOperators


def build_case(symbol: str, n_atoms: int, d_min: float, n_batch: int, seed: int = 1):
    """(miller set, list of cctbx structures, engine inputs) for one benchmark case."""
    import random

    from cctbx import miller, sgtbx
    from cctbx.array_family import flex
    from cctbx.development import random_structure

    random.seed(seed)
    flex.set_random_seed(seed)

    elements = (["C"] * 6 + ["N", "O"]) * (n_atoms // 8 + 1)
    xs = random_structure.xray_structure(
        sgtbx.space_group_info(symbol),
        elements=elements[:n_atoms],
        u_iso=0.03,
        random_u_iso=True,
        min_distance=1.2,
        volume_per_atom=18.0,
    )
    ms = miller.build_set(crystal_symmetry=xs, anomalous_flag=False, d_min=d_min)
    rng = np.random.default_rng(seed)
    base = np.array(xs.sites_frac())
    frac = base[None] + rng.normal(scale=0.01, size=(n_batch,) + base.shape)
    from cctbx.array_family import flex

    structures = []
    for coords in frac:
        c = xs.deep_copy_scatterers()
        c.set_sites_frac(flex.vec3_double([tuple(v) for v in coords]))
        structures.append(c)
    types = [sc.scattering_type for sc in xs.scatterers()]
    u_iso = np.array([sc.u_iso for sc in xs.scatterers()])
    weights = np.array([sc.weight() for sc in xs.scatterers()])
    return xs, ms, structures, frac, types, u_iso, weights


def time_cctbx(ms, structures, repeats: int) -> Tuple[float, float]:
    """(min, median) seconds for cctbx direct F_calc of all structures (values only)."""
    times = []
    for _ in range(max(3, repeats // 4)):
        t0 = time.perf_counter()
        for s in structures:
            ms.structure_factors_from_scatterers(s, algorithm="direct").f_calc()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def time_engine(
    calc, frac, index, b_iso, weights, device, dtype, repeats: int, grad: bool
) -> Tuple[float, float]:
    """(min, median) seconds for one batched engine call (+ backward when grad)."""
    x0 = torch.as_tensor(frac, dtype=dtype, device=device)
    b = torch.as_tensor(b_iso, dtype=dtype, device=device)
    w = torch.as_tensor(weights, dtype=dtype, device=device)
    idx = index.to(device)
    times = []
    n_warm = 10
    for i in range(repeats + n_warm):
        x = x0.clone().requires_grad_(grad)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if grad:
            a, im = calc.real_imag(x, idx, b_iso=b, weights=w)
            (a * a + im * im).sum().backward()
        else:
            with torch.no_grad():
                calc.real_imag(x, idx, b_iso=b, weights=w)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= n_warm:
            times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space-group", default="R-3")
    parser.add_argument("--atoms", type=int, default=31)
    parser.add_argument("--d-min", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    xs, ms, structures, frac, types, u_iso, weights = build_case(
        args.space_group, args.atoms, args.d_min, args.batch
    )
    ops = SymmetryOperators.from_space_group(xs.space_group())
    labels = sorted(set(types))
    calc = StructureFactorCalculator(
        np.array(ms.indices()), xs.unit_cell().parameters(), ops, labels
    )
    index = calc.type_index(types)
    b_iso = 8 * np.pi**2 * u_iso
    print(
        f"{args.space_group}: {args.atoms} atoms, {len(ops)} operations "
        f"({calc.n_representatives} evaluated per atom), {ms.size()} reflections at "
        f"{args.d_min} A, batch {args.batch}, torch threads {torch.get_num_threads()}"
    )
    print("times are min (median) over repeats; the min is the fairer figure on a shared machine")
    t_cctbx, med_cctbx = time_cctbx(ms, structures, args.repeats)
    n = args.batch
    print(
        f"cctbx direct, values:           {t_cctbx * 1e3:8.2f} ({med_cctbx * 1e3:8.2f}) ms / {n}"
        f"  {t_cctbx / n * 1e3:.3f} ms per candidate"
    )
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:  # warm-up pass (allocator, thread pool), not reported
        for dtype in (torch.float32, torch.float64):
            for grad in (False, True):
                time_engine(calc, frac, index, b_iso, weights, device, dtype, 5, grad)
    for device in devices:
        for dtype in (torch.float32, torch.float64):
            for grad in (False, True):
                t, med = time_engine(calc, frac, index, b_iso, weights, device, dtype, args.repeats, grad)
                what = "values+grad" if grad else "values     "
                name = str(dtype).replace("torch.", "")
                verdict = ""
                if grad:
                    verdict = "  target met" if t <= t_cctbx else "  TARGET MISSED"
                print(
                    f"torch {device.type:4s} {name:7s} {what}: {t * 1e3:8.2f} ({med * 1e3:8.2f}) ms / {n}"
                    f"  {t / n * 1e3:.3f} ms per candidate, {t_cctbx / t:5.1f}x faster than cctbx{verdict}"
                )

if __name__ == "__main__":
    main()
