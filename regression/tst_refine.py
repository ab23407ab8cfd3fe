"""Restrained smtbx refinement (xdxd_cctbx.refine) on simulated sucrose data."""
import math

import xdxd_cctbx  # noqa: F401  (import order: before cctbx)
import numpy as np
import pytest

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.refine import (
    RestraintPair,
    auto_restraint_pairs,
    default_params,
    master_phil_str,
    refine_structure,
)
from xdxd_cctbx.refine.geometry import find_bonds


def sucrose():
    """smtbx's sucrose without H, isotropic (23 atoms, P21)."""
    import smtbx.development

    xs = smtbx.development.sucrose()
    xs = xs.select(~xs.hd_selection())
    xs.convert_to_isotropic()
    return xs


def f_sq_obs(xs, d_min):
    """Error-free F^2 with sigma = 1 % of I plus 1 % of the mean I."""
    from cctbx import miller
    from cctbx.array_family import flex

    ms = miller.build_set(crystal_symmetry=xs, anomalous_flag=False, d_min=d_min)
    i_calc = ms.structure_factors_from_scatterers(
        xs, algorithm="direct").f_calc().as_intensity_array()
    sigmas = 0.01 * i_calc.data() + 0.01 * flex.mean(i_calc.data())
    return i_calc.customized_copy(sigmas=sigmas)


def perturbed(xs, rms, seed):
    from cctbx.array_family import flex

    rng = np.random.default_rng(seed)
    out = xs.deep_copy_scatterers()
    shifts = rng.normal(size=(xs.scatterers().size(), 3)) * rms / math.sqrt(3)
    out.set_sites_cart(out.sites_cart() + flex.vec3_double(shifts.tolist()))
    return out


def rms_error(xs, reference):
    """Rms position error (A), ignoring P21's free origin shift along b."""
    d = np.array(xs.sites_cart() - reference.sites_cart())
    b_dir = np.array(xs.unit_cell().orthogonalize((0, 1, 0)))
    b_dir /= np.linalg.norm(b_dir)
    d -= np.outer(d @ b_dir, b_dir).mean(axis=0)
    return float(np.sqrt((d ** 2).sum(axis=1).mean()))


@pytest.fixture(scope="module")
def truth():
    return sucrose()


def test_restrained_2A_recovers_positions(truth):
    start = perturbed(truth, 0.3, seed=0)
    result = refine_structure(start, f_sq_obs(truth, 2.0))
    before, after = rms_error(start, truth), rms_error(result.xray_structure, truth)
    assert before > 0.25
    assert after < 0.05, (before, after, result)
    assert result.r1_gt < 0.05 and result.r1_all < 0.05
    assert result.adp_mode == "grouped"
    assert result.n_restraints > 40
    assert result.n_reflections == f_sq_obs(truth, 2.0).size()
    assert result.data_to_parameter_ratio == pytest.approx(
        result.n_reflections / result.n_parameters)
    assert result.converged
    assert result.covariance_matrix is not None
    # grouped ADP: one U_iso per element
    u = {sc.scattering_type: set() for sc in result.xray_structure.scatterers()}
    for sc in result.xray_structure.scatterers():
        u[sc.scattering_type].add(round(sc.u_iso, 8))
    assert all(len(values) == 1 for values in u.values())
    assert "R1=" in repr(result) and "wR2=" in repr(result)
    # the input structure is left alone
    assert rms_error(start, truth) == pytest.approx(before)


def test_unrestrained_2A_does_worse(truth):
    start = perturbed(truth, 0.3, seed=0)
    params = default_params()
    params.restraints = "none"
    free = refine_structure(start, f_sq_obs(truth, 2.0), params=params)
    restrained = refine_structure(start, f_sq_obs(truth, 2.0))
    assert free.n_restraints == 0
    assert rms_error(free.xray_structure, truth) > 2 * rms_error(restrained.xray_structure, truth)


