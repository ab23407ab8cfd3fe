"""xdxd.simulate: realistic intensities (.hkl) and a start file (.ins, no atoms) from a model."""
from __future__ import annotations

import xdxd_cctbx  # noqa: F401  (first: owns the boost.python -> torch -> cctbx order)
from libtbx.program_template import ProgramTemplate

from xdxd_cctbx.command_line._program_runner import route_positional_files, run_console_program
from xdxd_cctbx.phil.simulate import master_phil_str


class Program(ProgramTemplate):
    description = """
Simulate single-crystal X-ray intensities from a model: B factors from the model,
counting-statistics noise, scale. Writes PREFIX.hkl (HKLF 4) and PREFIX.ins
(cell, symmetry, SFAC/UNIT, no atoms): the inputs of xdxd.solve.

Usage examples:
  xdxd.simulate structure.cif simulation.d_min=1.5 seed=1 output.prefix=test
  xdxd.simulate structure.res d_min=2.0 noise=False
"""
    datatypes = ["phil"]
    master_phil_str = master_phil_str

    @staticmethod
    def custom_process_arguments(parser):
        route_positional_files(parser, {".cif": "input.model", ".res": "input.model", ".ins": "input.model"})

    def validate(self):
        from libtbx.utils import Sorry

        if self.params.input.model is None:
            raise Sorry("no model given: name a CIF or .res file with atoms")
        s = self.params.simulation
        if s.d_min is None or s.d_min <= 0:
            raise Sorry("simulation.d_min must be a positive resolution in Angstrom, e.g. d_min=1.5")
        if not 0 < s.completeness <= 1:
            raise Sorry(f"completeness={s.completeness} must lie in (0, 1]")

    def output_prefix(self) -> str:
        import os

        return self.params.output.prefix or os.path.splitext(os.path.basename(self.params.input.model))[0] + "_sim"

    def run(self):
        from xdxd_cctbx.data.simulate import simulate_from_model_file

        paths = simulate_from_model_file(
            self.params.input.model, self.output_prefix(), self.params.simulation,
            block=self.params.input.cif_block, hydrogens=self.params.hydrogens,
            overwrite=self.params.output.overwrite)
        for path in paths:
            print(f"  wrote {path}", file=self.logger)
        self.result = paths

    def get_results(self):
        return getattr(self, "result", None)


def run(args=None) -> int:
    return run_console_program(Program, args)


if __name__ == "__main__":
    import sys

    sys.exit(run())
