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


@pytest.fixture(autouse=True)
def _fresh_console_logging():
    """The programs' console log handler writes to the sys.stdout of its creation,
    which capsys replaces per test: drop it around each test."""
    import logging

    def drop():
        root = logging.getLogger("xdxd_cctbx")
        for handler in [h for h in root.handlers if getattr(h, "_xdxd_console", False)]:
            root.removeHandler(handler)

    drop()
    yield
    drop()