def test_1A_free_isotropic_u(truth):
    start = perturbed(truth, 0.3, seed=1)
    result = refine_structure(start, f_sq_obs(truth, 1.0))
    assert result.adp_mode == "isotropic"
    assert rms_error(result.xray_structure, truth) < 0.01
    assert result.r1_gt < 0.01
    u_err = (result.xray_structure.extract_u_iso_or_u_equiv()
             - truth.extract_u_iso_or_u_equiv())
    assert max(abs(x) for x in u_err) < 0.002


def test_explicit_restraint_pairs(truth):
    from xdxd_cctbx.refine.geometry import _pair_distance

    pairs = []
    for k, p in enumerate(auto_restraint_pairs(truth)):
        ideal = _pair_distance(truth, p.i_seq, p.j_seq, p.rt_mx_ji)
        if k % 2:  # plain tuples with the operator as a string work too
            pairs.append((p.i_seq, p.j_seq, str(p.rt_mx_ji), ideal, p.sigma))
        else:
            pairs.append(RestraintPair(p.i_seq, p.j_seq, p.rt_mx_ji, ideal, p.sigma))
    start = perturbed(truth, 0.3, seed=2)
    result = refine_structure(start, f_sq_obs(truth, 2.0), restraint_pairs=pairs)
    assert result.n_restraints == len(pairs)
    assert rms_error(result.xray_structure, truth) < 0.05
    with pytest.raises(InputError):
        refine_structure(start, f_sq_obs(truth, 2.0), restraint_pairs=[(0, 99, "x,y,z", 1.5, 0.02)])


def test_auto_restraints_match_sucrose_geometry(truth):
    from xdxd_cctbx.refine.geometry import _pair_distance

    bonds = find_bonds(truth)
    assert len(bonds) == 24
    assert {b.bond_class for b in bonds} == {"single"}
    bond_keys = {(b.i_seq, b.j_seq, str(b.rt_mx_ji)) for b in bonds}
    pairs = auto_restraint_pairs(truth)
    assert len(pairs) == 24 + 36  # bonds and 1-3 pairs (C: 4 or 3 + H, O: 2 or 1 + H)
    for pair in pairs:
        true = _pair_distance(truth, pair.i_seq, pair.j_seq, pair.rt_mx_ji)
        is_bond = (pair.i_seq, pair.j_seq, str(pair.rt_mx_ji)) in bond_keys
        assert abs(true - pair.ideal) < (0.04 if is_bond else 0.12)


def test_spurious_contact_dropped(truth):
    """A 1-3 pair squeezed to 1.7 A (a C-C/C-O bond distance) must not become a bond."""
    from cctbx.array_family import flex

    bonds = find_bonds(truth)
    n_bonds = [sum(k in (b.i_seq, b.j_seq) for b in bonds) for k in range(len(truth.scatterers()))]
    elements = [sc.scattering_type for sc in truth.scatterers()]
    # a 1-3 pair whose ends are both below their valence limit (so only the angle rule helps)
    triples = [(centre, a, c) for centre in range(len(elements))
               for a in range(len(elements)) for c in range(a + 1, len(elements))
               if {(min(centre, a), max(centre, a)), (min(centre, c), max(centre, c))}
               <= {(min(b.i_seq, b.j_seq), max(b.i_seq, b.j_seq)) for b in bonds}
               and n_bonds[a] < (4 if elements[a] == "C" else 2)
               and n_bonds[c] < (4 if elements[c] == "C" else 2)]
    centre, a, c = triples[0]
    sites = truth.sites_cart()
    x_a, x_c = np.array(sites[a]), np.array(sites[c])
    direction = (x_c - x_a) / np.linalg.norm(x_c - x_a)
    sites[c] = tuple(x_a + 1.7 * direction)
    xs = truth.deep_copy_scatterers()
    xs.set_sites_cart(flex.vec3_double(sites))
    assert xs.unit_cell().distance(xs.sites_frac()[a], xs.sites_frac()[c]) == pytest.approx(1.7)
    new_bonds = find_bonds(xs)
    assert not any({b.i_seq, b.j_seq} == {a, c} for b in new_bonds)
    assert any({b.i_seq, b.j_seq} == {centre, c} for b in new_bonds)


