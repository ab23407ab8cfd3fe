"""Space-group operations for the torch structure-factor engine (no cctbx needed).

:class:`SymmetryOperators` holds all operations ``x' = R x + t`` of the full
space group (centring translations expanded), as float64 torch tensors. It is
built from xyz strings (pure python/numpy) or, lazily importing cctbx, from a
``cctbx.sgtbx.space_group``.

:func:`factor_operators` splits the group into centring translations, an
optional inversion at the origin and coset representatives; the engine then
sums only over the representatives (a big saving for C2/c, R-3, P21/c, ...).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

_TOL = 1.0e-6
_TERM = re.compile(r"([+-]?)([^+-]+)")


def _parse_number(text: str, op: str) -> float:
    try:
        if "/" in text:
            num, den = text.split("/")
            return float(Fraction(int(num), int(den)))
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"cannot read the number {text!r} in symmetry operation {op!r}")


def _parse_component(text: str, op: str) -> Tuple[List[float], float]:
    """One component such as ``-x+y+1/2`` -> (row of R, translation)."""
    row = [0.0, 0.0, 0.0]
    shift = 0.0
    compact = text.replace(" ", "").lower()
    if not compact:
        raise InputError(f"empty component in symmetry operation {op!r}")
    pos = 0
    for match in _TERM.finditer(compact):
        if match.start() != pos:
            raise InputError(f"cannot read symmetry operation {op!r}")
        pos = match.end()
        sign = -1.0 if match.group(1) == "-" else 1.0
        term = match.group(2)
        if term[-1] in "xyz":
            coefficient = term[:-1].rstrip("*")
            value = _parse_number(coefficient, op) if coefficient else 1.0
            row["xyz".index(term[-1])] += sign * value
        else:
            shift += sign * _parse_number(term, op)
    if pos != len(compact):
        raise InputError(f"cannot read symmetry operation {op!r}")
    return row, shift


def parse_xyz(op: str) -> Tuple[np.ndarray, np.ndarray]:
    """Parse ``"-x,y+1/2,-z+1/2"`` into (R (3,3), t (3,)) float64 arrays."""
    parts = op.strip().strip("'\"").split(",")
    if len(parts) != 3:
        raise InputError(f"symmetry operation {op!r} needs three comma-separated parts")
    rows, shifts = zip(*(_parse_component(p, op) for p in parts))
    return np.array(rows, dtype=np.float64), np.array(shifts, dtype=np.float64)


def _wrap(t: np.ndarray) -> np.ndarray:
    """Translations mod 1 in [0, 1), with values within _TOL of 1 folded to 0."""
    w = np.mod(t, 1.0)
    w[np.abs(w - 1.0) < _TOL] = 0.0
    return w


def _same_translation(a: np.ndarray, b: np.ndarray) -> bool:
    d = np.mod(a - b + 0.5, 1.0) - 0.5
    return bool(np.all(np.abs(d) < _TOL))


@dataclass
class OperatorFactors:
    """The group as centring x {1, -1 at origin} x representatives."""

    centring: np.ndarray  # (n_c, 3) centring translations, zero first
    origin_centric: bool
    rotations: np.ndarray  # (k, 3, 3) representatives
    translations: np.ndarray  # (k, 3)


def factor_operators(rotations: np.ndarray, translations: np.ndarray) -> OperatorFactors:
    """Split a full space group into centring, origin inversion and representatives.

    Every operation equals ``(s R_k, s t_k + t_c)`` for one representative k,
    s in {1, -1} (only when -1 at the origin is an operation) and a centring
    translation t_c.
    """
    rot = np.asarray(rotations, dtype=np.float64)
    tr = _wrap(np.asarray(translations, dtype=np.float64))
    eye = np.eye(3)
    is_identity = np.all(np.abs(rot - eye) < _TOL, axis=(1, 2))
    centring = [np.zeros(3)]
    for t in tr[is_identity]:
        if not any(_same_translation(t, c) for c in centring):
            centring.append(t)
    centring_arr = np.array(centring)
    is_inversion = np.all(np.abs(rot + eye) < _TOL, axis=(1, 2))
    origin_centric = any(
        _same_translation(t, c) for t in tr[is_inversion] for c in centring_arr
    )
    signs = (1.0, -1.0) if origin_centric else (1.0,)
    covered: List[Tuple[np.ndarray, np.ndarray]] = []
    reps_r, reps_t = [], []
    order = np.argsort(~is_identity, kind="stable")  # identity first
    for i in order:
        r, t = rot[i], tr[i]
        if any(np.all(np.abs(r - cr) < _TOL) and _same_translation(t, ct) for cr, ct in covered):
            continue
        reps_r.append(r)
        reps_t.append(t)
        for s in signs:
            for c in centring_arr:
                covered.append((s * r, s * t + c))
    n_expected = len(reps_r) * len(signs) * len(centring_arr)
    if n_expected != len(rot):
        raise InputError(
            f"the {len(rot)} symmetry operations do not form a space group "
            f"(factorisation gives {n_expected}); give all operations, centring included"
        )
    return OperatorFactors(centring_arr, origin_centric, np.array(reps_r), np.array(reps_t))


@dataclass
class SymmetryOperators:
    """All operations ``x' = R x + t`` of a space group (centring expanded).

    rotations: (n, 3, 3) float64 tensor; translations: (n, 3) float64 tensor.
    """

    rotations: torch.Tensor
    translations: torch.Tensor

    def __post_init__(self) -> None:
        self.rotations = torch.as_tensor(self.rotations, dtype=torch.float64)
        self.translations = torch.as_tensor(self.translations, dtype=torch.float64)
        n = self.rotations.shape[0]
        if self.rotations.shape != (n, 3, 3) or self.translations.shape != (n, 3) or n == 0:
            raise InputError(
                "symmetry operators need rotations (n,3,3) and translations (n,3), "
                f"got {tuple(self.rotations.shape)} and {tuple(self.translations.shape)}"
            )

    def __len__(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def device(self) -> torch.device:
        return self.rotations.device

    def to(self, device: Union[str, torch.device]) -> "SymmetryOperators":
        """A copy on ``device`` (the engine itself follows its inputs' device)."""
        return SymmetryOperators(self.rotations.to(device), self.translations.to(device))

    @classmethod
    def from_xyz_strings(cls, ops: Sequence[str], check_group: bool = True) -> "SymmetryOperators":
        """From strings such as ``["x,y,z", "-x,y+1/2,-z+1/2", ...]`` (all operations).

        Duplicates (mod lattice translations) are dropped. With ``check_group``
        the list must be closed under composition (InputError otherwise), which
        catches lists that leave out centring translations or the inversion.
        """
        if isinstance(ops, str) or len(ops) == 0:
            raise InputError("give a non-empty list of symmetry operation strings")
        rots, trs = [], []
        for op in ops:
            r, t = parse_xyz(op)
            t = _wrap(t)
            if any(np.allclose(r, r2) and _same_translation(t, t2) for r2, t2 in zip(rots, trs)):
                continue
            rots.append(r)
            trs.append(t)
        rot, tr = np.array(rots), np.array(trs)
        if check_group:
            _check_closed(rot, tr)
        return cls(torch.from_numpy(rot), torch.from_numpy(tr))

    @classmethod
    def from_space_group(cls, space_group) -> "SymmetryOperators":
        """From a ``cctbx.sgtbx.space_group`` (or space_group_info): all operations."""
        if hasattr(space_group, "group") and not hasattr(space_group, "all_ops"):
            space_group = space_group.group()
        rots, trs = [], []
        for op in space_group.all_ops():
            rots.append(np.array(op.r().as_double(), dtype=np.float64).reshape(3, 3))
            trs.append(np.array(op.t().as_double(), dtype=np.float64))
        return cls(torch.from_numpy(np.array(rots)), torch.from_numpy(_wrap(np.array(trs))))

    @classmethod
    def from_symbol(cls, symbol: str) -> "SymmetryOperators":
        """From a space-group symbol understood by cctbx (imports cctbx)."""
        from cctbx import sgtbx

        try:
            info = sgtbx.space_group_info(symbol)
        except RuntimeError as exc:
            raise InputError(f"unknown space-group symbol {symbol!r}: {exc}")
        return cls.from_space_group(info.group())

    def as_xyz_strings(self) -> List[str]:
        """The operations as xyz strings (fractions with denominators up to 12)."""
        out = []
        for r, t in zip(self.rotations.cpu().numpy(), self.translations.cpu().numpy()):
            parts = []
            for row, s in zip(r, t):
                text = ""
                for coeff, name in zip(row, "xyz"):
                    if abs(coeff) < _TOL:
                        continue
                    c = Fraction(float(coeff)).limit_denominator(12)
                    sign = "-" if c < 0 else "+"
                    mag = "" if abs(c) == 1 else f"{abs(c)}*"
                    text += f"{sign}{mag}{name}"
                frac = Fraction(float(s)).limit_denominator(12)
                if frac != 0:
                    text += f"{'-' if frac < 0 else '+'}{abs(frac)}"
                parts.append(text.lstrip("+") or "0")
            out.append(",".join(parts))
        return out

    def factors(self) -> OperatorFactors:
        """Centring / origin inversion / representatives (see :func:`factor_operators`)."""
        return factor_operators(self.rotations.cpu().numpy(), self.translations.cpu().numpy())

    def site_symmetry_orders(
        self,
        frac: torch.Tensor,
        metric: Optional[torch.Tensor] = None,
        tolerance: float = 0.01,
    ) -> torch.Tensor:
        """Order of each site's site-symmetry group: count of ops mapping x onto itself.

        frac: (..., 3) fractional coordinates; metric: (3,3) real-space metric
        tensor (tolerance in Angstrom), or None (tolerance in fractional units).
        The engine's weight for a site is ``occupancy / order`` (as in cctbx);
        cctbx also moves near-special atoms exactly onto the special position,
        this helper does not.
        """
        x = frac.detach().to(torch.float64)
        rot = self.rotations.to(x.device)
        tr = self.translations.to(x.device)
        images = torch.einsum("kij,...j->...ki", rot, x) + tr
        d = images - x.unsqueeze(-2)
        d = d - torch.round(d)
        if metric is None:
            dist_sq = (d * d).sum(-1)
        else:
            g = torch.as_tensor(metric, dtype=torch.float64, device=x.device)
            dist_sq = torch.einsum("...i,ij,...j->...", d, g, d)
        return (dist_sq <= tolerance * tolerance).sum(-1)


def _check_closed(rot: np.ndarray, tr: np.ndarray) -> None:
    """Raise InputError unless the operations are closed under composition."""
    n = len(rot)
    keys = {_op_key(r, t) for r, t in zip(rot, tr)}
    for i in range(n):
        for j in range(n):
            r = rot[i] @ rot[j]
            t = rot[i] @ tr[j] + tr[i]
            if _op_key(r, t) not in keys:
                raise InputError(
                    f"the {n} symmetry operations are not a group (the product of "
                    f"operations {i + 1} and {j + 1} is missing): give all operations of "
                    "the space group, centring translations included"
                )


def _op_key(r: np.ndarray, t: np.ndarray) -> tuple:
    tw = _wrap(t)
    return tuple(np.round(r).astype(int).ravel()) + tuple(
        int(v) % 840 for v in np.round(tw * 840).astype(int)  # 840 = lcm(1..8)
    )
