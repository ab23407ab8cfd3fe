"""xdxd.solve: solve and refine a small-molecule structure from X-ray data."""
from __future__ import annotations

import xdxd_cctbx  # noqa: F401  (first: owns the boost.python -> torch -> cctbx order)
from libtbx.program_template import ProgramTemplate

from xdxd_cctbx.command_line._program_runner import cif_is_reflections, route_positional_files, run_console_program
from xdxd_cctbx.phil.solve import master_phil_str


class Program(ProgramTemplate):
    description = """
Solve a small-molecule crystal structure and refine it (smtbx least squares,
restrained at low resolution). Writes PREFIX.cif, PREFIX.res and PREFIX.json.

Usage examples:
  xdxd.solve data.hkl model.ins d_min=1.0 method=charge_flipping output.prefix=mystructure
  xdxd.solve data.hkl unit_cell="10 11 12 90 100 90" space_group=P21/c composition="C12 H22 O11" z=4
  xdxd.solve data.cif model.res
"""
    datatypes = ["phil"]
    master_phil_str = master_phil_str

    @staticmethod
    def custom_process_arguments(parser):
        route_positional_files(parser, {
            ".hkl": "input.reflections", ".mtz": "input.reflections", ".fcf": "input.reflections",
            ".ins": "input.model", ".res": "input.model",
            ".cif": lambda extract, path: ("input.reflections" if extract.input.reflections is None
                                           and cif_is_reflections(path) else "input.model"),
        })

    def validate(self):
        from libtbx.utils import Sorry

        if self.params.input.reflections is None:
            raise Sorry("no reflection file given: name a .hkl, .cif or .mtz file")
        if self.params.input.model is None and (self.params.input.unit_cell is None or self.params.input.space_group is None):
            raise Sorry("no cell or space group: give a model file (.ins/.res/.cif) or unit_cell= and space_group=")
        if self.params.data.d_min is not None and self.params.data.d_min <= 0:
            raise Sorry(f"d_min={self.params.data.d_min} is not positive: give the resolution cut-off in Angstrom")
        from xdxd_cctbx.io.solution_outputs import check_output_paths

        check_output_paths(self.output_prefix(), overwrite=self.params.output.overwrite)

    def output_prefix(self) -> str:
        import os

        prefix = self.params.output.prefix
        if not prefix:
            prefix = os.path.splitext(os.path.basename(self.params.input.reflections))[0] + "_xdxd"
        return prefix

    def run(self):
        from xdxd_cctbx import solve
        from xdxd_cctbx.io.inputs import load_inputs
        from xdxd_cctbx.io.solution_outputs import write_solution_files

        inputs = load_inputs(self.params.input)
        print(f"Reflections: {self.params.input.reflections} ({inputs.reflections.size()} measurements)", file=self.logger)
        print(f"Symmetry: {inputs.crystal_symmetry.space_group_info()}, cell {inputs.crystal_symmetry.unit_cell()}", file=self.logger)
        self.result = solve(inputs.reflections, inputs.unit_cell_content, self.params)
        paths = write_solution_files(self.output_prefix(), self.result, overwrite=self.params.output.overwrite,
                                     wavelength=inputs.wavelength)
        r = self.result.refinement
        print(f"\nChosen solution: {self.result.method}, {self.result.xray_structure.scatterers().size()} atoms, "
              f"R1 {r.r1:.4f}, wR2 {r.wr2:.4f}, GooF {r.goof:.3f}, {self.result.seconds:.1f} s", file=self.logger)
        for path in paths:
            print(f"  wrote {path}", file=self.logger)

    def get_results(self):
        return getattr(self, "result", None)


def run(args=None) -> int:
    return run_console_program(Program, args)


if __name__ == "__main__":
    import sys

    sys.exit(run())
