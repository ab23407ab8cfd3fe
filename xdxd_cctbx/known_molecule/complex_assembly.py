"""Whole metal complexes that RDKit cannot embed: ligands placed around the metal.

ETKDG fails on many organometallics (a Cp ruthenium with eight neighbours, a
sandwich). Split at the metal, the ligands embed, but as separate rigid bodies
the search must find each ligand's pose on its own (six bodies of a piano-stool
salt: 36 degrees of freedom, nothing keeping the Cp on the metal). Here the
ligands of a single-metal complex are put back together instead: the metal's
sites (donor atoms, hapto groups; :mod:`.metal_geometry`) get the vertices of
an ideal polyhedron, and each ligand is moved rigidly so that its donors sit
at their M-L distances along their site directions with their substituents
pointing away from the metal (a ring's plane across its site direction).
Chelating ligands choose the assignment of sites to vertices that their own
geometry fits best; equally good assignments (isomers, enantiomers at the
metal) are drawn at random, so an ensemble of split conformers covers them.
The regular-centre relaxation of :func:`.metal_geometry.idealise` follows.
"""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple

import numpy as np

from xdxd_cctbx.known_molecule.metal_geometry import (
    POLYHEDRA, bonded_groups, coordination_sites, proper_rotation, site_directions, site_distances, span)
from xdxd_cctbx.known_molecule.molecules import METALS

logger = logging.getLogger(__name__)

TIE = 0.05  # A^2: assignments this close to the best fit count as equally good


def _anchors(mol, x: np.ndarray, metal: int, site: List[int], direction: np.ndarray,
             distances: Tuple[float, float]) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Points of a ligand (in its own frame) and where they belong around the metal (at the origin)."""
    d_atom, d_centre = distances
    centre = x[site].mean(0)
    outside = sorted({n.GetIdx() for a in site for n in mol.GetAtomWithIdx(a).GetNeighbors()}
                     - set(site) - {metal})
    src, dst = [centre], [direction * d_centre]
    if not outside:
        return src, dst
    away = x[outside].mean(0) - centre
    if len(site) == 1:
        normal = away
    elif len(site) == 2:
        bond = x[site[1]] - x[site[0]]
        normal = away - bond * (away @ bond) / max(float(bond @ bond), 1e-9)
    else:
        normal = np.linalg.svd(x[site] - centre)[2][-1]
        normal = normal if normal @ away >= 0 else -normal
    length = float(np.linalg.norm(normal))
    if length < 1e-3:
        return src, dst
    if len(site) > 1:  # a unit normal: the ring or bond lies across the site direction
        normal, length = normal / length, 1.0
    src.append(centre + normal)
    dst.append(direction * (d_centre + length))
    return src, dst


def _fit(src: np.ndarray, dst: np.ndarray) -> Tuple[np.ndarray, np.ndarray, float]:
    """Rotation, translation and summed squared residual moving src onto dst (proper rotation)."""
    cs, cd = src.mean(0), dst.mean(0)
    if len(src) == 1:
        return np.eye(3), cd - cs, 0.0
    rot = proper_rotation((src - cs).T @ (dst - cd))
    moved = (src - cs) @ rot.T + cd
    return rot, cd - cs @ rot.T, float(((moved - dst) ** 2).sum())


def assemble(mol, coords: np.ndarray, rng: np.random.Generator,
             polyhedron_choice: int = 0) -> Optional[np.ndarray]:
    """Coordinates (n_atoms, 3) of the whole complex, or None when ``mol`` is not a
    single-metal complex with a modelled centre.

    coords: any coordinates whose ligands each have a sensible internal geometry
    (an embedding of the molecule split at its metal-ligand bonds).
    """
    metals = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() in METALS]
    if len(metals) != 1:
        return None
    metal = metals[0]
    sites = coordination_sites(mol, metal)
    if sites is None:
        return None
    spans = [span(s) for s in sites]
    options = POLYHEDRA[sum(spans)]
    _, vertices = options[min(polyhedron_choice, len(options) - 1)]
    x = np.asarray(coords, dtype=np.float64)
    ligands = bonded_groups(mol, set(range(mol.GetNumAtoms())) - {metal})  # the ligands
    site_ligand = [next(k for k, lig in enumerate(ligands) if s[0] in lig) for s in sites]
    distances = [site_distances(mol, x, metal, s) for s in sites]
    chelating = any(site_ligand.count(k) > 1 for k in set(site_ligand))
    candidates = site_directions(vertices, spans)
    if not chelating:  # every assignment fits equally well: draw one
        candidates = [candidates[int(rng.integers(len(candidates)))]]
    fits = []
    for dirs in candidates:
        placed, total = {}, 0.0
        for k in set(site_ligand):
            src, dst = [], []
            for s, site in enumerate(sites):
                if site_ligand[s] == k:
                    a, b = _anchors(mol, x, metal, site, dirs[s], distances[s])
                    src += a
                    dst += b
            rot, shift, err = _fit(np.array(src), np.array(dst))
            placed[k] = (rot, shift)
            total += err
        fits.append((total, placed))
    best = min(f[0] for f in fits)
    near = [f for f in fits if f[0] <= best + TIE]
    total, placed = near[int(rng.integers(len(near)))]
    out = np.zeros_like(x)
    for k, lig in enumerate(ligands):
        if k in placed:
            rot, shift = placed[k]
            out[lig] = x[lig] @ rot.T + shift
        else:  # a ligand without heavy donor atoms (a hydride): beside the metal
            out[lig] = x[lig] - x[lig].mean(0) + np.array([1.6, 0.0, 0.0])
    logger.debug("complex assembled around atom %d: %d sites on %d vertices, fit residual %.3f A^2",
                 metal, len(sites), len(vertices), total)
    return out
