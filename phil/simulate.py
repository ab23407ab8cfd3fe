"""Master PHIL of xdxd.simulate."""

master_phil_str = """
input {
  model = None
    .type = path
    .help = "Model with atoms: CIF or SHELX .res/.ins"
  cif_block = None
    .type = str
    .help = "Data block of the CIF (default: the first with a structure)"
}
include scope xdxd_cctbx.data.simulate.master_phil_str
hydrogens = True
  .type = bool
  .help = "Keep the model's hydrogen atoms when computing intensities"
"""
