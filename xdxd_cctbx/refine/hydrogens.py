"""Riding hydrogen atoms: placement from the heavy-atom geometry, smtbx constraints.

``place_riding_hydrogens`` decides how many H each C, N, O (and S) carries
from its non-H neighbours (count, angles, planarity, bond lengths), places
them at the usual X-ray distances with ideal geometry and returns the new
structure and a ``HydrogenPlacement`` (one ``RidingGroup`` per parent).
C-H groups are placed first (aromatic CH, tertiary CH, CH2, CH3, vinyl and
alkyne H, most certain first); with a composition H count N-H, O-H and S-H
follow, most likely first, until the count is reached. Without a count only
C-H are placed. Water and H on metal-bound O/N are never placed.

Groups (SHELX AFIX code, smtbx constraint, X-H for C / N / O,S):

======== ===== ==================================== =================
kind     AFIX  smtbx constraint                     X-H (A)
======== ===== ==================================== =================
xh3      137   terminal_tetrahedral_xh3_sites       0.96 / 0.89
xh2      23    secondary_xh2_sites                  0.97 / 0.90
xh       13    tertiary_xh_site                     0.98 / 0.91
planar   43    secondary_planar_xh_site             0.93 / 0.86
planar2  93    terminal_planar_xh2_sites            0.93 / 0.86
linear   163   terminal_linear_ch_site              0.93
oh       147   terminal_tetrahedral_xh_site         0.82 / 1.20 (S)
======== ===== ==================================== =================

U_iso(H) = 1.5 U_eq(parent) for xh3 and oh, else 1.2. Methyl and hydroxyl
groups rotate about their X-Y bond (refined azimuth); a methyl starts
staggered, a hydroxyl H points at the nearest O/N acceptor when there is
one (2.5-3.2 A). Placed H follow the non-H atoms, whose order is kept.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.refine.geometry import Contact, _element, _Topology, find_contacts
from xdxd_cctbx.refine.hydrogen_sites import (  # noqa: F401  (AFIX, N_H, X_H re-exported)
    AFIX,
    N_H,
    N_PIVOT_NEIGHBOURS,
    PLANAR_SUM,
    X_H,
    RidingGroup,
    acceptor_point,
    angle_deg,
    cart,
    classify,
    ideal_h_sites,
    perpendicular,
    reference_substituent,
    select_candidates,
    unit,
)

logger = logging.getLogger(__name__)

@dataclass
class HydrogenPlacement:
    """Riding groups of a structure (indices into the structure with H)."""

    groups: List[RidingGroup] = field(default_factory=list)
    n_target: Optional[float] = None  # composition H count per asymmetric unit
    fixed: List[int] = field(default_factory=list)  # H atoms that ride on nothing
    skipped: List[str] = field(default_factory=list)  # candidates not placed, and why

    @property
    def n_hydrogens(self) -> int:
        return sum(len(g.hydrogens) for g in self.groups)

    def group_of(self) -> Dict[int, RidingGroup]:
        """H i_seq -> its group."""
        return {h: g for g in self.groups for h in g.hydrogens}

    def afix_by_pivot(self) -> Dict[int, Tuple[int, Tuple[int, ...]]]:
        """pivot i_seq -> (AFIX code, H i_seqs): what a .res writer needs."""
        return {g.pivot: (g.afix, g.hydrogens) for g in self.groups}

    def summary(self) -> str:
        counts: Dict[str, int] = {}
        for g in self.groups:
            counts[g.kind] = counts.get(g.kind, 0) + 1
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        target = "-" if self.n_target is None else f"{self.n_target:g}"
        return f"{self.n_hydrogens} riding H (target {target}): {kinds or 'none'}"


# ----------------------------------------------------------------------------
# Public API

def _neighbour_table(xs, bonds) -> Tuple[_Topology, List[Contact]]:
    if bonds is None:
        contacts = find_contacts(xs)
    else:
        contacts = []
        for b in bonds:
            try:
                contacts.append(Contact(int(b.i_seq), int(b.j_seq), b.rt_mx_ji, float(b.distance)))
            except AttributeError:
                raise InputError(f"bonds: expected objects with i_seq, j_seq, rt_mx_ji, distance, got {b!r}")
    return _Topology(xs, contacts), contacts


def _h_labels(parent: str, element: str, n: int, used: set) -> List[str]:
    """H2, or H12A/H12B/H12C, from the parent's label, avoiding labels in use."""
    suffix = parent[len(element):] if parent.upper().startswith(element.upper()) else parent
    base = "H" + suffix
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if n == 1:
        for name in [base] + [base + letter for letter in letters]:
            if name.upper() not in used:
                return [name]
    else:
        for start in range(len(letters) - n + 1):
            names = [base + letters[start + i] for i in range(n)]
            if not any(name.upper() in used for name in names):
                return names
    names, k = [], 0
    while len(names) < n:
        k += 1
        if f"H{k}".upper() not in used:
            names.append(f"H{k}")
    return names


