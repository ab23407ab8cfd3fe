"""xdxd.benchmark end to end on small structures generated at run time (no shared data),
failure handling, worker processes, bad input; measured sets when the shared data exist."""
import functools
import json
import os
import random
import sys

import xdxd_cctbx  # noqa: F401  (first: import order)
import pytest

from xdxd_cctbx.benchmark.report import summarize, write_report
from xdxd_cctbx.benchmark.runner import (
    FULL,
    make_tasks,
    parse_d_min_values,
    run_benchmark,
)
from xdxd_cctbx.benchmark.sets import MEASURED, SIMULATED, discover_structures
from xdxd_cctbx.command_line.benchmark import run as benchmark_main
from xdxd_cctbx.errors import InputError

RESULT_FIELDS = ("name", "method", "d_min", "match", "match_strict", "matched_fraction", "rmsd", "r1",
                 "seconds", "error")


def _random_structure(space_group: str, n_atoms: int, seed: int):
    from cctbx import sgtbx
    from cctbx.development import random_structure
    from scitbx.array_family import flex

    random.seed(seed)
    flex.set_random_seed(seed)
    return random_structure.xray_structure(
        sgtbx.space_group_info(space_group), elements=["C"] * (n_atoms - 3) + ["O", "O", "N"],
        volume_per_atom=18, min_distance=1.3, general_positions_only=True, u_iso=0.03)


def _write_cif(xs, path):
    from xdxd_cctbx.io import model_writers

    if hasattr(model_writers, "write_cif"):
        try:
            model_writers.write_cif(path, xs)
            return
        except TypeError:  # another signature: fall back to iotbx's writer
            pass
    with open(path, "w") as f:
        xs.as_cif_simple(out=f, data_name=os.path.splitext(os.path.basename(path))[0])


def _hydrogen_only_structure():
    from cctbx import crystal, xray

    cs = crystal.symmetry(unit_cell=(6, 7, 8, 90, 95, 90), space_group_symbol="P -1")
    xs = xray.structure(crystal_symmetry=cs)
    for i, site in enumerate([(0.1, 0.2, 0.3), (0.3, 0.1, 0.2), (0.25, 0.4, 0.1)]):
        xs.add_scatterer(xray.scatterer(label=f"H{i + 1}", site=site, u=0.03, scattering_type="H"))
    return xs


@pytest.fixture(scope="module")
def two_structures(tmp_path_factory):
    """P21/c and P-1, 10 atoms each (charge flipping solves both at 1.0 A with these seeds)."""
    folder = tmp_path_factory.mktemp("set")
    _write_cif(_random_structure("P 21/c", 10, seed=0), str(folder / "p21c.cif"))
    _write_cif(_random_structure("P -1", 10, seed=0), str(folder / "p-1.cif"))
    return folder


def test_program_end_to_end_on_two_structures(two_structures, tmp_path, capsys):
    prefix = str(tmp_path / "bm")
    rc = benchmark_main([str(two_structures), "d_min=1.0", "methods=charge_flipping", "nproc=1",
                         f"output.prefix={prefix}"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    for ext in (".json", ".md", ".jsonl", "_match_rate.png", "_time.png"):
        assert os.path.getsize(prefix + ext) > 0, ext
    with open(prefix + ".json") as f:
        document = json.load(f)
    results = document["results"]
    assert sorted(r["name"] for r in results) == ["p-1", "p21c"]
    for r in results:
        for field in RESULT_FIELDS:
            assert field in r, field
        assert r["method"] == "charge_flipping" and r["d_min"] == 1.0
        assert r["error"] is None, r["error"]
    assert sum(r["match"] for r in results) >= 1
    group = document["summary"]["by_method_d_min"][0]
    assert (group["method"], group["d_min"], group["n"]) == ("charge_flipping", "1.0", 2)
    assert group["n_match"] == sum(r["match"] for r in results)
    with open(prefix + ".md") as f:
        markdown = f.read()
    assert "| charge_flipping |" in markdown and "1.0 A" in markdown
    with open(prefix + ".jsonl") as f:
        assert len(f.read().splitlines()) == 2
    # existing outputs are not overwritten by default: one-line Sorry
    rc = benchmark_main([str(two_structures), "d_min=1.0", f"output.prefix={prefix}"])
    err = capsys.readouterr().err
    assert rc == 1 and "exists" in err and len(err.strip().splitlines()) == 1


def test_failing_structure_is_recorded_and_the_run_goes_on(two_structures, tmp_path):
    folder = tmp_path / "manifest_set"
    folder.mkdir()
    _write_cif(_hydrogen_only_structure(), str(folder / "honly.cif"))
    with open(two_structures / "p21c.cif") as src, open(folder / "good.cif", "w") as dst:
        dst.write(src.read())
    manifest = [{"file": "honly.cif", "cls": "organic", "nonH": 0},
                {"file": "good.cif", "cls": "organic", "nonH": 10}]
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))
    structures = discover_structures(str(folder))
    assert [s.name for s in structures] == ["honly", "good"]
    tasks = make_tasks(structures, [1.0], ["charge_flipping"], timeout=120)
    results = run_benchmark(tasks, nproc=1, progress=False)
    assert [r.name for r in results] == ["honly", "good"]
    failed, good = results
    assert failed.error and "no non-H atoms" in failed.error and not failed.match
    assert good.error is None and good.match and good.rmsd < 0.1
    summary = summarize(results)
    assert summary["by_class"][0]["cls"] == "organic" and summary["by_class"][0]["n"] == 2
    paths = write_report(str(tmp_path / "rep"), results, summary, plots=False)
    assert all(os.path.exists(p) for p in paths)


