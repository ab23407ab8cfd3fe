"""Structures of a set whose known-molecule search gets the split check (known_molecule/split_check.py).

    python benchmarks/minor_site_splits.py SET MOLECULES.json

Lists every molecule with a fractional copy that can be shared out over the
space group's special sites in more than one way, and whether it is minor
(scattering power of the molecule's body below placement.MINOR_POWER times
the strongest body's, molecules taken as one body each): minor ones are
tried again after the search (split_check.reconsider_splits); major ones get
a search of their own per plausible other split when the search does not
converge (split_check.major_split_options, since 4d7c9a7).
"""
import json
import sys

import xdxd_cctbx  # noqa: F401  (import order)
from rdkit import Chem

from xdxd_cctbx.benchmark.sets import discover_structures
from xdxd_cctbx.known_molecule.fractional_sites import site_splits
from xdxd_cctbx.known_molecule.molecules import parse_molecules
from xdxd_cctbx.known_molecule.sites import site_orders
from xdxd_cctbx.known_molecule.placement import MINOR_POWER


def main(set_dir: str, table_path: str) -> None:
    table = json.load(open(table_path))
    table = table.get("structures", table)
    periodic = Chem.GetPeriodicTable()
    for st in discover_structures(set_dir):
        entries = table.get(st.name)
        if not entries:
            continue
        entries = [e if isinstance(e, dict) else {"smiles": e, "copies": None} for e in entries]
        specs = parse_molecules([e["smiles"] for e in entries], [e.get("copies") for e in entries])
        group = st.load().reference.space_group_info()
        powers, fractional = [], []
        for m, spec in enumerate(specs):
            z2 = sum(periodic.GetAtomicNumber(a.GetSymbol()) ** 2 for a in spec.mol.GetAtoms() if a.GetAtomicNum() > 1)
            whole, order = spec.split_copies()
            if whole:
                powers.append(z2)
            if order:
                powers.append(z2 / order)
                fractional.append((m, order, z2 / order))
        for m, order, power in fractional:
            splits = site_splits(1.0 / order, site_orders(group))
            if len(splits) > 1:
                kind = "minor" if power < MINOR_POWER * max(powers) else "major"
                print(f"{st.name} {group} molecule {m + 1} 1/{order} splits {splits}: {kind} "
                      f"({power / max(powers):.3f} of the strongest)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
