"""Known-molecule mode: parsing, input errors, special sites and a solve at 2.0 A."""
import numpy as np
import pytest

import xdxd_cctbx  # noqa: F401  (import order)
from xdxd_cctbx.errors import InputError
from xdxd_cctbx.known_molecule import default_params, parse_molecule, place_molecules
from xdxd_cctbx.known_molecule.molecules import (
    check_cell_volume, formula, parse_molecules, resolve_copies, split_copies)

NITROANILINE = "Nc1ccc(cc1)[N+](=O)[O-]"


def _crystal(smiles, cell, space_group, seed=3, min_contact=3.1):
    """A clash-free crystal of one RDKit conformer of ``smiles`` (non-H and H atoms)."""
    from cctbx import crystal, xray
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    AllChem.MMFFOptimizeMolecule(mol)
    xyz = mol.GetConformer().GetPositions()
    xyz -= xyz.mean(0)
    elements = [a.GetSymbol() for a in mol.GetAtoms()]
    heavy = np.array([e != "H" for e in elements])
    cs = crystal.symmetry(unit_cell=cell, space_group_symbol=space_group)
    frac_mx = np.array(cs.unit_cell().fractionalization_matrix()).reshape(3, 3)
    rng = np.random.default_rng(seed)
    for _ in range(2000):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        frac = (xyz @ rot.T) @ frac_mx.T + rng.random(3)
        xs = xray.structure(crystal_symmetry=cs)
        for k, (el, site) in enumerate(zip(elements, frac)):
            xs.add_scatterer(xray.scatterer(label=f"{el}{k + 1}", site=tuple(site), u=0.03, scattering_type=el))
        if _min_intermolecular(cs, frac[heavy]) > min_contact:
            return xs
    raise RuntimeError("no clash-free packing found")


def _min_intermolecular(cs, frac):
    """Shortest distance between the molecule and its symmetry/lattice images (A)."""
    import itertools

    orth = np.array(cs.unit_cell().orthogonalization_matrix()).reshape(3, 3)
    best = 1e9
    for op in cs.space_group().all_ops():
        r = np.array(op.r().as_double()).reshape(3, 3)
        t = np.array(op.t().as_double())
        img = frac @ r.T + t
        for shift in itertools.product((-2, -1, 0, 1, 2), repeat=3):
            if op.is_unit_mx() and shift == (0, 0, 0):
                continue
            d = (frac[:, None] - img[None] - np.array(shift)) @ orth.T
            best = min(best, float(np.linalg.norm(d, axis=-1).min()))
    return best


def _simulated(xs, d_min=2.0):
    from xdxd_cctbx.data.prepare import prepare_reflections
    from xdxd_cctbx.data.simulate import simulate_intensities

    return prepare_reflections(simulate_intensities(xs, d_min, seed=2), d_min=d_min)


def test_parse_smiles_formula_and_copies_prefix():
    spec = parse_molecule("0.5*" + NITROANILINE)
    assert spec.copies == 0.5
    assert formula(spec.mol) == {"N": 2, "C": 6, "H": 6, "O": 2}
    assert spec.n_heavy == 10
    assert split_copies(1.5) == (1, 2)
    assert split_copies(1 / 3) == (0, 3)


def test_unparsable_smiles_message():
    with pytest.raises(InputError) as err:
        parse_molecule("C1CC(")
    assert str(err.value) == (
        "molecule M1: cannot parse 'C1CC(' as SMILES: check brackets, ring-closure digits and element "
        "symbols, or give a .mol/.sdf/.xyz file")
    with pytest.raises(InputError) as err:
        parse_molecule("CC(C)(C)(C)C")
    assert str(err.value).startswith("molecule M1: SMILES 'CC(C)(C)(C)C' is not a valid molecule (")
    assert str(err.value).endswith("): fix the valences or charges")


