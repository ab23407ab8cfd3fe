"""Benchmark sets: find the structures of a folder and load them for one benchmark task.

Three layouts are understood (checked in this order):

- a folder with ``MANIFEST.json``: a list of entries ``{"file", "block", "sg",
  "nonH", "cls", ...}`` naming CIF models (``/work/shared/data/cod_validation``);
  data are simulated from each model;
- a folder of measured data sets: subfolders each holding one ``.hkl`` and a
  ``.ins`` and/or ``.res`` (``/work/shared/data/measured``), or one such folder
  itself; the reference is the ``.res`` (refined model) when present, else the
  ``.ins`` atoms; the composition comes from SFAC/UNIT (``.ins`` first);
- a folder of CIF models (each file's first data block with atoms); data are simulated.

A ``BenchmarkStructure`` holds only paths and plain values, so that it can be sent
to worker processes; ``load()`` reads the files when the task runs.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
from typing import Any, Dict, List, Optional, Sequence

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.json"
SIMULATED = "simulated"
MEASURED = "measured"


@dataclasses.dataclass
class BenchmarkStructure:
    """One structure of a benchmark set (paths and the manifest's fields)."""

    name: str
    kind: str  # SIMULATED (data computed from the model) or MEASURED (an .hkl file)
    model_path: str  # reference model: CIF, .res or .ins
    block: Optional[str] = None  # CIF data block
    reflections_path: Optional[str] = None  # measured .hkl
    composition_path: Optional[str] = None  # .ins/.res whose SFAC/UNIT give the content
    cls: Optional[str] = None  # e.g. organic / metal-organic, when the manifest says
    space_group: Optional[str] = None
    n_non_h: Optional[int] = None
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the whole manifest entry

    def load(self) -> "LoadedStructure":
        """Read the reference model (and the measured data): see ``LoadedStructure``."""
        from xdxd_cctbx.io.model_files import read_model_file

        model = read_model_file(self.model_path, block=self.block)
        if model.xray_structure is None:
            raise InputError(f"{os.path.basename(self.model_path)} holds no atoms: no reference to compare with")
        reference = model.xray_structure
        if self.kind == SIMULATED:
            from xdxd_cctbx.io.shelx_files import unit_cell_content_of

            return LoadedStructure(self, reference, unit_cell_content_of(reference), None)
        from xdxd_cctbx.io.reflections import read_reflections

        content_model = model
        if self.composition_path and self.composition_path != self.model_path:
            content_model = read_model_file(self.composition_path)
        if not content_model.unit_cell_content:
            raise InputError(f"{os.path.basename(content_model.path)} gives no SFAC/UNIT composition")
        reflections = read_reflections(self.reflections_path, content_model.crystal_symmetry, "hklf4")
        return LoadedStructure(self, reference, dict(content_model.unit_cell_content), reflections)

    def as_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "extra"}


@dataclasses.dataclass
class LoadedStructure:
    """A structure read from disk: reference model, unit-cell content, measured data."""

    structure: BenchmarkStructure
    reference: Any  # cctbx xray.structure (H atoms included when the model has them)
    unit_cell_content: dict
    reflections: Any = None  # cctbx miller array for MEASURED sets, else None

    def simulation_model(self):
        """The reference with isotropic displacements: what data are simulated from."""
        xs = self.reference.deep_copy_scatterers()
        xs.convert_to_isotropic()
        return xs


