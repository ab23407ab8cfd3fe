"""Rotation and translation functions: informed starting poses (molecular replacement).

Random rigid-body starts find the right pose about once in a hundred tries,
because orientation and position must both fall into a small basin. As in
molecular replacement, the two are separated here:

* **Rotation function** (translation-free): for an orientation R of a
  conformer, the self-vector part of the intensities is
  ``I_self(h) = sum_s |F_mol(h R_s)|^2`` (rotation parts R_s of the space
  group, all copies' self terms). Its correlation with |E_obs|^2 over the
  reflections (both normalised in resolution shells) ranks orientations.
* **Translation function** (FFT): with the orientation fixed, the calculated
  intensity at translation t is ``|F_known(h) + sum_s A_s(h) exp(2 pi i g_s.t)|^2``
  with ``g_s = h R_s`` and ``A_s`` the oriented molecule's transform under
  operation s; its covariance with the observed normalised intensities,
  ``T(t) = sum_h u(h) |F(h; t)|^2``, is a Fourier series in t whose
  coefficients are accumulated at indices g_s - g_s' (and g_s for the cross
  term with the already placed part F_known), so one inverse FFT gives T on a
  grid. Bodies on special positions are scored directly on points of their
  Wyckoff positions.

The best (orientation, translation) pairs seed the gradient search of
:mod:`.placement`.
"""
from __future__ import annotations

import logging
import math
from typing import List, Optional, Tuple

import numpy as np
import torch

logger = logging.getLogger(__name__)

TWO_PI = 2.0 * math.pi
RF_LOW_RES = 2.8  # A: the coarse rotation scan uses reflections to this resolution ...
RF_MIN_REFLECTIONS = 60  # ... when there are at least this many of them


def uniform_rotations(n: int, seed: int = 0) -> torch.Tensor:
    """n rotation matrices spread over SO(3) (random uniform quaternions), float64."""
    from xdxd_cctbx.known_molecule.placement import random_rotations

    gen = torch.Generator().manual_seed(int(seed) + 104729)
    return random_rotations(n, gen)