def test_formula_disagrees_with_unit():
    specs = parse_molecules([NITROANILINE])
    resolve_copies(specs, 4, {"C": 24, "H": 24, "N": 8, "O": 8})
    assert specs[0].copies == 1.0
    specs = parse_molecules([NITROANILINE])
    resolve_copies(specs, 4, {"C": 12, "H": 12, "N": 4, "O": 4})
    assert specs[0].copies == 0.5
    specs = parse_molecules([NITROANILINE], copies=[1])
    with pytest.raises(InputError) as err:
        resolve_copies(specs, 4, {"C": 28, "H": 24, "N": 8, "O": 8})
    assert str(err.value) == (
        "the molecules (M1 x1, 4 symmetry operations) give C24 N8 O8 non-H atoms per cell but the cell "
        "content (UNIT) says C28 N8 O8: check the SMILES, the copies per asymmetric unit and UNIT")


def test_too_many_copies_for_the_cell():
    specs = parse_molecules(["8*" + NITROANILINE])
    with pytest.raises(InputError) as err:
        check_cell_volume(specs, 4, 800.0)
    assert str(err.value) == (
        "too many atoms for the cell: M1 x8 per asymmetric unit gives 320 non-H atoms per cell (4 symmetry "
        "operations), which need at least 2240 A^3 but the cell has 800 A^3: reduce the copies or check the "
        "cell and space group")


def test_bad_copies_and_missing_special_site():
    with pytest.raises(InputError) as err:
        split_copies(0.7, "O")
    assert "not a whole number plus 1/2, 1/3, 1/4 or 1/6" in str(err.value)
    from cctbx import sgtbx
    from xdxd_cctbx.known_molecule.sites import special_sites

    with pytest.raises(InputError) as err:
        special_sites(sgtbx.space_group_info("P 21 21 21"), 2)
    assert str(err.value) == (
        "1/2 copies of a molecule need a special position of site-symmetry order 2, and P 21 21 21 has "
        "none: check the copies per asymmetric unit and the space group")
    assert len(special_sites(sgtbx.space_group_info("P 1 21/c 1"), 2)) == 4


def test_place_molecules_input_errors_before_search():
    xs = _crystal(NITROANILINE, (8.0, 7.0, 15.0, 90, 95, 90), "P 1 21/c 1")
    data = _simulated(xs)
    with pytest.raises(InputError, match="cannot parse 'C1CC\\(' as SMILES"):
        place_molecules(data.f_obs, ["C1CC("])
    with pytest.raises(InputError, match="too many atoms for the cell"):
        place_molecules(data.f_obs, ["6*" + NITROANILINE])
    with pytest.raises(InputError, match="cell content \\(UNIT\\) says"):
        place_molecules(data.f_obs, [NITROANILINE], unit_cell_content={"C": 40, "N": 8, "O": 8})


def _search_params(**values):
    """Default known-molecule parameters with a small, fast search for the tests."""
    params = default_params()
    for name, value in values.items():
        setattr(params, name, value)
    return params


def test_solve_nitroaniline_p21c_at_2A():
    from xdxd_cctbx.benchmark.compare import compare_structures

    xs = _crystal(NITROANILINE, (8.0, 7.0, 15.0, 90, 95, 90), "P 1 21/c 1")
    data = _simulated(xs)
    params = _search_params(n_starts=32, n_rounds=1, n_conformers=2, rf_orientations=400, n_steps=60,
                            torsion_steps=30, n_candidates=3, n_refine=1, max_seconds=60)
    cands = place_molecules(data.f_obs, [NITROANILINE], unit_cell_content={"C": 24, "H": 24, "N": 8, "O": 8},
                            params=params, i_obs=data.i_obs, e_obs=data.e_obs)
    best = cands[0]
    assert best.xray_structure.scatterers().size() == 10
    assert best.correlation > 0.9
    assert best.refinement is not None and best.r1 < 0.15
    labels = [sc.label for sc in best.xray_structure.scatterers()]
    assert sorted(labels) == sorted(best.molecules[0]["labels"]) and "O2" in labels
    cmp = compare_structures(xs, best.xray_structure)
    assert cmp.match, cmp


