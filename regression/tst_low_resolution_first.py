"""The search's optimiser fits low resolution first (placement.optimise, smoothing_b)."""

import numpy as np
import pytest

import xdxd_cctbx  # noqa: F401  (import order)


def test_weighted_correlation_is_pearson_over_the_weighted_reflections():
    import torch

    from xdxd_cctbx.known_molecule.placement import _weighted_correlation

    rng = np.random.default_rng(0)
    obs = rng.random(50)
    calc = rng.random((3, 50))
    equal = _weighted_correlation(torch.tensor(calc), torch.tensor(obs), torch.ones(50, dtype=torch.float64))
    for i in range(3):
        assert float(equal[i]) == pytest.approx(np.corrcoef(calc[i], obs)[0, 1], abs=1e-10)
    w = np.zeros(50)
    w[:20] = 2.0  # weight 0 leaves a reflection out; a common factor changes nothing
    part = _weighted_correlation(torch.tensor(calc), torch.tensor(obs), torch.tensor(w))
    assert float(part[1]) == pytest.approx(np.corrcoef(calc[1, :20], obs[:20])[0, 1], abs=1e-10)


def test_low_resolution_first_widens_the_basin_and_returns_unweighted_losses(rigid_p21c_problem):
    """Poses turned by 30 degrees and moved by 1.5 A from the answer: more of them find it again
    when the fit starts at low resolution; the losses returned are the plain (unweighted) ones."""
    import torch

    from xdxd_cctbx.known_molecule.placement import optimise
    from xdxd_cctbx.known_molecule.pose_moves import turned_and_moved

    problem, answer = rigid_p21c_problem
    with torch.no_grad():
        best = float(problem.losses(answer)[0][0])
    n = 48
    gen = torch.Generator().manual_seed(5)
    starts = turned_and_moved(answer, n, 30.0, 1.5, gen)
    found = {}
    for b in (0.0, 100.0):
        poses = starts.select(torch.arange(n))
        losses = optimise(problem, poses, 100, smoothing_b=b)
        with torch.no_grad():  # the weighting is an argument of the fit, off unless asked for
            assert not torch.allclose(problem.losses(starts, smoothing_b=100.0)[0], problem.losses(starts)[0])
        with torch.no_grad():
            assert torch.allclose(losses, problem.losses(poses)[0], atol=1e-5)
        found[b] = int((losses < best + 0.02).sum())
    assert found[100.0] >= found[0.0] + 6, found  # measured: 10 -> 23 of 48
