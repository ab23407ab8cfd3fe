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


@pytest.fixture(scope="session")
def rigid_p21c_problem():
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
