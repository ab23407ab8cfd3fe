"""The search's optimiser fits low resolution first (placement.optimise, smoothing_b)."""
import math

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


def _rigid_problem():
    """A rigid molecule in P2_1/c: the problem of its 2 A data and the pose they were made from."""
    import torch
    from cctbx import crystal, miller, xray
    from cctbx.array_family import flex

    from xdxd_cctbx.data.prepare import prepare_reflections
    from xdxd_cctbx.data.simulate import simulate_intensities
    from xdxd_cctbx.known_molecule import parse_molecule
    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.placement import Body, PlacementProblem

    cs = crystal.symmetry(unit_cell=(9.5, 13.0, 10.5, 90, 103, 90), space_group_symbol="P 1 21/c 1")
    ensemble = embed_ensemble(parse_molecule("O=C(Nc1ccc(Cl)cc1)c1ccncc1"), n_conformers=1, seed=0)[0]
    indices = miller.build_set(cs, anomalous_flag=False, d_min=2.0)
    dummy = indices.array(data=flex.double(indices.size(), 1.0)).set_observation_type_xray_amplitude()
    first = PlacementProblem(dummy, [Body(ensemble)])
    trials = first.random_poses(200, torch.Generator().manual_seed(11))
    with torch.no_grad():
        clash = first.clash(first.coordinates(trials), trials)
    poses = trials.select([int(torch.argmin(clash))])  # a packing without short contacts
    frac = first.coordinates(poses)[0].double().numpy()
    xs = xray.structure(crystal_symmetry=cs)
    for k, (el, site) in enumerate(zip(ensemble.elements, frac)):
        xs.add_scatterer(xray.scatterer(label=f"{el}{k + 1}", site=tuple(site), u=0.03, scattering_type=el))
    data = prepare_reflections(simulate_intensities(xs, 2.0, seed=3), d_min=2.0)
    return PlacementProblem(data.f_obs, [Body(ensemble)]), poses


def test_low_resolution_first_widens_the_basin_and_returns_unweighted_losses():
    """Poses turned by 30 degrees and moved by 1.5 A from the answer: more of them find it again
    when the fit starts at low resolution; the losses returned are the plain (unweighted) ones."""
    import torch

    from xdxd_cctbx.known_molecule.placement import optimise, quaternion_matrix

    problem, answer = _rigid_problem()
    with torch.no_grad():
        best = float(problem.losses(answer)[0][0])
    n = 48
    gen = torch.Generator().manual_seed(5)
    starts = answer.select(torch.zeros(n, dtype=torch.long))
    axis = torch.randn(n, 1, 3, generator=gen)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    starts.base_rot = quaternion_matrix(axis * math.radians(30)).to(starts.base_rot.dtype) @ starts.base_rot
    step = torch.randn(n, 1, 3, generator=gen)
    starts.trans = starts.trans + 1.5 * (step / step.norm(dim=-1, keepdim=True)).to(starts.trans.dtype)
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
