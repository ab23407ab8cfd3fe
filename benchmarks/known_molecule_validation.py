"""Validation of the known-molecule mode on the COD validation structures.

For each structure of ../shared/data/cod_validation (MANIFEST.json): the
molecules as a crystallographer would type them (``shared/tools/smiles_of.py``:
SMILES + copies, never coordinates), data simulated from the reference at
d_min (isotropic ADPs, H included, counting noise), the search, and the top-1
candidate compared with the reference (emma, every non-H atom within 0.5 A).

Each structure runs in its own process with a wall-clock limit; results are
appended to ``OUT/results_<d_min>.jsonl`` (reruns skip finished entries), a
summary is printed at the end. Results belong in scratch/, never in the repo.

    python benchmarks/known_molecule_validation.py --d-min 2.0 --limit 12 --single-only
    python benchmarks/known_molecule_validation.py --d-min 2.0 1.5 --max-seconds 300
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.abspath(os.environ.get("XDXD_SHARED", os.path.join(ROOT, "..", "shared")))
DATA = os.path.join(SHARED, "data", "cod_validation")
SMILES_TOOL = os.path.join(SHARED, "tools", "smiles_of.py")


def molecules_of(entry: dict, out_dir: str) -> dict:
    """smiles_of.py output for one manifest entry (cached)."""
    cache = os.path.join(out_dir, "smiles_cache.json")
    data = json.load(open(cache)) if os.path.exists(cache) else {}
    key = entry["file"]
    if key not in data:
        path = f"{os.path.join(DATA, entry['file'])}:{entry['block']}"
        proc = subprocess.run([sys.executable, SMILES_TOOL, path], capture_output=True, text=True, timeout=600)
        try:
            data[key] = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            data[key] = {"ok": False, "why": proc.stderr[-300:]}
        json.dump(data, open(cache, "w"), indent=1)
    return data[key]


def category(mols: list, cls: str) -> list:
    cats = []
    if len(mols) == 1 and abs(mols[0]["copies"] - 1) < 1e-6:
        cats.append("single")
    else:
        cats.append("several")
    if any(m.get("on_symmetry_element") or abs(m["copies"] - round(m["copies"])) > 1e-3 for m in mols):
        cats.append("on_symmetry")
    if cls.startswith("metal"):
        cats.append("metal-organic")
    return cats


def run_one(entry: dict, mols: dict, d_min: float, max_seconds: float, seed: int) -> dict:
    """Simulate, search, compare (runs inside the worker process)."""
    import xdxd_cctbx  # noqa: F401  (import order)
    import torch
    import iotbx.cif
    from xdxd_cctbx.benchmark.compare import compare_structures
    from xdxd_cctbx.data.prepare import prepare_reflections
    from xdxd_cctbx.data.simulate import simulate_intensities
    from xdxd_cctbx.known_molecule import default_params, place_molecules

    torch.set_num_threads(1)
    xs = iotbx.cif.reader(file_path=os.path.join(DATA, entry["file"])).build_crystal_structures()[entry["block"]]
    xs.convert_to_isotropic()
    i_obs = simulate_intensities(xs, d_min, seed=seed)
    data = prepare_reflections(i_obs)  # already cut (rhombohedral cells may end above d_min)
    params = default_params()
    params.max_seconds = max_seconds
    params.seed = seed
    t0 = time.time()
    cands = place_molecules(data.f_obs, [m["smiles"] for m in mols["molecules"]],
                            copies=[m["copies"] for m in mols["molecules"]], params=params, i_obs=data.i_obs)
    elapsed = time.time() - t0
    out = {"time": round(elapsed, 1), "n_candidates": len(cands), "n_reflections": data.f_obs.size()}
    if not cands:
        return out
    comps = [compare_structures(xs, c.xray_structure) for c in cands]
    top = comps[0]
    out.update({
        "match": top.match, "matched": top.n_matched, "n_reference": top.n_reference,
        "n_solution": top.n_solution, "rmsd": top.rmsd, "score": round(cands[0].score, 4),
        "corr": round(cands[0].correlation, 4), "r1": round(cands[0].r1, 4),
        "r1_search": cands[0].r1_search and round(cands[0].r1_search, 4),
        "any_match": any(c.match for c in comps), "best_rank": next((i for i, c in enumerate(comps) if c.match), None),
        "matched_all": [c.n_matched for c in comps], "scores": [round(c.score, 4) for c in cands],
    })
    # the unrefined top pose too (is a miss due to the search or to refinement?)
    return out


def worker(argv: list) -> None:
    entry, mols, d_min, max_seconds, seed = json.loads(argv[0])
    import logging
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    try:
        res = run_one(entry, mols, d_min, max_seconds, seed)
    except Exception as exc:  # noqa: BLE001 - report every failure
        import traceback
        res = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-1500:]}
    print("RESULT " + json.dumps(res))


def summarise(rows: list, d_min: float) -> str:
    lines = [f"d_min {d_min}: {sum(r.get('match', False) for r in rows)}/{len(rows)} top-1 matches"]
    for cat in ("single", "several", "on_symmetry", "metal-organic", "organic"):
        sel = [r for r in rows if cat in r["categories"] or (cat == "organic" and "metal-organic" not in r["categories"])]
        if sel:
            lines.append(f"  {cat:14s} {sum(r.get('match', False) for r in sel)}/{len(sel)}")
    times = sorted(r.get("time", r.get("wall", 0)) for r in rows)
    if times:
        lines.append(f"  median time {times[len(times) // 2]:.0f} s, max {times[-1]:.0f} s")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d-min", type=float, nargs="+", default=[2.0])
    ap.add_argument("--max-seconds", type=float, default=300.0, help="search time limit per structure")
    ap.add_argument("--limit", type=int, default=0, help="only the first N (after filters)")
    ap.add_argument("--files", nargs="*", default=None, help="only these CIF files")
    ap.add_argument("--single-only", action="store_true", help="only one molecule, one copy")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "scratch", "known_molecule"))
    ap.add_argument("--tag", default="", help="suffix of the results file")
    ap.add_argument("--worker", nargs=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if not os.path.isdir(DATA):
        print(f"validation data not found at {DATA}: nothing to do")
        return
    os.makedirs(args.out, exist_ok=True)
    manifest = json.load(open(os.path.join(DATA, "MANIFEST.json")))
    entries = []
    for e in manifest:
        if args.files and e["file"] not in args.files:
            continue
        mols = molecules_of(e, args.out)
        if not mols.get("ok"):
            print(f"{e['file']}: smiles_of failed: {mols.get('why')}")
            continue
        cats = category(mols["molecules"], e["cls"])
        if args.single_only and "single" not in cats:
            continue
        entries.append((e, mols, cats))
    if args.limit:
        entries = entries[:args.limit]
    for d_min in args.d_min:
        path = os.path.join(args.out, f"results_{d_min:.1f}{args.tag}.jsonl")
        done = {}
        if os.path.exists(path):
            for line in open(path):
                r = json.loads(line)
                done[r["file"]] = r
        rows = []
        for e, mols, cats in entries:
            if e["file"] in done:
                rows.append(done[e["file"]])
                continue
            t0 = time.time()
            payload = json.dumps([e, mols, d_min, args.max_seconds, args.seed])
            try:
                proc = subprocess.run([sys.executable, __file__, "--worker", payload], capture_output=True,
                                      text=True, timeout=args.max_seconds * 1.5 + 240)
                line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
                res = json.loads(line[-1][7:]) if line else {"error": "worker died: " + proc.stderr[-400:]}
                log_path = os.path.join(args.out, "logs", f"{e['file']}_{d_min:.1f}{args.tag}.log")
                os.makedirs(os.path.dirname(log_path), exist_ok=True)
                open(log_path, "w").write(proc.stderr)
            except subprocess.TimeoutExpired:
                res = {"error": "timeout"}
            res.update({"file": e["file"], "sg": e["sg"], "nonH": e["nonH"], "cls": e["cls"], "categories": cats,
                        "wall": round(time.time() - t0, 1), "molecules": [(m["smiles"], m["copies"]) for m in mols["molecules"]]})
            with open(path, "a") as fh:
                fh.write(json.dumps(res) + "\n")
            rows.append(res)
            print(f"{e['file']} {e['sg']:14s} {e['nonH']:4d} {'/'.join(cats):28s} "
                  f"match={res.get('match')} {res.get('matched')}/{res.get('n_reference')} any={res.get('any_match')} "
                  f"score={res.get('score')} r1={res.get('r1')} t={res.get('time')} {res.get('error', '')[:80]}",
                  flush=True)
        print(summarise(rows, d_min), flush=True)


if __name__ == "__main__":
    main()
