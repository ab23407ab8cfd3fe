"""Synthetic training crystals of real molecules (issue 4): molecules, packing, shards, statistics.

- :mod:`.molecules`: MOSES/ZINC SMILES and QM9 geometries, RDKit conformers, ions, solvents
- :mod:`.metal_complexes`: metal centres with ligands in plausible coordination geometry
- :mod:`.space_groups`: the space-group table (xyz operations, frequencies, special sites)
- :mod:`.packing`: the numpy packer (no clashes, target density, special positions)
- :mod:`.shards`: npz shards (write, read, to cctbx ``xray.structure``)
- :mod:`.builder`: the parallel, resumable, seeded build and its PHIL scope
- :mod:`.validation`, :mod:`.statistics`: cctbx checks and the comparison with real structures

Only :mod:`.validation` and ``shards.to_xray_structure`` need cctbx; the build needs numpy and RDKit.
"""
from xdxd_cctbx.dataset.builder import master_phil_str  # noqa: F401
