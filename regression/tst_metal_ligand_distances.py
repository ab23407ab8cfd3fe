"""Metal-ligand distances: the ensemble offers scaled copies, the restraints keep the one the data chose."""
import types

import numpy as np
import pytest
import torch

import xdxd_cctbx  # noqa: F401  (import order)
from xdxd_cctbx.known_molecule import parse_molecule

# tetrahedral Zn: two chlorides, two ammines (radii sums Zn-Cl 2.24 A, Zn-N 1.93 A)
ZINC = "Cl[Zn](Cl)(<-[NH3])<-[NH3]"


def _metal_distances(cs):
    """(conformers, donors) M-L distances of a conformer set with one metal."""
    zn = cs.elements.index("Zn")
    donors = [a if b == zn else b for a, b, _ in cs.bonds if zn in (a, b)]
    x = cs.coords
    return np.linalg.norm(x[:, donors] - x[:, [zn]], axis=-1), [cs.elements[d] for d in donors]


def test_ensemble_carries_copies_with_scaled_metal_ligand_distances():
    from rdkit import Chem

    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.metal_geometry import ML_SCALES

    cs = embed_ensemble(parse_molecule(ZINC), n_conformers=4, seed=0, max_seconds=20)[0]
    d, donors = _metal_distances(cs)
    table = Chem.GetPeriodicTable()
    radii = np.array([table.GetRcovalent("Zn") + table.GetRcovalent(e) for e in donors])
    plain = [c for c, o in enumerate(cs.origin) if o == "metal"]
    scaled = [c for c, o in enumerate(cs.origin) if o == "metal-scaled"]
    # one copy per scale and per polyhedron (tetrahedral, square planar) of the first conformer
    assert plain and len(scaled) == 2 * len(ML_SCALES)
    cl = [k for k, e in enumerate(donors) if e == "Cl"]
    n = [k for k, e in enumerate(donors) if e == "N"]
    np.testing.assert_allclose(d[plain[0]][cl], radii[cl], atol=0.02)
    ratios = sorted(float(np.mean(d[c][cl] / radii[cl])) for c in scaled)
    np.testing.assert_allclose(ratios, sorted(2 * list(ML_SCALES)), atol=0.01)
    # the ammines' hydrogens hold Zn-N off its target a little; the scaled copies still order
    short = [c for c in scaled if d[c][cl].mean() < d[plain[0]][cl].mean()]
    long = [c for c in scaled if d[c][cl].mean() > d[plain[0]][cl].mean()]
    assert max(d[c][n].mean() for c in short) < d[plain[0]][n].mean() < min(d[c][n].mean() for c in long)


def test_metal_restraints_take_the_poses_own_distances():
    """Polish: pairs with a metal keep the pose's length, the others the ensemble's."""
    from xdxd_cctbx.known_molecule.polish import pose_ideals

    problem = types.SimpleNamespace(orth=torch.eye(3, dtype=torch.float64))
    x = torch.tensor([[[0.0, 0, 0], [2.2, 0, 0], [3.7, 0, 0]]], dtype=torch.float64)  # Zn, N, C
    pairs = torch.tensor([[0, 1], [1, 2]])
    ideal = torch.tensor([1.93, 1.47], dtype=torch.float64)
    out = pose_ideals(problem, x, pairs, ideal, torch.tensor([True, False]))
    np.testing.assert_allclose(out.numpy(), [[2.2, 1.47]])