def test_aromatic_ring_across_inversion_centre():
    """Benzene on an inversion centre: symmetry-related bonds and 1-3 pairs."""
    from cctbx import crystal, xray
    from cctbx.array_family import flex

    cs = crystal.symmetry((7.0, 8.0, 9.0, 90, 95, 90), "P 1 21/c 1")
    scatterers = flex.xray_scatterer()
    for k in range(3):
        angle = math.radians(60 * k)
        site_cart = (1.39 * math.cos(angle), 1.39 * math.sin(angle), 0.0)
        scatterers.append(xray.scatterer(
            f"C{k + 1}", cs.unit_cell().fractionalize(site_cart), 0.03))
    xs = xray.structure(crystal.special_position_settings(cs), scatterers)
    bonds = find_bonds(xs)
    assert len(bonds) == 3
    assert any(not b.rt_mx_ji.is_unit_mx() for b in bonds)
    assert all(b.bond_class == "aromatic" and b.ideal == pytest.approx(1.39) for b in bonds)
    one_three = [p for p in auto_restraint_pairs(xs) if p.sigma != 0.02]
    assert len(one_three) == 3
    for p in one_three:
        assert p.ideal == pytest.approx(1.39 * math.sqrt(3), abs=1e-3)


def test_u_iso_kept_positive(truth):
    start = perturbed(truth, 0.1, seed=3)
    for sc in start.scatterers():
        sc.u_iso = 0.0
    params = default_params()
    params.adp = "isotropic"
    result = refine_structure(start, f_sq_obs(truth, 2.0), params=params)
    assert min(result.xray_structure.scatterers().extract_u_iso()) >= params.min_u_iso


def test_bad_input(truth):
    from cctbx import crystal

    data = f_sq_obs(truth, 2.0)
    with pytest.raises(InputError, match="sigmas"):
        refine_structure(truth, data.customized_copy(sigmas=None))
    other = data.customized_copy(crystal_symmetry=crystal.symmetry(
        truth.unit_cell(), "P 1"))
    with pytest.raises(InputError, match="space group"):
        refine_structure(truth, other)


def test_phil_scope_can_be_included():
    import libtbx.phil

    master = libtbx.phil.parse(
        "xdxd { include scope xdxd_cctbx.refine.master_phil_str }", process_includes=True)
    params = master.fetch(libtbx.phil.parse(
        "xdxd.refinement.n_cycles = 7\nxdxd.refinement.adp = grouped")).extract()
    assert params.xdxd.refinement.n_cycles == 7
    assert params.xdxd.refinement.adp == "grouped"
    assert libtbx.phil.parse(master_phil_str).extract().refinement.restraints == "auto"


def test_hydrogens_kept_fixed_and_special_positions():
    """H atoms present in the model stay put; an atom on an inversion centre refines."""
    import smtbx.development
    from cctbx import crystal, xray
    from cctbx.array_family import flex

    full = smtbx.development.sucrose()
    full.convert_to_isotropic()
    start = perturbed(full, 0.05, seed=4)
    result = refine_structure(start, f_sq_obs(full, 2.0))
    h = full.hd_selection()
    moved = (result.xray_structure.sites_cart() - start.sites_cart()).norms()
    assert max(moved.select(h)) == 0 and max(moved.select(~h)) > 0.001
    assert rms_error(result.xray_structure.select(~h), full.select(~h)) < 0.05

    cs = crystal.symmetry((6.0, 7.0, 8.0, 90, 100, 90), "P 1 21/c 1")
    xs = xray.structure(crystal.special_position_settings(cs), flex.xray_scatterer([
        xray.scatterer("Cu1", (0, 0, 0), 0.02),
        xray.scatterer("O1", (0.25, 0.1, 0.1), 0.03),
        xray.scatterer("C1", (0.3, 0.3, 0.3), 0.03)]))
    data = f_sq_obs(xs, 1.0)
    result = refine_structure(perturbed(xs, 0.05, seed=5), data)
    assert result.xray_structure.scatterers()[0].site == pytest.approx((0, 0, 0), abs=1e-9)
    assert result.r1_gt < 0.01