def place_riding_hydrogens(xray_structure, *, n_hydrogens_per_asu: Optional[float] = None,
                           bonds=None):
    """Add riding H atoms to a structure; returns (structure with H, HydrogenPlacement).

    n_hydrogens_per_asu: H atoms per asymmetric unit from the composition
    (unit-cell H / order_z); it arbitrates which N, O and S carry H, and C-H
    groups beyond it plus 2 are dropped (least certain first). None: C-H only.
    bonds: covalent pairs (objects with i_seq, j_seq, rt_mx_ji, distance, such
    as ``geometry.find_bonds`` gives); default: found from the geometry.
    H or D atoms already in the input are removed first. Non-H atoms keep their
    order and indices; the H atoms follow.
    """
    from cctbx import xray
    from cctbx.array_family import flex

    xs = xray_structure
    hd = xs.hd_selection()
    if hd.count(True):
        if bonds is not None:
            raise InputError("place_riding_hydrogens: give a structure without H when passing bonds")
        logger.info("placing H: removing the %d H/D atoms of the input", hd.count(True))
        xs = xs.select(~hd)
    else:
        xs = xs.deep_copy_scatterers()
    if n_hydrogens_per_asu is not None and n_hydrogens_per_asu < 0:
        raise InputError(f"n_hydrogens_per_asu={n_hydrogens_per_asu}: give a count >= 0")
    topology, _ = _neighbour_table(xs, bonds)
    scatterers = xs.scatterers()
    labels = [sc.label for sc in scatterers]
    special = xs.site_symmetry_table().special_position_indices()
    placement = HydrogenPlacement(n_target=n_hydrogens_per_asu)
    candidates = []
    for i_seq in range(scatterers.size()):
        c = classify(topology, xs, i_seq)
        if c is None:
            continue
        if i_seq in special:
            placement.skipped.append(f"{labels[i_seq]}: on a special position")
            continue
        c.element = topology.elements[i_seq]
        c.occupancy = scatterers[i_seq].occupancy
        candidates.append(c)
    chosen = select_candidates(candidates, n_hydrogens_per_asu, placement.skipped, labels)
    chosen.sort(key=lambda c: c.pivot)
    used = {lab.upper() for lab in labels}
    new = []
    uc = xs.unit_cell()
    n_heavy = scatterers.size()
    for c in chosen:
        element = topology.elements[c.pivot]
        group = RidingGroup(
            pivot=c.pivot, hydrogens=tuple(range(n_heavy + len(new), n_heavy + len(new) + c.n_h)),
            kind=c.kind, bond_length=X_H[(element, c.kind)],
            u_multiplier=1.5 if c.kind in ("xh3", "oh") else 1.2,
            neighbours=tuple(topology.neighbours[c.pivot]), reference=c.reference, score=c.score)
        towards = None
        if c.kind == "oh":
            j, op = group.neighbours[0]
            towards = acceptor_point(topology, xs, c.pivot, cart(xs, j, op))
        sites = ideal_h_sites(xs, group, azimuth_towards=towards)
        parent = scatterers[c.pivot]
        u = group.u_multiplier * parent.u_iso_or_equiv(uc)
        for name, site in zip(_h_labels(parent.label, element, c.n_h, used), sites):
            used.add(name.upper())
            new.append(xray.scatterer(label=name, site=uc.fractionalize(tuple(site)), u=u,
                                      occupancy=parent.occupancy, scattering_type="H"))
        placement.groups.append(group)
    if new:
        xs.add_scatterers(flex.xray_scatterer(new))
    for note in placement.skipped:
        logger.debug("H not placed: %s", note)
    logger.info("placed %s", placement.summary())
    return xs, placement


