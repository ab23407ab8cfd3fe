"""xdxd_cctbx: small-molecule structure solution from low-resolution X-ray data.

Import order matters with cctbx-base from pip (see docs): boost.python's runtime
must be loaded before torch, and torch before cctbx's compiled extensions. This
module owns that order, so ``import xdxd_cctbx`` first is always safe.
"""
from __future__ import annotations

import logging
import os
import sys

__version__ = "0.1.0"

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

_TORCH_FIRST_MESSAGE = (
    "torch was imported before cctbx: cctbx-base's boost.python then crashes the "
    "process (libstdc++ clash). Import xdxd_cctbx (or boost_adaptbx.boost.python) "
    "before torch, or start Python with LD_PRELOAD=<site-packages>/cctbx_base.libs/"
    "libstdc++-*.so.6*"
)


def _cctbx_extensions_loaded() -> bool:
    return any(
        name.endswith("_ext") or name in ("scitbx.array_family.flex", "cctbx.xray")
        for name in sys.modules
        if not name.startswith("xdxd_cctbx")
    )


def _load_in_safe_order() -> None:
    torch_first = "torch" in sys.modules and "boost_adaptbx.boost.python" not in sys.modules
    preloaded = "cctbx_base.libs" in os.environ.get("LD_PRELOAD", "")
    if torch_first and not preloaded:
        raise ImportError(_TORCH_FIRST_MESSAGE)
    extensions_before_torch = torch_first or (
        "torch" not in sys.modules and _cctbx_extensions_loaded()
    )
    try:
        import boost_adaptbx.boost.python  # noqa: F401  (must precede torch)
    except ImportError:
        # torch-only machines (GPU training): the sf engine and trainer need no cctbx.
        logger.info("cctbx not installed: only the torch parts of xdxd_cctbx are usable")
    import torch

    if extensions_before_torch:
        # cctbx's libomptbx stubs omp_* symbols; multi-threaded torch kernels
        # then return wrong numbers. One thread is slow but correct.
        torch.set_num_threads(1)
        logger.warning(
            "cctbx extensions were loaded before torch: torch pinned to one thread "
            "(import xdxd_cctbx before cctbx to use all cores)"
        )


_load_in_safe_order()

from xdxd_cctbx.errors import InputError, SolveError, XdxdError  # noqa: E402
from xdxd_cctbx.solver import SolveResult, solve  # noqa: E402

__all__ = ["solve", "SolveResult", "XdxdError", "InputError", "SolveError", "__version__"]
