"""Organometallics RDKit cannot embed whole are assembled around their metal, hapto rings included."""
import numpy as np

import xdxd_cctbx  # noqa: F401  (import order)
from xdxd_cctbx.known_molecule import parse_molecule

# CpRu(PMe3)2(MeCN)+: ETKDG cannot embed a Ru with eight neighbours
PIANO_STOOL = "CC#[N]->[Ru+]1234([CH]5[CH]->1=[CH]->2[CH]->3=[CH]->45)(<-[P](C)(C)C)<-[P](C)(C)C"
# Co(NH3)4 with a chelating carbonate drawn with a Co-C bond, as connectivity from distances gives it
CARBONATE = "[NH3]->[Co+]12(<-[NH3])(<-[NH3])(<-[NH3])[O][C]->1(=O)[O]2"


def _angle(a, b):
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def test_piano_stool_is_one_body_with_the_ring_on_the_metal():
    from rdkit import Chem

    from xdxd_cctbx.known_molecule.conformers import embed_ensemble

    sets = embed_ensemble(parse_molecule(PIANO_STOOL), n_conformers=6, seed=0, max_seconds=20)
    assert len(sets) == 1  # not split into ligand bodies
    cs = sets[0]
    assert "assembled" in cs.origin and "metal" in cs.origin
    x = cs.coords[cs.origin.index("metal")]
    el = cs.elements
    ru = el.index("Ru")
    bonded = {a if b == ru else b for a, b, _ in cs.bonds if ru in (a, b)}
    ring = sorted(i for i in bonded if el[i] == "C")
    p1, p2 = sorted(i for i in bonded if el[i] == "P")
    n = next(i for i in bonded if el[i] == "N")
    assert len(ring) == 5
    table = Chem.GetPeriodicTable()
    d_ring = np.linalg.norm(x[ring] - x[ru], axis=1)
    np.testing.assert_allclose(d_ring, table.GetRcovalent("Ru") + table.GetRcovalent("C"), atol=0.05)
    centre = x[ring].mean(0)
    normal = np.linalg.svd(x[ring] - centre)[2][-1]
    assert min(_angle(normal, centre - x[ru]), _angle(-normal, centre - x[ru])) < 5.0  # ring across the axis
    # octahedral piano stool: legs at right angles, the ring opposite their face
    for a, b in ((p1, p2), (p1, n), (p2, n)):
        assert 80 < _angle(x[a] - x[ru], x[b] - x[ru]) < 100
    for leg in (p1, p2, n):
        assert 115 < _angle(centre - x[ru], x[leg] - x[ru]) < 135
    # the methyls point away from the metal
    assert all(np.linalg.norm(x[i] - x[ru]) > 3.0 for i, e in enumerate(el) if e == "C" and i not in ring
               and any(a in (p1, p2) or b in (p1, p2) for a, b, _ in cs.bonds if i in (a, b)))


def test_chelating_carbonate_counts_its_oxygens_as_donors():
    from xdxd_cctbx.known_molecule.metal_geometry import coordination_sites

    mol = parse_molecule(CARBONATE).mol
    co = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "Co")
    sites = coordination_sites(mol, co)
    assert sorted(mol.GetAtomWithIdx(s[0]).GetSymbol() for s in sites) == ["N"] * 4 + ["O"] * 2
    assert all(len(s) == 1 for s in sites)
