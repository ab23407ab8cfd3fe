"""CIF and SHELX .res writers (xdxd_cctbx.io.model_writers): round trips with cctbx."""
import os
import re

import xdxd_cctbx  # noqa: F401  (import order: before cctbx)
import pytest

from xdxd_cctbx.errors import InputError, XdxdError
from xdxd_cctbx.io import model_writers
from xdxd_cctbx.io.model_writers import shelx_labels, write_atomically, write_cif, write_res


def sucrose():
    import smtbx.development

    xs = smtbx.development.sucrose()
    xs = xs.select(~xs.hd_selection())
    xs.convert_to_isotropic()
    return xs


def special_structure():
    """P21/c with atoms on inversion centres, clashing and long labels, one anisotropic."""
    from cctbx import crystal, xray
    from cctbx.array_family import flex

    cs = crystal.symmetry((10.1234, 11.0, 12.3456, 90, 100.123, 90), "P 1 21/c 1")
    scatterers = flex.xray_scatterer([
        xray.scatterer("Cu_centre", (0, 0, 0), 0.02, scattering_type="Cu"),
        xray.scatterer("O1", (0.1, 0.05, 0.12), 0.03),
        xray.scatterer("O1", (0.2, 0.15, 0.02), 0.03),
        xray.scatterer("N1", (0.5, 0.0, 0.5), 0.035),
        xray.scatterer("C1", (0.3, 0.2, 0.1),  # u is U* here
                       u=(0.0002, 0.0003, 0.00025, 0.00001, 0.00002, -0.00001)),
        xray.scatterer("PLAN", (0.31, 0.33, 0.35), 0.04, scattering_type="C"),
    ])
    return xray.structure(crystal.special_position_settings(cs), scatterers)


def max_distance(xs, other):
    return max((xs.sites_cart() - other.sites_cart()).norms())


def read_res(path):
    from cctbx import xray

    return xray.structure.from_shelx(filename=str(path), strictly_shelxl=False)


def read_cif(path):
    import iotbx.cif

    structures = iotbx.cif.reader(file_path=str(path)).build_crystal_structures()
    assert len(structures) == 1
    return list(structures.values())[0]


# ----------------------------------------------------------------------------
# write_atomically

def test_write_atomically_replaces_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "out.txt"
    write_atomically(path, "first\n")
    write_atomically(str(path), b"second\n")
    assert path.read_text() == "second\n"
    assert os.listdir(tmp_path) == ["out.txt"]
    with pytest.raises(InputError):
        write_atomically(tmp_path / "missing" / "x.txt", "x")
    with pytest.raises(TypeError):
        write_atomically(path, 5)


def test_write_atomically_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.cif"
    path.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(model_writers.os, "replace", broken_replace)
    with pytest.raises(XdxdError):
        write_atomically(path, "new\n")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.cif"]


# ----------------------------------------------------------------------------
# labels

def test_shelx_labels_unique_short():
    labels = shelx_labels(special_structure())
    assert labels[1] == "O1" and labels[3] == "N1" and labels[4] == "C1"
    assert len(set(label.upper() for label in labels)) == len(labels)
    assert all(1 <= len(label) <= 4 for label in labels)
    assert labels[0].startswith("Cu") and labels[2].startswith("O") and labels[2] != "O1"
    assert labels[5] != "PLAN" and labels[5].startswith("C")


# ----------------------------------------------------------------------------
# .res

def test_res_round_trip_sucrose(tmp_path):
    xs = sucrose()
    path = tmp_path / "sucrose.res"
    labels = write_res(path, xs, title="sucrose test",
                       unit_cell_content={"C": 24, "H": 44, "O": 22})
    text = path.read_text()
    unit = re.search(r"^UNIT (.*)$", text, re.M).group(1).split()
    assert unit == ["24", "44", "22"]
    assert re.search(r"^SFAC C H O$", text, re.M)
    assert re.search(r"^FVAR ", text, re.M) and text.rstrip().endswith("END")
    assert all(len(line) <= 80 for line in text.splitlines())
    back = read_res(path)
    assert back.space_group_info().type().number() == 4
    assert back.unit_cell().is_similar_to(xs.unit_cell(), 1e-6, 1e-6)
    assert max_distance(back, xs) < 1e-3
    assert list(back.scatterers().extract_labels()) == [lab.upper() for lab in labels]
    for a, b in zip(back.scatterers(), xs.scatterers()):
        assert a.scattering_type == b.scattering_type
        assert a.u_iso == pytest.approx(b.u_iso, abs=1e-5)


