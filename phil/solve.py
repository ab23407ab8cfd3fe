"""Master PHIL of xdxd.solve, assembled from the library's own scopes."""

master_phil_str = """
include scope xdxd_cctbx.io.inputs.master_phil_str
include scope xdxd_cctbx.solver.master_phil_str
"""
