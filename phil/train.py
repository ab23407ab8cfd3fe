"""Master PHIL of xdxd.train (the trainer's own scope)."""

master_phil_str = """
include scope xdxd_cctbx.training.trainer.master_phil_str
"""
