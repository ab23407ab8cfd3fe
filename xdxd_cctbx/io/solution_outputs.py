"""Write a solution: PREFIX.cif, PREFIX.res, PREFIX.json, all or nothing."""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

SUFFIXES = (".cif", ".res", ".json")


def output_paths(prefix: str) -> list[str]:
    return [prefix + s for s in SUFFIXES]


def check_output_paths(prefix: str, overwrite: bool) -> None:
    """Fail before any work when outputs exist (and overwrite is off) or the folder is missing."""
    folder = os.path.dirname(os.path.abspath(prefix))
    if not os.path.isdir(folder):
        raise InputError(f"output folder {folder} does not exist: create it or change output.prefix")
    if not overwrite:
        existing = [p for p in output_paths(prefix) if os.path.exists(p)]
        if existing:
            raise InputError(f"{existing[0]} exists: set output.overwrite=True or choose another output.prefix")


def solution_metadata(result) -> dict:
    import xdxd_cctbx

    meta = {
        "program": f"xdxd_cctbx {xdxd_cctbx.__version__}",
        "method": result.method,
        "d_min": result.d_min,
        "seed": result.seed,
    }
    weights = getattr(result, "weights", None)
    if weights:
        meta["weights"] = weights
    return meta


def write_solution_files(prefix: str, result, *, overwrite: bool = False, wavelength: float | None = None) -> list[str]:
    """Write the top-1 model of ``result`` (a SolveResult); returns the paths written.

    Files are produced in a temporary folder beside the targets and moved into
    place only when all three were written, so a failure leaves no partial output.
    """
    from xdxd_cctbx.io.model_writers import write_cif, write_res

    check_output_paths(prefix, overwrite)
    folder = os.path.dirname(os.path.abspath(prefix))
    name = os.path.basename(prefix)
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=folder)
    try:
        meta = solution_metadata(result)
        staged = [os.path.join(tmp, name + s) for s in SUFFIXES]
        write_cif(staged[0], result.xray_structure, refinement=result.refinement, metadata=meta)
        write_res(staged[1], result.xray_structure, title=f"{name} solved by xdxd_cctbx ({result.method})",
                  wavelength=wavelength or 0.71073, refinement=result.refinement,
                  unit_cell_content=result.unit_cell_content)
        figures = result.figures()
        figures["files"] = {s.lstrip("."): os.path.abspath(prefix + s) for s in SUFFIXES}
        figures.update({k: v for k, v in meta.items() if k not in figures})
        with open(staged[2], "w") as f:
            json.dump(figures, f, indent=2, default=str)
            f.write("\n")
        targets = output_paths(prefix)
        for src, dst in zip(staged, targets):
            os.replace(src, dst)
        logger.info("wrote %s", ", ".join(targets))
        return targets
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