def test_search_fits_2A_data_and_the_refinement_all(caplog):
    """At 1.4 A the placement search fits the data to 2 A only; the candidates are
    refined against all reflections."""
    import logging

    from xdxd_cctbx.benchmark.compare import compare_structures
    from xdxd_cctbx.known_molecule.search import search_data

    xs = _crystal(NITROANILINE, (8.0, 7.0, 15.0, 90, 95, 90), "P 1 21/c 1")
    data = _simulated(xs, d_min=1.4)
    cut = search_data(data.f_obs, 2.0)
    assert 0 < cut.size() < data.f_obs.size() and cut.d_min() >= 2.0
    assert min(data.f_obs.d_spacings().data()) < 1.45
    assert search_data(data.f_obs, 0).size() == data.f_obs.size()
    assert search_data(cut, 2.0) is cut
    params = _search_params(n_starts=32, n_rounds=1, n_conformers=2, rf_orientations=400, n_steps=60,
                            torsion_steps=30, n_candidates=3, n_refine=1, max_seconds=60)
    with caplog.at_level(logging.INFO, logger="xdxd_cctbx"):
        cands = place_molecules(data.f_obs, [NITROANILINE], unit_cell_content={"C": 24, "H": 24, "N": 8, "O": 8},
                                params=params, i_obs=data.i_obs, e_obs=data.e_obs)
    assert f"{cut.size()} reflections (d >= 2 A of {data.f_obs.size()};" in caplog.text
    best = cands[0]
    assert best.refinement is not None and best.refinement.n_reflections == data.i_obs.size()
    assert best.r1 < 0.15
    assert compare_structures(xs, best.xray_structure).match


def test_solve_on_inversion_centre():
    """Half a centrosymmetric molecule per asymmetric unit (copies 0.5) in P-1."""
    from xdxd_cctbx.benchmark.compare import compare_structures

    smiles = "O=C1C=CC(=O)C=C1"  # p-benzoquinone, centrosymmetric
    from cctbx import crystal, xray
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    AllChem.MMFFOptimizeMolecule(mol)
    xyz = mol.GetConformer().GetPositions()
    xyz -= xyz.mean(0)
    cs = crystal.symmetry(unit_cell=(5.5, 6.5, 7.0, 100, 95, 105), space_group_symbol="P -1")
    frac_mx = np.array(cs.unit_cell().fractionalization_matrix()).reshape(3, 3)
    ang = 0.7
    rot = np.array([[1, 0, 0], [0, np.cos(ang), -np.sin(ang)], [0, np.sin(ang), np.cos(ang)]])
    frac = (xyz @ rot.T) @ frac_mx.T + np.array([0.5, 0.0, 0.5])
    xs = xray.structure(crystal_symmetry=cs)
    seen = []
    for atom, site in zip(mol.GetAtoms(), frac):
        img = np.array([1.0, 0.0, 1.0]) - site  # inversion partner about (1/2, 0, 1/2)
        if any(np.allclose((img - s + 0.5) % 1.0 - 0.5, 0, atol=0.05) for s in seen):
            continue
        seen.append(site)
        xs.add_scatterer(xray.scatterer(label=f"{atom.GetSymbol()}{len(seen)}", site=tuple(site), u=0.03,
                                        scattering_type=atom.GetSymbol()))
    assert xs.select(xs.hd_selection() == False).scatterers().size() == 4  # noqa: E712
    data = _simulated(xs)
    params = _search_params(n_starts=32, n_rounds=1, n_conformers=2, rf_orientations=400, n_steps=60,
                            refine=False)
    cands = place_molecules(data.f_obs, [smiles], copies=[0.5], params=params)
    best = cands[0]
    assert best.xray_structure.scatterers().size() == 4
    assert compare_structures(xs, best.xray_structure).match


def test_molecule_file_and_conformer_ensemble(tmp_path):
    """A .sdf with coordinates becomes one conformer of the ensemble; torsions and core found."""
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from xdxd_cctbx.known_molecule.conformers import embed_ensemble

    mol = Chem.AddHs(Chem.MolFromSmiles("OCCc1ccccc1"))
    AllChem.EmbedMolecule(mol, randomSeed=3)
    path = str(tmp_path / "phenethyl.sdf")
    writer = Chem.SDWriter(path)
    writer.write(mol)
    writer.close()
    spec = parse_molecule(path)
    assert spec.coordinates is not None and spec.n_heavy == 9
    sets = embed_ensemble(spec, n_conformers=4, seed=1, max_seconds=20)
    assert len(sets) == 1
    cs = sets[0]
    assert "file" in cs.origin and cs.coords.shape[1:] == (9, 3)
    given = mol.GetConformer().GetPositions()[[a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]]
    np.testing.assert_allclose(cs.coords[cs.origin.index("file")], given - given.mean(0), atol=1e-3)  # not relaxed (.sdf: 4 decimals)
    assert len(cs.torsions) == 2  # ring-CH2 and CH2-CH2 (C-O only moves H)
    assert sorted(cs.elements) == sorted("OCCCCCCCC")
    assert 6 <= len(cs.core) <= 8  # the phenyl ring and its axis atoms
    with pytest.raises(InputError, match="not found"):
        parse_molecule("missing_molecule.mol")


