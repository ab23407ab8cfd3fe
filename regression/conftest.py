"""pytest setup: xdxd_cctbx must be imported before torch and cctbx (import order)."""
import os

import xdxd_cctbx  # noqa: F401  (owns the boost.python -> torch -> cctbx order)
import pytest

SHARED_DATA = os.path.abspath(
    os.environ.get(
        "XDXD_SHARED_DATA",
        os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"),
    )
)


@pytest.fixture(scope="session")
def shared_data():
    """Path of ../shared/data; skips the test with a message when it is absent."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"shared validation data not found at {SHARED_DATA}")
    return SHARED_DATA
