"""The programs end to end, in-process: outputs, figures, and bad input (one line, no files)."""
import json
import os

import xdxd_cctbx  # noqa: F401
import pytest

EXAMPLES = os.path.join(os.path.dirname(xdxd_cctbx.__file__), "examples")


def _example(name):
    return os.path.join(EXAMPLES, name)


def test_solve_example_by_charge_flipping(tmp_path, monkeypatch):
    from xdxd_cctbx.benchmark.compare import compare_model_files
    from xdxd_cctbx.command_line.solve import run

    monkeypatch.chdir(tmp_path)
    rc = run([_example("example.hkl"), _example("example.ins"), "method=charge_flipping", "output.prefix=ex"])
    assert rc == 0
    for suffix in (".cif", ".res", ".json"):
        assert (tmp_path / f"ex{suffix}").exists()
    figures = json.loads((tmp_path / "ex.json").read_text())
    assert figures["method"] == "charge_flipping"
    assert figures["r1_gt"] < 0.06  # riding H included (0.08 without)
    assert figures["n_non_h_atoms"] == 11 and figures["n_atoms"] == 20
    for name in ("ex.cif", "ex.res"):
        comparison = compare_model_files(_example("example_reference.cif"), str(tmp_path / name))
        assert comparison.match, comparison
        assert comparison.rmsd < 0.1
    res = (tmp_path / "ex.res").read_text()
    assert "UNIT 32 36 4 8" in res


def test_simulate_then_compare(tmp_path, monkeypatch, capsys):
    from xdxd_cctbx.command_line.compare import run as compare
    from xdxd_cctbx.command_line.simulate import run as simulate
    from xdxd_cctbx.io.model_files import read_model_file
    from xdxd_cctbx.io.reflections import read_reflections

    monkeypatch.chdir(tmp_path)
    assert simulate([_example("example_reference.cif"), "d_min=1.5", "seed=3", "output.prefix=sim"]) == 0
    model = read_model_file("sim.ins")
    assert model.xray_structure is None and model.unit_cell_content == {"C": 32, "H": 36, "N": 4, "O": 8}
    i_obs = read_reflections("sim.hkl", model.crystal_symmetry)
    assert i_obs.d_min() == pytest.approx(1.5, abs=0.05)
    capsys.readouterr()
    assert compare([_example("example_reference.cif"), _example("example_reference.cif")]) == 0
    line = [l for l in capsys.readouterr().out.splitlines() if l.startswith("{")][-1]
    result = json.loads(line)
    assert result["match"] and result["n_matched"] == 11 and result["rmsd"] == 0.0