def test_metal_centre_idealised():
    """ETKDG bends a two-coordinate Au; the ensemble gets a linear one."""
    from xdxd_cctbx.known_molecule.conformers import embed_ensemble

    spec = parse_molecule("C[Au]c1ccccc1")
    cs = embed_ensemble(spec, n_conformers=2, seed=0, max_seconds=20)[0]
    ids = list(cs.atom_ids)
    au_atom = next(a for a in spec.mol.GetAtoms() if a.GetSymbol() == "Au")
    au = ids.index(au_atom.GetIdx())
    nbs = [ids.index(n.GetIdx()) for n in au_atom.GetNeighbors()]
    linear = []
    for c in range(cs.n_conformers):
        x = cs.coords[c]
        u, v = x[nbs[0]] - x[au], x[nbs[1]] - x[au]
        linear.append(np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))
    assert "metal" in cs.origin
    assert max(linear) > 175.0


def test_torsion_kicks_turn_one_to_three_torsions_of_the_best_poses():
    """Basin-hopping starts: pose and conformer kept, 1-3 torsions of one flexible body changed."""
    import torch

    from xdxd_cctbx.known_molecule.placement import PoseBatch
    from xdxd_cctbx.known_molecule.pose_moves import torsion_kicks

    gen = torch.Generator().manual_seed(0)
    n_elite = 10
    elite = PoseBatch([torch.arange(n_elite), torch.zeros(n_elite, dtype=torch.long)],
                      [torch.zeros(n_elite, dtype=torch.long)] * 2,
                      torch.eye(3).expand(n_elite, 2, 3, 3).clone(), torch.zeros(n_elite, 2, 3),
                      torch.rand(n_elite, 2, 3, generator=gen), [torch.rand(n_elite, 6, generator=gen),
                                                                 torch.zeros(n_elite, 0)])
    kicks = torsion_kicks(elite, 40, gen)
    assert kicks.size == 40
    src = torch.arange(40) % 8  # copies of the 8 best
    assert torch.equal(kicks.conf[0], elite.conf[0][src])
    assert torch.equal(kicks.trans, elite.trans[src])
    changed = (kicks.tors[0] - elite.tors[0][src]).abs() > 1e-6
    assert changed.sum(1).min() >= 1 and changed.sum(1).max() <= 3
    assert changed.sum(1).float().mean() > 1.5  # not always a single torsion
    assert kicks.tors[1].shape == (40, 0)
    assert torsion_kicks(elite.select(torch.arange(3)), 0, gen).size == 0


def test_unconverged_search_restarts_and_keeps_the_best(caplog):
    """A molecule that cannot fit the data: the search restarts from new seeds while time is
    left, and the merged result is never worse than the first attempt alone."""
    import logging

    xs = _crystal(NITROANILINE, (8.0, 7.0, 15.0, 90, 95, 90), "P 1 21/c 1")
    data = _simulated(xs)
    params = _search_params(n_starts=16, n_rounds=1, n_conformers=1, rf_orientations=100, n_steps=20,
                            torsion_steps=0, polish_steps=0, refine=False, max_seconds=120)
    wrong = "ClC(Cl)(Cl)Cl"  # CCl4 instead of nitroaniline

    def best_score(max_restarts):
        params.max_restarts = max_restarts
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="xdxd_cctbx.known_molecule.search"):
            score = place_molecules(data.f_obs, [wrong], copies=[1], params=params)[0].score
        return score, sum("no converged fit" in r.getMessage() for r in caplog.records)

    alone, n_alone = best_score(0)
    merged, n_merged = best_score(1)
    assert alone > 0.12 and n_alone == 0
    assert n_merged == 1
    assert merged <= alone + 1e-6


