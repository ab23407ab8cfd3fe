"""Batched placement of known molecules against normalised structure amplitudes.

Each molecule copy is a rigid body (one conformer of an ensemble) with a
rotation, a translation and, optionally, torsion angles about its rotatable
bonds. Many poses (the batch) are optimised at once with Adam on

    loss = 1 - corr(|E_obs|, |E_calc|) + clash_weight * (clash + site mismatch)

where |E_calc| comes from :class:`xdxd_cctbx.sf.StructureFactorCalculator`
normalised in the same resolution shells as |E_obs|, and ``clash`` is a soft
hinge on short contacts between every atom and all symmetry copies of all
atoms (minimum image), so molecules do not overlap their symmetry mates.
Bodies on special positions (1/m copies) carry occupancy 1/m and their centroid
is projected onto a Wyckoff position (:mod:`.sites`); the site mismatch pulls
them into an orientation (and conformation) that the site's own operations map
onto itself: each atom's image under a site operation should fall on an atom of
the same element.

Rotations: ``R = R(q) R0`` with q = normalise(1, v/2) and a per-pose base
rotation R0 (re-based after every stage, so v stays small). Translations are
Cartesian (Angstrom) centroid positions, turned fractional for the data.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.known_molecule import search_clock
from xdxd_cctbx.known_molecule.conformers import ConformerSet, sample_torsion_angles
from xdxd_cctbx.known_molecule.contact_penalty import contact_penalty, kept_pair_fraction
from xdxd_cctbx.known_molecule.molecules import METALS
from xdxd_cctbx.known_molecule.sites import SiteChoice, all_operations

logger = logging.getLogger(__name__)

HYDROGEN_BOND_ELEMENTS = frozenset("N O F".split())


@dataclass
class Body:
    """One rigid body of the asymmetric unit (a molecule copy or a fragment of one)."""

    conformers: ConformerSet
    occupancy: float = 1.0
    sites: Optional[List[SiteChoice]] = None  # None: general position
    molecule_index: int = 0
    copy_index: int = 0

    @property
    def n_atoms(self) -> int:
        return self.conformers.n_atoms


@dataclass
class PoseBatch:
    """B poses of all bodies. Lists run over bodies; tensors have batch first."""

    conf: List[torch.Tensor]  # (B,) long
    site: List[torch.Tensor]  # (B,) long (0 for general bodies)
    base_rot: torch.Tensor  # (B,K,3,3)
    rotvec: torch.Tensor  # (B,K,3)
    trans: torch.Tensor  # (B,K,3) Cartesian, Angstrom
    tors: List[torch.Tensor]  # (B,T_k)

    @property
    def size(self) -> int:
        return int(self.trans.shape[0])

    def select(self, idx) -> "PoseBatch":
        idx = torch.as_tensor(idx, dtype=torch.long)
        return PoseBatch([c[idx] for c in self.conf], [s[idx] for s in self.site],
                         self.base_rot[idx].clone(), self.rotvec[idx].detach().clone(),
                         self.trans[idx].detach().clone(), [t[idx].detach().clone() for t in self.tors])

    @staticmethod
    def cat(batches: Sequence["PoseBatch"]) -> "PoseBatch":
        k = len(batches[0].conf)
        return PoseBatch(
            [torch.cat([b.conf[i] for b in batches]) for i in range(k)],
            [torch.cat([b.site[i] for b in batches]) for i in range(k)],
            torch.cat([b.base_rot for b in batches]), torch.cat([b.rotvec.detach() for b in batches]),
            torch.cat([b.trans.detach() for b in batches]),
            [torch.cat([b.tors[i].detach() for b in batches]) for i in range(k)])


def quaternion_matrix(v: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (...,3,3) from q = normalise(1, v/2) (smooth, ~|v| radians)."""
    q = torch.cat([torch.ones_like(v[..., :1]), 0.5 * v], dim=-1)
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(v.shape[:-1] + (3, 3))


def random_rotations(n: int, gen: torch.Generator) -> torch.Tensor:
    """Uniformly distributed rotation matrices (n,3,3), float64."""
    q = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(n, 3, 3)


