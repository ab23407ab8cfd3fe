"""From search poses to cctbx structures, restraints and refined candidates.

Each pose becomes an ``xray.structure`` of the asymmetric unit's non-H atoms
(hydrogens when the search used them), labelled per element in order (C1, C2,
..., N1, ...), with every molecule kept connected. Bodies on special
positions are folded to their asymmetric part (:func:`.sites.fold_onto_site`).
Distance restraints come from the known molecule: its bonds (1-2) and
angle-spanning (1-3) pairs with the conformer ensemble's mean distances as
ideal values, mapped through symmetry where a molecule spans a special site.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from xdxd_cctbx.errors import XdxdError
from xdxd_cctbx.known_molecule.molecules import METALS
from xdxd_cctbx.known_molecule.sites import fold_onto_site

logger = logging.getLogger(__name__)

BOND_SIGMA = 0.02
ANGLE_SIGMA = 0.04
METAL_BOND_SIGMA = 0.08
_B_GRID = (1.0, 2.0, 3.0, 4.5, 6.0)


def _shifted_op(op, lattice: np.ndarray):
    """cctbx rt_mx ``op`` followed by a lattice translation."""
    from cctbx import sgtbx

    shift = sgtbx.tr_vec(tuple(int(v) for v in lattice), 1).new_denominator(op.t().den())
    return sgtbx.rt_mx(op.r(), op.t().plus(shift))


def _labels(elements: Sequence[str]) -> List[str]:
    counts: Dict[str, int] = {}
    out = []
    for el in elements:
        counts[el] = counts.get(el, 0) + 1
        out.append(f"{el}{counts[el]}")
    return out


def pose_to_structure(problem, frac_all: np.ndarray, specs, site_index: Sequence[int], u_iso: float = 0.03):
    """(xray.structure, molecules info, restraint pairs) of one pose's coordinates (N,3).

    site_index: per body, which of its special sites the pose uses (poses.site);
    that site's own operations fold the molecule onto its asymmetric part.
    """
    from cctbx import xray

    sg = problem.space_group_info.group()
    cctbx_ops = list(sg.all_ops())
    rots = problem.op_rot.double().numpy()
    trs = problem.op_tr.double().numpy()
    atoms: List[Tuple[str, np.ndarray]] = []
    info = []
    # per body: molecule atom index -> (i_seq, rt_mx mapping the ASU atom onto it)
    maps: List[Dict[int, Tuple[int, object]]] = []
    for k, body in enumerate(problem.bodies):
        cs = body.conformers
        frac = frac_all[problem.offsets[k]:problem.offsets[k + 1]]
        frac = frac - np.floor(frac.mean(0))
        mapping: Dict[int, Tuple[int, object]] = {}
        start = len(atoms)
        if body.sites is None:
            for j in range(cs.n_atoms):
                mapping[j] = (len(atoms), cctbx_ops[0].unit_mx())
                atoms.append((cs.elements[j], frac[j]))
        else:
            site = body.sites[int(site_index[k])]
            sites, kept, assignment = fold_onto_site(frac, cs.elements, site, rots, trs, problem.unit_cell)
            for k2, j in enumerate(kept):
                atoms.append((cs.elements[j], sites[k2]))
            for j, (k2, s) in enumerate(assignment):
                x_asu = sites[k2]
                image = np.array(cctbx_ops[s] * tuple(x_asu))
                mapping[j] = (start + k2, _shifted_op(cctbx_ops[s], np.round(frac[j] - image)))
        maps.append(mapping)
        info.append({
            "molecule": cs.molecule, "molecule_index": body.molecule_index, "copy": body.copy_index,
            "occupancy": body.occupancy, "i_seqs": list(range(start, len(atoms))),
            "atom_ids": [int(cs.atom_ids[j]) for j in range(cs.n_atoms)],
            "n_conformers": cs.n_conformers,
        })
    labels = _labels([el for el, _ in atoms])
    xs = xray.structure(crystal_symmetry=problem_crystal_symmetry(problem))
    for (el, site), label in zip(atoms, labels):
        xs.add_scatterer(xray.scatterer(label=label, site=tuple(float(v) for v in site), u=u_iso,
                                        occupancy=1.0, scattering_type=el))
    pairs = restraint_pairs(problem, maps, frac_all)
    for mol_info in info:
        mol_info["labels"] = [labels[i] for i in mol_info["i_seqs"]]
    return xs, info, pairs


def problem_crystal_symmetry(problem):
    from cctbx import crystal

    return crystal.symmetry(unit_cell=problem.unit_cell, space_group_info=problem.space_group_info)


def restraint_pairs(problem, maps, frac_all: np.ndarray) -> List[tuple]:
    """(i_seq, j_seq, rt_mx_ji, ideal, sigma) from each body's bonds and 1-3 pairs.

    frac_all: the pose's coordinates (N,3), unfolded; pairs with a metal take
    their ideal distance from them (the M-L distances of the conformer the
    search chose), the others the ensemble's.
    """
    out: List[tuple] = []
    seen = set()
    orth = np.array(problem.unit_cell.orthogonalization_matrix()).reshape(3, 3)
    for k, (body, mapping) in enumerate(zip(problem.bodies, maps)):
        cs = body.conformers
        cart = frac_all[problem.offsets[k]:problem.offsets[k + 1]] @ orth.T
        for pairs, list_sigma in ((cs.bonds, BOND_SIGMA), (cs.angles, ANGLE_SIGMA)):
            for a, b, ideal in pairs:
                if cs.elements[a] == "H" or cs.elements[b] == "H":
                    continue
                # metal geometry is only approximate in the conformers
                metal = cs.elements[a] in METALS or cs.elements[b] in METALS
                sigma = METAL_BOND_SIGMA if metal else list_sigma
                if metal:
                    ideal = float(np.linalg.norm(cart[a] - cart[b]))
                i, op_a = mapping[a]
                j, op_b = mapping[b]
                rt = op_a.inverse().multiply(op_b)
                if i == j and rt.is_unit_mx():
                    continue
                key = (i, j, str(rt))
                key_rev = (j, i, str(rt.inverse()))
                if key in seen or key_rev in seen:
                    continue
                seen.add(key)
                out.append((i, j, rt, float(ideal), sigma))
    return out


def r1_and_u(xs, f_obs) -> Tuple[float, float]:
    """Best R1 over a small grid of overall U_iso values (sets that U on ``xs``)."""
    import libtbx
    from cctbx import adptbx

    best = (9.0, 0.03)
    for b in _B_GRID:
        u = adptbx.b_as_u(b)
        xs.set_u_iso(value=u)
        fc = f_obs.structure_factors_from_scatterers(xs, algorithm="direct").f_calc()
        r1 = f_obs.r1_factor(fc.amplitudes(), scale_factor=libtbx.Auto)
        if r1 < best[0]:
            best = (r1, u)
    xs.set_u_iso(value=best[1])
    return best


def make_candidates(problem, frac: np.ndarray, losses: torch.Tensor, corr: torch.Tensor, specs, f_obs,
                    n: int, sites: Sequence[torch.Tensor]):
    """The best ``n`` coordinate sets (B,N,3) as :class:`~.search.PlacedCandidate`, best first.

    sites: per body, the special-site index of each coordinate set (poses.site).
    """
    from xdxd_cctbx.known_molecule.search import PlacedCandidate

    out = []
    order = [i for i in torch.argsort(losses).tolist() if np.isfinite(float(losses[i]))]
    for i in order[:n]:
        xs, info, pairs = pose_to_structure(problem, frac[i], specs, [int(s[i]) for s in sites])
        r1, _ = r1_and_u(xs, f_obs)
        out.append(PlacedCandidate(xray_structure=xs, score=float(losses[i]), correlation=float(corr[i]),
                                   r1=float(r1), molecules=info, restraint_pairs=pairs, r1_search=float(r1)))
    return out


def refine_candidates(candidates, i_obs, params=None) -> None:
    """Restrained refinement (restraints from the known molecule) of each candidate, in place.

    Hook onto :func:`xdxd_cctbx.refine.refine_structure`; a failed refinement
    leaves the candidate unrefined (logged).
    """
    try:
        from xdxd_cctbx.refine import refine_structure
    except ImportError:  # pragma: no cover - the refine package ships with the library
        logger.warning("xdxd_cctbx.refine not available: candidates left unrefined")
        return
    for cand in candidates:
        try:
            res = refine_structure(cand.xray_structure, i_obs, params=params,
                                   restraint_pairs=cand.restraint_pairs)
        except (XdxdError, RuntimeError, ValueError) as exc:
            logger.warning("refinement of a candidate failed: %s", exc)
            continue
        cand.refinement = res
        cand.xray_structure = res.xray_structure
        cand.r1 = float(res.r1_all)
