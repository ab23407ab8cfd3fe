"""Second look at a minor molecule's site split with the rest of the structure placed."""
import time

import pytest

import xdxd_cctbx  # noqa: F401  (import order)
from xdxd_cctbx.known_molecule import default_params, parse_molecule

# HgCl2 at a general position of R-3c, clear of the -3 centre at the origin and the 3-fold axis
HGCL2 = [("Hg1", "Hg", (0.8108, 0.9809, 0.1073)), ("Cl1", "Cl", (0.8442, 0.8114, 0.0953)),
         ("Cl2", "Cl", (0.7775, 1.1504, 0.1193))]


def _crystal(bromides):
    from cctbx import crystal, xray

    cs = crystal.symmetry(unit_cell=(12.0, 12.0, 35.2, 90, 90, 120), space_group_symbol="R -3 c :H")
    xs = xray.structure(crystal_symmetry=cs)
    for label, element, site in HGCL2 + [(f"Br{k + 1}", "Br", s) for k, s in enumerate(bromides)]:
        xs.add_scatterer(xray.scatterer(label=label, site=site, u=0.03, scattering_type=element))
    return cs, xs


def _problem_maker(xs):
    """make_problem(bodies) -> PlacementProblem on data simulated from ``xs`` to 2 A."""
    from xdxd_cctbx.data.prepare import prepare_reflections
    from xdxd_cctbx.data.simulate import simulate_intensities
    from xdxd_cctbx.known_molecule.placement import PlacementProblem

    data = prepare_reflections(simulate_intensities(xs, 2.0, seed=2), d_min=2.0)

    def make_problem(bodies):
        return PlacementProblem(data.f_obs, bodies, e_obs=data.e_obs)
    return make_problem


def _quick_params(n_rounds: int):
    """A short search: few starts and steps, no restarts or confirming attempt."""
    params = default_params()
    params.n_starts, params.n_rounds, params.rf_orientations, params.n_steps = 32, n_rounds, 300, 60
    params.confirm, params.max_restarts = False, 0
    return params


def _one_conformer(smiles: str, copies: float = 1.0):
    """The conformer set of a rigid molecule or ion (one conformer)."""
    from xdxd_cctbx.known_molecule.conformers import embed_ensemble

    return embed_ensemble(parse_molecule(smiles, copies=copies), n_conformers=1)[0]


@pytest.mark.parametrize("bromides, split", [
    ([(0.0, 0.0, 0.0), (2 / 3, 1 / 3, 0.011)], (3, 6)),  # -3 centre (1/6) + 3-fold axis (1/3)
    ([(0.31, 0.0, 0.25)], (2,)),  # one 2-fold axis (1/2)
])
def test_minor_ion_gets_the_split_that_fits_beside_the_placed_molecule(bromides, split):
    """Half a Br- beside HgCl2 in R-3c, searched on a 2-fold axis: after the search it is placed
    again on every split with the HgCl2 in place, and the split of the crystal wins."""
    import torch

    from xdxd_cctbx.known_molecule.placement import Body
    from xdxd_cctbx.known_molecule.search import _stage_runner, search_poses
    from xdxd_cctbx.known_molecule.sites import special_sites
    from xdxd_cctbx.known_molecule.split_check import minor_split_options, reconsider_splits

    cs, xs = _crystal(bromides)
    make_problem = _problem_maker(xs)
    sg = cs.space_group_info()
    bodies = [Body(_one_conformer("Cl[Hg]Cl"), 1.0, None, 0, 0),
              Body(_one_conformer("[Br-]", 0.5), 0.5, special_sites(sg, 2), 1, 0)]
    problem = make_problem(bodies)
    assert minor_split_options(problem, sg) == {1: [(2,), (3, 6), (6, 6, 6)]}
    params = _quick_params(2)
    pool = search_poses(problem, params, time.time() + 30)
    new_problem, new_pool = reconsider_splits(problem, pool, sg, params, time.time() + 30, make_problem,
                                              _stage_runner(params))
    got = tuple(sorted(round(1 / b.occupancy) for b in new_problem.bodies if b.molecule_index == 1))
    assert got == split
    assert [b.molecule_index for b in new_problem.bodies] == [0] + [1] * len(split)
    assert float(new_pool.losses[0]) < 0.1  # the HgCl2 and the bromides both in place
    assert new_pool.poses.size and len(new_pool.poses.conf) == len(new_problem.bodies)
    assert torch.isfinite(new_pool.losses[0])


def test_a_minor_ions_whole_copy_is_shared_out_over_sites_beside_the_placed_molecule():
    """One Br- per asymmetric unit beside HgCl2 in R-3c, as the formula counts it, but in the
    crystal half an ion on a 2-fold axis, a third on a 3-fold axis and a sixth on a -3 centre
    (as COD 2236324's chlorides): searched on a general position, it is shared out after the search."""
    from xdxd_cctbx.known_molecule.placement import Body
    from xdxd_cctbx.known_molecule.search import _stage_runner, search_poses
    from xdxd_cctbx.known_molecule.split_check import minor_split_options, reconsider_splits

    cs, xs = _crystal([(0.31, 0.0, 0.25), (2 / 3, 1 / 3, 0.011), (0.0, 0.0, 0.0)])
    make_problem = _problem_maker(xs)
    sg = cs.space_group_info()
    problem = make_problem([Body(_one_conformer("Cl[Hg]Cl"), 1.0, None, 0, 0),
                            Body(_one_conformer("[Br-]"), 1.0, None, 1, 0)])
    assert minor_split_options(problem, sg) == {1: [(1,), (2, 2), (2, 3, 6), (3, 3, 3)]}
    params = _quick_params(2)
    pool = search_poses(problem, params, time.time() + 30)
    new_problem, new_pool = reconsider_splits(problem, pool, sg, params, time.time() + 40, make_problem,
                                              _stage_runner(params))
    got = tuple(sorted(round(1 / b.occupancy) for b in new_problem.bodies if b.molecule_index == 1))
    assert got == (2, 3, 6)
    assert all(b.sites for b in new_problem.bodies if b.molecule_index == 1)
    # the HgCl2 was placed beside a general Br: not as close a fit as beside the right split
    assert float(new_pool.losses[0]) < min(0.15, float(pool.losses[0]) - 0.01)


