"""solve() from Python, as cctbx.python scripts call it; compare() semantics."""
import xdxd_cctbx  # noqa: F401
import pytest

from xdxd_cctbx import solve
from xdxd_cctbx.errors import InputError, SolveError


def _example():
    from xdxd_cctbx.examples import example_paths
    from xdxd_cctbx.io.model_files import read_model_file
    from xdxd_cctbx.io.reflections import read_reflections

    paths = example_paths()
    start = read_model_file(paths["ins"])
    reference = read_model_file(paths["reference"]).xray_structure
    return read_reflections(paths["hkl"], start.crystal_symmetry), reference


def test_solve_api_with_formula_and_z():
    from xdxd_cctbx.benchmark.compare import compare_structures

    i_obs, reference = _example()
    result = solve(i_obs, "C8 H9 N O2", z=4, method="charge_flipping", d_min=1.0)
    assert result.method == "charge_flipping"
    assert result.refinement.r1 < 0.06
    comparison = compare_structures(reference, result.xray_structure)
    assert comparison.match and comparison.rmsd < 0.1
    assert result.candidates[0].refinement is result.refinement
    figures = result.figures()
    assert figures["n_non_h_atoms"] == 11 and figures["d_min"] >= 1.0


def test_solve_api_errors():
    i_obs, _ = _example()
    with pytest.raises(InputError, match="composition given without z|the composition is unknown"):
        solve(i_obs, None)
    with pytest.raises(InputError) as e:
        solve(i_obs, "C8 H9 N O2", z=4, method="magic")
    assert str(e.value) == "unknown method 'magic': use one of charge_flipping, known_molecule"


def test_charge_flipping_fails_at_2A():
    """The gap this project fills: charge flipping does not solve 2.0 A data."""
    from smtbx.development import sucrose

    from xdxd_cctbx.benchmark.compare import compare_structures
    from xdxd_cctbx.data.simulate import simulate_intensities
    from xdxd_cctbx.io.shelx_files import unit_cell_content_of

    xs = sucrose()
    i_obs = simulate_intensities(xs, 2.0, seed=1)
    try:
        result = solve(i_obs, unit_cell_content_of(xs), method="charge_flipping")
    except SolveError:
        return
    assert not compare_structures(xs, result.xray_structure).match


def test_compare_allowed_shift_enantiomorph_and_disorder():
    from cctbx import xray
    from smtbx.development import sucrose

    from xdxd_cctbx.benchmark.compare import compare_structures

    xs = sucrose()  # P2_1: free origin along b, enantiomorph allowed
    shifted = xs.apply_shift((0.0, 0.31, 0.0))
    assert compare_structures(xs, shifted).match
    inverted = xs.deep_copy_scatterers()
    inverted.set_sites_frac(inverted.sites_frac() * -1.0)
    assert compare_structures(xs, inverted).match
    wrong = xs.apply_shift((0.2, 0.0, 0.0))
    assert not compare_structures(xs, wrong).match
    # a disordered reference atom: the minor site is not required
    disordered = xs.deep_copy_scatterers()
    first = disordered.scatterers()[0]
    first.occupancy = 0.6
    minor = first.customized_copy(label="Xb", site=(first.site[0] + 0.05, first.site[1], first.site[2]))
    minor.occupancy = 0.4
    disordered.add_scatterer(minor)
    result = compare_structures(disordered, xs)
    assert result.match and result.n_reference == xs.select(~xs.hd_selection()).scatterers().size()


def test_compare_searches_on_when_the_first_complete_match_pairs_unlike_elements(monkeypatch):
    """emma stops at its first complete match; under pseudo-symmetry (COD 2101915: As and B ions on
    -4 sites an allowed origin shift swaps) that match can pair As with B at 0.25 A rmsd while the
    full search finds As with As. Emulated: the early-stopping search returns only the swap."""
    import types

    from cctbx import crystal, euclidean_model_matching as emma, xray

    from xdxd_cctbx.benchmark.compare import compare_structures

    cs = crystal.symmetry(unit_cell=(12.0, 12.0, 7.0, 90, 90, 90), space_group_symbol="I -4")
    xs = xray.structure(crystal_symmetry=cs)
    for label, element, site in [("As1", "As", (0, 0, 0)), ("B1", "B", (0, 0.5, 0.25))]:
        xs.add_scatterer(xray.scatterer(label=label, site=site, u=0.03, scattering_type=element))

    def fake_match(pairs, distance):
        return types.SimpleNamespace(pairs=pairs, calculate_shortest_dist=lambda pair: distance,
                                     rt=types.SimpleNamespace(r=types.SimpleNamespace(determinant=lambda: 1)))

    calls = []

    def model_matches(*args, break_if_match_with_no_singles, **kwargs):
        calls.append(break_if_match_with_no_singles)
        swapped, right = fake_match([(0, 1), (1, 0)], 0.25), fake_match([(0, 0), (1, 1)], 0.02)
        return types.SimpleNamespace(refined_matches=[swapped] if break_if_match_with_no_singles else [right])

    monkeypatch.setattr(emma, "model_matches", model_matches)
    result = compare_structures(xs, xs)
    assert calls == [True, False]
    assert result.match_strict and abs(result.rmsd - 0.02) < 1e-9