def test_work_clock_search_does_not_depend_on_the_machines_speed(monkeypatch, caplog):
    """A search whose batch sizes are set by its time limit is the same when every
    optimisation runs far slower (a busy or slow machine): batch sizes, rounds and the stop
    follow the charged work, not the wall clock."""
    import logging
    import re
    import time

    from xdxd_cctbx.known_molecule import batch_fit, placement

    xs = _crystal(NITROANILINE, (8.0, 7.0, 15.0, 90, 95, 90), "P 1 21/c 1")
    data = _simulated(xs)
    params = _search_params(n_starts=4096, n_rounds=4, n_conformers=1, rf_orientations=100, n_steps=20,
                            torsion_steps=0, polish_steps=0, refine=False, max_seconds=3, max_restarts=0)
    assert params.clock == "work"
    wrong = "ClC(Cl)(Cl)Cl"  # never converges: the search goes on until its time is used

    def run():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="xdxd_cctbx.known_molecule.search"):
            cands = place_molecules(data.f_obs, [wrong], copies=[1], params=params)
        text = "\n".join(r.getMessage() for r in caplog.records)
        steps = re.findall(r"(stage|round) \d+/\d+.*best loss (\S+) \(pool ([^)]*)\)", text)
        charged = float(re.search(r"work clock: ([0-9.]+) s", text).group(1))
        return [c.score for c in cands], steps, charged

    scores, steps, charged = run()
    assert len(steps) >= 3
    assert 0.6 * params.max_seconds < charged < 1.5 * params.max_seconds  # the budget filled the time
    optimise = placement.optimise

    def slow(*args, **kwargs):
        time.sleep(0.2)
        return optimise(*args, **kwargs)

    monkeypatch.setattr(batch_fit, "optimise", slow)
    slow_scores, slow_steps, slow_charged = run()
    assert slow_steps == steps
    assert slow_scores == scores
    assert slow_charged == charged


def test_site_mismatch_pulls_a_molecule_into_its_site_symmetry():
    """Dichloromethane on a 2-fold axis of C2/c: its images under the axis fall on its own
    atoms (mismatch ~0) with its C2 axis along b, and not when tilted away from b."""
    import math

    import torch

    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.placement import Body, PlacementProblem
    from xdxd_cctbx.known_molecule.sites import special_sites

    spec = parse_molecule("ClCCl", copies=0.5)
    cs = embed_ensemble(spec, n_conformers=1, seed=0)[0]
    xs = _crystal("ClCCl", (12.0, 6.0, 9.0, 90, 105, 90), "C 1 2/c 1")
    data = _simulated(xs)
    sites = special_sites(data.f_obs.space_group_info(), 2)
    axis_sites = [i for i, s in enumerate(sites) if np.linalg.matrix_rank(s.w_matrix) == 1]
    problem = PlacementProblem(data.f_obs, [Body(cs, 0.5, sites)])
    x = cs.coords[0]
    c = cs.elements.index("C")
    axis = np.delete(x, c, axis=0).mean(0) - x[c]  # from C to the middle of the two Cl
    axis /= np.linalg.norm(axis)
    v = np.cross(axis, [0.0, 1.0, 0.0])  # turn the molecule's C2 axis onto b (Cartesian y)
    ang = math.atan2(np.linalg.norm(v), axis[1])
    v = v / np.linalg.norm(v) * ang
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    onto_b = np.eye(3) + math.sin(ang) * k / ang + (1 - math.cos(ang)) * (k @ k) / ang ** 2
    poses = problem.random_poses(3, torch.Generator().manual_seed(0))
    for i, tilt in enumerate((0.0, 0.3, 0.8)):
        about_a = np.array([[1, 0, 0], [0, math.cos(tilt), -math.sin(tilt)], [0, math.sin(tilt), math.cos(tilt)]])
        poses.base_rot[i, 0] = torch.tensor(about_a @ onto_b, dtype=poses.base_rot.dtype)
        poses.site[0][i] = axis_sites[0]
    mismatch = problem.site_mismatch(problem.coordinates(poses), poses)
    assert float(mismatch[0]) < 1e-3
    assert 0.1 < float(mismatch[1]) < float(mismatch[2])
    clash = problem.clash(problem.coordinates(poses), poses)  # the search's penalty includes it
    assert float(clash[0]) < 1e-3 and float(clash[2]) >= float(mismatch[2]) / 3 - 1e-6


