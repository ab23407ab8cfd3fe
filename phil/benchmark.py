"""Master PHIL of xdxd.benchmark: the benchmark's own choices plus the solver's scopes."""

master_phil_str = """
set = None
  .type = path
  .help = "Benchmark set: a folder of CIF models (optionally with MANIFEST.json), \
           or a folder of measured data sets (subfolders with an .hkl and an .ins/.res)"
d_min = 1.0 1.5 2.0
  .type = strings
  .help = "Resolutions (Angstrom), e.g. d_min=1.0,1.5,2.0. 'full' (or 0): the measured \
           data's own limit"
methods = charge_flipping
  .type = strings
  .help = "Methods passed to solve(), e.g. methods=charge_flipping,known_molecule \
           (known_molecule needs molecules=TABLE.json)"
molecules = None
  .type = path
  .help = "JSON table: structure name -> list of molecules (SMILES, N*SMILES for N copies \
           per asymmetric unit). Needed by methods=known_molecule"
count = None
  .type = int(value_min=1)
  .help = "Only the first COUNT structures of the set"
structures = None
  .type = strings
  .help = "Only these structures of the set, by name (e.g. structures=1004000,2101915)"
nproc = 1
  .type = int(value_min=1)
  .help = "Worker processes (one torch thread each)"
seed = 1
  .type = int
  .help = "Seed of the simulated data's noise (the solver's seed is solver.seed)"
noise = True
  .type = bool
  .help = "Simulate counting-statistics noise"
timeout = 600
  .type = float(value_min=0)
  .help = "Time limit per task (seconds), 0 for none: a task past it counts as failed"
start_method = *spawn fork
  .type = choice
  .help = "How worker processes start (nproc > 1)"
plots = True
  .type = bool
  .help = "Write PNG plots (needs matplotlib)"
verbose = False
  .type = bool
  .help = "Print the solver's log (else one line per finished task)"
solver
  .help = "Options of solve(), as in xdxd.solve"
{
  include scope xdxd_cctbx.solver.master_phil_str
}
"""
