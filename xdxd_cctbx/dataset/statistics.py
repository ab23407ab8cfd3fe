"""Statistics of crystal-structure sets: synthetic shards against real structures (CIFs).

Per structure: space-group number, non-H atoms in the asymmetric unit, volume per non-H
atom of the cell, element counts (non-H), heavy atom (Z > 17) present, special
positions occupied, shortest intermolecular contact / sum of vdW radii. The synthetic
numbers come from the shards (the contact from the packer, which the cctbx check
reproduces: see :func:`check_sample`); the real ones from
:func:`xdxd_cctbx.dataset.validation.check_structure` (needs cctbx).
"""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional

import numpy as np

from xdxd_cctbx.dataset.elements import SYMBOLS
from xdxd_cctbx.dataset.shards import CrystalRecord, iter_records, list_shards, read_shard, to_xray_structure
from xdxd_cctbx.dataset.space_groups import cell_volume

logger = logging.getLogger(__name__)

SG_NAMES = {1: "P1", 2: "P-1", 4: "P21", 5: "C2", 9: "Cc", 12: "C2/m", 13: "P2/c", 14: "P21/c", 15: "C2/c",
            18: "P21212", 19: "P212121", 29: "Pca21", 33: "Pna21", 34: "Pnn2", 43: "Fdd2", 56: "Pccn",
            60: "Pbcn", 61: "Pbca", 62: "Pnma", 76: "P41", 78: "P43", 82: "I-4", 88: "I41/a", 92: "P41212",
            96: "P43212", 114: "P-421c", 3: "P2", 7: "Pc", 26: "Pmc21", 68: "Ccca", 116: "P-4c2", 160: "R3m", 167: "R-3c", 144: "P31", 145: "P32", 146: "R3", 148: "R-3"}


@dataclass
class StructureStats:
    sg_number: int
    n_asu_non_h: int
    volume_per_non_h: float
    elements: Dict[str, int]
    has_heavy: bool
    special: bool
    min_contact: float
    min_contact_non_h: float = float("nan")
    label: str = ""


def record_stats(r: CrystalRecord) -> StructureStats:
    heavy = r.z > 1
    el = Counter(SYMBOLS[int(z)] for z in r.z[heavy])
    return StructureStats(r.space_group.number, int(heavy.sum()), cell_volume(r.cell) / max(r.n_non_h_cell(), 1),
                          dict(el), bool(np.any(r.z > 17)), bool(r.special.any()), r.min_contact, label=r.recipe)


def synthetic_stats(directory: str, max_structures: Optional[int] = None) -> List[StructureStats]:
    out = []
    for r in iter_records(directory):
        out.append(record_stats(r))
        if max_structures and len(out) >= max_structures:
            break
    return out


def cif_stats(folder: str) -> List[StructureStats]:
    """Statistics of the structures listed in ``folder``/MANIFEST.json (cctbx)."""
    import iotbx.cif

    from xdxd_cctbx.dataset.validation import check_structure

    manifest = json.load(open(os.path.join(folder, "MANIFEST.json")))
    out = []
    for entry in manifest:
        structures = iotbx.cif.reader(file_path=os.path.join(folder, entry["file"])).build_crystal_structures()
        xs = structures.get(entry.get("block")) or list(structures.values())[0]
        c = check_structure(xs)
        out.append(StructureStats(xs.space_group().type().number(), c.n_asu_non_h, c.volume_per_non_h,
                                  c.elements, c.has_heavy, c.special_positions, c.min_contact_ratio,
                                  c.min_contact_ratio_non_h, label=entry.get("cls", "")))
    return out


