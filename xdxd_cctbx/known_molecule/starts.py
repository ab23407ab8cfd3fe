"""Starting poses for the gradient search: from rotation/translation functions, or random.

For a group of bodies to add to a partial structure (or to an empty cell),
:class:`StartGenerator` ranks orientations of every conformer with the
rotation function (cached per body), scores translations of the best
orientations with the translation function (including the already placed
bodies, so for a single atom it is a difference map), and turns the best
(conformer, orientation, translation) triples into poses. Further bodies of the
same group are added greedily at their best translation-function peak.
"""
from __future__ import annotations

import logging
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from xdxd_cctbx.known_molecule.placement import PlacementProblem, PoseBatch
from xdxd_cctbx.known_molecule.rotation_translation import RotationTranslationSearch, uniform_rotations

logger = logging.getLogger(__name__)

RF_WORK = 2.0e8  # atom x reflection x rotation terms per body for the coarse rotation scan


class StartGenerator:
    """Informed starting poses for :func:`.search.search_poses`."""

    def __init__(self, problem: PlacementProblem, n_orientations: int = 1500, n_keep: int = 64,
                 n_peaks: int = 3, seed: int = 0) -> None:
        self.problem = problem
        self.rt = RotationTranslationSearch(problem)
        self.rotations = uniform_rotations(n_orientations, seed).to(torch.float32)
        self.n_keep = n_keep
        self.n_peaks = n_peaks
        self._orientations: Dict[tuple, List[Tuple[float, int, np.ndarray]]] = {}
        self._phases: Dict[int, np.ndarray] = {}
        self._handed_out: Dict[tuple, int] = {}  # first-body candidates already used, per list

    def _core(self, k: int) -> Optional[np.ndarray]:
        """Rigid core of body k when it is clearly smaller than the body (flexible molecules)."""
        body = self.problem.bodies[k]
        core = body.conformers.core
        if body.sites or core is None or len(core) < 4 or len(core) > 0.85 * body.n_atoms:
            return None
        return core

    def orientations(self, k: int, use_core: bool = False) -> List[Tuple[float, int, np.ndarray]]:
        """Best (rotation-function score, conformer, rotation matrix) of body k or its core (cached)."""
        key = (k, use_core)
        if key in self._orientations:
            return self._orientations[key]
        body = self.problem.bodies[k]
        atoms = self._core(k) if use_core else None
        if body.n_atoms == 1:
            out = [(0.0, 0, np.eye(3))]
        else:
            n_conf = body.conformers.n_conformers
            n_atoms = body.n_atoms if atoms is None else len(atoms)
            n_low = len(self.rt.rf_view(True)["sel"])
            work = n_conf * n_atoms * n_low * len(self.rt.self_rots)
            n_rot = int(min(len(self.rotations), max(200, RF_WORK / max(1, work))))
            rotations = self.rotations[:n_rot]
            found = []
            per_conf = max(4, int(math.ceil(2 * self.n_keep / n_conf)))
            for c in range(n_conf):
                scores = self.rt.rotation_scores(k, c, rotations, atoms=atoms, low=True)
                top = torch.argsort(scores, descending=True)[:per_conf]
                found += [(float(scores[i]), c, rotations[i]) for i in top.tolist()]
            found.sort(key=lambda x: -x[0])
            found = self._polish(k, found[:2 * self.n_keep], atoms)
            out = [(s, c, r.double().numpy()) for s, c, r in found[:self.n_keep]]
            logger.debug("rotation function of body %d%s: best %.3f, %d kept", k, " (core)" if use_core else "",
                         out[0][0], len(out))
        self._orientations[key] = out
        return out

    def _polish(self, k: int, found: list, atoms: Optional[np.ndarray], n_trials: int = 6,
                angle: float = 0.15) -> list:
        """Small random turns of the best orientations, kept where the rotation function improves."""
        from xdxd_cctbx.known_molecule.placement import quaternion_matrix

        gen = torch.Generator().manual_seed(1234 + k)
        out = []
        for score, conf, rot in found:
            turns = quaternion_matrix(torch.randn(n_trials, 3, generator=gen) * angle).to(rot.dtype)
            trial = torch.cat([rot.unsqueeze(0), turns @ rot])
            scores = self.rt.rotation_scores(k, conf, trial, atoms=atoms)
            best = int(torch.argmax(scores))
            out.append((float(scores[best]), conf, trial[best]))
        out.sort(key=lambda x: -x[0])
        return out

    def _translations(self, k: int, conf: int, rot: np.ndarray, f_known: Optional[np.ndarray], n: int,
                      atoms: Optional[np.ndarray] = None):
        """Best (score, site index, fractional centre of the atoms used) for one oriented conformer."""
        a_s = self.rt.molecule_transforms(k, conf, rot, atoms)
        body = self.problem.bodies[k]
        if body.sites:
            pts = self.rt.site_points(k)
            xyz = np.array([p for _, p in pts])
            if k not in self._phases:
                self._phases[k] = self.rt.point_phases(xyz)
            scores = self.rt.translation_scores(a_s, xyz, f_known, self._phases[k])
            order = np.argsort(-scores)[:n]
            return [(float(scores[i]), pts[i][0], xyz[i]) for i in order]
        pts, vals = self.rt.translation_peaks(a_s, n, f_known)
        return [(float(v), 0, p) for p, v in zip(pts, vals)]

    def _candidates(self, k: int, f_known: Optional[np.ndarray], use_core: bool,
                    n_orient: Optional[int] = None) -> list:
        """(TF score, conformer, rotation, site, body centre (fractional)) sorted best first."""
        atoms = self._core(k) if use_core else None
        frac_mx = self.problem.frac_mx.double().numpy()
        found = []
        if self.problem.bodies[k].sites:  # translations are few: fewer orientations suffice
            n_orient = min(n_orient or self.n_keep, max(8, self.n_keep // 4))
        for rs, conf, rot in self.orientations(k, use_core)[:n_orient]:
            mu = self.rt.local_coordinates(k, conf, atoms)[1]  # centroid of the atoms used, body frame
            for ts, site, centre in self._translations(k, conf, rot, f_known, self.n_peaks, atoms):
                found.append((ts, conf, rot, site, centre - frac_mx @ (rot @ mu)))
        found.sort(key=lambda x: -x[0])
        return found

    def _known(self, pose: PoseBatch, mask: torch.Tensor) -> Optional[np.ndarray]:
        if float(mask.sum()) == 0:
            return None
        with torch.no_grad():
            frac = self.problem.coordinates(pose, torsions=True)[0]
        return self.rt.known_transform(frac, mask)

    def _set(self, poses: PoseBatch, i: int, k: int, conf: int, rot: np.ndarray, site: int,
             centre: np.ndarray) -> None:
        p = self.problem
        poses.conf[k][i] = conf
        poses.site[k][i] = site
        poses.base_rot[i, k] = torch.tensor(rot, dtype=p.dtype)
        poses.rotvec[i, k] = 0.0
        poses.trans[i, k] = torch.tensor(centre, dtype=p.dtype) @ p.orth.T
        poses.tors[k][i] = 0.0

    def _body_mask(self, bodies: Sequence[int]) -> torch.Tensor:
        p = self.problem
        mask = torch.zeros(len(p.elements), dtype=p.dtype)
        for k in bodies:
            mask[int(p.offsets[k]):int(p.offsets[k + 1])] = 1.0
        return mask

    def _next_share(self, key: tuple, found: list, share: int) -> list:
        """The next ``share`` candidates of a ranked list that is handed out again and again
        (starts into an empty cell): each call continues where the last one ended, from
        the top again once all were used, so restarts and rounds try new peaks."""
        if not found:
            return []
        start = self._handed_out.get(key, 0) % len(found)
        self._handed_out[key] = start + share
        return [found[(start + i) % len(found)] for i in range(min(share, len(found)))]

    def informed(self, bases: Optional[PoseBatch], placed: Sequence[int], group: Sequence[int], n: int,
                 gen: torch.Generator) -> PoseBatch:
        """n poses: ``bases`` (or random) with the group's bodies placed by RF/TF.

        Without bases and placed bodies (the first body into an empty cell) the
        candidates continue down the ranked list from call to call.
        """
        p = self.problem
        empty_cell = bases is None and not placed
        if bases is None:
            bases = p.random_poses(1, gen)
        first = group[0]
        cands = []
        per_base = int(math.ceil(n / bases.size))
        use_core = [False, True] if self._core(first) is not None else [False]
        for b in range(bases.size):  # an equal share for every base: keeps the partial solutions diverse
            f_known = self._known(bases.select([b]), self._body_mask(placed))
            for core in use_core:  # whole body, and its rigid core alone for flexible molecules
                found = self._candidates(first, f_known, core)
                share = int(math.ceil(per_base / len(use_core)))
                chosen = self._next_share((first, core), found, share) if empty_cell else found[:share]
                cands += [(c[0], b) + c[1:] for c in chosen]
        cands = cands[:n]
        poses = bases.select([c[1] for c in cands])
        for i, (_, _, conf, rot, site, centre) in enumerate(cands):
            self._set(poses, i, first, conf, rot, site, centre)
        for k in group[1:]:  # greedy: each further body at its best peak
            done = list(placed) + list(group[:list(group).index(k)])
            for i in range(poses.size):
                f_known = self._known(poses.select([i]), self._body_mask(done))
                best = self._candidates(k, f_known, False, n_orient=8)[0]
                self._set(poses, i, k, *best[1:])
        return poses
