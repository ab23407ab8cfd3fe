"""xdxd.compare: match a solution's atoms to a reference (origin shifts, enantiomorph)."""
from __future__ import annotations

import xdxd_cctbx  # noqa: F401  (first: owns the boost.python -> torch -> cctbx order)
from libtbx.program_template import ProgramTemplate

from xdxd_cctbx.command_line._program_runner import run_console_program
from xdxd_cctbx.phil.compare import master_phil_str


class Program(ProgramTemplate):
    description = """
Compare a solution with a reference model: non-H atoms matched within a tolerance
(0.5 A) after the best allowed origin shift and enantiomorph (cctbx emma).
Prints a summary and one JSON line; exit status 0.

Usage examples:
  xdxd.compare reference.cif solution.cif
  xdxd.compare reference.cif:BLOCK solution.res tolerance=0.3
"""
    datatypes = ["phil"]
    master_phil_str = master_phil_str

    @staticmethod
    def custom_process_arguments(parser):
        extract = parser.working_phil.extract()
        files = list(parser.namespace.files or []) + list(getattr(parser.namespace, "unknown", []) or [])
        for path in files:
            if extract.input.reference is None:
                extract.input.reference = path
            elif extract.input.solution is None:
                extract.input.solution = path
            else:
                from libtbx.utils import Sorry

                raise Sorry(f"more than two models given ({path}): give a reference and a solution")
        parser.namespace.files = []
        parser.working_phil = parser.master_phil.format(python_object=extract)

    def validate(self):
        from libtbx.utils import Sorry

        if self.params.input.reference is None or self.params.input.solution is None:
            raise Sorry("give two models: xdxd.compare REFERENCE.cif SOLUTION.cif")

    def run(self):
        import json

        from xdxd_cctbx.benchmark.compare import compare_model_files

        comparison = compare_model_files(
            self.params.input.reference, self.params.input.solution, tolerance=self.params.tolerance,
            reference_block=self.params.input.reference_block, solution_block=self.params.input.solution_block)
        print(repr(comparison), file=self.logger)
        print(json.dumps(comparison.as_dict()), file=self.logger)
        self.result = comparison

    def get_results(self):
        return getattr(self, "result", None)


def run(args=None) -> int:
    return run_console_program(Program, args)


if __name__ == "__main__":
    import sys

    sys.exit(run())
