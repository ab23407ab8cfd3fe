"""Synthetic-crystal dataset builder: space-group table, packing, special positions, shards.

A tiny build (12 structures in 3 shards) must be deterministic for its seed and
resumable, and every structure must pass an independent cctbx check: it builds an
xray.structure, no intermolecular contact is below 0.8 x the sum of van der Waals
radii, the density is in range, special positions agree with cctbx's site
multiplicities, and the shards round-trip.
"""
import importlib.util
import os

import numpy as np
import pytest

import xdxd_cctbx  # noqa: F401  (import order)

rdkit = pytest.importorskip("rdkit")
HAVE_MOSES = importlib.util.find_spec("moses") is not None


def test_space_group_table_matches_cctbx():
    from cctbx import sgtbx

    from xdxd_cctbx.dataset.space_groups import SPACE_GROUPS, special_sites

    for sg in SPACE_GROUPS:
        group = sgtbx.space_group(sg.hall)
        mine = sgtbx.space_group()
        for op in sg.ops_xyz:
            mine.expand_smx(sgtbx.rt_mx(op))
        assert mine == group == sgtbx.space_group_info(sg.symbol).group(), sg.symbol
        assert group.order_z() == sg.order
        for site in special_sites(sg.sg_id):
            ss = sgtbx.site_symmetry(sgtbx.space_group_info(group=group).any_compatible_unit_cell(volume=1000),
                                     group, tuple(site.point), 0.01)
            assert ss.multiplicity() == sg.order // 2, (sg.symbol, site)


def _pack_on_site(molecule, symbol, kind, seed=0):
    from xdxd_cctbx.dataset.packing import Placement, asu_atoms, pack
    from xdxd_cctbx.dataset.space_groups import SPACE_GROUPS, SYMBOL_TO_ID, special_sites

    sg = SPACE_GROUPS[SYMBOL_TO_ID[symbol]]
    site = [s for s in special_sites(sg.sg_id) if s.kind == kind][0]
    crystal = None
    for k in range(5):  # a lone small molecule does not always densify to the target: retry
        crystal = pack(sg, [Placement(molecule, site)], np.random.default_rng(seed + k), contact=0.85,
                       max_excess=0.3)
        if crystal is not None:
            break
    assert crystal is not None
    return sg, crystal, asu_atoms(crystal)


def test_molecules_on_inversion_centre_and_two_fold_axis():
    from xdxd_cctbx.dataset import molecules as mols
    from xdxd_cctbx.dataset.shards import CrystalRecord, to_xray_structure
    from xdxd_cctbx.dataset.validation import check_structure

    pf6 = mols.polyhedron_ion("P", "F", 1.59, "octahedral", "F[P-](F)(F)(F)(F)F", -1)
    assert pf6.symmetry == "inversion"
    water = mols.small_molecule("O", np.random.default_rng(1), "solvent")
    assert water.symmetry == "2-fold"
    for mol, symbol, kind, n_asu in ((pf6, "P 1 21/c 1", "inversion", 4), (water, "C 1 2/c 1", "2-fold", 2)):
        sg, crystal, (z, frac, mol_id, mult, special) = _pack_on_site(mol, symbol, kind)
        assert len(z) == n_asu and special.sum() == 1
        rec = CrystalRecord(np.array(crystal.cell), sg.sg_id, z, frac, np.full(len(z), 0.03), mol_id, mult,
                            special, mol.smiles, "test", crystal.min_contact_ratio, crystal.target_volume)
        xs = to_xray_structure(rec)
        assert [sc.multiplicity() for sc in xs.scatterers()] == list(mult)
        assert xs.expand_to_p1().scatterers().size() == mult.sum()
        check = check_structure(xs)
        assert check.special_positions
        assert check.min_contact_ratio >= 0.8 - 1e-3


@pytest.mark.skipif(not HAVE_MOSES, reason="MOSES SMILES not installed (pip install --no-deps molsets)")
def test_tiny_build_is_valid_deterministic_and_resumable(tmp_path):
    from xdxd_cctbx.dataset.builder import BuildParams, build_dataset
    from xdxd_cctbx.dataset.shards import list_shards, read_shard, shard_path, to_xray_structure, write_shard
    from xdxd_cctbx.dataset.validation import check_structure

    params = BuildParams(n_structures=12, shard_size=4, seed=3, nproc=1, moses_pool=400, qm9_pool=200,
                         weights=dict(organic=0.2, qm9=0.3, salt=0.1, complex=0.35, organic_heavy=0.05),
                         special_position=1.0, conformers_per_molecule=2)
    out = str(tmp_path / "ds")
    summary = build_dataset(params, out)
    assert summary["built"] == 12 and len(list_shards(out)) == 3
    records = [r for p in list_shards(out) for r in read_shard(p)]
    assert len(records) == 12
    n_special = 0
    for r in records:
        xs = to_xray_structure(r)
        assert [sc.multiplicity() for sc in xs.scatterers()] == list(r.site_mult)
        check = check_structure(xs)
        assert check.min_contact_ratio >= 0.8 - 1e-3, (r.smiles, check.min_contact_ratio)
        assert abs(check.min_contact_ratio - r.min_contact) < 0.01
        assert 12.0 < check.volume_per_non_h < 40.0, (r.smiles, check.volume_per_non_h)
        assert check.special_positions == bool(r.special.any())
        n_special += bool(r.special.any())
        assert r.smiles and r.recipe in ("organic", "organic_heavy", "qm9", "salt", "complex")
    # round trip
    first = shard_path(out, 0)
    write_shard(str(tmp_path / "copy.npz"), read_shard(first), {})
    for a, b in zip(read_shard(first), read_shard(str(tmp_path / "copy.npz"))):
        assert np.array_equal(a.z, b.z) and np.allclose(a.frac, b.frac) and a.smiles == b.smiles
    # resumable: nothing to do; deterministic: a deleted shard comes back identical
    assert build_dataset(params, out)["built"] == 0
    before = read_shard(shard_path(out, 1))
    os.remove(shard_path(out, 1))
    assert build_dataset(params, out)["built"] == 4
    after = read_shard(shard_path(out, 1))
    for a, b in zip(before, after):
        assert np.array_equal(a.z, b.z) and np.array_equal(a.frac, b.frac) and a.smiles == b.smiles
        assert np.array_equal(a.cell, b.cell) and a.sg_id == b.sg_id


def test_phil_defaults_match_build_params():
    import iotbx.phil

    from xdxd_cctbx.dataset.builder import BuildParams
    from xdxd_cctbx.phil.build_dataset import master_phil_str

    params = iotbx.phil.parse(master_phil_str, process_includes=True).extract()
    assert BuildParams.from_phil(params.dataset) == BuildParams()
    assert params.output.prefix == "dataset"