def describe_riding_hydrogens(xray_structure) -> HydrogenPlacement:
    """Riding groups for the H atoms a structure already has.

    Each H rides on its nearest non-H atom within 1.3 A; a parent's H atoms
    form a group when their number fits its neighbours (CH3/NH3 on one
    neighbour, XH2 on two, XH on three, planar XH or XH2, OH/SH). Other H
    (water, free N-H, ...) are listed in ``fixed``.
    """
    from cctbx import crystal

    xs = xray_structure
    elements = [_element(t) for t in xs.scatterers().extract_scattering_types()]
    is_h = [e in ("H", "D") for e in elements]
    placement = HydrogenPlacement()
    if not any(is_h):
        return placement
    topology, _ = _neighbour_table(xs, None)
    table = crystal.pair_asu_table(xs.asu_mappings(buffer_thickness=1.3))
    table.add_all_pairs(distance_cutoff=1.3)
    sym = table.extract_pair_sym_table(skip_j_seq_less_than_i_seq=False,
                                       all_interactions_from_inside_asu=True)
    uc = xs.unit_cell()
    by_parent: Dict[int, List[int]] = {}
    for h in (i for i, flag in enumerate(is_h) if flag):
        best = None
        for j, ops in sym[h].items():
            if is_h[j]:
                continue
            for op in ops:
                d = uc.distance(xs.scatterers()[h].site, op * xs.scatterers()[j].site)
                if best is None or d < best[0]:
                    best = (d, j, op)
        if best is None or not best[2].is_unit_mx():
            placement.fixed.append(h)  # no parent, or a parent across symmetry
            continue
        by_parent.setdefault(best[1], []).append(h)
    special = xs.site_symmetry_table().special_position_indices()
    for pivot, hs in sorted(by_parent.items()):
        kind = _existing_kind(topology, xs, pivot, hs)
        element = elements[pivot]
        if kind is None or (element, kind) not in X_H or pivot in special:
            placement.fixed.extend(hs)
            continue
        nbs = tuple(topology.neighbours[pivot])
        reference = None
        if kind in ("planar2", "xh3", "oh"):
            reference = reference_substituent(topology, xs, pivot, *nbs[0])
        placement.groups.append(RidingGroup(
            pivot=pivot, hydrogens=tuple(hs), kind=kind, bond_length=X_H[(element, kind)],
            u_multiplier=1.5 if kind in ("xh3", "oh") else 1.2, neighbours=nbs, reference=reference))
    logger.info("H of the model: %s, %d not riding", placement.summary(), len(placement.fixed))
    return placement


def _existing_kind(topology, xs, pivot: int, hs: Sequence[int]) -> Optional[str]:
    n_nb, n_h = len(topology.neighbours[pivot]), len(hs)
    if n_nb + n_h > 4 or n_nb == 0:
        return None
    if n_h == 3 and n_nb == 1:
        return "xh3"
    if n_h == 1 and n_nb == 3:
        return "xh" if topology.angle_sum(pivot) < PLANAR_SUM else None
    x = cart(xs, pivot)
    y = np.array(topology.vectors[pivot][0])
    h_vecs = [cart(xs, h) - x for h in hs]
    if n_h == 2 and n_nb == 2:
        return "xh2"
    if n_h == 1 and n_nb == 2:
        in_plane = abs(np.dot(unit(np.cross(topology.vectors[pivot][0], topology.vectors[pivot][1])),
                              unit(h_vecs[0])))
        return "planar" if in_plane < 0.3 else None
    if n_h == 2 and n_nb == 1:
        flat = abs(np.dot(unit(np.cross(h_vecs[0], h_vecs[1])), unit(y)))
        return "planar2" if flat < 0.3 else None
    if n_h == 1 and n_nb == 1:
        angle = angle_deg(y, h_vecs[0])
        if angle > 160.0:
            return "linear"
        return "oh" if topology.elements[pivot] in ("O", "S") else None
    return None


def reidealise(xray_structure, groups: Sequence[RidingGroup]) -> float:
    """Put the H of ``groups`` back at ideal positions from the current non-H sites.

    Methyl and hydroxyl groups keep their current azimuth. Returns the
    largest H shift (A). Used for groups smtbx cannot constrain.
    """
    xs = xray_structure
    uc = xs.unit_cell()
    scatterers = xs.scatterers()
    largest = 0.0
    for g in groups:
        towards = cart(xs, g.hydrogens[0]) if g.kind in ("xh3", "oh") else None
        sites = ideal_h_sites(xs, g, azimuth_towards=towards)
        if g.kind in ("xh2", "planar2") and len(sites) == 2:  # keep the H labels on their sides
            old = [cart(xs, h) for h in g.hydrogens]
            swap = (np.linalg.norm(old[0] - sites[1]) + np.linalg.norm(old[1] - sites[0])
                    < np.linalg.norm(old[0] - sites[0]) + np.linalg.norm(old[1] - sites[1]))
            if swap:
                sites = sites[::-1]
        for h, site in zip(g.hydrogens, sites):
            largest = max(largest, float(np.linalg.norm(cart(xs, h) - site)))
            scatterers[h].site = uc.fractionalize(tuple(site))
    return largest