def test_monodentate_ligands_turn_about_their_metal_bond():
    """Dative metal-ligand bonds outside rings are torsions (an imidazole can turn on Zn-N);
    ring bonds, including chelate rings, are not."""
    from xdxd_cctbx.known_molecule.conformers import find_torsions

    spec = parse_molecule("Cl[Zn](Cl)(<-[n]1cc[nH]c1)<-[n]1cc[nH]c1")
    mol = spec.mol
    heavy = np.array([a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1])
    pairs = {tuple(sorted((mol.GetAtomWithIdx(int(heavy[t.a])).GetSymbol(),
                           mol.GetAtomWithIdx(int(heavy[t.b])).GetSymbol()))) for t in find_torsions(mol, heavy)}
    assert pairs == {("N", "Zn")}
    assert len(find_torsions(mol, heavy)) == 2
    chelate = parse_molecule("Cl[Cu]1(Cl)<-[NH2]CC[NH2]->1").mol  # ethylenediamine: a ring through the metal
    heavy = np.array([a.GetIdx() for a in chelate.GetAtoms() if a.GetAtomicNum() > 1])
    assert find_torsions(chelate, heavy) == []


def test_molecule_on_a_centre_is_folded_by_that_centres_operations():
    """C2/c has order-2 sites of three kinds (2-fold axes, inversion centres with and without the
    centring translation): the asymmetric half comes from the site the pose uses."""
    import torch

    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.placement import Body, PlacementProblem
    from xdxd_cctbx.known_molecule.sites import special_sites
    from xdxd_cctbx.known_molecule.structures import pose_to_structure

    spec = parse_molecule("O=C1C=CC(=O)C=C1", copies=0.5)  # p-benzoquinone, centrosymmetric
    cs = embed_ensemble(spec, n_conformers=1, seed=0)[0]
    data = _simulated(_crystal("ClCCl", (12.0, 6.0, 9.0, 90, 105, 90), "C 1 2/c 1"))
    sites = special_sites(data.f_obs.space_group_info(), 2)
    problem = PlacementProblem(data.f_obs, [Body(cs, 0.5, sites)])
    centres = [i for i, s in enumerate(sites) if np.linalg.matrix_rank(s.w_matrix) == 0]
    assert len(centres) == 4 and np.linalg.matrix_rank(sites[0].w_matrix) == 1  # the axis comes first
    poses = problem.random_poses(len(centres), torch.Generator().manual_seed(1))
    for i, c in enumerate(centres):
        poses.site[0][i] = c
    frac = problem.coordinates(poses).double().numpy()
    for i, c in enumerate(centres):
        xs, info, _ = pose_to_structure(problem, frac[i], [spec], site_index=[c])
        assert xs.scatterers().size() == 4, sites[c].letter
        assert sorted(sc.scattering_type for sc in xs.scatterers()) == ["C", "C", "C", "O"]


@pytest.mark.parametrize("sites, split", [
    ([(0.0, 0.0, 0.0), (2 / 3, 1 / 3, 0.011)], (3, 6)),  # -3 centre (1/6) + 3-fold axis (1/3)
    ([(0.31, 0.0, 0.25)], (2,)),  # one 2-fold axis (1/2)
])
def test_half_a_bromide_is_shared_out_over_the_sites_the_data_show(sites, split):
    """R-3c, 0.5 Br- per asymmetric unit: one ion on a 2-fold axis, or one on a 3-fold axis plus
    one on a -3 centre; the split that fits the data is chosen."""
    from cctbx import crystal, xray

    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.fractional_sites import choose_site_splits, site_splits
    from xdxd_cctbx.known_molecule.sites import site_orders

    cs = crystal.symmetry(unit_cell=(12.0, 12.0, 35.2, 90, 90, 120), space_group_symbol="R -3 c :H")
    assert site_orders(cs.space_group_info()) == [2, 3, 6]
    assert site_splits(0.5, [2, 3, 6]) == [(2,), (3, 6), (6, 6, 6)]
    xs = xray.structure(crystal_symmetry=cs)
    for k, site in enumerate(sites):
        xs.add_scatterer(xray.scatterer(label=f"Br{k + 1}", site=site, u=0.03, scattering_type="Br"))
    data = _simulated(xs)
    spec = parse_molecule("[Br-]", copies=0.5)
    ions = {0: embed_ensemble(spec, n_conformers=1)[0]}
    assert choose_site_splits([spec], data.f_obs, cs.space_group_info(), ions) == {0: split}


