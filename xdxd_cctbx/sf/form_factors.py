"""X-ray form factors as sums of Gaussians, shipped as JSON (no cctbx needed).

``f0(s) = sum_k a_k exp(-b_k s^2) + c`` with ``s = sin(theta)/lambda``.
The shipped table ``form_factors.json`` is cctbx's default for
``xray.structure.scattering_type_registry()``: the 6-Gaussian entries of
``cctbx.eltbx.xray_scattering.n_gaussian_table_entry(label, 0, 0)`` for all
217 standard labels (H..Cf, D, T, and common ions such as ``Cu2+``, ``O2-``).
Rebuild it with :func:`export_form_factor_table` (needs cctbx).
"""
from __future__ import annotations

import json
import logging
import os
import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_TABLE_PATH = os.path.join(os.path.dirname(__file__), "form_factors.json")
FORMAT = "xdxd_cctbx.sf form factors v1"

Gaussian = Tuple[Tuple[float, ...], Tuple[float, ...], float]

_LABEL = re.compile(r"^([A-Za-z]{1,2})(\d*)([+-]?)(\d*)$")
_DEFAULT: Optional["FormFactorTable"] = None


class FormFactorTable:
    """Gaussian form-factor coefficients by scattering-type label."""

    def __init__(self, entries: Mapping[str, Gaussian], source: str = "") -> None:
        self._entries: Dict[str, Gaussian] = {}
        for label, (a, b, c) in entries.items():
            if len(a) != len(b):
                raise InputError(f"form factor {label!r}: a and b differ in length")
            self._entries[label] = (tuple(map(float, a)), tuple(map(float, b)), float(c))
        self.source = source

    @classmethod
    def default(cls) -> "FormFactorTable":
        """The shipped table (cctbx's default n_gaussian table), loaded once."""
        global _DEFAULT
        if _DEFAULT is None:
            _DEFAULT = cls.from_json(DEFAULT_TABLE_PATH)
        return _DEFAULT

    @classmethod
    def from_json(cls, path: str) -> "FormFactorTable":
        """Read a table written by :meth:`to_json`."""
        with open(path) as handle:
            data = json.load(handle)
        if data.get("format") != FORMAT:
            raise InputError(f"{path} is not a form-factor table ({FORMAT!r})")
        entries = {k: (v["a"], v["b"], v["c"]) for k, v in data["entries"].items()}
        return cls(entries, source=data.get("source", ""))

    def to_json(self, path: str, **metadata) -> None:
        """Write the table as JSON (10 significant digits)."""
        entries = {
            label: {
                "a": [float(f"{v:.10g}") for v in a],
                "b": [float(f"{v:.10g}") for v in b],
                "c": float(f"{c:.10g}"),
            }
            for label, (a, b, c) in self._entries.items()
        }
        header = {"format": FORMAT, "source": self.source, **metadata}
        lines = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in header.items()]
        body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in entries.items())
        with open(path, "w") as handle:
            handle.write("{\n" + ",\n".join(lines) + ',\n"entries": {\n' + body + "\n}}\n")

    @property
    def labels(self) -> List[str]:
        return list(self._entries)

    def __contains__(self, label: str) -> bool:
        return label in self._entries

    def standard_label(self, label: str) -> str:
        """Map ``"CU"``, ``"Cu+2"``, ``"C12"`` to a table label (``Cu``, ``Cu2+``, ``C``).

        A charged label must be in the table (no silent fall-back to the neutral atom).
        """
        if label in self._entries:
            return label
        match = _LABEL.match(label.strip())
        if match is None:
            raise InputError(f"unknown scattering type {label!r}")
        sym, digits, sign, digits_after = match.groups()
        element = sym[0].upper() + sym[1:].lower()
        candidates = []
        if sign:
            charge = digits or digits_after or "1"
            candidates.append(f"{element}{charge}{sign}")
        else:
            candidates.append(element)
            if len(sym) == 2:  # "CA1" might mean carbon alpha; prefer the 2-letter element
                candidates.append(sym[0].upper())
        for cand in candidates:
            if cand in self._entries:
                return cand
        raise InputError(
            f"scattering type {label!r} is not in the form-factor table "
            f"({len(self._entries)} labels, e.g. C, Cu, Cu2+)"
        )

    def gaussian(self, label: str) -> Gaussian:
        """(a, b, c) of a label (standardised with :meth:`standard_label`)."""
        return self._entries[self.standard_label(label)]

    def coefficients(
        self, labels: Sequence[str], dtype: torch.dtype = torch.float64
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """a (T,G), b (T,G), c (T,) tensors, zero-padded to the longest entry."""
        gs = [self.gaussian(lab) for lab in labels]
        n_terms = max((len(a) for a, _, _ in gs), default=0)
        a = np.zeros((len(gs), n_terms))
        b = np.zeros((len(gs), n_terms))
        c = np.zeros(len(gs))
        for i, (ai, bi, ci) in enumerate(gs):
            a[i, : len(ai)] = ai
            b[i, : len(bi)] = bi
            c[i] = ci
        as_t = lambda v: torch.as_tensor(v, dtype=dtype)  # noqa: E731
        return as_t(a), as_t(b), as_t(c)

    def evaluate(self, labels: Sequence[str], stol_sq: torch.Tensor) -> torch.Tensor:
        """f0 of each label at each (sin(theta)/lambda)^2: (T, M), dtype of stol_sq."""
        stol_sq = torch.as_tensor(stol_sq)
        if not stol_sq.is_floating_point():
            stol_sq = stol_sq.to(torch.float64)
        a, b, c = (t.to(stol_sq.device, stol_sq.dtype) for t in self.coefficients(labels))
        return (a[:, :, None] * torch.exp(-b[:, :, None] * stol_sq)).sum(1) + c[:, None]


def export_form_factor_table(path: str = DEFAULT_TABLE_PATH) -> FormFactorTable:
    """Write cctbx's default (n_gaussian, d_min=0) table for all standard labels."""
    from importlib import metadata

    from cctbx.eltbx import xray_scattering

    entries = {}
    for label in xray_scattering.standard_labels_list():
        g = xray_scattering.n_gaussian_table_entry(label, 0, 0).gaussian()
        c = g.c() if g.use_c() else 0.0
        entries[label] = (tuple(g.array_of_a()), tuple(g.array_of_b()), c)
    table = FormFactorTable(
        entries,
        source="cctbx.eltbx.xray_scattering.n_gaussian_table_entry(label, 0, 0).gaussian() "
        "(the default table of xray.structure.scattering_type_registry())",
    )
    try:
        version = metadata.version("cctbx-base")
    except metadata.PackageNotFoundError:
        version = "unknown"
    table.to_json(path, cctbx_version=version)
    logger.info("wrote %d form factors to %s", len(entries), path)
    return table
