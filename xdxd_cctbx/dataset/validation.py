"""Independent checks of crystal structures with cctbx (synthetic records or real CIFs).

Molecules are found from the structure itself, not from the builder's labels: bonds
are pairs closer than 1.2 x (sum of covalent radii) (metal-ligand bonds: the sum
+ 0.45 A, so that Jahn-Teller/apical bonds count as bonds), the asymmetric-unit atoms plus their symmetry images reached through bonds
form the molecules, and any pair of atoms not in the same molecule copy is an
intermolecular contact. Needs cctbx: import xdxd_cctbx before calling.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from xdxd_cctbx.dataset.elements import COVALENT_RADIUS, IS_METAL, VDW_RADIUS, Z_OF


@dataclass
class StructureCheck:
    """Summary numbers of one structure."""

    space_group: str
    n_asu_non_h: int
    n_cell_non_h: float
    volume_per_non_h: float
    min_contact_ratio: float        # shortest intermolecular d / (r_vdw_i + r_vdw_j), H included
    min_contact_ratio_non_h: float  # the same over non-H pairs only
    has_heavy: bool
    special_positions: bool
    elements: Dict[str, int]
    closest_pair: Optional[tuple] = None  # (label i, label j, symmetry of j, distance)


def _z_of(scatterer) -> int:
    label = scatterer.scattering_type.strip()
    sym = "".join(ch for ch in label if ch.isalpha())
    sym = sym[0].upper() + sym[1:].lower() if sym else "X"
    if sym == "D":
        sym = "H"
    return Z_OF.get(sym, 6)


def check_structure(xs, max_contact: float = 4.5) -> StructureCheck:
    """Contacts, density and composition of an ``xray.structure``."""
    from cctbx import crystal

    z = np.array([_z_of(sc) for sc in xs.scatterers()])
    n = len(z)
    heavy = z > 1
    mult = np.array([sc.multiplicity() for sc in xs.scatterers()], dtype=float)
    occ = np.array([sc.occupancy for sc in xs.scatterers()], dtype=float)
    n_cell_non_h = float((mult * occ)[heavy].sum())
    volume = xs.unit_cell().volume()
    order = xs.space_group().order_z()
    # all pairs up to max_contact with their symmetry operations
    asu_mappings = xs.asu_mappings(buffer_thickness=max_contact)
    pair_asu = crystal.pair_asu_table(asu_mappings=asu_mappings)
    pair_asu.add_all_pairs(distance_cutoff=max_contact)
    pair_sym = pair_asu.extract_pair_sym_table()
    sites_frac = xs.sites_frac()
    uc = xs.unit_cell()
    # bonded graph over (atom, rt_mx) copies: BFS from each asu atom with identity
    bonds: List[List] = [[] for _ in range(n)]
    pairs = []
    for i, row in enumerate(pair_sym):
        for j, ops in row.items():
            for op in ops:
                d = uc.distance(sites_frac[i], op * sites_frac[j])
                pairs.append((i, j, op, d))
                rc = COVALENT_RADIUS[z[i]] + COVALENT_RADIUS[z[j]]
                limit = rc + 0.45 if (IS_METAL[z[i]] or IS_METAL[z[j]]) else 1.2 * rc
                if d < limit and not (z[i] == 1 and z[j] == 1):
                    bonds[i].append((j, op))
                    bonds[j].append((i, op.inverse()))
    # molecule of asu atom i: the atom copies (keyed by position) reachable through bonds,
    # applying the site symmetry of special-position atoms (their pairs are stored once)
    from cctbx import sgtbx

    site_ops = [list(xs.site_symmetry_table().get(i).matrices()) for i in range(n)]

    def key(b, op):
        return b, tuple(np.round(np.array(op * sites_frac[b]), 3) + 0.0)

    identity = sgtbx.rt_mx()
    molecule_of: Dict[int, set] = {}
    for start in range(n):
        seen = {key(start, identity)}
        queue = deque([(start, identity)])  # breadth first: near copies before far ones
        while queue and len(seen) < 27 * n * order:
            a, op_a = queue.popleft()
            for s_op in site_ops[a]:
                for b, op_ab in bonds[a]:
                    op_b = op_a.multiply(s_op).multiply(op_ab)
                    k = key(b, op_b)
                    if k not in seen:
                        seen.add(k)
                        queue.append((b, op_b))
        molecule_of[start] = seen
    best, best_non_h = np.inf, np.inf
    worst = None
    for i, j, op, d in pairs:
        if key(j, op) in molecule_of[i]:
            continue
        r = d / (VDW_RADIUS[z[i]] + VDW_RADIUS[z[j]])
        if r < best:
            worst = (xs.scatterers()[i].label, xs.scatterers()[j].label, op.as_xyz(), round(d, 3))
        best = min(best, r)
        if z[i] > 1 and z[j] > 1:
            best_non_h = min(best_non_h, r)
    elements: Dict[str, int] = {}
    for sc, zi in zip(xs.scatterers(), z):
        if zi > 1:
            key = "".join(ch for ch in sc.scattering_type if ch.isalpha())
            elements[key] = elements.get(key, 0) + 1
    return StructureCheck(
        space_group=str(xs.space_group_info()), n_asu_non_h=int(heavy.sum()), n_cell_non_h=n_cell_non_h,
        volume_per_non_h=volume / max(n_cell_non_h, 1e-9), min_contact_ratio=float(best),
        min_contact_ratio_non_h=float(best_non_h), has_heavy=bool(np.any(z > 17)),
        special_positions=bool(np.any(mult < order)), elements=elements, closest_pair=worst)
