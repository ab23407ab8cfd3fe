"""Readers, composition parsing, data preparation: outcomes and exact error texts."""
import os

import xdxd_cctbx  # noqa: F401
import pytest

from xdxd_cctbx.errors import InputError

INS = """TITL test
CELL 0.71073 7.0 8.0 9.0 90 101.5 90
ZERR 4 0.001 0.001 0.001 0 0.01 0
LATT 1
SYMM -X,1/2+Y,1/2-Z
SFAC C H N O
UNIT 32 36 4 8
HKLF 4
END
"""


@pytest.fixture
def ins_file(tmp_path):
    path = tmp_path / "x.ins"
    path.write_text(INS)
    return str(path)


def _random_i_obs(d_min=1.0, seed=0):
    from cctbx.development import random_structure
    from cctbx import sgtbx

    from xdxd_cctbx.data.simulate import simulate_intensities

    xs = random_structure.xray_structure(
        sgtbx.space_group_info("P 1 21/c 1"), elements=["C"] * 8 + ["O"] * 2,
        volume_per_atom=18, min_distance=1.3, random_u_iso=False, u_iso=0.03)
    return xs, simulate_intensities(xs, d_min, seed=seed)


def test_formula_parsing():
    from xdxd_cctbx.io.composition import format_formula, parse_formula

    assert parse_formula("C12 H22 O11") == {"C": 12, "H": 22, "O": 11}
    assert parse_formula("C12H22O11") == {"C": 12, "H": 22, "O": 11}
    assert parse_formula("CL2 cu") == {"Cl": 2, "Cu": 1}
    assert format_formula({"O": 11, "C": 12, "H": 22}) == "C12 H22 O11"
    with pytest.raises(InputError, match="unknown element 'Xx'"):
        parse_formula("C6 Xx2")


def test_read_ins(ins_file):
    from xdxd_cctbx.io.model_files import read_model_file

    m = read_model_file(ins_file)
    assert str(m.crystal_symmetry.space_group_info()) == "P 1 21/c 1"
    assert m.unit_cell_content == {"C": 32, "H": 36, "N": 4, "O": 8}
    assert m.xray_structure is None
    assert m.wavelength == pytest.approx(0.71073)


def test_ins_without_unit(tmp_path):
    from xdxd_cctbx.io.model_files import read_model_file

    path = tmp_path / "nounit.ins"
    path.write_text(INS.replace("UNIT 32 36 4 8\n", ""))
    with pytest.raises(InputError) as e:
        read_model_file(str(path))
    assert str(e.value) == "nounit.ins has no UNIT instruction: a SHELX .ins/.res needs CELL, SFAC and UNIT"


def test_sfac_unit_count_mismatch(tmp_path):
    from xdxd_cctbx.io.model_files import read_model_file

    path = tmp_path / "bad.ins"
    path.write_text(INS.replace("UNIT 32 36 4 8", "UNIT 32 36"))
    with pytest.raises(InputError, match="UNIT has 2 numbers but SFAC names 4 elements"):
        read_model_file(str(path))


def test_hkl_round_trip_and_garbage(tmp_path, ins_file):
    from xdxd_cctbx.io.model_files import read_model_file
    from xdxd_cctbx.io.reflections import read_reflections
    from xdxd_cctbx.io.shelx_files import hklf4_text

    xs, i_obs = _random_i_obs()
    hkl = tmp_path / "x.hkl"
    hkl.write_text(hklf4_text(i_obs))
    back = read_reflections(str(hkl), xs.crystal_symmetry())
    assert back.is_xray_intensity_array() and back.size() == i_obs.size()
    garbage = tmp_path / "garbage.hkl"
    garbage.write_text("this is not\na reflection file\n")
    with pytest.raises(InputError) as e:
        read_reflections(str(garbage), read_model_file(ins_file).crystal_symmetry)
    assert str(e.value) == "garbage.hkl line 1 is not a SHELX reflection (3I4,2F8.2): 'this is not'"
    with pytest.raises(InputError, match="carries no cell or space group"):
        read_reflections(str(hkl), None)


