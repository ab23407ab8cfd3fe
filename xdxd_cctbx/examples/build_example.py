"""Build the example the package ships: a molecular crystal made here, data simulated.

    python -m xdxd_cctbx.examples.build_example   (needs rdkit)

Packs one RDKit conformer of a small drug-like molecule (paracetamol's graph, typed
as a SMILES) into P2_1/c at about 20 A^3 per non-H atom with no short contacts,
then simulates 0.9 A data with noise. Writes example_reference.cif (the answer),
example.ins (cell, symmetry, SFAC/UNIT only) and example.hkl beside this file.
"""
from __future__ import annotations

import os

import xdxd_cctbx  # noqa: F401  (import order)
import numpy as np

SMILES = "CC(=O)Nc1ccc(O)cc1"
SPACE_GROUP = "P 1 21/c 1"
D_MIN = 0.9
SEED = 7


def _molecule_cartesian(seed: int):
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(SMILES))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(mol)
    xyz = mol.GetConformer().GetPositions()
    elements = [a.GetSymbol() for a in mol.GetAtoms()]
    return elements, xyz - xyz.mean(axis=0)


def _random_rotation(rng):
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def pack(seed: int = SEED, max_trials: int = 20000):
    """A clash-free P2_1/c crystal of the molecule (cctbx xray.structure)."""
    from cctbx import crystal, sgtbx, uctbx, xray

    rng = np.random.default_rng(seed)
    elements, xyz = _molecule_cartesian(seed)
    heavy = np.array([e != "H" for e in elements])
    sg = sgtbx.space_group_info(SPACE_GROUP).group()
    volume = 20.0 * heavy.sum() * sg.order_z()
    for _ in range(max_trials):
        beta = rng.uniform(95, 110)
        ratios = rng.uniform(0.6, 1.6, size=3)
        scale = (volume / (np.prod(ratios) * np.sin(np.radians(beta)))) ** (1 / 3)
        a, b, c = ratios * scale
        uc = uctbx.unit_cell((a, b, c, 90, beta, 90))
        frac = np.array(uc.fractionalization_matrix()).reshape(3, 3)
        sites = (frac @ (xyz @ _random_rotation(rng).T).T).T + rng.random(3)
        cs = crystal.symmetry(unit_cell=uc, space_group=sg)
        xs = xray.structure(crystal_symmetry=cs)
        counts: dict = {}
        for e, site in zip(elements, sites):
            counts[e] = counts.get(e, 0) + 1
            u = 0.045 if e == "H" else 0.035
            xs.add_scatterer(xray.scatterer(label=f"{e}{counts[e]}", site=tuple(site), u=u, scattering_type=e))
        from cctbx.array_family import flex

        if (_min_contact(xs, flex.bool(heavy.tolist())) > 3.0
                and _min_contact(xs, flex.bool([True] * len(elements))) > 2.0):
            return xs
    raise RuntimeError("no clash-free packing found")


def _min_contact(xray_structure, selection) -> float:
    """Shortest distance between selected atoms of the molecule and of its symmetry or
    lattice copies (pairs related by the identity operator are intramolecular)."""
    from cctbx import crystal

    xs = xray_structure.select(selection)
    table = crystal.pair_asu_table(xs.asu_mappings(buffer_thickness=4.0))
    table.add_all_pairs(distance_cutoff=4.0)
    best = np.inf
    sites = xs.sites_frac()
    uc = xs.unit_cell()
    for i, pairs in enumerate(table.extract_pair_sym_table()):
        for j, ops in pairs.items():
            for op in ops:
                if op.is_unit_mx():
                    continue
                best = min(best, uc.distance(sites[i], op * sites[j]))
    return best


def main(folder: str | None = None) -> list[str]:
    from xdxd_cctbx.data.simulate import simulate_intensities
    from xdxd_cctbx.io.model_writers import write_atomically, write_cif
    from xdxd_cctbx.io.shelx_files import hklf4_text, ins_header_text, unit_cell_content_of

    folder = folder or os.path.dirname(os.path.abspath(__file__))
    xs = pack()
    i_obs = simulate_intensities(xs, D_MIN, seed=SEED)
    paths = [os.path.join(folder, n) for n in ("example_reference.cif", "example.ins", "example.hkl")]
    write_cif(paths[0], xs, metadata={"method": "reference (built by xdxd_cctbx.examples.build_example)"})
    write_atomically(paths[1], ins_header_text(xs.crystal_symmetry(), unit_cell_content_of(xs),
                                               f"example: {SMILES} in P21/c, simulated to {D_MIN} A"))
    write_atomically(paths[2], hklf4_text(i_obs))
    return paths


if __name__ == "__main__":
    for p in main():
        print("wrote", p)