def test_structures_are_chosen_by_name(two_structures, tmp_path, capsys):
    assert [s.name for s in discover_structures(str(two_structures), names=["p21c"])] == ["p21c"]
    with pytest.raises(InputError, match="^structure p2 is not in the benchmark set .*: give names of its "
                                         "structures"):
        discover_structures(str(two_structures), names=["p21c", "p2"])
    rc = benchmark_main([str(two_structures), "structures=p2", "d_min=1.0", f"output.prefix={tmp_path / 'x'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "structure p2 is not in the benchmark set" in err[0]
    assert not list(tmp_path.iterdir())


def test_worker_processes_and_time_limit(two_structures):
    structures = discover_structures(str(two_structures))
    tasks = make_tasks(structures, [1.0], ["charge_flipping"], timeout=0.05)
    results = run_benchmark(tasks, nproc=2, progress=False)
    assert [r.name for r in results] == [s.name for s in structures]
    for r in results:  # 50 ms is too short even to simulate the data
        assert r.error and r.error.startswith("timeout") and not r.match


def _misbehaving_method_inputs(structure, method):  # noqa: ARG001
    """A hook that crashes its worker (p-1) or hangs past the soft time limit (p21c)."""
    import signal
    import time

    if structure.name == "p-1":
        os._exit(3)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(60)
    return {}


def test_crashed_and_hung_workers_are_replaced(two_structures, monkeypatch):
    from xdxd_cctbx.benchmark import runner

    monkeypatch.setattr(runner, "HARD_KILL_GRACE_S", 0.5)
    structures = discover_structures(str(two_structures))
    tasks = make_tasks(structures, [1.0], ["charge_flipping"], timeout=0.5)
    results = run_benchmark(tasks, nproc=2, progress=False, start_method="fork",
                            method_inputs=_misbehaving_method_inputs)
    errors = {r.name: r.error for r in results}
    assert "worker process died (exit code 3)" in errors["p-1"]
    assert "worker killed" in errors["p21c"]
    assert not any(r.match for r in results)


def test_bad_input_gives_one_line_sorry(two_structures, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([str(tmp_path / "missing")], "not found"),
        ([str(empty)], "no structures found"),
        ([str(two_structures), "methods=no_such_method"], "unknown method"),
        ([str(two_structures), "d_min=abc"], "not a number"),
        ([str(two_structures), "d_min=full"], "needs measured data"),
        (["d_min=1.0"], "no benchmark set"),
    ]
    for args, message in cases:
        rc = benchmark_main(args + [f"output.prefix={tmp_path / 'x'}"])
        err = capsys.readouterr().err.strip()
        assert rc == 1, args
        assert err.startswith("Sorry:") and message in err and len(err.splitlines()) == 1, (args, err)


def test_d_min_values():
    assert parse_d_min_values(["1.0,1.5", "2"]) == [1.0, 1.5, 2.0]
    assert parse_d_min_values(["full,2.0", "0"]) == [FULL, 2.0]
    with pytest.raises(InputError):
        parse_d_min_values(["-1"])


def test_measured_sets_truncated(shared_data):
    structures = discover_structures(os.path.join(shared_data, "measured"))
    by_name = {s.name: s for s in structures}
    assert {"sucrose", "THPP", "183"} <= set(by_name)
    assert all(s.kind == MEASURED for s in structures)
    assert by_name["183"].model_path.endswith(".res") and by_name["ZP2"].model_path.endswith(".ins")
    assert discover_structures(os.path.join(shared_data, "cod_validation"), count=3)[0].kind == SIMULATED
    tasks = make_tasks([by_name["THPP"], by_name["sucrose"]], [1.0], ["charge_flipping"], timeout=120)
    results = run_benchmark(tasks, nproc=1, progress=False)
    for r in results:
        assert r.error is None, r.error
        assert abs(r.d_min_data - 1.0) < 0.02
    assert sum(r.match for r in results) >= 1


SUCROSE = "OC[C@H]1O[C@@](CO)(O[C@H]2O[C@H](CO)[C@@H](O)[C@H](O)[C@H]2O)[C@@H](O)[C@@H]1O"


def test_measured_sucrose_at_2A_with_its_molecule(shared_data):
    """Real data cut to 2.0 A: the SMILES places sucrose (all 23 non-H atoms within 0.5 A)."""
    from xdxd_cctbx.benchmark.molecule_table import molecules_from_table

    (sucrose,) = [s for s in discover_structures(os.path.join(shared_data, "measured")) if s.name == "sucrose"]
    tasks = make_tasks([sucrose], [2.0], ["known_molecule"], timeout=400)
    hook = functools.partial(molecules_from_table, {"sucrose": [SUCROSE]})
    (result,) = run_benchmark(tasks, nproc=1, progress=False, method_inputs=hook)
    assert result.error is None, result.error
    assert result.match and result.n_reference == 23 and result.rmsd < 0.15
    assert result.r1 < 0.08 and result.d_min_data < 2.05


def test_known_molecule_benchmark_with_molecules_table(tmp_path, capsys):
    """methods=known_molecule takes each structure's molecules from a JSON table."""
    import shutil

    from xdxd_cctbx.examples import example_paths

    folder = tmp_path / "km_set"
    folder.mkdir()
    shutil.copy(example_paths()["reference"], folder / "paracetamol.cif")
    table = tmp_path / "molecules.json"
    table.write_text(json.dumps({"paracetamol": [{"smiles": "CC(=O)Nc1ccc(O)cc1", "copies": 1}]}))
    prefix = str(tmp_path / "km")
    rc = benchmark_main([str(folder), "d_min=2.0", "methods=known_molecule", f"molecules={table}",
                         f"output.prefix={prefix}", "plots=False"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    # the default search limit (600 s) would not fit the default timeout (600 s): shortened
    assert "known-molecule search limited to 450 s (solver.known_molecule.max_seconds)" in captured.out
    document = json.loads(open(prefix + ".json").read())
    assert document["meta"]["known_molecule_max_seconds"] == 450
    (result,) = document["results"]
    assert result["error"] is None and result["match"] and result["rmsd"] < 0.1
    assert result["molecule_types"] == ["single"]
    assert document["summary"]["by_molecule_type"][0]["n_match"] == 1
    assert "## By molecule type (known molecule)" in open(prefix + ".md").read()
    # bad or missing tables: one-line Sorry naming the fix
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"aspirin": ["CC(=O)Oc1ccccc1C(=O)O"]}))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    cases = [([], "needs the molecules of each structure: molecules=TABLE.json"),
             ([f"molecules={other}"], "the molecules table has no entry for paracetamol"),
             ([f"molecules={broken}"], "is not valid JSON"),
             ([f"molecules={table}", "timeout=100"],
              "timeout=100 s leaves no time for the known-molecule search: set timeout to at least 120 s")]
    for args, message in cases:
        rc = benchmark_main([str(folder), "d_min=2.0", "methods=known_molecule",
                             f"output.prefix={tmp_path / 'bad'}"] + args)
        err = capsys.readouterr().err.strip()
        assert rc == 1 and err.startswith("Sorry:") and message in err and len(err.splitlines()) == 1, err


def test_molecule_table_entries():
    from xdxd_cctbx.benchmark.molecule_table import copies_text, molecule_strings, molecule_types

    assert molecule_strings(["CCO", {"smiles": "O", "copies": 2}, {"smiles": "c1ccccc1", "copies": 0.5}]) == [
        "CCO", "2*O", "1/2*c1ccccc1"]
    assert copies_text(1 / 3) == "1/3" and copies_text(1.0) == "1"
    assert molecule_types(["CCO"]) == ["single"]
    assert molecule_types(["1/2*c1ccccc1"]) == ["several", "on_symmetry"]
    assert molecule_types(["CCO", "2*O"]) == ["several"]
    with pytest.raises(InputError, match="non-empty list"):
        molecule_strings("CCO")


def test_search_limit_fits_the_task_timeout():
    from xdxd_cctbx.benchmark.runner import fit_search_to_timeout
    from xdxd_cctbx.solver import default_params

    params = default_params()
    params.known_molecule.max_seconds = 240
    assert fit_search_to_timeout(params, 480) is None and params.known_molecule.max_seconds == 240
    assert fit_search_to_timeout(params, 0) is None
    assert fit_search_to_timeout(params, 300) == 210 and params.known_molecule.max_seconds == 210
    params.known_molecule.max_seconds = 3000
    assert fit_search_to_timeout(params, 2000) == 1500


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