def apply_torsions(x: torch.Tensor, angles: torch.Tensor, axes: np.ndarray, masks: torch.Tensor) -> torch.Tensor:
    """Rotate the moving side of each torsion of local coordinates x (B,n,3)."""
    for j in range(len(axes)):
        a, b = int(axes[j, 0]), int(axes[j, 1])
        origin = x[:, a:a + 1, :]
        u = x[:, b, :] - x[:, a, :]
        u = (u / u.norm(dim=-1, keepdim=True).clamp_min(1e-6)).unsqueeze(1)
        p = x - origin
        c = torch.cos(angles[:, j]).view(-1, 1, 1)
        s = torch.sin(angles[:, j]).view(-1, 1, 1)
        rotated = p * c + torch.cross(u.expand_as(p), p, dim=-1) * s + u * (u * p).sum(-1, keepdim=True) * (1 - c)
        x = x + masks[j].view(1, -1, 1) * (rotated - p)
    return x


def shell_bins(d_star_sq: np.ndarray, per_bin: int = 60, max_bins: int = 20) -> np.ndarray:
    """Resolution-shell index of each reflection (equal counts)."""
    n = len(d_star_sq)
    n_bins = int(max(1, min(max_bins, n // per_bin)))
    order = np.argsort(d_star_sq)
    bins = np.empty(n, dtype=np.int64)
    bins[order] = (np.arange(n) * n_bins) // n
    return bins


def normalise_intensities(i_over_eps: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """E^2 = (I/eps) / <I/eps>_shell."""
    n_bins = int(bins.max()) + 1
    sums = np.bincount(bins, weights=i_over_eps, minlength=n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    mean = sums / np.maximum(counts, 1)
    return i_over_eps / np.maximum(mean[bins], 1e-30)


# The clash term screens body pairs (contact_penalty's ``screen``) only where that is faster
# (benchmarks/clash_screen_survey.py): in groups of SCREEN_MIN_OPERATIONS or more, with
# SCREEN_MIN_ATOMS or more atoms, at most SCREEN_MAX_BODIES bodies (each body pair is a Python-level
# block), and when the screen keeps less than SCREEN_MAX_KEPT of the atom pairs of random poses.
SCREEN_MIN_OPERATIONS = 8
SCREEN_MIN_ATOMS = 24
SCREEN_MAX_BODIES = 4
SCREEN_MAX_KEPT = 0.5
SCREEN_SAMPLE_POSES = 128
SMOOTHING_FRACTION = 0.5  # of optimise's steps during which the correlation's resolution weighting fades
MINOR_POWER = 0.2  # a body scattering less than this times the strongest body is a minor one


class PlacementProblem:
    """Data, symmetry and bodies fixed during a search; computes poses' losses."""

    def __init__(self, f_obs, bodies: List[Body], *, clash_weight: float = 1.0, site_weight: float = 1.0,
                 dtype: torch.dtype = torch.float32, b_iso: float = 2.0, e_obs=None) -> None:
        from xdxd_cctbx.sf import StructureFactorCalculator, SymmetryOperators

        self.bodies = bodies
        self.dtype = dtype
        self.clash_weight = clash_weight
        self.site_weight = site_weight
        self.unit_cell = f_obs.unit_cell()
        self.space_group_info = f_obs.space_group_info()
        sg = f_obs.space_group()
        hkl = np.array(f_obs.indices(), dtype=np.int64)
        eps = np.array(f_obs.epsilons().data(), dtype=np.float64)
        f = np.maximum(np.array(f_obs.data(), dtype=np.float64), 0.0)
        d_star_sq = np.array(f_obs.d_star_sq().data(), dtype=np.float64)
        self.bins = shell_bins(d_star_sq)
        self.d_star_sq = torch.tensor(d_star_sq, dtype=dtype)
        if e_obs is not None:  # the caller's |E| (same reflections as f_obs)
            lookup = dict(zip(e_obs.indices(), e_obs.data()))
            missing = sum(1 for h in f_obs.indices() if h not in lookup)
            if missing:
                raise InputError(f"e_obs lacks {missing} of the {f_obs.size()} reflections of f_obs: "
                                 "give |E| for the same reflections or leave e_obs out")
            e_values = np.array([lookup[h] for h in f_obs.indices()], dtype=np.float64)
        else:
            e_values = np.sqrt(normalise_intensities(f * f / eps, self.bins))
        self.e_obs = torch.tensor(e_values, dtype=dtype)
        self.e_obs_centred = self.e_obs - self.e_obs.mean()
        self.n_bins = int(self.bins.max()) + 1
        self.bins_t = torch.tensor(self.bins)
        self.bin_counts = torch.bincount(self.bins_t, minlength=self.n_bins).to(dtype).clamp_min(1)
        self.inv_eps = torch.tensor(1.0 / eps, dtype=dtype)
        elements = [el for b in bodies for el in b.conformers.elements]
        self.elements = elements
        types = sorted(set(elements))
        ops = SymmetryOperators.from_space_group(sg)
        self.calc = StructureFactorCalculator(hkl, self.unit_cell.parameters(), ops, types)
        self.type_index = self.calc.type_index(elements)
        self.weights = torch.tensor([b.occupancy for b in bodies for _ in range(b.n_atoms)], dtype=dtype)
        self.active = torch.ones(len(elements), dtype=dtype)
        self.b_iso = float(b_iso)
        orth = np.array(self.unit_cell.orthogonalization_matrix(), dtype=np.float64).reshape(3, 3)
        self.orth = torch.tensor(orth, dtype=dtype)
        self.frac_mx = torch.tensor(np.linalg.inv(orth), dtype=dtype)
        rots, trs = all_operations(sg)
        self.op_rot = torch.tensor(rots, dtype=dtype)
        self.op_tr = torch.tensor(trs, dtype=dtype)
        self.identity_op = int(np.where(np.all(np.abs(rots - np.eye(3)) < 1e-6, axis=(1, 2))
                                        & np.all(np.abs(trs) < 1e-6, axis=1))[0][0])
        self._setup_bodies()
        self._setup_clash()
        self.screen_clash = self._screening_pays()

    # -- set-up -------------------------------------------------------------
    def _setup_bodies(self) -> None:
        self.offsets = np.cumsum([0] + [b.n_atoms for b in self.bodies])
        self.body_ranges = list(zip(self.offsets[:-1], self.offsets[1:]))  # atoms of each body
        self.conf_coords = [torch.tensor(b.conformers.coords, dtype=self.dtype) for b in self.bodies]
        self.tors_axes, self.tors_masks, self.far = [], [], []
        for b in self.bodies:
            cs = b.conformers
            axes = np.array([[t.a, t.b] for t in cs.torsions], dtype=np.int64).reshape(-1, 2)
            masks = torch.zeros(len(cs.torsions), cs.n_atoms, dtype=self.dtype)
            for j, t in enumerate(cs.torsions):
                masks[j, torch.as_tensor(t.moving)] = 1.0
            self.tors_axes.append(axes)
            self.tors_masks.append(masks)
            thr = np.minimum(2.6, cs.far_min - 0.2) if len(cs.far_pairs) else np.zeros(0)
            self.far.append((torch.as_tensor(cs.far_pairs), torch.tensor(thr, dtype=self.dtype)))
        self.site_w = []
        for b in self.bodies:
            if b.sites:
                self.site_w.append((torch.tensor(np.array([s.w_matrix for s in b.sites]), dtype=self.dtype),
                                    torch.tensor(np.array([s.w_shift for s in b.sites]), dtype=self.dtype)))
            else:
                self.site_w.append(None)

    def _setup_clash(self) -> None:
        el = self.elements
        n = len(el)
        metal = np.array([e in METALS for e in el])
        hb = np.array([e in HYDROGEN_BOND_ELEMENTS for e in el])
        thr = np.full((n, n), 2.8)
        thr[hb[:, None] & hb[None, :]] = 2.4
        thr[metal[:, None] | metal[None, :]] = 1.8
        self.clash_thr = torch.tensor(thr, dtype=self.dtype)
        body_of = np.concatenate([[k] * b.n_atoms for k, b in enumerate(self.bodies)])
        self.same_body = torch.tensor(body_of[:, None] == body_of[None, :])
        n_ops = self.op_rot.shape[0]
        # for bodies on special sites: (n_sites, n_ops) True where the op maps the site onto itself
        self.site_excl = []
        self.same_element = []
        for b in self.bodies:
            if b.sites:
                m = torch.zeros(len(b.sites), n_ops, dtype=torch.bool)
                for i, s in enumerate(b.sites):
                    m[i, torch.as_tensor(s.site_ops)] = True
                self.site_excl.append(m)
                els = np.array(b.conformers.elements)
                self.same_element.append(torch.tensor(els[:, None] == els[None, :]))
            else:
                self.site_excl.append(None)
                self.same_element.append(None)

    def _screening_pays(self) -> bool:
        """Whether the clash term should leave out body pairs too far apart to touch (the same
        values either way; see SCREEN_MIN_OPERATIONS). Decided once, on random poses drawn from a
        generator of its own (the search's random numbers are not touched)."""
        if (self.op_rot.shape[0] < SCREEN_MIN_OPERATIONS or len(self.elements) < SCREEN_MIN_ATOMS
                or len(self.bodies) > SCREEN_MAX_BODIES):
            return False
        poses = self.random_poses(SCREEN_SAMPLE_POSES, torch.Generator().manual_seed(0))
        with torch.no_grad():
            frac = self.coordinates(poses, torsions=False)
        kept = kept_pair_fraction(frac, self.op_rot, self.op_tr, self.orth, float(self.clash_thr.max()),
                                  self.body_ranges)
        logger.debug("clash term: screening keeps %.2f of the atom pairs of random poses", kept)
        return kept < SCREEN_MAX_KEPT

    def set_active(self, bodies: Optional[Sequence[int]] = None) -> None:
        """Only these bodies scatter and clash (None: all); the others are ignored."""
        self.active = torch.zeros(len(self.elements), dtype=self.dtype)
        for k in (range(len(self.bodies)) if bodies is None else bodies):
            self.active[int(self.offsets[k]):int(self.offsets[k + 1])] = 1.0

    def scattering_power(self, k: int) -> float:
        """Sum of occupancy * Z^2 over body k's atoms (its share of the intensity)."""
        from rdkit import Chem

        table = Chem.GetPeriodicTable()
        b = self.bodies[k]
        return b.occupancy * sum(table.GetAtomicNumber(e) ** 2 for e in b.conformers.elements)

    def minor_bodies(self) -> List[int]:
        """Bodies scattering less than MINOR_POWER times the strongest body (waters, small ions)."""
        powers = [self.scattering_power(k) for k in range(len(self.bodies))]
        return [k for k, p in enumerate(powers) if p < MINOR_POWER * max(powers)]

    # -- poses --------------------------------------------------------------
    def random_poses(self, n: int, gen: torch.Generator, conf: Optional[List[torch.Tensor]] = None,
                     random_torsions: bool = False) -> PoseBatch:
        """n random poses; conformers round-robin unless given; optionally random torsions."""
        k = len(self.bodies)
        confs, sites = [], []
        for i, b in enumerate(self.bodies):
            nc = b.conformers.n_conformers
            if conf is not None:
                confs.append(conf[i])
            else:
                start = int(torch.randint(nc, (1,), generator=gen))
                confs.append((torch.arange(n) + start) % nc)
            ns = len(b.sites) if b.sites else 1
            sites.append(torch.randint(ns, (n,), generator=gen))
        base = random_rotations(n * k, gen).to(self.dtype).reshape(n, k, 3, 3)
        frac = torch.rand(n, k, 3, generator=gen, dtype=torch.float64).to(self.dtype)
        trans = frac @ self.orth.T
        tors = [torch.zeros(n, len(ax), dtype=self.dtype) for ax in self.tors_axes]
        if random_torsions:
            seed = int(torch.randint(2 ** 31 - 1, (1,), generator=gen))
            rng = np.random.default_rng(seed)
            for kb, t in enumerate(tors):
                if t.shape[1]:  # about three torsions changed per pose
                    angles = sample_torsion_angles(self.bodies[kb].conformers.torsions, n, rng)
                    t.copy_(torch.tensor(angles, dtype=self.dtype))
        return PoseBatch(confs, sites, base, torch.zeros(n, k, 3, dtype=self.dtype), trans, tors)

    def local_coordinates(self, poses: PoseBatch, k: int, torsions: bool = True) -> torch.Tensor:
        """Body k's conformer coordinates with torsions applied, centred frame (B,n,3)."""
        x = self.conf_coords[k][poses.conf[k]]
        if torsions and len(self.tors_axes[k]):
            x = apply_torsions(x, poses.tors[k], self.tors_axes[k], self.tors_masks[k])
        return x

    def coordinates(self, poses: PoseBatch, torsions: bool = True) -> torch.Tensor:
        """Fractional coordinates of all atoms (B,N,3)."""
        rot = quaternion_matrix(poses.rotvec) @ poses.base_rot  # (B,K,3,3)
        out = []
        for k in range(len(self.bodies)):
            x = self.local_coordinates(poses, k, torsions)
            cart = x @ rot[:, k].transpose(1, 2)
            centre = poses.trans[:, k] @ self.frac_mx.T  # (B,3)
            if self.site_w[k] is not None:
                w_mat, w_sh = self.site_w[k]
                s = poses.site[k]
                centre = torch.einsum("bij,bj->bi", w_mat[s], centre) + w_sh[s]
            out.append(cart @ self.frac_mx.T + centre.unsqueeze(1))
        return torch.cat(out, dim=1)

    # -- loss ---------------------------------------------------------------
    def correlation(self, frac: torch.Tensor, smoothing_b: float = 0.0) -> torch.Tensor:
        """corr(|E_obs|, |E_calc|) per pose (B,); with ``smoothing_b`` (A^2) > 0 the reflections
        weigh exp(-B d*^2 / 4) (low resolution first, :func:`optimise`)."""
        a, b = self.calc.real_imag(frac, self.type_index, b_iso=self.b_iso, weights=self.weights * self.active)
        i_eps = (a * a + b * b) * self.inv_eps
        sums = torch.zeros(i_eps.shape[0], self.n_bins, dtype=i_eps.dtype).index_add_(1, self.bins_t, i_eps)
        mean = (sums / self.bin_counts).clamp_min(1e-12)
        e_calc = torch.sqrt(i_eps / mean[:, self.bins_t] + 1e-6)
        if smoothing_b > 0:
            return _weighted_correlation(e_calc, self.e_obs, torch.exp(-0.25 * smoothing_b * self.d_star_sq))
        ec = e_calc - e_calc.mean(1, keepdim=True)
        num = (ec * self.e_obs_centred).sum(1)
        den = torch.sqrt((ec * ec).sum(1) * (self.e_obs_centred ** 2).sum() + 1e-12)
        return num / den

    def clash(self, frac: torch.Tensor, poses: PoseBatch) -> torch.Tensor:
        """Soft short-contact penalty per pose (B,): (sum relu(d0 - d)^2 + site mismatch) / N."""
        on_site = {k: m[poses.site[k]].to(frac.dtype) for k, m in enumerate(self.site_excl) if m is not None}
        total = contact_penalty(frac, self.op_rot, self.op_tr, self.orth, self.clash_thr,
                                self.active[:, None] * self.active[None, :], self.same_body, self.identity_op,
                                self.body_ranges, on_site, screen=self.screen_clash)
        return (total + self.site_weight * self.site_mismatch(frac, poses)) / frac.shape[1]

    def site_mismatch(self, frac: torch.Tensor, poses: PoseBatch) -> torch.Tensor:
        """Sum over atoms of bodies on special sites of the squared distance (A^2) from the
        atom's image under each site operation to the nearest atom of the same element (B,)."""
        total = torch.zeros(frac.shape[0], dtype=frac.dtype)
        for k, excl in enumerate(self.site_excl):
            if excl is None or float(self.active[int(self.offsets[k])]) == 0 or self.bodies[k].n_atoms < 2:
                continue
            x = frac[:, int(self.offsets[k]):int(self.offsets[k + 1])]
            on_site = excl[poses.site[k]].to(frac.dtype)  # (B,n_ops)
            other = ~self.same_element[k]
            for s in torch.nonzero(excl.any(0)).flatten().tolist():
                if s == self.identity_op:
                    continue
                img = x @ self.op_rot[s].T + self.op_tr[s]
                d = img.unsqueeze(2) - x.unsqueeze(1)  # (B,n,n,3)
                d = d - torch.round(d.detach())
                dist2 = ((d @ self.orth.T) ** 2).sum(-1).masked_fill(other, 1e4)
                total = total + dist2.min(-1).values.sum(1) * on_site[:, s]
        return total

    def intramolecular_clash(self, poses: PoseBatch) -> torch.Tensor:
        """Contacts between atoms >= 4 bonds apart after torsion changes (B,)."""
        total = torch.zeros(poses.size, dtype=self.dtype)
        for k in range(len(self.bodies)):
            pairs, thr = self.far[k]
            if not len(self.tors_axes[k]) or not len(pairs) or float(self.active[int(self.offsets[k])]) == 0:
                continue
            x = self.local_coordinates(poses, k, True)
            d = (x[:, pairs[:, 0]] - x[:, pairs[:, 1]]).norm(dim=-1)
            total = total + (torch.relu(thr - d) ** 2).sum(1)
        return total / max(1, len(self.elements))

    def losses(self, poses: PoseBatch, torsions: bool = True, smoothing_b: float = 0.0):
        """(total, correlation, clash) per pose (``smoothing_b``: see :meth:`correlation`)."""
        frac = self.coordinates(poses, torsions)
        corr = self.correlation(frac, smoothing_b)
        clash = self.clash(frac, poses)
        if torsions:
            clash = clash + self.intramolecular_clash(poses)
        return 1.0 - corr + self.clash_weight * clash, corr, clash

    def cost_per_pose(self) -> float:
        """Rough elementwise work of one loss evaluation for one pose."""
        n = len(self.elements)
        return n * self.calc.n_representatives * self.calc.n_reflections * 2 + self.op_rot.shape[0] * n * n * 12


def _weighted_correlation(calc: torch.Tensor, obs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per row of calc (B,M) with obs (M,), reflection weights w (M,)."""
    w = w / w.sum()
    oc = obs - (w * obs).sum()
    cc = calc - (calc * w).sum(1, keepdim=True)
    num = (cc * oc * w).sum(1)
    return num / torch.sqrt((cc * cc * w).sum(1) * (oc * oc * w).sum() + 1e-12)


def rebase(poses: PoseBatch) -> None:
    """Fold the small rotation v into the base rotation (v = 0 afterwards)."""
    with torch.no_grad():
        poses.base_rot = quaternion_matrix(poses.rotvec.detach()) @ poses.base_rot
        poses.rotvec = torch.zeros_like(poses.rotvec)


def optimise(problem: PlacementProblem, poses: PoseBatch, n_steps: int, *, torsions: bool = False,
             lr_rot: float = 0.06, lr_trans: float = 0.15, lr_tors: float = 0.08,
             noise: float = 0.0, gen: Optional[torch.Generator] = None,
             frozen: Optional[Sequence[int]] = None, smoothing_b: float = 0.0,
             steps: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Adam on all poses at once (in place); returns the final losses (B,).

    Torsion angles stored in the poses are always applied; ``torsions`` makes
    them free parameters too. Bodies in ``frozen`` keep their poses.
    ``smoothing_b`` (A^2): the correlation weighs reflections by
    exp(-B d*^2 / 4), B falling from this value to 0 over the first
    ``SMOOTHING_FRACTION`` of the steps (low resolution first: a wider basin);
    the returned losses are unweighted. ``steps=(first, last)``: only those steps of
    the n_steps schedule (learning rate and weighting as in the whole run; Adam's
    moments start afresh), to continue a run on a subset of the poses.
    """
    first, last = (0, n_steps) if steps is None else (int(steps[0]), int(steps[1]))
    frozen = torch.as_tensor(list(frozen or []), dtype=torch.long)
    poses.rotvec = poses.rotvec.detach().clone().requires_grad_(True)
    poses.trans = poses.trans.detach().clone().requires_grad_(True)
    groups = [{"params": [poses.rotvec], "lr": lr_rot}, {"params": [poses.trans], "lr": lr_trans}]
    if torsions:
        poses.tors = [t.detach().clone().requires_grad_(True) for t in poses.tors]
        groups.append({"params": [t for t in poses.tors if t.shape[1]], "lr": lr_tors})
    groups = [g for g in groups if g["params"]]
    opt = torch.optim.Adam(groups, betas=(0.9, 0.99))
    base_lr = [g["lr"] for g in opt.param_groups]
    for step in range(first, last):
        frac_done = step / max(1, n_steps)
        scale = 0.5 * (1 + math.cos(math.pi * frac_done)) * 0.95 + 0.05
        for g, lr in zip(opt.param_groups, base_lr):
            g["lr"] = lr * scale
        smooth = smoothing_b * max(0.0, 1.0 - frac_done / SMOOTHING_FRACTION)
        opt.zero_grad(set_to_none=True)
        total, _, _ = problem.losses(poses, smoothing_b=smooth)  # stored torsions applied; optimised if asked
        total.sum().backward()
        if len(frozen):
            poses.rotvec.grad[:, frozen] = 0.0
            poses.trans.grad[:, frozen] = 0.0
            for k in frozen.tolist():
                if poses.tors[k].grad is not None:
                    poses.tors[k].grad.zero_()
        opt.step()
        if noise > 0 and gen is not None and frac_done < 0.6:
            amp = noise * (1 - frac_done / 0.6)
            with torch.no_grad():
                poses.rotvec.add_(torch.randn(poses.rotvec.shape, generator=gen).to(problem.dtype) * 0.05 * amp)
                poses.trans.add_(torch.randn(poses.trans.shape, generator=gen).to(problem.dtype) * 0.3 * amp)
    with torch.no_grad():
        total, _, _ = problem.losses(poses)
    search_clock.charge_steps(problem, poses.size, last - first, torsions)
    poses.rotvec = poses.rotvec.detach()
    poses.trans = poses.trans.detach()
    poses.tors = [t.detach() for t in poses.tors]
    rebase(poses)
    return total.detach()


def kabsch(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Rotations R (B,3,3) minimising |R p - q| for centred point sets (B,n,3)."""
    h = p.transpose(1, 2) @ q
    u, _, vt = torch.linalg.svd(h.double())
    d = torch.sign(torch.linalg.det(vt.transpose(1, 2) @ u.transpose(1, 2)))
    fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    return (vt.transpose(1, 2) @ fix @ u.transpose(1, 2)).to(p.dtype)


def swap_conformers(problem: PlacementProblem, poses: PoseBatch, k: int, new_conf: torch.Tensor,
                    torsions: bool) -> PoseBatch:
    """Copies of ``poses`` with body k's conformer replaced, superposed on the old one."""
    out = poses.select(torch.arange(poses.size))
    with torch.no_grad():
        old = problem.local_coordinates(poses, k, torsions)
        rot_old = (quaternion_matrix(poses.rotvec) @ poses.base_rot)[:, k]
        target = old @ rot_old.transpose(1, 2)
        new_local = problem.conf_coords[k][new_conf]
        w = target - target.mean(1, keepdim=True)
        p = new_local - new_local.mean(1, keepdim=True)
        rot = kabsch(p, w)
        out.base_rot[:, k] = rot
        out.rotvec[:, k] = 0.0
        out.conf[k] = new_conf
        out.tors[k] = torch.zeros_like(out.tors[k])
        shift = (target.mean(1) - (new_local.mean(1).unsqueeze(1) @ rot.transpose(1, 2)).squeeze(1))
        if problem.site_w[k] is None:
            out.trans[:, k] = out.trans[:, k] + shift
    return out