class RotationTranslationSearch:
    """Rotation and translation functions of one :class:`~.placement.PlacementProblem`."""

    def __init__(self, problem, grid_spacing: float = 0.5) -> None:
        from xdxd_cctbx.sf import FormFactorTable

        self.problem = problem
        hkl = problem.calc.hkl.numpy().astype(np.float64)
        self.hkl = hkl
        self.m = hkl.shape[0]
        rots = problem.op_rot.double().numpy()
        trs = problem.op_tr.double().numpy()
        self.rots, self.trs = rots, trs
        # g_s = h R_s (row vectors), integer-valued
        self.g = np.rint(np.einsum("mi,sij->smj", hkl, rots)).astype(np.int64)  # (S,M,3)
        self.h_t = np.einsum("mi,si->sm", hkl, trs)  # (S,M)
        # distinct rotation parts up to sign (self-vector terms)
        distinct: List[np.ndarray] = []
        for r in rots:
            if not any(np.allclose(r, q) or np.allclose(r, -q) for q in distinct):
                distinct.append(r)
        self.self_rots = torch.tensor(np.array(distinct))
        s2 = problem.calc.stol_sq.double()
        self.stol_sq = s2
        types = sorted(set(problem.elements))
        table = FormFactorTable.default()
        f0 = table.evaluate(types, s2) * torch.exp(-problem.b_iso * s2)  # (T,M)
        self.f_el = {t: f0[i] for i, t in enumerate(types)}
        eps = (1.0 / problem.inv_eps.double())
        e2 = problem.e_obs.double() ** 2
        self.e2_obs = e2
        self.e2_centred = e2 - e2.mean()
        # expected intensity of the whole structure: eps * sum over all atoms and ops of (occ f)^2
        occ = problem.weights.double()
        sigma2 = torch.zeros(self.m, dtype=torch.float64)
        for el, w in zip(problem.elements, occ.tolist()):
            sigma2 += (w * self.f_el[el]) ** 2
        sigma2 *= len(rots)
        self.u = (self.e2_centred / (eps * sigma2)).numpy()
        cell = problem.unit_cell.parameters()
        self.grid = tuple(max(4, int(math.ceil(cell[i] / grid_spacing))) for i in range(3))
        self._site_points: dict = {}
        self._views: dict = {}
        self.bins = problem.bins_t
        self.n_bins = problem.n_bins
        self.bin_counts = problem.bin_counts.double()

    # -- rotation function ---------------------------------------------------
    def _atom_factors(self, k: int, atoms: Optional[np.ndarray] = None) -> torch.Tensor:
        body = self.problem.bodies[k]
        elements = body.conformers.elements
        idx = range(len(elements)) if atoms is None else atoms
        return torch.stack([self.f_el[elements[i]] for i in idx]) * body.occupancy  # (N,M)

    def local_coordinates(self, k: int, conf: int, atoms: Optional[np.ndarray] = None
                          ) -> Tuple[np.ndarray, np.ndarray]:
        """(coordinates centred on the selected atoms, their centroid in the body frame)."""
        x = self.problem.bodies[k].conformers.coords[conf]
        if atoms is not None:
            x = x[atoms]
        centre = x.mean(0)
        return x - centre, centre

    def rf_view(self, low: bool) -> dict:
        """Reflections for the rotation function: all, or the low-resolution ones (smoother)."""
        key = "low" if low else "all"
        if key not in self._views:
            d_star_sq = 4.0 * self.stol_sq.numpy()
            sel = np.arange(self.m)
            if low:
                low_sel = np.where(d_star_sq <= 1.0 / RF_LOW_RES ** 2)[0]
                if len(low_sel) >= RF_MIN_REFLECTIONS:
                    sel = low_sel
            from xdxd_cctbx.known_molecule.placement import shell_bins

            bins = torch.tensor(shell_bins(d_star_sq[sel], per_bin=40))
            n_bins = int(bins.max()) + 1
            e2 = self.e2_obs.numpy()[sel]
            self._views[key] = {
                "sel": torch.tensor(sel), "h": torch.tensor(self.hkl[sel]),
                "inv_eps": self.problem.inv_eps[torch.tensor(sel)].to(torch.float32),
                "e2": torch.tensor(e2 - e2.mean(), dtype=torch.float32), "bins": bins, "n_bins": n_bins,
                "counts": torch.bincount(bins, minlength=n_bins).to(torch.float32).clamp_min(1),
            }
        return self._views[key]

    def rotation_scores(self, k: int, conf: int, rotations: torch.Tensor, chunk: int = 256,
                        atoms: Optional[np.ndarray] = None, low: bool = False) -> torch.Tensor:
        """Correlation of I_self with |E_obs|^2 for each orientation (P,).

        atoms: a subset of the body's atoms (e.g. its rigid core); low: use the
        low-resolution reflections only (a smoother function for a coarse scan).
        """
        p = self.problem
        dt = torch.float32
        view = self.rf_view(low)
        x = torch.tensor(self.local_coordinates(k, conf, atoms)[0], dtype=dt)  # (N,3) centred
        f = self._atom_factors(k, atoms).to(dt)[:, view["sel"]]
        frac_mx = p.frac_mx.to(dt)
        hr = torch.einsum("mi,sij->smj", view["h"], self.self_rots).to(dt)  # (S',M,3)
        inv_eps, e2_obs, counts, bins = view["inv_eps"], view["e2"], view["counts"], view["bins"]
        out = []
        for start in range(0, rotations.shape[0], chunk):
            rot = rotations[start:start + chunk].to(dt)
            d = torch.einsum("pij,nj->pni", rot, x) @ frac_mx.T  # (P,N,3) fractional offsets
            phase = TWO_PI * torch.einsum("pni,smi->psnm", d, hr)
            re = (f * torch.cos(phase)).sum(2)
            im = (f * torch.sin(phase)).sum(2)
            i_self = (re * re + im * im).sum(1)  # (P,M)
            i_eps = i_self * inv_eps
            sums = torch.zeros(i_eps.shape[0], view["n_bins"], dtype=dt).index_add_(1, bins, i_eps)
            e2 = i_eps / (sums / counts).clamp_min(1e-12)[:, bins]
            e2c = e2 - e2.mean(1, keepdim=True)
            num = (e2c * e2_obs).sum(1)
            den = torch.sqrt((e2c * e2c).sum(1) * (e2_obs ** 2).sum() + 1e-20)
            out.append(num / den)
        return torch.cat(out)

    # -- translation function ------------------------------------------------
    def molecule_transforms(self, k: int, conf: int, rotation: np.ndarray,
                            atoms: Optional[np.ndarray] = None) -> np.ndarray:
        """A_s(h) = exp(2 pi i h.t_s) F_mol(h R_s) for the oriented conformer (or atom subset), (S,M)."""
        p = self.problem
        x = self.local_coordinates(k, conf, atoms)[0] @ np.asarray(rotation).T
        d = x @ p.frac_mx.double().numpy().T  # (N,3) fractional offsets
        f = self._atom_factors(k, atoms).numpy()  # (N,M)
        phase = TWO_PI * np.einsum("nj,smj->snm", d, self.g)
        fm = (f[None] * np.exp(1j * phase)).sum(1)  # (S,M)
        return fm * np.exp(1j * TWO_PI * self.h_t)

    def translation_map(self, a_s: np.ndarray, f_known: Optional[np.ndarray] = None) -> np.ndarray:
        """T(t) on the fractional grid (n1,n2,n3) via one inverse FFT."""
        n = np.array(self.grid)
        s_count = a_s.shape[0]
        idx, val = [], []
        for s in range(s_count):
            others = [s2 for s2 in range(s_count) if s2 != s]  # g = 0 terms: constant in t
            idx.append((self.g[s][None] - self.g[others]).reshape(-1, 3))
            val.append((self.u * a_s[s] * np.conj(a_s[others])).reshape(-1))
        if f_known is not None:
            idx.append(self.g.reshape(-1, 3))
            val.append((2.0 * self.u * np.conj(f_known) * a_s).reshape(-1))
        idx = np.mod(np.concatenate(idx), n)
        val = np.concatenate(val)
        flat = np.ravel_multi_index((idx[:, 0], idx[:, 1], idx[:, 2]), self.grid)
        size = int(np.prod(self.grid))
        coeff = (np.bincount(flat, weights=val.real, minlength=size)
                 + 1j * np.bincount(flat, weights=val.imag, minlength=size)).reshape(self.grid)
        const = float((self.u * (np.abs(a_s) ** 2).sum(0)).sum())  # self terms (s = s')
        if f_known is not None:
            const += float((self.u * np.abs(f_known) ** 2).sum())
        return np.real(np.fft.ifftn(coeff)) * coeff.size + const

    def translation_scores(self, a_s: np.ndarray, points: np.ndarray,
                           f_known: Optional[np.ndarray] = None, phases: Optional[np.ndarray] = None
                           ) -> np.ndarray:
        """T(t) at explicit fractional points (P,3) (special positions); phases: cached exp(2 pi i g.t)."""
        if phases is None:
            phases = self.point_phases(points)
        f_new = np.einsum("psm,sm->pm", phases, a_s)  # (P,M)
        if f_known is not None:
            f_new = f_new + f_known[None]
        return (self.u[None] * np.abs(f_new) ** 2).sum(1)

    def point_phases(self, points: np.ndarray) -> np.ndarray:
        """exp(2 pi i g_s . t_p) (P,S,M) for explicit points."""
        return np.exp(1j * TWO_PI * np.einsum("pi,smi->psm", points, self.g))

    def translation_peaks(self, a_s: np.ndarray, n_peaks: int, f_known: Optional[np.ndarray] = None
                          ) -> Tuple[np.ndarray, np.ndarray]:
        """Best local maxima of T: (fractional points (n,3), scores (n,))."""
        from scipy.ndimage import maximum_filter

        tmap = self.translation_map(a_s, f_known)
        peaks = tmap >= maximum_filter(tmap, size=3, mode="wrap")
        idx = np.argwhere(peaks)
        vals = tmap[peaks]
        order = np.argsort(-vals)[:n_peaks]
        return idx[order] / np.array(self.grid, dtype=np.float64), vals[order]

    def site_points(self, k: int, spacing: float = 0.5) -> List[Tuple[int, np.ndarray]]:
        """(site index, fractional point) samples, about ``spacing`` A apart, on body k's Wyckoff positions."""
        if k in self._site_points:
            return self._site_points[k]
        out = []
        body = self.problem.bodies[k]
        cell = np.array(self.problem.unit_cell.parameters()[:3])
        for i, site in enumerate(body.sites or []):
            rank = int(np.linalg.matrix_rank(site.w_matrix, tol=1e-6))
            if rank == 0:
                out.append((i, site.w_shift - np.floor(site.w_shift)))
                continue
            n = [max(2, int(math.ceil(c / spacing))) if np.abs(site.w_matrix[:, d]).max() > 1e-6 else 1
                 for d, c in enumerate(cell)]
            axes = [np.arange(m) / m for m in n]
            grid = np.array(np.meshgrid(*axes, indexing="ij")).reshape(3, -1).T
            pts = grid @ site.w_matrix.T + site.w_shift
            pts -= np.floor(pts)
            keys = {}
            for p in pts:
                keys.setdefault(tuple(np.round(p, 4) % 1.0), p)
            out += [(i, p) for p in keys.values()]
        self._site_points[k] = out
        return out

    def known_transform(self, frac: torch.Tensor, active: torch.Tensor) -> np.ndarray:
        """F_calc (M,) complex of the placed atoms (frac (N,3), active mask (N,)), same B as here."""
        p = self.problem
        a, b = p.calc.real_imag(frac.unsqueeze(0).double(), p.type_index, b_iso=p.b_iso,
                                weights=(p.weights * active).double())
        return (a[0] + 1j * b[0]).numpy()
