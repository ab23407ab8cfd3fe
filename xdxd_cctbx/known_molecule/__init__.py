"""Known-molecule mode: place molecules the user names (SMILES or files) against the data.

The strongest mode at low resolution: with the molecule's graph known, a
direct-space search over rigid-body poses of a conformer ensemble (plus torsion
refinement) solves structures from 2.0 A data where direct methods fail.

Public API::

    from xdxd_cctbx.known_molecule import place_molecules, master_phil_str
    candidates = place_molecules(f_obs, ["CC(=O)Nc1ccc(O)cc1"], unit_cell_content, params)
    best = candidates[0]      # .xray_structure, .score, .correlation, .r1, .molecules

See :mod:`.search` for the schedule and :mod:`.phil_scope` for the parameters.
"""
from xdxd_cctbx.known_molecule.molecules import MoleculeSpec, parse_molecule, parse_molecules
from xdxd_cctbx.known_molecule.phil_scope import default_params, master_phil_str
from xdxd_cctbx.known_molecule.search import PlacedCandidate, place_molecules

__all__ = [
    "MoleculeSpec",
    "PlacedCandidate",
    "default_params",
    "master_phil_str",
    "parse_molecule",
    "parse_molecules",
    "place_molecules",
]