def test_refinement_restraints_of_a_metal_bond_follow_the_pose():
    """restraint_pairs: the Zn-N target is the pose's 2.45 A, not the radii sum 1.93 A."""
    from cctbx import sgtbx, uctbx

    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.structures import restraint_pairs

    cs = embed_ensemble(parse_molecule(ZINC), n_conformers=2, seed=0, max_seconds=20)[0]
    cell = uctbx.unit_cell((20, 20, 20, 90, 90, 90))
    zn = cs.elements.index("Zn")
    x = cs.coords[0].copy()
    for a, b, _ in cs.bonds:  # stretch the Zn-L bonds of the pose
        if zn in (a, b):
            d = b if a == zn else a
            u = x[d] - x[zn]
            x[d] = x[zn] + u / np.linalg.norm(u) * (2.45 if cs.elements[d] == "N" else 2.70)
    frac = x / 20.0 + 0.5
    body = types.SimpleNamespace(conformers=cs)
    problem = types.SimpleNamespace(bodies=[body], offsets=[0, cs.n_atoms], unit_cell=cell)
    unit = sgtbx.rt_mx()
    maps = [{j: (j, unit) for j in range(cs.n_atoms)}]
    targets = {(min(i, j), max(i, j)): ideal for i, j, _, ideal, _ in restraint_pairs(problem, maps, frac)}
    for a, b, ensemble_ideal in cs.bonds:
        if zn in (a, b):
            d = b if a == zn else a
            want = 2.45 if cs.elements[d] == "N" else 2.70
            assert abs(targets[(min(a, b), max(a, b))] - want) < 1e-6
            assert abs(ensemble_ideal - want) > 0.1  # the ensemble's own value differs
    unstretched = cs.coords[0] / 20.0 + 0.5  # the conformer's own pose: its own, radii-based M-L distances
    without = {(min(i, j), max(i, j)): ideal for i, j, _, ideal, _ in restraint_pairs(problem, maps, unstretched)}
    n_dist = next(k for k in without if zn in k and "N" in (cs.elements[k[0]], cs.elements[k[1]]))
    assert abs(without[n_dist] - 2.45) > 0.1


@pytest.mark.parametrize("smiles, centre, bond", [("F[P-](F)(F)(F)(F)F", "P", 1.59),
                                                  ("[O-][Cl+5]([O-])([O-])([O-])([O-])[O-]", "Cl", 1.43)])
def test_hypervalent_ion_is_a_regular_octahedron(smiles, centre, bond):
    """ETKDG gives PF6- F-P-F angles of 30 degrees and a disordered perchlorate's ClO6
    Cl-O from 0.8 to 7 A; the ensemble keeps only octahedra at the typical bond length
    (and its scaled copies)."""
    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.metal_geometry import ML_SCALES

    cs = embed_ensemble(parse_molecule(smiles), n_conformers=4, seed=0, max_seconds=20)[0]
    assert set(cs.origin) == {"metal", "metal-scaled"}
    c = cs.elements.index(centre)
    ligands = [k for k in range(len(cs.elements)) if k != c]
    v = cs.coords[:, ligands] - cs.coords[:, [c]]
    d = np.linalg.norm(v, axis=-1)
    plain = [k for k, o in enumerate(cs.origin) if o == "metal"]
    np.testing.assert_allclose(d[plain], bond, atol=0.01)
    scales = sorted(float(d[k].mean() / bond) for k, o in enumerate(cs.origin) if o == "metal-scaled")
    np.testing.assert_allclose(scales, sorted(ML_SCALES), atol=0.01)
    cos = np.einsum("cid,cjd->cij", v, v) / (d[:, :, None] * d[:, None, :])
    angles = np.degrees(np.arccos(np.clip(cos[:, np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]], -1, 1)))
    assert np.all((np.abs(angles - 90) < 2) | (angles > 178))


def test_force_field_does_not_undo_the_idealised_centre():
    """UFF knows Hg(SiMe3)2; its optimisation must leave the idealised copies' Hg-Si
    at the radii sum (and the scaled copies scaled), not pull them all to its own length."""
    from rdkit import Chem

    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.metal_geometry import ML_SCALES

    cs = embed_ensemble(parse_molecule("C[Si](C)(C)[Hg][Si](C)(C)C"), n_conformers=4, seed=0, max_seconds=20)[0]
    hg = cs.elements.index("Hg")
    si = [k for k, e in enumerate(cs.elements) if e == "Si"]
    d = np.linalg.norm(cs.coords[:, si] - cs.coords[:, [hg]], axis=-1).mean(1)
    radii = Chem.GetPeriodicTable().GetRcovalent("Hg") + Chem.GetPeriodicTable().GetRcovalent("Si")
    np.testing.assert_allclose([d[k] for k, o in enumerate(cs.origin) if o == "metal"], radii, atol=0.02)
    scaled = sorted(float(d[k] / radii) for k, o in enumerate(cs.origin) if o == "metal-scaled")
    np.testing.assert_allclose(scaled, sorted(ML_SCALES), atol=0.02)