def test_res_special_positions_and_aniso(tmp_path):
    xs = special_structure()
    path = tmp_path / "special.res"
    write_res(path, xs, title="special", wavelength=1.54184)
    text = path.read_text()
    assert re.search(r"^CELL 1\.54184 10\.12340 11\.00000 12\.34560 90\.0000 100\.1230", text, re.M)
    assert re.search(r"^LATT 1$", text, re.M)
    assert re.search(r"^SYMM -X, 1/2\+Y, 1/2-Z$", text, re.M)
    atom_lines = [line for line in text.splitlines() if re.match(r"^(Cu1|N1) ", line)]
    assert len(atom_lines) == 2 and all(" 10.50000 " in line for line in atom_lines)
    unit = re.search(r"^UNIT (.*)$", text, re.M).group(1).split()
    assert all(u.isdigit() for u in unit)
    back = read_res(path)
    assert back.space_group_info().type().number() == 14
    assert max_distance(back, xs) < 1e-3
    assert [round(sc.weight(), 3) for sc in back.scatterers()] == [0.5, 1, 1, 0.5, 1, 1]
    aniso = back.scatterers()[4]
    assert aniso.flags.use_u_aniso()
    for a, b in zip(aniso.u_star, xs.scatterers()[4].u_star):
        assert a == pytest.approx(b, abs=1e-6)


def test_res_non_centrosymmetric_centred(tmp_path):
    from cctbx import crystal, xray
    from cctbx.array_family import flex

    cs = crystal.symmetry((12.0, 8.0, 9.0, 90, 110, 90), "C 1 2 1")
    xs = xray.structure(crystal.special_position_settings(cs), flex.xray_scatterer([
        xray.scatterer("S1", (0.0, 0.1, 0.0), 0.03),  # on the 2-fold axis
        xray.scatterer("C1", (0.1, 0.2, 0.3), 0.03)]))
    path = tmp_path / "c2.res"
    write_res(path, xs, title="C2")
    text = path.read_text()
    assert re.search(r"^LATT -7$", text, re.M)
    back = read_res(path)
    assert back.space_group().type().hall_symbol() == xs.space_group().type().hall_symbol()
    assert [round(sc.weight(), 3) for sc in back.scatterers()] == [0.5, 1]
    assert max_distance(back, xs) < 1e-3


# ----------------------------------------------------------------------------
# CIF

def test_cif_round_trip_without_refinement(tmp_path):
    xs = special_structure()
    path = tmp_path / "special.cif"
    write_cif(path, xs, metadata={"method": "test", "d_min": 2.0, "wavelength": 0.71073,
                                  "weights_name": "tiny", "weights_sha256": "ab12",
                                  "_exptl_crystal_colour": "blue"})
    text = path.read_text()
    assert re.search(r"_cell_length_a\s+10\.1234\b", text)
    assert re.search(r"_cell_length_c\s+12\.3456\b", text)
    assert "method=test weights=tiny sha256=ab12" in text
    assert re.search(r"_reflns_d_resolution_high\s+2\.00", text)
    assert re.search(r"_exptl_crystal_colour\s+blue", text)
    back = read_cif(path)
    assert back.space_group().type().hall_symbol() == xs.space_group().type().hall_symbol()
    assert back.unit_cell().is_similar_to(xs.unit_cell(), 1e-6, 1e-6)
    assert max_distance(back, xs) < 1e-3
    assert list(back.scatterers().extract_labels()) == shelx_labels(xs)
    assert [round(sc.weight(), 3) for sc in back.scatterers()] == [0.5, 1, 1, 0.5, 1, 1]


def test_cif_and_res_with_refinement(tmp_path):
    """Refine sucrose at 2 A, write both files, read them back."""
    import iotbx.cif
    from cctbx import miller

    truth = sucrose()
    ms = miller.build_set(crystal_symmetry=truth, anomalous_flag=False, d_min=2.0)
    i_calc = ms.structure_factors_from_scatterers(
        truth, algorithm="direct").f_calc().as_intensity_array()
    data = i_calc.customized_copy(sigmas=0.02 * i_calc.data() + 1.0)
    from xdxd_cctbx.refine import refine_structure

    result = refine_structure(truth, data)
    refined = result.xray_structure
    cif_path = tmp_path / "refined.cif"
    write_cif(cif_path, refined, refinement=result, metadata={"method": "test"})
    block = list(iotbx.cif.reader(file_path=str(cif_path)).model().values())[0]
    assert int(block["_refine_ls_number_reflns"]) == result.n_reflections
    assert int(block["_refine_ls_number_parameters"]) == result.n_parameters
    assert int(block["_refine_ls_number_restraints"]) == result.n_restraints
    assert float(block["_refine_ls_R_factor_gt"]) == pytest.approx(result.r1_gt, abs=1e-4)
    assert float(block["_refine_ls_wR_factor_ref"]) == pytest.approx(result.wr2, abs=1e-4)
    assert float(block["_refine_ls_goodness_of_fit_ref"]) == pytest.approx(result.goof, abs=1e-3)
    assert float(block["_refine_ls_d_res_high"]) == pytest.approx(result.d_min, abs=1e-3)
    assert "(" in block["_atom_site_fract_x"][0]  # s.u. from the covariance matrix
    back = read_cif(cif_path)
    assert max_distance(back, refined) < 0.01  # values rounded to their s.u.
    res_path = tmp_path / "refined.res"
    write_res(res_path, refined, title="refined", refinement=result)
    text = res_path.read_text()
    assert re.search(r"^REM R1 = ", text, re.M) and re.search(r"^WGHT 0\.1", text, re.M)
    assert max_distance(read_res(res_path), refined) < 1e-3
