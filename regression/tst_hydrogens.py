"""Riding hydrogens (xdxd_cctbx.refine.hydrogens): placement, smtbx riding, .res AFIX."""
import math
import os

import xdxd_cctbx  # noqa: F401  (import order: before cctbx)
import numpy as np
import pytest

from xdxd_cctbx.errors import InputError
from xdxd_cctbx.refine import default_params, refine_structure
from xdxd_cctbx.refine.hydrogens import (
    describe_riding_hydrogens,
    place_riding_hydrogens,
    reidealise,
)

EXAMPLES = os.path.join(os.path.dirname(xdxd_cctbx.__file__), "examples")


def sucrose_full():
    """smtbx's sucrose with its 22 H atoms (14 C-H, 8 O-H), isotropic."""
    import smtbx.development

    xs = smtbx.development.sucrose()
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
    """Rms error of the non-H sites (A) after removing the mean shift (P21's free origin)."""
    d = np.array(xs.select(~xs.hd_selection()).sites_cart() - reference.sites_cart())
    d -= d.mean(axis=0)
    return float(np.sqrt((d ** 2).sum(axis=1).mean()))


def nearest_h_distance(site, reference):
    """Distance from a fractional site to the nearest H of ``reference`` (symmetry included)."""
    from cctbx import sgtbx

    sps = reference.special_position_settings()
    return min(sgtbx.min_sym_equiv_distance_info(sps.sym_equiv_sites(sc.site), site).dist()
               for sc in reference.scatterers() if sc.scattering_type == "H")


def bond(xs, i, j):
    return xs.unit_cell().distance(xs.scatterers()[i].site, xs.scatterers()[j].site)


@pytest.fixture(scope="module")
def sucrose_refinements():
    full = sucrose_full()
    heavy = full.select(~full.hd_selection())
    data = f_sq_obs(full, 1.0)
    start = perturbed(heavy, 0.1, seed=1)
    without = refine_structure(start, data)
    riding = refine_structure(start, data, n_hydrogens_per_asu=22)
    return full, heavy, without, riding


def test_sucrose_placement_with_composition_count():
    full = sucrose_full()
    heavy = full.select(~full.hd_selection())
    xs, placement = place_riding_hydrogens(heavy, n_hydrogens_per_asu=22)
    assert xs.scatterers().size() == 45 and placement.n_hydrogens == 22
    kinds = sorted(g.kind for g in placement.groups)
    assert kinds == ["oh"] * 8 + ["xh"] * 8 + ["xh2"] * 3
    assert [g.afix for g in placement.groups if g.kind == "xh2"] == [23, 23, 23]
    # the non-H atoms keep their order; the H follow
    assert list(xs.scatterers()[:23].extract_labels()) == list(heavy.scatterers().extract_labels())
    labels = list(xs.scatterers().extract_labels())
    assert len(set(labels)) == len(labels) and all(len(label) <= 4 for label in labels)
    uc = xs.unit_cell()
    for g in placement.groups:
        parent = xs.scatterers()[g.pivot]
        for h in g.hydrogens:
            assert bond(xs, g.pivot, h) == pytest.approx(g.bond_length, abs=1e-6)
            assert xs.scatterers()[h].u_iso == pytest.approx(
                g.u_multiplier * parent.u_iso_or_equiv(uc))
            if g.kind != "oh":  # C-H from the geometry alone: close to the true H
                assert nearest_h_distance(xs.scatterers()[h].site, full) < 0.2


def test_sucrose_placement_without_count_and_arbitration():
    full = sucrose_full()
    heavy = full.select(~full.hd_selection())
    _, only_ch = place_riding_hydrogens(heavy)
    assert only_ch.n_hydrogens == 14
    assert {g.kind for g in only_ch.groups} == {"xh", "xh2"}
    assert len(only_ch.skipped) == 8  # the hydroxyls, for want of a count
    _, some_oh = place_riding_hydrogens(heavy, n_hydrogens_per_asu=17)
    assert some_oh.n_hydrogens == 17
    _, too_few = place_riding_hydrogens(heavy, n_hydrogens_per_asu=10)
    assert too_few.n_hydrogens <= 12 and all(g.kind != "oh" for g in too_few.groups)
    # H in the input are replaced
    again, placement = place_riding_hydrogens(full, n_hydrogens_per_asu=22)
    assert again.scatterers().size() == 45 and placement.n_hydrogens == 22
    with pytest.raises(InputError):
        place_riding_hydrogens(heavy, n_hydrogens_per_asu=-1)


def test_sucrose_refinement_with_riding_hydrogens(sucrose_refinements):
    full, heavy, without, riding = sucrose_refinements
    assert without.hydrogens is None and without.xray_structure.scatterers().size() == 23
    assert riding.n_riding_hydrogens == 22
    assert riding.r1_before_hydrogens == pytest.approx(without.r1, abs=0.002)
    # measured: R1 0.054 -> 0.014; rms 0.013 -> 0.004 A
    assert without.r1 > 0.04 and riding.r1 < 0.02
    assert rms_error(riding.xray_structure, heavy) < 0.007
    assert rms_error(riding.xray_structure, heavy) < rms_error(without.xray_structure, heavy)
    xs = riding.xray_structure
    for g in riding.hydrogens.groups:
        for h in g.hydrogens:
            # riding constraints keep X-H ideal; the hydroxyls found their H
            assert bond(xs, g.pivot, h) == pytest.approx(g.bond_length, abs=2e-3)
            assert nearest_h_distance(xs.scatterers()[h].site, full) < 0.2