def riding_constraints(xray_structure, placement: HydrogenPlacement, *, refine_u: bool = True
                       ) -> Tuple[list, List[RidingGroup]]:
    """smtbx constraints for the groups smtbx can build; returns (constraints, the others).

    A group is left out (to be re-idealised by ``reidealise`` between
    refinement macro cycles) when smtbx's connectivity around its pivot
    (covalent radii + 0.5 A, metals included) differs from the group's.
    refine_u: U_iso(H) proportional to the parent's U (else U not constrained).
    """
    import smtbx.utils
    from smtbx.refinement.constraints import adp as adp_constraints
    from smtbx.refinement.constraints.geometrical import hydrogens as geometrical

    classes = {
        "xh3": geometrical.terminal_tetrahedral_xh3_sites,
        "xh2": geometrical.secondary_xh2_sites,
        "xh": geometrical.tertiary_xh_site,
        "planar": geometrical.secondary_planar_xh_site,
        "planar2": geometrical.terminal_planar_xh2_sites,
        "linear": geometrical.terminal_linear_ch_site,
        "oh": geometrical.terminal_tetrahedral_xh_site,
    }
    table = smtbx.utils.connectivity_table(xray_structure).pair_asu_table.extract_pair_sym_table(
        skip_j_seq_less_than_i_seq=False, all_interactions_from_inside_asu=True)
    constraints, others = [], []
    for g in placement.groups:
        around = table[g.pivot]
        n_other = sum(len(ops) for j, ops in around.items() if j not in g.hydrogens)
        bonded = all(h in around for h in g.hydrogens)
        if not bonded or n_other != N_PIVOT_NEIGHBOURS[g.kind]:
            others.append(g)
            continue
        constraints.append(classes[g.kind](
            pivot=g.pivot, constrained_site_indices=tuple(g.hydrogens), bond_length=g.bond_length,
            rotating=g.kind in ("xh3", "oh")))
    if refine_u:
        for g in placement.groups:
            for h in g.hydrogens:
                constraints.append(adp_constraints.u_iso_proportional_to_pivot_u_eq(
                    u_iso_scatterer_idx=h, u_eq_scatterer_idx=g.pivot, multiplier=g.u_multiplier))
    if others:
        logger.info("riding H: %d of %d groups re-idealised between cycles (connectivity "
                    "differs from smtbx's)", len(others), len(placement.groups))
    return constraints, others


def orient_rotating_groups(xray_structure, placement: HydrogenPlacement, f_obs,
                           step_degrees: float = 5.0) -> int:
    """Turn methyl and hydroxyl H to the best difference density (circular Fourier).

    f_obs: amplitudes (or intensities) in the structure's symmetry. The
    difference map Fo - Fc is computed without the H atoms of the rotating
    groups; each group then takes the azimuth (about its X-Y bond) where the
    map summed over its H sites is highest. Modifies the structure in place;
    returns the number of groups turned by more than 10 deg.
    """
    from cctbx import maptbx
    from cctbx.array_family import flex

    xs = xray_structure
    rotating = [g for g in placement.groups if g.kind in ("xh3", "oh")]
    if not rotating or f_obs.size() == 0:
        return 0
    if f_obs.is_xray_intensity_array():
        f_obs = f_obs.f_sq_as_f()
    f_obs = f_obs.customized_copy(crystal_symmetry=xs.crystal_symmetry())
    moving = flex.bool(xs.scatterers().size(), False)
    for g in rotating:
        for h in g.hydrogens:
            moving[h] = True
    f_calc = f_obs.structure_factors_from_scatterers(
        xs.select(~moving), algorithm="direct").f_calc()
    fc_abs = flex.abs(f_calc.data())
    denominator = flex.sum(fc_abs * fc_abs)
    if denominator <= 0:
        return 0
    k = flex.sum(f_obs.data() * fc_abs) / denominator
    diff = f_obs.f_obs_minus_f_calc(f_obs_factor=1.0 / k, f_calc=f_calc)
    fft_map = diff.fft_map(resolution_factor=0.25)
    fft_map.apply_sigma_scaling()
    density = fft_map.real_map_unpadded()
    uc = xs.unit_cell()
    n_turned = 0
    for g in rotating:
        x = cart(xs, g.pivot)
        y = cart(xs, *g.neighbours[0])
        axis = unit(x - y)
        start = cart(xs, g.hydrogens[0])
        e1 = perpendicular(start - x, axis)
        e2 = np.cross(axis, e1)
        best = None
        for k_step in range(int(round(360.0 / step_degrees))):
            phi = math.radians(k_step * step_degrees)
            point = x + math.cos(phi) * e1 + math.sin(phi) * e2
            sites = ideal_h_sites(xs, g, azimuth_towards=point)
            value = sum(maptbx.eight_point_interpolation(density, uc.fractionalize(tuple(s)))
                        for s in sites)
            if best is None or value > best[0]:
                best = (value, phi, sites)
        _, phi, sites = best
        turn = math.degrees(min(phi, 2 * math.pi - phi))
        if g.kind == "xh3":
            turn = min(turn % 120.0, 120.0 - turn % 120.0)
        if turn > 10.0:
            n_turned += 1
        for h, site in zip(g.hydrogens, sites):
            xs.scatterers()[h].site = uc.fractionalize(tuple(site))
    logger.info("circular difference Fourier: %d of %d methyl/hydroxyl groups turned",
                n_turned, len(rotating))
    return n_turned
