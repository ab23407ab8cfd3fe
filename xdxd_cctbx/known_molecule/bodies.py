"""Rigid bodies of the asymmetric unit: conformer ensembles for every copy of every molecule.

A molecule with whole copies gives one body per copy (per fragment when RDKit
cannot embed it whole); a fractional copy (1/m, on a special site) gives a body
of occupancy 1/m on the space group's sites of order m, or, for a complex
split into fragments, the fragments that make up 1/m of it.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.known_molecule.conformers import embed_ensemble
from xdxd_cctbx.known_molecule.fractional_sites import choose_site_splits
from xdxd_cctbx.known_molecule.molecules import MoleculeSpec
from xdxd_cctbx.known_molecule.placement import Body
from xdxd_cctbx.known_molecule.sites import special_sites

logger = logging.getLogger(__name__)


def build_bodies(specs: Sequence[MoleculeSpec], space_group_info, params, f_obs=None, e_obs=None,
                 split_scores: Optional[Dict[int, Dict[Tuple[int, ...], float]]] = None) -> List[Body]:
    """Conformer ensembles and rigid bodies for every copy of every molecule.

    With ``f_obs``, molecules whose fractional copy can be shared out over
    special sites in more than one way get the split that fits the data
    (:func:`.fractional_sites.choose_site_splits`; ``split_scores`` gets the
    fit of every split).
    """
    sites_of = {}  # site order -> the space group's sites; a missing one is an input error, reported first
    for spec in specs:
        order = spec.split_copies()[1]
        if order and order not in sites_of:
            sites_of[order] = special_sites(space_group_info, order, seed=params.seed)
    total_atoms = max(1, sum(s.n_heavy for s in specs))
    ensembles = []
    for spec in specs:
        seconds = max(3.0, min(90.0, 0.15 * params.max_seconds) * spec.n_heavy / total_atoms)
        ensembles.append(embed_ensemble(spec, n_conformers=params.n_conformers, seed=params.seed,
                                        max_seconds=seconds, include_hydrogens=params.include_hydrogens))
    splits = {}
    if f_obs is not None:
        one_body = {m: sets[0] for m, sets in enumerate(ensembles) if len(sets) == 1}
        splits = choose_site_splits(specs, f_obs, space_group_info, one_body, seed=params.seed, e_obs=e_obs,
                                    scores_out=split_scores)
    bodies = []
    for m, (spec, sets) in enumerate(zip(specs, ensembles)):
        whole, order = spec.split_copies()
        for c in range(whole):
            for cs in sets:
                bodies.append(Body(cs, 1.0, None, m, c))
        if order and len(sets) == 1:
            for j, o in enumerate(splits.get(m, (order,))):
                if o not in sites_of:
                    sites_of[o] = special_sites(space_group_info, o, seed=params.seed)
                bodies.append(Body(sets[0], 1.0 / o, sites_of[o], m, whole + j))
        elif order:
            bodies += _fraction_of_fragments(sets, order, sites_of[order], m, whole, spec.name)
    return bodies


def _fraction_of_fragments(sets, order: int, sites, m: int, copy: int, name: str) -> List[Body]:
    """1/order of a complex split into fragments: identical fragments shared out.

    A complex on an inversion centre split at its metals (two metals, two
    ligands of each kind, ...) has one of each pair in the asymmetric unit; an
    unpaired fragment (a metal on the centre) sits on the special site itself.
    """
    groups = {}
    for cs in sets:
        groups.setdefault(cs.key, []).append(cs)
    out = []
    for key, members in groups.items():
        n_asu = len(members) / order
        whole = int(n_asu + 1e-6)
        for cs in members[:whole]:
            out.append(Body(cs, 1.0, None, m, copy))
        if n_asu - whole > 1e-3:
            frac_order = int(round(1.0 / (n_asu - whole)))
            if frac_order != order:
                raise InputError(
                    f"molecule {name}: RDKit cannot embed it whole, and its fragments ({key}) do not share "
                    f"out over a site of order {order}: give it as a .mol/.sdf file with coordinates")
            out.append(Body(members[whole], 1.0 / order, sites, m, copy))
    logger.info("molecule %s: %d fragments, %d of them in the asymmetric unit", name, len(sets), len(out))
    return out
