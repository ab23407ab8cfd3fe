"""Import order: correct torch numbers after any order; a clean ImportError for torch first."""
import subprocess
import sys

import pytest

CHECK = """
import sys
exec(sys.argv[1])
import xdxd_cctbx, torch, numpy as np
a = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
t = (torch.from_numpy(a) @ torch.from_numpy(a)).numpy()
e = torch.einsum("ij,jk->ik", torch.from_numpy(a), torch.from_numpy(a)).numpy()
r = a.astype(np.float64) @ a.astype(np.float64)
tol = 1e-4 * np.abs(r).max()
print("threads", torch.get_num_threads())
sys.exit(0 if np.abs(t - r).max() <= tol and np.abs(e - r).max() <= tol else 3)
"""


def _run(first: str):
    return subprocess.run([sys.executable, "-c", CHECK, first], capture_output=True, text=True, timeout=120)


def test_package_first_gives_correct_matmul_with_threads():
    proc = _run("pass")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) >= 1


def test_cctbx_first_pins_torch_to_one_thread_and_stays_correct():
    proc = _run("import logging; logging.basicConfig(); from cctbx import xray")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "1"
    assert "pinned to one thread" in proc.stderr


def test_torch_first_raises_clean_import_error():
    proc = _run("import torch")
    assert proc.returncode == 1  # an uncaught ImportError, not a segfault (-11)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: torch was imported before cctbx")
    assert "LD_PRELOAD" in last


def test_two_threads_after_package_import_match_numpy():
    code = CHECK.replace("import xdxd_cctbx, torch, numpy as np",
                         "import xdxd_cctbx, torch, numpy as np; torch.set_num_threads(2)")
    proc = subprocess.run([sys.executable, "-c", code, "pass"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "2"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
