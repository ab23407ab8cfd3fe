"""The ``known_molecule`` PHIL scope: the search's parameters and their defaults.

Included by ``xdxd_cctbx.solver`` (``xdxd.solve``, ``xdxd.benchmark``); the
schedule the parameters steer is described in :mod:`.search`.
"""
from __future__ import annotations

master_phil_str = """
known_molecule
  .help = "Known-molecule mode: place given molecules (SMILES or files) against the data"
{
  molecule = None
    .type = str
    .multiple = True
    .help = "SMILES string or .mol/.sdf/.xyz file of one molecule or ion; repeat for each \
             distinct one. Prefix N* for N copies per asymmetric unit (e.g. 0.5*SMILES)"
  copies = None
    .type = floats
    .help = "Copies per asymmetric unit, one per molecule (default: from UNIT, else 1). \
             0.5 = on an inversion centre, 2-fold axis or mirror"
  n_conformers = 16
    .type = int(value_min=1)
    .help = "Conformers per molecule (ETKDG seeds, force-field optimised and not)"
  n_starts = 256
    .type = int(value_min=1)
    .help = "Most starting poses per stage or round (restarts: twice as many); fewer when max_seconds \
             requires (the batch sizes follow the measured speed)"
  n_rounds = 8
    .type = int(value_min=1)
    .help = "Search rounds (conformer swaps and re-randomised bodies after the first)"
  max_restarts = 4
    .type = int(value_min=0)
    .help = "Fresh searches (new seed, twice the starts) after one that ends early without a \
             converged fit, while time is left"
  confirm = True
    .type = bool
    .help = "After an attempt that converges early, one more from another seed when as much time \
             is left; the pools are merged, so a fit that converged to a wrong local minimum is \
             replaced where the second attempt fits better"
  n_steps = 100
    .type = int(value_min=1)
    .help = "Adam steps of the rigid-body stage"
  torsion_steps = 100
    .type = int(value_min=0)
    .help = "Adam steps of the torsion stage (0: rigid conformers only)"
  smoothing_b = 100
    .type = float(value_min=0)
    .help = "B (A^2) of a low-resolution weighting of the fit at the start of every optimisation: \
             reflections weigh exp(-B d*^2/4), fading to equal weights over the first half of the \
             steps (a wider basin of convergence). 0: off"
  keep_fraction = 0.5
    .type = float(value_min=0.05, value_max=1)
    .help = "Fraction of the starts of a stage or round optimised to the end: the others, the worst \
             after 40 % of the steps, stop there (most starts lead nowhere; the time goes to more \
             starts). 1: all"
  flexible_fraction = 0.25
    .type = float(value_min=0, value_max=0.5)
    .help = "Fraction of a round's starts with random torsions, and as many again with one to three \
             torsions of the best poses turned; both optimised with torsions free throughout"
  rotation_function = True
    .type = bool
    .help = "Seed the search with rotation- and translation-function poses (molecular replacement)"
  rf_orientations = 1500
    .type = int(value_min=10)
    .help = "Orientations per conformer scored by the rotation function"
  n_elite = 24
    .type = int(value_min=1)
    .help = "Distinct best poses kept between rounds"
  clash_weight = 1.0
    .type = float(value_min=0)
  site_weight = 1.0
    .type = float(value_min=0)
    .help = "Weight, within the clash term, of how far a body on a special site is from that site's \
             symmetry (squared distances in A^2)"
  include_hydrogens = False
    .type = bool
    .help = "Use the conformers' hydrogen atoms in the structure factors"
  polish_steps = 150
    .type = int(value_min=0)
    .help = "Adam steps moving single atoms of the best poses (restrained by the molecule's geometry)"
  n_candidates = 5
    .type = int(value_min=1)
  refine = True
    .type = bool
    .help = "Restrained least-squares refinement of the best candidates (restraints from the molecule)"
  n_refine = 5
    .type = int(value_min=0)
    .help = "Candidates refined; they are re-ranked by refined R1"
  seed = 0
    .type = int
  search_d_min = 2.0
    .type = float(value_min=0)
    .help = "Resolution (A) of the data the placement search fits: finer data are left out of \
             the search (faster steps, a smoother fit) and used by the atom-level polish and \
             the refinement. 0: all data"
  max_seconds = 600
    .type = float
    .help = "Time limit of the search (the best so far is returned), kept by the search clock"
  clock = *work wall
    .type = choice
    .help = "The search clock. work: each optimisation step is charged its time on the reference \
             machine (2 CPU cores), so a run's decisions and result do not depend on the machine's \
             speed or load (a run repeated on a busy machine gives the same result); wall: the \
             wall clock"
  n_threads = 1
    .type = int(value_min=0)
    .help = "torch threads during the search (0: leave torch's setting). The batched tensors \
             are small: one thread is as fast and far better on a busy machine"
}
"""


def default_params():
    """The extracted ``known_molecule`` scope with default values."""
    import libtbx.phil

    return libtbx.phil.parse(master_phil_str).extract().known_molecule
