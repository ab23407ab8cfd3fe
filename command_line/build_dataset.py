"""xdxd.build_dataset: synthetic crystals of real molecules (training data), as npz shards."""
from __future__ import annotations

import xdxd_cctbx  # noqa: F401  (first: owns the boost.python -> torch -> cctbx order)
from libtbx.program_template import ProgramTemplate

from xdxd_cctbx.command_line._program_runner import run_console_program
from xdxd_cctbx.phil.build_dataset import master_phil_str


class Program(ProgramTemplate):
    description = """
Build synthetic crystal structures for training: drug-like molecules (MOSES/ZINC
SMILES, RDKit ETKDG conformers, raw or MMFF-relaxed), small QM9 molecules, organic
salts and metal complexes with counter-ions and solvent, packed without clashes
into the common space groups at realistic density. Writes npz shards to the
folder output.prefix; shards already there are kept (the build resumes).

Needs rdkit, and the data of the PyPI packages molsets and qm9pack
(pip install --no-deps molsets qm9pack).

Usage examples:
  xdxd.build_dataset output.prefix=scratch/dataset n_structures=100000 nproc=2
  xdxd.build_dataset output.prefix=tiny n_structures=20 shard_size=10 seed=1
"""
    datatypes = ["phil"]
    master_phil_str = master_phil_str

    def validate(self):
        from libtbx.utils import Sorry

        d = self.params.dataset
        if d.n_structures is None or d.n_structures < 1:
            raise Sorry("n_structures must be a positive number")
        if d.shard_size is None or d.shard_size < 1:
            raise Sorry("shard_size must be a positive number")
        if d.nproc is None or d.nproc < 1:
            raise Sorry("nproc must be at least 1")
        c = d.composition
        if min(c.organic, c.qm9, c.salt, c.complex, c.organic_heavy) < 0 or \
                c.organic + c.qm9 + c.salt + c.complex + c.organic_heavy <= 0:
            raise Sorry("composition weights must be >= 0 and not all 0")
        if not self.params.output.prefix:
            raise Sorry("give output.prefix (the output folder)")
        try:
            import rdkit  # noqa: F401  (checked before a long build)
        except ImportError:
            raise Sorry("rdkit is needed: pip install rdkit")

    def run(self):
        import time

        from xdxd_cctbx.dataset.builder import BuildParams, build_dataset
        from xdxd_cctbx.dataset.shards import list_shards

        params = BuildParams.from_phil(self.params.dataset)
        t0 = time.time()
        try:
            summary = build_dataset(params, self.params.output.prefix)
        except FileNotFoundError as e:
            from libtbx.utils import Sorry

            raise Sorry(str(e))
        shards = list_shards(self.params.output.prefix)
        import os

        size = sum(os.path.getsize(p) for p in shards)
        print(f"  {len(shards)} shards in {self.params.output.prefix} ({size / 1e6:.1f} MB); "
              f"built {summary['built']} structures in {time.time() - t0:.0f} s", file=self.logger)
        self.result = dict(summary, shards=shards, bytes=size)

    def get_results(self):
        return getattr(self, "result", None)


def run(args=None) -> int:
    return run_console_program(Program, args)


if __name__ == "__main__":
    import sys

    sys.exit(run())
