"""Structures of a set whose molecules have metal-metal bonds (known_molecule/metal_geometry.py's
relax_clusters gives their conformers M-M and M-L bonds of typical lengths).

    python benchmarks/metal_clusters.py SET MOLECULES.json

Prints each such molecule with its metal-metal bonds; nothing else in the set
is touched by the cluster relaxation.
"""
import sys

import xdxd_cctbx  # noqa: F401  (import order)

from xdxd_cctbx.benchmark.molecule_table import read_molecule_table
from xdxd_cctbx.benchmark.sets import discover_structures
from xdxd_cctbx.errors import InputError
from xdxd_cctbx.known_molecule.metal_geometry import cluster_metals
from xdxd_cctbx.known_molecule.molecules import parse_molecules


def main(set_dir: str, table_path: str) -> None:
    table = read_molecule_table(table_path)
    for st in discover_structures(set_dir):
        if st.name not in table:
            continue
        try:
            specs = parse_molecules(table[st.name], None)
        except InputError as e:
            print(f"{st.name}: molecules not usable ({str(e)[:80]}...)")
            continue
        for m, spec in enumerate(specs):
            metals = set(cluster_metals(spec.mol))
            if not metals:
                continue
            bonds = sorted({"-".join(sorted((b.GetBeginAtom().GetSymbol(), b.GetEndAtom().GetSymbol())))
                            for b in spec.mol.GetBonds()
                            if b.GetBeginAtomIdx() in metals and b.GetEndAtomIdx() in metals})
            print(f"{st.name} molecule {m + 1} ({spec.name}): {len(metals)} cluster metals, bonds {', '.join(bonds)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
