"""The clock the placement search keeps time by.

``wall``: seconds of the wall clock. Batch sizes, restarts, the split checks and
the time limit then depend on how fast the machine is and how busy it is: two
runs of the same input can differ.

``work``: every optimisation step is charged the seconds it takes on the
reference machine (:func:`step_seconds`), and nothing else advances the clock.
The search's decisions then depend only on its input and seed, not on the
machine's speed or load: a run repeated on a busy machine gives the same result,
and ``max_seconds`` means seconds of the reference machine. Conformer embedding,
the rotation and translation functions, the polish and the refinement are not
charged (they are a small part of a search; their wall time is logged).
Conformer embedding keeps a wall-clock safety limit of its own, which binds only
for molecules RDKit struggles with.

The search code asks :func:`now` and optimisations call :func:`charge_steps`;
:func:`using` picks the clock for a block (the wall clock outside one).
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Iterator, Tuple

CLOCKS = ("work", "wall")

# Seconds of one Adam step of a batch of poses on the reference machine:
#   sum(STEP_COSTS * step_terms) + n_poses * sum(POSE_COSTS * pose_terms)   (size_terms).
# Reference: this project's 2-core build machine running two searches at once (as
# xdxd.benchmark nproc=2 does), one torch thread each; process CPU time, fitted by
# benchmarks/search_clock_calibration.py.
# Fitted on 16 structures of cod_validation at 2.0 A (64 timings): the model is within 0.8-1.2 of the
# measured time for 58 of them, 0.44 at worst (2006032, 16 poses: it runs slower than charged).
STEP_COSTS = (5.03e-3, 0.0, 6.81e-4)  # per step; per body; per free torsion
POSE_COSTS = (8.39e-6, 1.36e-8, 3.20e-8, 0.0, 7.88e-6)  # per pose; fit term, clash term, atom, free torsion


def size_terms(problem, torsions: bool) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """What one optimisation step of a placement problem costs grow with:
    per step (1, bodies, free torsions) and per pose (1, atoms x symmetry representatives x
    reflections for the |E| fit, operations x atoms^2 for the contacts with symmetry copies,
    atoms, free torsions); torsions: whether they are optimised."""
    n = float(len(problem.elements))
    n_tors = float(sum(len(a) for a in problem.tors_axes)) if torsions else 0.0
    return ((1.0, float(len(problem.bodies)), n_tors),
            (1.0, n * problem.calc.n_representatives * problem.calc.n_reflections,
             float(problem.op_rot.shape[0]) * n * n, n, n_tors))


def step_seconds(problem, n_poses: int, torsions: bool) -> float:
    """Reference seconds of one optimisation step of ``n_poses`` poses of ``problem``."""
    per_step, per_pose = size_terms(problem, torsions)
    return (sum(c * t for c, t in zip(STEP_COSTS, per_step))
            + n_poses * sum(c * t for c, t in zip(POSE_COSTS, per_pose)))


class WallClock:
    """Seconds since the epoch; charges are ignored."""

    kind = "wall"

    def now(self) -> float:
        return time.time()

    def charge(self, seconds: float) -> None:
        pass


class WorkClock:
    """Reference seconds of the work charged so far."""

    kind = "work"

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> float:
        return self.seconds

    def charge(self, seconds: float) -> None:
        self.seconds += float(seconds)


_WALL = WallClock()
_current: contextvars.ContextVar = contextvars.ContextVar("xdxd_search_clock", default=_WALL)


def now() -> float:
    """The current clock's reading (seconds)."""
    return _current.get().now()


def current():
    """The clock in use (:class:`WallClock` outside :func:`using`)."""
    return _current.get()


def charge_steps(problem, n_poses: int, n_steps: int, torsions: bool) -> None:
    """Charge ``n_steps`` optimisation steps of ``n_poses`` poses of ``problem`` to the current clock."""
    if n_steps > 0 and n_poses > 0:
        _current.get().charge(n_steps * step_seconds(problem, n_poses, torsions))


@contextlib.contextmanager
def using(kind: str) -> Iterator[object]:
    """Keep time by a fresh clock of ``kind`` (``work`` or ``wall``) inside the block."""
    if kind not in CLOCKS:
        raise ValueError(f"unknown search clock {kind!r}: use one of {', '.join(CLOCKS)}")
    clock = WorkClock() if kind == "work" else _WALL
    token = _current.set(clock)
    try:
        yield clock
    finally:
        _current.reset(token)