def check_sample(directory: str, n: int, seed: int = 0, threshold: float = 0.8) -> Dict:
    """cctbx check of ``n`` random synthetic structures (contacts, density, site multiplicities)."""
    from xdxd_cctbx.dataset.validation import check_structure

    rng = np.random.default_rng(seed)
    shards = list_shards(directory)
    picked = []
    per_shard = max(1, -(-n // max(len(shards), 1)))
    for path in rng.permutation(shards):
        recs = read_shard(str(path))
        for i in rng.choice(len(recs), size=min(len(recs), per_shard), replace=False):
            picked.append(recs[int(i)])
        if len(picked) >= n:
            break
    picked = picked[:n]
    bad, worst, mult_bad, dev = [], 1e9, 0, 0.0
    for r in picked:
        xs = to_xray_structure(r)
        if [sc.multiplicity() for sc in xs.scatterers()] != list(r.site_mult):
            mult_bad += 1
        c = check_structure(xs)
        worst = min(worst, c.min_contact_ratio)
        dev = max(dev, abs(c.min_contact_ratio - r.min_contact))
        if c.min_contact_ratio < threshold:
            bad.append((r.smiles, c.min_contact_ratio, c.closest_pair))
    return dict(n_checked=len(picked), n_contact_below=len(bad), worst_contact=worst,
                multiplicity_mismatches=mult_bad, max_contact_disagreement=dev, examples=bad[:5])


def summarise(stats: List[StructureStats]) -> Dict:
    """Fractions and quantiles for the report."""
    n = len(stats)
    if n == 0:
        return {"n": 0}
    sg = Counter(s.sg_number for s in stats)
    el = Counter()
    for s in stats:
        el.update(s.elements)
    total_atoms = sum(el.values())
    q = lambda xs: [float(v) for v in np.nanpercentile(np.asarray(xs, dtype=float), [5, 25, 50, 75, 95])]  # noqa: E731
    return dict(
        n=n,
        space_groups={SG_NAMES.get(k, str(k)): v / n for k, v in sg.most_common()},
        n_asu_non_h=q([s.n_asu_non_h for s in stats]),
        volume_per_non_h=q([s.volume_per_non_h for s in stats]),
        min_contact=q([s.min_contact for s in stats]),
        heavy_fraction=sum(s.has_heavy for s in stats) / n,
        special_fraction=sum(s.special for s in stats) / n,
        elements={k: v / total_atoms for k, v in el.most_common()},
    )


def markdown_report(synthetic: Dict, real: Dict, extra: Optional[Dict] = None, title: str = "") -> str:
    """A Markdown comparison of two :func:`summarise` results."""
    lines = [f"# {title or 'Synthetic training crystals vs real structures'}", ""]
    if extra:
        for k, v in extra.items():
            lines.append(f"- **{k}**: {v}")
        lines.append("")
    lines += ["| quantity | synthetic | real (COD validation) |", "|---|---|---|",
              f"| structures | {synthetic['n']} | {real['n']} |",
              f"| with an atom heavier than Cl | {synthetic['heavy_fraction']:.1%} | {real['heavy_fraction']:.1%} |",
              f"| with a special position occupied | {synthetic['special_fraction']:.1%} | "
              f"{real['special_fraction']:.1%} |"]
    for key, name in (("n_asu_non_h", "non-H atoms per asymmetric unit"),
                      ("volume_per_non_h", "volume per non-H atom (A^3)"),
                      ("min_contact", "shortest intermolecular contact / vdW sum")):
        fmt = lambda v: ", ".join(f"{x:.3g}" for x in v)  # noqa: E731
        lines.append(f"| {name}: 5/25/50/75/95 % | {fmt(synthetic[key])} | {fmt(real[key])} |")
    lines += ["", "## Space groups (fraction of structures)", "", "| space group | synthetic | real |", "|---|---|---|"]
    names = list(dict.fromkeys(list(real["space_groups"])[:12] + list(synthetic["space_groups"])[:12]))
    for k in names:
        lines.append(f"| {k} | {synthetic['space_groups'].get(k, 0):.1%} | {real['space_groups'].get(k, 0):.1%} |")
    lines += ["", "## Elements (fraction of non-H atoms)", "", "| element | synthetic | real |", "|---|---|---|"]
    names = list(dict.fromkeys(list(real["elements"])[:14] + list(synthetic["elements"])[:14]))
    for k in names:
        lines.append(f"| {k} | {synthetic['elements'].get(k, 0):.2%} | {real['elements'].get(k, 0):.2%} |")
    return "\n".join(lines) + "\n"


def stats_to_json(stats: Iterable[StructureStats]) -> str:
    return json.dumps([asdict(s) for s in stats])