def test_model_hydrogens_ride_when_asked():
    full = sucrose_full()
    placement = describe_riding_hydrogens(full)
    assert placement.n_hydrogens == 22 and not placement.fixed
    params = default_params()
    params.model_hydrogens = "riding"
    start = perturbed(full, 0.05, seed=3)
    result = refine_structure(start, f_sq_obs(full, 1.0), params=params)
    assert result.n_riding_hydrogens == 22 and result.r1 < 0.02
    xs = result.xray_structure
    h = full.hd_selection()
    moved = (xs.sites_cart() - start.sites_cart()).norms()
    assert min(moved.select(h)) > 1e-4  # they ride
    for g in result.hydrogens.groups:
        for i in g.hydrogens:
            assert bond(xs, g.pivot, i) == pytest.approx(g.bond_length, abs=2e-3)


def test_reidealise_restores_geometry():
    full = sucrose_full()
    heavy = full.select(~full.hd_selection())
    xs, placement = place_riding_hydrogens(heavy, n_hydrogens_per_asu=22)
    ideal = xs.sites_cart()
    shaken = perturbed(xs, 0.1, seed=2)
    shaken.set_sites_cart(shaken.sites_cart().set_selected(~xs.hd_selection(), ideal.select(~xs.hd_selection())))
    assert reidealise(shaken, placement.groups) > 0.01
    non_rotating = [h for g in placement.groups if g.kind not in ("xh3", "oh") for h in g.hydrogens]
    for h in non_rotating:
        assert shaken.sites_cart()[h] == pytest.approx(ideal[h], abs=1e-6)


def test_example_paracetamol_amide_methyl_aromatic():
    """The package example (paracetamol, 0.9 A simulated with noise): C-H and N-H."""
    import iotbx.cif
    from xdxd_cctbx.io.reflections import read_reflections

    reference = list(iotbx.cif.reader(file_path=os.path.join(
        EXAMPLES, "example_reference.cif")).build_crystal_structures().values())[0]
    heavy = reference.select(~reference.hd_selection())
    i_obs = read_reflections(os.path.join(EXAMPLES, "example.hkl"),
                             reference.crystal_symmetry(), "hklf4")
    i_obs = i_obs.merge_equivalents().array().eliminate_sys_absent()
    params = default_params()
    params.n_cycles = 30
    without = refine_structure(heavy, i_obs, params=params)
    riding = refine_structure(heavy, i_obs, params=params, n_hydrogens_per_asu=9)
    assert riding.r1 < without.r1 - 0.02  # measured: 0.081 -> 0.043
    xs = riding.xray_structure
    labels = list(xs.scatterers().extract_labels())
    kinds = {labels[g.pivot]: g.kind for g in riding.hydrogens.groups}
    assert {k: kinds.get(k) for k in ("C1", "N1", "C4", "C5", "C7", "C8")} == {
        "C1": "xh3", "N1": "planar", "C4": "planar", "C5": "planar", "C7": "planar",
        "C8": "planar"}
    # directions agree with the model's own H (RDKit, X-H 1.01-1.09 A): the methyl
    # was turned by the circular difference Fourier
    for g in riding.hydrogens.groups:
        if labels[g.pivot] not in kinds or g.kind == "oh":
            continue
        for h in g.hydrogens:
            assert nearest_h_distance(xs.scatterers()[h].site, reference) < 0.2


def test_res_writer_afix_blocks(tmp_path, sucrose_refinements):
    from cctbx import xray
    from xdxd_cctbx.io.model_writers import write_res

    _, _, _, riding = sucrose_refinements
    path = tmp_path / "riding.res"
    labels = write_res(path, riding.xray_structure, title="riding", refinement=riding)
    text = path.read_text()
    afix = [line.split()[1] for line in text.splitlines() if line.startswith("AFIX")]
    assert afix.count("13") == 8 and afix.count("23") == 3 and afix.count("147") == 8
    assert afix.count("0") == 19
    lines = text.splitlines()
    for g in riding.hydrogens.groups:  # each block right after its parent
        at = lines.index(f"AFIX {g.afix}", lines.index(next(
            line for line in lines if line.split()[:1] == [labels[g.pivot]])))
        assert lines[at + 1].split()[0] == labels[g.hydrogens[0]]
        assert float(lines[at + 1].split()[-1]) == -g.u_multiplier
    back = xray.structure.from_shelx(filename=str(path), strictly_shelxl=False)
    by_label = {sc.label: sc for sc in back.scatterers()}
    xs = riding.xray_structure
    for label, sc in zip(labels, xs.scatterers()):
        assert xs.unit_cell().distance(sc.site, by_label[label].site) < 1e-4
        assert by_label[label].u_iso_or_equiv(back.unit_cell()) == pytest.approx(
            sc.u_iso_or_equiv(xs.unit_cell()), abs=1e-4)
