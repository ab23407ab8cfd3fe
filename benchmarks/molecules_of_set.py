"""Write the molecules table of a benchmark set (for xdxd.benchmark methods=known_molecule).

For every structure of the set (as xdxd.benchmark discovers it) the molecules are
derived from the reference model's connectivity by an external tool that prints
one JSON line {"molecules": [{"smiles", "copies", ...}], "ok": true} for
``MODEL.cif:BLOCK`` -- by default ``../shared/tools/smiles_of.py``, the way the
project is judged: graph only, never coordinates. Measured sets' .res/.ins
models are written to a temporary CIF first.

    python benchmarks/molecules_of_set.py ../shared/data/cod_validation scratch/cod_molecules.json
    python benchmarks/molecules_of_set.py ../shared/data/measured scratch/measured_molecules.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import xdxd_cctbx  # noqa: F401  (import order)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOOL = os.path.join(HERE, "..", "..", "shared", "tools", "smiles_of.py")


def cif_argument(structure, tmp: str) -> str:
    """``path:block`` of the structure's reference model as a CIF."""
    if structure.model_path.lower().endswith(".cif") and structure.block:
        return f"{structure.model_path}:{structure.block}"
    import iotbx.cif
    from xdxd_cctbx.io.model_files import read_model_file

    xs = read_model_file(structure.model_path, block=structure.block).xray_structure
    path = os.path.join(tmp, structure.name + ".cif")
    model = iotbx.cif.model.cif()
    model[structure.name] = xs.as_cif_block()
    with open(path, "w") as f:
        print(model, file=f)
    return f"{path}:{structure.name}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set", help="benchmark set folder (as for xdxd.benchmark)")
    ap.add_argument("out", help="JSON table to write")
    ap.add_argument("--tool", default=DEFAULT_TOOL, help="program printing the molecules of MODEL.cif:BLOCK")
    args = ap.parse_args()
    from xdxd_cctbx.benchmark.sets import discover_structures

    if not os.path.isfile(args.tool):
        print(f"molecule tool not found: {args.tool} (give --tool)", file=sys.stderr)
        return 1
    table, failed = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for s in discover_structures(args.set):
            proc = subprocess.run([sys.executable, args.tool, cif_argument(s, tmp)], capture_output=True,
                                  text=True, timeout=900)
            try:
                answer = json.loads(proc.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                answer = {"ok": False, "why": proc.stderr.strip()[-200:]}
            if not answer.get("ok"):
                failed.append(s.name)
                print(f"{s.name}: no molecules ({answer.get('why')})", file=sys.stderr)
                continue
            table[s.name] = [{"smiles": m["smiles"], "copies": m["copies"]} for m in answer["molecules"]]
            print(f"{s.name}: " + " + ".join(f"{m['copies']:g}*{m['smiles']}" for m in answer["molecules"]))
    with open(args.out, "w") as f:
        json.dump(table, f, indent=1)
    print(f"wrote {args.out}: {len(table)} structures, {len(failed)} without molecules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
