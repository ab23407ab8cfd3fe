"""Master PHIL of xdxd.compare."""

master_phil_str = """
input {
  reference = None
    .type = path
    .help = "Reference model (CIF or SHELX .res/.ins)"
  reference_block = None
    .type = str
  solution = None
    .type = path
    .help = "Solution model (CIF or SHELX .res/.ins)"
  solution_block = None
    .type = str
}
tolerance = 0.5
  .type = float(value_min=0.01)
  .help = "Atoms match when within this distance (Angstrom)"
"""