def _perchlorates(centres):
    """I-4 crystal of perchlorate ions, each with its 4-bar (and 2-fold) axis along c.

    centres: (site, order of the site); the asymmetric unit holds the O atoms the
    site's operations do not generate (one on a -4 site, two on a 2-fold axis).
    """
    from cctbx import crystal, xray

    cell = np.array([11.0, 11.0, 13.0])
    cs = crystal.symmetry(unit_cell=tuple(cell) + (90, 90, 90), space_group_symbol="I -4")
    xs = xray.structure(crystal_symmetry=cs)
    arm = 1.44 / np.sqrt(3.0)
    tetrahedron = arm * np.array([(1, 1, 1), (1, -1, -1)], dtype=float)
    for k, (centre, order) in enumerate(centres):
        xs.add_scatterer(xray.scatterer(label=f"Cl{k + 1}", site=centre, u=0.03, scattering_type="Cl"))
        for j, vec in enumerate(tetrahedron[:4 // order]):
            xs.add_scatterer(xray.scatterer(label=f"O{k + 1}{j + 1}", site=tuple(np.array(centre) + vec / cell),
                                            u=0.04, scattering_type="O"))
    return cs, xs


@pytest.mark.parametrize("centres, split", [
    ([((0.0, 0.0, 0.0), 4), ((0.0, 0.5, 0.25), 4)], (4, 4)),  # two -4 sites, a quarter ion each
    ([((0.0, 0.0, 0.17), 2)], (2,)),  # one 2-fold axis, half an ion
])
def test_half_a_molecule_is_shared_out_over_the_sites_the_data_show(centres, split):
    """I-4, 0.5 ClO4- per asymmetric unit: half an ion on a 2-fold axis, or a quarter on each of two
    -4 sites; a molecule of several atoms gets the split the data show, as a single ion does."""
    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.fractional_sites import choose_site_splits, site_splits
    from xdxd_cctbx.known_molecule.sites import site_orders

    cs, xs = _perchlorates(centres)
    assert site_orders(cs.space_group_info()) == [2, 4]
    assert site_splits(0.5, [2, 4]) == [(2,), (4, 4)]
    data = _simulated(xs)
    spec = parse_molecule("[O-][Cl+3]([O-])([O-])[O-]", copies=0.5)
    ions = {0: embed_ensemble(spec, n_conformers=4)[0]}
    assert choose_site_splits([spec], data.f_obs, cs.space_group_info(), ions) == {0: split}


def test_merged_attempts_keep_each_attempts_best_poses_for_the_polish(rigid_p21c_problem):
    """A later attempt's poses can push an earlier attempt's out of the pool by rigid loss;
    those stay aside (``attempt_best``) for the atom-level polish."""
    import torch

    from xdxd_cctbx.known_molecule.pose_pool import PosePool
    from xdxd_cctbx.known_molecule.search import _merge_attempt

    problem, _ = rigid_p21c_problem
    gen = torch.Generator().manual_seed(5)
    first, second = PosePool(problem, 4), PosePool(problem, 4)
    first_poses, second_poses = problem.random_poses(4, gen), problem.random_poses(4, gen)
    first.add(first_poses, torch.tensor([0.5, 0.6, 0.7, 0.8]))
    second.add(second_poses, torch.tensor([0.1, 0.2, 0.3, 0.4]))
    first_best = first.top(2)
    _merge_attempt(first, second, 2)
    assert first.losses.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4])  # the first attempt's poses are out
    assert len(first.attempt_best) == 2
    assert torch.equal(first.attempt_best[0].trans, first_best.trans)
    assert torch.equal(first.attempt_best[1].trans, second.top(2).trans)
    third = PosePool(problem, 4)
    third.add(problem.random_poses(4, gen), torch.tensor([0.9, 1.0, 1.1, 1.2]))
    _merge_attempt(first, third, 2)
    assert len(first.attempt_best) == 3 and first.attempt_best[2].size == 2