def discover_structures(path: str, count: Optional[int] = None,
                        names: Optional[Sequence[str]] = None) -> List[BenchmarkStructure]:
    """The structures of the benchmark set at ``path`` (those named in ``names``, in the set's
    order, then the first ``count`` of them, when given).

    Raises InputError for a missing folder or a folder without structures.
    """
    if not os.path.exists(path):
        raise InputError(f"benchmark set not found: {path}")
    if not os.path.isdir(path):
        raise InputError(f"the benchmark set must be a folder (of CIFs or of measured data sets): {path}")
    if os.path.isfile(os.path.join(path, MANIFEST_NAME)):
        structures = _from_manifest(path)
    else:
        structures = _measured_sets(path) or _cif_files(path)
    if not structures:
        raise InputError(
            f"no structures found in {path}: expected CIF models (optionally with {MANIFEST_NAME}) "
            "or subfolders each holding an .hkl and an .ins/.res")
    if names:
        known = {s.name for s in structures}
        missing = [n for n in names if n not in known]
        if missing:
            raise InputError(f"structure {missing[0]} is not in the benchmark set {path}: "
                             f"give names of its structures (e.g. {structures[0].name})")
        wanted = set(names)
        structures = [s for s in structures if s.name in wanted]
    if count is not None:
        if count <= 0:
            raise InputError(f"count={count}: give a positive number of structures")
        structures = structures[:count]
    logger.info("benchmark set %s: %d structures (%s)", path, len(structures),
                ", ".join(sorted({s.kind for s in structures})))
    return structures


def _from_manifest(folder: str) -> List[BenchmarkStructure]:
    manifest_path = os.path.join(folder, MANIFEST_NAME)
    try:
        with open(manifest_path) as f:
            entries = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {manifest_path}: {e}")
    if isinstance(entries, dict):
        entries = entries.get("structures", entries.get("entries", []))
    if not isinstance(entries, list):
        raise InputError(f"{manifest_path} must hold a list of entries with a 'file' field")
    structures = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not entry.get("file"):
            raise InputError(f"{manifest_path}: entry {number} has no 'file' field")
        model_path = os.path.join(folder, entry["file"])
        if not os.path.isfile(model_path):
            raise InputError(f"{manifest_path}: entry {number} names a missing file {entry['file']}")
        name = entry.get("name") or entry.get("cod_id") or os.path.splitext(entry["file"])[0]
        structures.append(BenchmarkStructure(
            name=str(name), kind=SIMULATED, model_path=model_path, block=entry.get("block"),
            cls=entry.get("cls"), space_group=entry.get("sg"), n_non_h=entry.get("nonH"), extra=dict(entry)))
    return structures


def _measured_sets(folder: str) -> List[BenchmarkStructure]:
    own = _measured_set(folder)
    if own is not None:
        return [own]
    structures = []
    for sub in sorted(os.listdir(folder)):
        path = os.path.join(folder, sub)
        if os.path.isdir(path):
            found = _measured_set(path)
            if found is not None:
                structures.append(found)
    return structures


def _measured_set(folder: str) -> Optional[BenchmarkStructure]:
    """A folder with one .hkl and a .res and/or .ins; None when it is not one."""
    def one(ext):
        found = sorted(glob.glob(os.path.join(folder, "*" + ext)))
        found += sorted(glob.glob(os.path.join(folder, "*" + ext.upper())))
        if len(found) > 1:
            raise InputError(f"{folder} holds several {ext} files ({', '.join(map(os.path.basename, found))}): "
                             "give one data set per folder")
        return found[0] if found else None

    hkl = one(".hkl")
    if hkl is None:
        return None
    res, ins = one(".res"), one(".ins")
    if res is None and ins is None:
        logger.warning("%s: an .hkl without .ins/.res is skipped (no symmetry, no reference)", folder)
        return None
    return BenchmarkStructure(
        name=os.path.basename(os.path.normpath(folder)), kind=MEASURED, model_path=res or ins,
        reflections_path=hkl, composition_path=ins or res)


def _cif_files(folder: str) -> List[BenchmarkStructure]:
    paths = sorted(p for p in glob.glob(os.path.join(folder, "*")) if p.lower().endswith(".cif"))
    return [BenchmarkStructure(name=os.path.splitext(os.path.basename(p))[0], kind=SIMULATED, model_path=p)
            for p in paths]
