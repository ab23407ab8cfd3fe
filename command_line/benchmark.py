"""xdxd.benchmark: match rate of solution methods on a set of structures, by resolution."""
from __future__ import annotations

import xdxd_cctbx  # noqa: F401  (first: owns the boost.python -> torch -> cctbx order)
from libtbx.program_template import ProgramTemplate

from xdxd_cctbx.command_line._program_runner import run_console_program
from xdxd_cctbx.phil.benchmark import master_phil_str

DEFAULT_PREFIX = "benchmark"


class Program(ProgramTemplate):
    description = """
Benchmark structure solution: for each structure of a set, each d_min and each
method, simulate the data from the reference model (or truncate measured data),
solve as xdxd.solve does, and compare with the reference as xdxd.compare does.
Writes PREFIX.json (results and summary), PREFIX.md (tables), PREFIX_*.png
(plots) and PREFIX.jsonl (one line per task, as they finish).

Usage examples:
  xdxd.benchmark /path/cod_validation d_min=1.0,1.5,2.0 methods=charge_flipping nproc=2 output.prefix=cf
  xdxd.benchmark /path/measured d_min=full,2.0 output.prefix=measured
  xdxd.benchmark /path/cod_validation d_min=2.0 methods=known_molecule molecules=cod_molecules.json nproc=2
  xdxd.benchmark folder_of_cifs count=5 d_min=1.0 solver.charge_flipping.max_attempts=3
"""
    datatypes = ["phil"]
    master_phil_str = master_phil_str

    @staticmethod
    def custom_process_arguments(parser):
        from libtbx.utils import Sorry

        extract = parser.working_phil.extract()
        args = list(parser.namespace.files or []) + list(getattr(parser.namespace, "unknown", []) or [])
        for path in args:
            if extract.set is not None:
                raise Sorry(f"two benchmark sets given ({extract.set} and {path}): give one folder")
            extract.set = path
        parser.namespace.files = []
        if hasattr(parser.namespace, "unknown"):
            parser.namespace.unknown = []
        parser.working_phil = parser.master_phil.format(python_object=extract)

    def validate(self):
        from libtbx.utils import Sorry

        from xdxd_cctbx.benchmark.runner import make_tasks, parse_d_min_values, parse_names
        from xdxd_cctbx.benchmark.sets import discover_structures
        from xdxd_cctbx.solver import METHODS

        p = self.params
        if p.set is None:
            raise Sorry("no benchmark set given: xdxd.benchmark FOLDER d_min=1.0,1.5,2.0")
        self.d_mins = parse_d_min_values(p.d_min or [])
        self.methods = parse_names(p.methods or [])
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise Sorry(f"unknown method '{unknown[0]}': use one of {', '.join(METHODS)}")
        self.structures = discover_structures(p.set, count=p.count, names=parse_names(p.structures or []))
        self.molecule_table = None
        if "known_molecule" in self.methods:
            from xdxd_cctbx.benchmark.molecule_table import check_table_covers, read_molecule_table

            if p.molecules is None:
                raise Sorry("methods=known_molecule needs the molecules of each structure: molecules=TABLE.json "
                            "(benchmarks/molecules_of_set.py writes one)")
            self.molecule_table = read_molecule_table(p.molecules)
            check_table_covers(self.molecule_table, self.structures)
        self.tasks = make_tasks(self.structures, self.d_mins, self.methods, seed=p.seed, noise=p.noise,
                                timeout=p.timeout or None)
        if "known_molecule" in self.methods:
            from xdxd_cctbx.benchmark.runner import fit_search_to_timeout

            limit = fit_search_to_timeout(p.solver, p.timeout)
            if limit is not None:
                print(f"known-molecule search limited to {limit:g} s (solver.known_molecule.max_seconds) so that "
                      f"a task fits timeout={p.timeout:g} s", file=self.logger)
        import os

        prefix = self.output_prefix()
        folder = os.path.dirname(os.path.abspath(prefix))
        if not os.path.isdir(folder):
            raise Sorry(f"the output folder {folder} does not exist: create it or change output.prefix")
        if not p.output.overwrite:
            for ext in (".json", ".md", ".jsonl"):
                if os.path.exists(prefix + ext):
                    raise Sorry(f"{prefix + ext} exists: set output.overwrite=True or choose another output.prefix")

    def output_prefix(self) -> str:
        return self.params.output.prefix or DEFAULT_PREFIX

    def run(self):
        import logging

        p = self.params
        levels = {name: logging.getLogger(name).level for name in ("xdxd_cctbx", "xdxd_cctbx.benchmark")}
        if not p.verbose:  # one line per task, not the solver's log
            logging.getLogger("xdxd_cctbx").setLevel(logging.ERROR)
            logging.getLogger("xdxd_cctbx.benchmark").setLevel(logging.INFO)
        try:
            self._run()
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)

    def _run(self):
        import os
        import time

        from xdxd_cctbx.benchmark.report import summarize, write_report
        from xdxd_cctbx.benchmark.runner import d_min_label, run_benchmark

        p = self.params
        prefix = self.output_prefix()
        jsonl = prefix + ".jsonl"
        if os.path.exists(jsonl):
            os.remove(jsonl)
        d_text = ",".join(d_min_label(d) for d in self.d_mins)
        print(f"Benchmark: {len(self.structures)} structures from {p.set}, d_min {d_text}, "
              f"methods {','.join(self.methods)}: {len(self.tasks)} tasks on {p.nproc} process(es)",
              file=self.logger)
        t0 = time.time()
        method_inputs = None
        if self.molecule_table is not None:
            import functools

            from xdxd_cctbx.benchmark.molecule_table import molecules_from_table

            method_inputs = functools.partial(molecules_from_table, self.molecule_table)
        results = run_benchmark(self.tasks, solver_params=p.solver, nproc=p.nproc, jsonl_path=jsonl,
                                method_inputs=method_inputs,
                                start_method=p.start_method)
        wall = time.time() - t0
        summary = summarize(results)
        meta = {"set": os.path.abspath(p.set), "n_structures": len(self.structures), "methods": self.methods,
                "d_min": [d_min_label(d) for d in self.d_mins], "seed": p.seed, "noise": p.noise,
                "nproc": p.nproc, "timeout": p.timeout, "solver_seed": p.solver.seed,
                "known_molecule_max_seconds": p.solver.known_molecule.max_seconds,
                "known_molecule_clock": p.solver.known_molecule.clock,
                "wall_seconds": round(wall, 1), "xdxd_cctbx": xdxd_cctbx.__version__,
                "git_commit": _git_commit()}
        paths = write_report(prefix, results, summary, meta, plots=p.plots)
        print("", file=self.logger)
        for g in summary["by_method_d_min"]:
            print(f"  {g['method']:<18} d_min {g['d_min']:>5}: match {g['n_match']}/{g['n']} "
                  f"({100 * g['match_rate']:.0f} %), strict {g['n_match_strict']}, errors {g['n_error']}, "
                  f"median {g['median_seconds']} s", file=self.logger)
        print(f"Wall time {wall:.0f} s", file=self.logger)
        for path in paths + [jsonl]:
            print(f"  wrote {path}", file=self.logger)
        self.result = {"results": results, "summary": summary, "paths": paths}

    def get_results(self):
        return getattr(self, "result", None)


def _git_commit():
    """The source tree's commit (read-only git call), or None."""
    import os
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=os.path.dirname(os.path.abspath(xdxd_cctbx.__file__)))
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run(args=None) -> int:
    return run_console_program(Program, args)


if __name__ == "__main__":
    import sys

    sys.exit(run())