def test_nan_in_data(tmp_path):
    from xdxd_cctbx.io.reflections import read_reflections

    xs, i_obs = _random_i_obs()
    path = tmp_path / "nan.hkl"
    lines = ["%4d%4d%4d%8s%8.2f" % (1, 2, 3, "     nan", 1.0), "%4d%4d%4d%8.2f%8.2f" % (1, 1, 1, 10.0, 1.0),
             "%4d%4d%4d%8.2f%8.2f" % (0, 0, 0, 0, 0)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        read_reflections(str(path), xs.crystal_symmetry())
    assert str(e.value) == "nan.hkl contains NaN or infinite values: remove those reflections"


def test_cif_refln_picks_measured_array(tmp_path):
    from xdxd_cctbx.io.reflections import read_reflections

    xs, i_obs = _random_i_obs()
    f_calc = i_obs.structure_factors_from_scatterers(xs, algorithm="direct").f_calc()
    import iotbx.cif

    mas = iotbx.cif.miller_arrays_as_cif_block(i_obs, array_type="meas", format="coreCIF")
    mas.add_miller_array(f_calc.as_intensity_array(), array_type="calc")
    path = tmp_path / "data.cif"
    model = iotbx.cif.model.cif()
    model["test"] = mas.cif_block
    path.write_text(str(model))
    back = read_reflections(str(path), xs.crystal_symmetry())
    assert back.is_xray_intensity_array() and back.sigmas() is not None
    assert back.size() == i_obs.size()


def test_mtz_round_trip(tmp_path):
    from xdxd_cctbx.io.reflections import read_reflections

    xs, i_obs = _random_i_obs()
    path = str(tmp_path / "data.mtz")
    i_obs.as_mtz_dataset(column_root_label="I").mtz_object().write(path)
    back = read_reflections(path, xs.crystal_symmetry())
    assert back.is_xray_intensity_array() and back.size() == i_obs.size()


def test_inconsistent_symmetry(tmp_path):
    from cctbx import crystal

    from xdxd_cctbx.io.reflections import read_reflections

    xs, i_obs = _random_i_obs()
    path = str(tmp_path / "data.mtz")
    i_obs.as_mtz_dataset(column_root_label="I").mtz_object().write(path)
    other = crystal.symmetry(unit_cell=(20, 21, 22, 90, 90, 90), space_group_symbol="P 21 21 21")
    with pytest.raises(InputError, match="disagrees with the model's"):
        read_reflections(path, other)


def test_prepare_merges_cuts_and_checks_d_min():
    from xdxd_cctbx.data.prepare import prepare_reflections

    xs, i_obs = _random_i_obs(d_min=1.0)
    p1 = i_obs.expand_to_p1().customized_copy(crystal_symmetry=i_obs.crystal_symmetry())
    prepared = prepare_reflections(p1, d_min=2.0)
    assert prepared.f_obs.is_unique_set_under_symmetry()
    assert prepared.d_min >= 2.0 - 1e-6
    assert prepared.n_reflections == i_obs.resolution_filter(d_min=2.0).size()
    assert min(prepared.f_obs.data()) >= 0
    e_mean_sq = sum(e * e for e in prepared.e_obs.data()) / prepared.e_obs.size()
    assert abs(e_mean_sq - 1.0) < 0.1
    with pytest.raises(InputError) as e:
        prepare_reflections(i_obs, d_min=0.5)
    assert str(e.value).startswith("d_min=0.5 is below the data's limit (1.00")
    with pytest.raises(InputError, match="unique reflections left after merging"):
        prepare_reflections(i_obs, d_min=20.0)


def test_negative_intensities_become_amplitudes():
    from cctbx.array_family import flex

    from xdxd_cctbx.data.prepare import prepare_reflections

    xs, i_obs = _random_i_obs()
    data = i_obs.data()
    data[0] = -abs(data[0]) - 5
    prepared = prepare_reflections(i_obs.customized_copy(data=data))
    assert flex.min(prepared.f_obs.data()) >= 0
    assert prepared.n_reflections == i_obs.size()