def test_a_heavy_ion_that_does_not_fit_on_a_general_position_is_searched_on_two_centres():
    """One Cu per asymmetric unit in P21/n (and two Cl-), as the formula counts it: in the crystal two
    half Cu on the inversion centres (0,0,0) and (1/2,0,0) (as the measured ZZULI2). A general Cu
    at (1/4,0,0) gives the Cu's amplitudes, but the Cl do not fit beside it; the search with the
    Cu shared out over two centres does (the search runs it when its own fit does not converge)."""
    from cctbx import crystal, xray

    from xdxd_cctbx.known_molecule.placement import Body
    from xdxd_cctbx.known_molecule.search import search_poses
    from xdxd_cctbx.known_molecule.split_check import major_split_options, search_alternatives

    cs = crystal.symmetry(unit_cell=(6.9, 16.4, 8.7, 90, 108.8, 90), space_group_symbol="P 1 21/n 1")
    xs = xray.structure(crystal_symmetry=cs)
    for label, element, site in [("Cu1", "Cu", (0.0, 0.0, 0.0)), ("Cu2", "Cu", (0.5, 0.0, 0.0)),
                                 ("Cl1", "Cl", (0.378, 0.071, 0.173)), ("Cl2", "Cl", (0.817, 0.113, 0.015))]:
        xs.add_scatterer(xray.scatterer(label=label, site=site, u=0.03, scattering_type=element))
    make_problem = _problem_maker(xs)
    sg = cs.space_group_info()
    cu, cl = _one_conformer("[Cu+2]"), _one_conformer("[Cl-]")
    problem = make_problem([Body(cu, 1.0, None, 0, 0), Body(cl, 1.0, None, 1, 0), Body(cl, 1.0, None, 1, 1)])
    assert major_split_options(problem, sg) == [(0, (2, 2)), (1, (2, 2))]
    params = _quick_params(3)
    pool = search_poses(problem, params, time.time() + 15)
    assert float(pool.losses[0]) > 0.08
    new_problem, new_pool = search_alternatives(
        problem, pool, major_split_options(problem, sg), sg, params, time.time() + 30, make_problem,
        lambda p, t: search_poses(p, params, t))
    assert sorted((b.molecule_index, round(1 / b.occupancy), b.sites is None) for b in new_problem.bodies) == [
        (0, 2, False), (0, 2, False), (1, 1, True), (1, 1, True)]
    assert float(new_pool.losses[0]) < 0.03


def test_a_major_molecule_on_special_sites_gets_its_other_splits_listed():
    """Half a CCl4 and half a SiCl4 in I-4, one searched on a 2-fold axis, one on two -4 sites: each
    may sit on the other kind of site instead; the listing offers that for the molecules placed
    whole on special sites, fewest sites first."""
    from cctbx import crystal, xray

    from xdxd_cctbx.known_molecule.fractional_sites import plausible_splits, split_bodies
    from xdxd_cctbx.known_molecule.split_check import major_split_options

    cs = crystal.symmetry(unit_cell=(11.5, 11.5, 7.3, 90, 90, 90), space_group_symbol="I -4")
    xs = xray.structure(crystal_symmetry=cs)
    xs.add_scatterer(xray.scatterer(label="C1", site=(0.0, 0.0, 0.0), u=0.03, scattering_type="C"))
    sg = cs.space_group_info()
    make_problem = _problem_maker(xs)
    ccl4, sicl4 = _one_conformer("ClC(Cl)(Cl)Cl", 0.5), _one_conformer("Cl[Si](Cl)(Cl)Cl", 0.5)
    bodies = split_bodies(ccl4, (2,), sg, 0, 0) + split_bodies(sicl4, (4, 4), sg, 1, 0)
    assert major_split_options(make_problem(bodies), sg) == [(1, (2,)), (0, (4, 4))]
    # a single CCl4 on a 2-fold axis and nothing else: its only other split
    assert major_split_options(make_problem(split_bodies(ccl4, (2,), sg, 0, 0)), sg) == [(0, (4, 4))]
    # unless its atoms alone fitted far worse there (or not at all: clash and site terms)
    for scores, options in [({(2,): 0.60, (4, 4): 0.65}, [(0, (4, 4))]), ({(2,): 0.50, (4, 4): 0.65}, []),
                            ({(2,): 3.6, (4, 4): 3.65}, [])]:
        plausible = {0: plausible_splits(scores)}
        assert major_split_options(make_problem(bodies[:1]), sg, plausible=plausible) == options