@pytest.mark.parametrize("smiles, n_sites", [("F[P-](F)(F)(F)(F)F", 6), ("F[Si-2](F)(F)(F)(F)F", 6),
                                             ("F[P](F)(F)(F)F", 5), ("F[B-](F)(F)F", None),
                                             ("[O-][Cl+3]([O-])([O-])[O-]", None), ("CS(F)(F)(F)(F)F", None)])
def test_hypervalent_centres_have_only_terminal_ligands(smiles, n_sites):
    """Five or six terminal ligands make a centre idealised; BF4-, ClO4- (ETKDG embeds them
    well) and an aryl-SF5-like S with a carbon neighbour are left alone."""
    from xdxd_cctbx.known_molecule.metal_geometry import hypervalent_sites

    mol = parse_molecule(smiles).mol
    found = [s for s in (hypervalent_sites(mol, a.GetIdx()) for a in mol.GetAtoms()) if s is not None]
    assert [len(s) for s in found] == ([] if n_sites is None else [n_sites])


# a [2Fe-2S] core with an Fe-Fe bond (ring closure 1): ETKDG leaves Fe-Fe and Fe-S far from real lengths
FE2S2 = "Cl[Fe]1(Cl)2[S][Fe]1(Cl)(Cl)[S]2"


def test_metal_cluster_bonds_take_metallic_and_covalent_radii():
    """Conformers of a cluster: M-M at the metallic radii sum, M-L at the covalent one, scaled copies too."""
    from rdkit import Chem

    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.metal_geometry import METALLIC_RADII, ML_SCALES

    cs = embed_ensemble(parse_molecule(FE2S2), n_conformers=4, seed=0, max_seconds=20)[0]
    table = Chem.GetPeriodicTable()
    target = {("Fe", "Fe"): 2 * METALLIC_RADII["Fe"],
              ("Fe", "S"): table.GetRcovalent("Fe") + table.GetRcovalent("S"),
              ("Cl", "Fe"): table.GetRcovalent("Fe") + table.GetRcovalent("Cl")}
    pairs = [(a, b, target[tuple(sorted((cs.elements[a], cs.elements[b])))]) for a, b, _ in cs.bonds]
    ratios = {}
    for c, origin in enumerate(cs.origin):
        if origin.startswith("metal"):
            r = np.array([np.linalg.norm(cs.coords[c][a] - cs.coords[c][b]) / t for a, b, t in pairs])
            np.testing.assert_allclose(r, r.mean(), atol=0.02)  # every bond at the same scale of its target
            ratios.setdefault(origin, []).append(round(float(r.mean()), 2))
    assert ratios["metal"] and set(ratios["metal"]) == {1.0}
    assert sorted(ratios["metal-scaled"]) == sorted(ML_SCALES)


# Co2(CO)6 on a but-2-yne: a Co2C2 tetrahedron (dative bonds as the reference tools write them)
CO2_ALKYNE = ("[O+]#[C-]->[Co]12(<-[C-]#[O+])(<-[C-]#[O+])<-[C]3(C)#[C]->1(C)->[Co]<-32(<-[C-]#[O+])"
              "(<-[C-]#[O+])<-[C-]#[O+]")


def test_a_cluster_etkdg_cannot_embed_stays_one_body():
    """ETKDG fails on the Co2C2 core; plain distance geometry embeds it, and the cluster relaxation
    sets Co-Co at the metallic radii sum: one rigid body, not sixteen fragments."""
    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.metal_geometry import METALLIC_RADII

    sets = embed_ensemble(parse_molecule(CO2_ALKYNE), n_conformers=2, seed=0, max_seconds=10)
    assert len(sets) == 1
    cs = sets[0]
    co = [k for k, e in enumerate(cs.elements) if e == "Co"]
    metal = cs.origin.index("metal")
    assert abs(np.linalg.norm(cs.coords[metal][co[0]] - cs.coords[metal][co[1]]) - 2 * METALLIC_RADII["Co"]) < 0.03