BAD_INPUT_CASES = [
    (["missing.hkl", "model.ins"], "Sorry: file not found: missing.hkl (check the path)"),
    (["garbage.hkl", "model.ins"],
     "Sorry: garbage.hkl line 1 is not a SHELX reflection (3I4,2F8.2): 'not a reflection file'"),
    (["data.hkl", "nounit.ins"],
     "Sorry: nounit.ins has no UNIT instruction: a SHELX .ins/.res needs CELL, SFAC and UNIT"),
    (["data.hkl", "model.ins", "d_min=0.3"],
     "Sorry: d_min=0.3 is below the data's limit (0.900 A): use d_min >= 0.90"),
    (["data.hkl", "model.ins", "d_min=50"],
     "Sorry: only 0 unique reflections left after merging and the resolution cut (d_min=50.0): check the data file and d_min"),
    (["data.hkl", "nan.hkl", "model.ins"], "Sorry: two files for input.reflections: data.hkl and nan.hkl; give one"),
    (["nan.hkl", "model.ins"], "Sorry: nan.hkl contains NaN or infinite values: remove those reflections"),
    (["data.hkl", "big.ins"],
     "Sorry: 1100 non-H atoms per asymmetric unit: more than the 250 supported; check UNIT (it counts atoms per unit cell) or composition/z"),
    (["data.hkl", "model.ins", "unit_cell=10 11 12 90 90 90", "space_group=P4"],
     "Sorry: the unit cell (10.0, 11.0, 12.0, 90.0, 90.0, 90.0) is incompatible with space group P 4: check CELL/LATT/SYMM or unit_cell=/space_group="),
    (["data.hkl"], "Sorry: no cell or space group: give a model file (.ins/.res/.cif) or unit_cell= and space_group="),
    (["data.hkl", "model.ins", "d_min=2.0", "molecule=C1CC("],
     "Sorry: molecule M1: cannot parse 'C1CC(' as SMILES: check brackets, ring-closure digits and element symbols, "
     "or give a .mol/.sdf/.xyz file"),
    (["data.hkl", "model.ins", "d_min=2.0", "molecule=c1ccccc1"],
     "Sorry: the molecules (M1 x1, 4 symmetry operations) give C24 non-H atoms per cell but the cell content (UNIT) "
     "says C32 N4 O8: check the SMILES, the copies per asymmetric unit and UNIT"),
    (["data.hkl", "model.ins", "d_min=2.0", "molecule=8*CC(=O)Nc1ccc(O)cc1"],
     "Sorry: the molecules (M1 x8, 4 symmetry operations) give C256 N32 O64 non-H atoms per cell but the cell "
     "content (UNIT) says C32 N4 O8: check the SMILES, the copies per asymmetric unit and UNIT"),
    (["data.hkl", "model.ins", "d_min=2.0", "molecule=missing.sdf"],
     "Sorry: molecule M1: file 'missing.sdf' not found: give an existing .mol/.sdf/.xyz file or a SMILES string"),
]


@pytest.mark.parametrize("args,message", BAD_INPUT_CASES)
def test_bad_input_one_line_no_output(tmp_path, monkeypatch, capsys, args, message):
    from xdxd_cctbx.command_line.solve import run

    monkeypatch.chdir(tmp_path)
    ins = open(_example("example.ins")).read()
    (tmp_path / "data.hkl").write_text(open(_example("example.hkl")).read())
    (tmp_path / "model.ins").write_text(ins)
    (tmp_path / "nounit.ins").write_text(ins.replace("UNIT 32 36 4 8\n", ""))
    (tmp_path / "big.ins").write_text(ins.replace("UNIT 32 36 4 8", "UNIT 3200 36 400 800"))
    (tmp_path / "garbage.hkl").write_text("not a reflection file\n")
    (tmp_path / "nan.hkl").write_text("   1   1   1     nan    1.00\n   0   0   0    0.00    0.00\n")
    before = set(os.listdir(tmp_path))
    rc = run(args + ["output.prefix=out"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err == [message]
    assert set(os.listdir(tmp_path)) == before  # no partial output


def test_existing_output_is_not_overwritten(tmp_path, monkeypatch, capsys):
    from xdxd_cctbx.command_line.solve import run

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.cif").write_text("keep me")
    rc = run([_example("example.hkl"), _example("example.ins"), "output.prefix=out"])
    assert rc == 1
    assert capsys.readouterr().err.strip() == "Sorry: out.cif exists: set output.overwrite=True or choose another output.prefix"
    assert (tmp_path / "out.cif").read_text() == "keep me"


def test_solve_example_at_2A_with_known_molecule(tmp_path, monkeypatch):
    """2.0 A data, where charge flipping fails: the molecule's SMILES solves it."""
    from xdxd_cctbx.benchmark.compare import compare_model_files
    from xdxd_cctbx.command_line.solve import run

    monkeypatch.chdir(tmp_path)
    rc = run([_example("example.hkl"), _example("example.ins"), "d_min=2.0",
              "molecule=CC(=O)Nc1ccc(O)cc1", "output.prefix=km"])
    assert rc == 0
    figures = json.loads((tmp_path / "km.json").read_text())
    assert figures["method"] == "known_molecule"
    assert figures["r1_gt"] < 0.06
    comparison = compare_model_files(_example("example_reference.cif"), str(tmp_path / "km.cif"))
    assert comparison.match_strict and comparison.rmsd < 0.1
