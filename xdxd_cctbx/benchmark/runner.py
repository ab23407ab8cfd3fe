"""Run a benchmark: every structure x d_min x method, solved by ``solve()`` and compared.

For each task the data are simulated from the reference (the same call as
xdxd.simulate: ``simulate_intensities`` with a fixed seed, noise on, all atoms
of the reference including H, isotropic) or, for a measured set, read and
truncated to d_min; ``solve()`` is called exactly as xdxd.solve calls it; the
answer is compared with the reference by ``compare_structures`` (xdxd.compare).
Any failure (exception, time limit, crashed worker) is recorded in ``error`` and
counts as no match; it never stops the run.

A method is only a name passed to ``solve(method=...)``. Methods that need more
input per structure (e.g. a known molecule's SMILES) get it from a
``method_inputs(structure, method) -> dict`` hook whose dict is passed to
``solve()`` as keyword arguments. With worker processes (``nproc > 1``, started
by "spawn") the hook must be a module-level function (it is pickled).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import queue
import signal
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from xdxd_cctbx.benchmark.sets import MEASURED, SIMULATED, BenchmarkStructure
from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

FULL = "full"  # d_min label: the measured data's own resolution limit
HARD_KILL_GRACE_S = 60.0  # a worker past timeout + this is killed (the soft limit did not stop it)
# Time a known-molecule task needs after its search: polish, refinement of the candidates,
# output (measured up to 70 s for 118 atoms at 2 A): the search gets the rest of the timeout.
SEARCH_RESERVE_S = 90.0
SEARCH_RESERVE_FRACTION = 0.25

MethodInputs = Callable[[BenchmarkStructure, str], Optional[Dict[str, Any]]]


class TaskTimeout(BaseException):
    """Raised inside a task at its time limit. A BaseException, so that the
    solver's ``except Exception`` (one failing candidate) does not swallow it."""


@dataclasses.dataclass
class BenchmarkTask:
    structure: BenchmarkStructure
    method: str
    d_min: Union[float, str]  # Angstrom, or FULL
    seed: int = 1  # seed of the simulated noise
    noise: bool = True
    timeout: Optional[float] = None  # seconds; None or 0: no limit

    @property
    def label(self) -> str:
        return f"{self.structure.name} {self.method} d_min={d_min_label(self.d_min)}"


@dataclasses.dataclass
class BenchmarkResult:
    """One row of the benchmark (the fields of PREFIX.json's "results")."""

    name: str
    method: str
    d_min: Union[float, str]  # as requested (FULL: the data's own limit)
    kind: str = SIMULATED
    cls: Optional[str] = None
    space_group: Optional[str] = None
    n_reference: Optional[int] = None  # non-H atoms of the reference asymmetric unit
    n_solution: Optional[int] = None
    match: bool = False
    match_strict: bool = False
    matched_fraction: float = 0.0
    rmsd: Optional[float] = None
    r1: Optional[float] = None
    wr2: Optional[float] = None
    d_min_data: Optional[float] = None  # resolution of the data solve() used
    n_reflections: Optional[int] = None
    seconds: Optional[float] = None  # solve() time; wall time to the failure otherwise
    total_seconds: Optional[float] = None  # including data simulation/reading and comparison
    error: Optional[str] = None
    molecule_types: Optional[List[str]] = None  # known_molecule: single/several, on_symmetry

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def d_min_label(d_min: Union[float, str]) -> str:
    """'full', or the resolution with at least one decimal: 1.0, 1.5, 0.84."""
    if d_min == FULL:
        return FULL
    text = f"{float(d_min):.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def parse_d_min_values(values: Sequence[Union[str, float]]) -> List[Union[float, str]]:
    """``["1.0,1.5", "2", "full"]`` -> ``[1.0, 1.5, 2.0, "full"]`` (0 also means full)."""
    out: List[Union[float, str]] = []
    for value in values:
        for token in str(value).replace(",", " ").split():
            if token.lower() in (FULL, "all", "none"):
                d = FULL
            else:
                try:
                    d = float(token)
                except ValueError:
                    raise InputError(f"d_min value '{token}' is not a number: give e.g. d_min=1.0,1.5,2.0 or full")
                if d < 0:
                    raise InputError(f"d_min={token} is negative: give a resolution in Angstrom, or full")
                d = FULL if d == 0 else d
            if d not in out:
                out.append(d)
    if not out:
        raise InputError("no d_min given: e.g. d_min=1.0,1.5,2.0")
    return out


def parse_names(values: Sequence[str]) -> List[str]:
    out: List[str] = []
    for value in values:
        for token in str(value).replace(",", " ").split():
            if token not in out:
                out.append(token)
    return out


def make_tasks(structures, d_mins, methods, *, seed: int = 1, noise: bool = True,
               timeout: Optional[float] = None) -> List[BenchmarkTask]:
    """structure x d_min x method tasks (structure-major order); checks the combination."""
    if not structures:
        raise InputError("the benchmark set is empty")
    if not methods:
        raise InputError("no method given: e.g. methods=charge_flipping")
    if any(d == FULL for d in d_mins) and any(s.kind == SIMULATED for s in structures):
        raise InputError("d_min=full (the data's own limit) needs measured data: give numbers for simulated sets")
    return [BenchmarkTask(s, m, d, seed=seed, noise=noise, timeout=timeout)
            for s in structures for d in d_mins for m in methods]


def fit_search_to_timeout(solver_params, timeout: Optional[float]) -> Optional[float]:
    """Shorten the known-molecule search (``known_molecule.max_seconds``) so that a task ends
    within ``timeout`` (its polish and refinement come after the search); the new limit, or
    None when it already fits (or there is no timeout)."""
    if not timeout:
        return None
    scope = solver_params.known_molecule
    limit = float(timeout) - max(SEARCH_RESERVE_S, SEARCH_RESERVE_FRACTION * float(timeout))
    if float(scope.max_seconds) <= limit:
        return None
    if limit < 30.0:
        raise InputError(f"timeout={timeout:g} s leaves no time for the known-molecule search: "
                         f"set timeout to at least {30.0 + SEARCH_RESERVE_S:g} s or 0 (no limit)")
    scope.max_seconds = limit
    return limit


def solver_phil_text(params=None) -> str:
    """The solver's PHIL (extracted ``params`` or the defaults) as text, to send to workers."""
    from xdxd_cctbx.solver import master_phil

    master = master_phil()
    if params is None:
        return master.as_str()
    return master.format(python_object=params).as_str()


def _solver_params(text: Optional[str]):
    from xdxd_cctbx.solver import default_params, master_phil

    if not text:
        return default_params()
    import libtbx.phil

    return master_phil().fetch(libtbx.phil.parse(text)).extract()


@contextlib.contextmanager
def time_limit(seconds: Optional[float]):
    """Raise TaskTimeout in the block after ``seconds`` (main thread only; else no limit).

    Python code is interrupted between bytecodes: a long compiled call finishes first.
    """
    usable = bool(seconds) and seconds > 0 and hasattr(signal, "setitimer") \
        and threading.current_thread() is threading.main_thread()
    if not usable:
        if seconds:
            logger.debug("time limit not enforced here (not the main thread)")
        yield
        return

    def on_alarm(signum, frame):  # noqa: ARG001
        raise TaskTimeout(f"time limit of {seconds:g} s reached")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_task(task: BenchmarkTask, solver_phil: Optional[str] = None,
             method_inputs: Optional[MethodInputs] = None) -> BenchmarkResult:
    """Run one task; never raises (except KeyboardInterrupt): failures go to ``error``."""
    s = task.structure
    result = BenchmarkResult(name=s.name, method=task.method, d_min=task.d_min, kind=s.kind, cls=s.cls,
                             space_group=s.space_group, n_reference=s.n_non_h)
    t0 = time.time()
    try:
        with time_limit(task.timeout):
            _run_task(task, result, solver_phil, method_inputs)
    except KeyboardInterrupt:
        raise
    except TaskTimeout as e:
        result.error = f"timeout: {e}"
    except Exception as e:  # any failure is a result, not the end of the run
        result.error = _error_text(e)
    result.total_seconds = round(time.time() - t0, 3)
    if result.seconds is None:
        result.seconds = result.total_seconds
    if result.error:
        result.match = result.match_strict = False
    return result


def _error_text(e: BaseException) -> str:
    """'Type: message'; for a bare exception (assert) also where it was raised."""
    message = " ".join(str(e).split())
    if not message:
        import traceback

        frames = traceback.extract_tb(e.__traceback__)
        if frames:
            last = frames[-1]
            message = f"at {os.path.basename(last.filename)}:{last.lineno} {last.line or ''}".strip()
    return f"{type(e).__name__}: {message}"[:500]


def reference_atom_count(reference) -> int:
    """Non-H atoms the comparison will count (minor disorder sites dropped)."""
    from xdxd_cctbx.benchmark import compare

    return compare.major_component(compare.non_hydrogen(reference)).scatterers().size()


def _run_task(task, result, solver_phil, method_inputs):
    from xdxd_cctbx.benchmark.compare import compare_structures
    from xdxd_cctbx.solver import solve

    loaded = task.structure.load()
    reference = loaded.reference
    result.space_group = str(reference.space_group_info())
    result.n_reference = reference_atom_count(reference)
    if task.structure.kind == MEASURED:
        data = loaded.reflections
        d_min = None if task.d_min == FULL else float(task.d_min)
    else:
        from xdxd_cctbx.data.simulate import simulate_intensities

        if task.d_min == FULL:
            raise InputError("d_min=full needs measured data")
        data = simulate_intensities(loaded.simulation_model(), float(task.d_min), seed=task.seed, noise=task.noise)
        # The simulated data end at the first reflection inside d_min (e.g. 2.011 A
        # for 2.0): they are already cut, so solve() takes all of them.
        d_min = None
    extra = dict(method_inputs(task.structure, task.method) or {}) if method_inputs else {}
    if extra.get("molecules"):
        from xdxd_cctbx.benchmark.molecule_table import molecule_types

        result.molecule_types = molecule_types(list(extra["molecules"]))
    t_solve = time.time()
    try:
        solution = solve(data, loaded.unit_cell_content, _solver_params(solver_phil), method=task.method,
                         d_min=d_min, **extra)
    finally:
        result.seconds = round(time.time() - t_solve, 3)
    result.seconds = round(solution.seconds, 3)
    result.d_min_data = round(solution.d_min, 4)
    result.n_reflections = solution.data.n_reflections
    refinement = solution.refinement
    result.r1 = _rounded(getattr(refinement, "r1", None))
    result.wr2 = _rounded(getattr(refinement, "wr2", None))
    comparison = compare_structures(reference, solution.xray_structure)
    result.n_reference = comparison.n_reference  # as counted by the comparison (e.g. disorder)
    result.n_solution = comparison.n_solution
    result.match = comparison.match
    result.match_strict = comparison.match_strict
    result.matched_fraction = round(comparison.matched_fraction, 4)
    result.rmsd = _rounded(comparison.rmsd)


def _rounded(value, digits=5):
    return None if value is None else round(float(value), digits)


# ---------------------------------------------------------------- the whole run


def run_benchmark(tasks: Sequence[BenchmarkTask], *, solver_params=None, nproc: int = 1,
                  method_inputs: Optional[MethodInputs] = None, jsonl_path: Optional[str] = None,
                  start_method: str = "spawn", progress: bool = True) -> List[BenchmarkResult]:
    """Run ``tasks`` (see ``make_tasks``); results in the order of ``tasks``.

    nproc > 1: that many worker processes (``start_method`` "spawn": each imports
    xdxd_cctbx first; "fork": copies of this process), torch pinned to one thread
    in each. A task past its timeout is stopped in the worker; a worker that
    does not stop (or dies) is replaced and the task recorded as failed.
    jsonl_path: each result is appended there as one JSON line when it finishes.
    """
    tasks = list(tasks)
    text = solver_phil_text(solver_params)
    reporter = _Progress(len(tasks), enabled=progress)
    sink = open(jsonl_path, "a") if jsonl_path else None  # noqa: SIM115
    results: List[Optional[BenchmarkResult]] = [None] * len(tasks)

    def record(index, result):
        results[index] = result
        if sink is not None:
            sink.write(json.dumps(result.as_dict()) + "\n")
            sink.flush()
        reporter.update(result)

    try:
        if nproc <= 1 or len(tasks) <= 1:
            for index, task in enumerate(tasks):
                record(index, run_task(task, text, method_inputs))
        else:
            _run_in_workers(tasks, text, method_inputs, min(nproc, len(tasks)), start_method, record)
    finally:
        reporter.close()
        if sink is not None:
            sink.close()
    return [r for r in results if r is not None]


def _worker_main(worker_id, inbox, outbox, solver_phil, method_inputs):
    """Worker process: import xdxd_cctbx first, one torch thread, then run tasks."""
    import xdxd_cctbx  # noqa: F401  (import order: before cctbx, owns torch)
    import torch

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    while True:
        item = inbox.get()
        if item is None:
            return
        index, task = item
        result = run_task(task, solver_phil, method_inputs)
        outbox.put((worker_id, index, result))


class _Worker:
    def __init__(self, ctx, worker_id, outbox, solver_phil, method_inputs):
        self.id = worker_id
        self.inbox = ctx.Queue()
        self.process = ctx.Process(target=_worker_main, name=f"xdxd-benchmark-{worker_id}",
                                   args=(worker_id, self.inbox, outbox, solver_phil, method_inputs), daemon=True)
        self.process.start()
        self.index: Optional[int] = None  # task running now
        self.started = 0.0

    def assign(self, index, task):
        self.index, self.started = index, time.time()
        self.inbox.put((index, task))

    def stop(self, kill=False):
        if kill:
            self.process.terminate()
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
        else:
            self.inbox.put(None)
        self.process.join(10)


def _run_in_workers(tasks, solver_phil, method_inputs, nproc, start_method, record):
    import multiprocessing

    ctx = multiprocessing.get_context(start_method)
    outbox = ctx.Queue()
    pending = list(range(len(tasks)))[::-1]
    workers = {i: _Worker(ctx, i, outbox, solver_phil, method_inputs) for i in range(nproc)}
    next_id = nproc
    done = 0
    try:
        while done < len(tasks):
            for w in workers.values():
                if w.index is None and pending:
                    index = pending.pop()
                    w.assign(index, tasks[index])
            try:
                worker_id, index, result = outbox.get(timeout=1.0)
            except queue.Empty:
                pass
            else:
                w = workers.get(worker_id)
                if w is not None and w.index == index:  # else: a late answer from a replaced worker
                    w.index = None
                    record(index, result)
                    done += 1
            for wid, w in list(workers.items()):
                failure = _worker_failure(w, tasks)
                if failure is None:
                    continue
                logger.warning("worker %d replaced: %s (%s)", wid, failure, tasks[w.index].label)
                record(w.index, _failed_result(tasks[w.index], failure, time.time() - w.started))
                done += 1
                w.index = None
                w.stop(kill=True)
                del workers[wid]
                if pending:
                    workers[next_id] = _Worker(ctx, next_id, outbox, solver_phil, method_inputs)
                    next_id += 1
    finally:
        for w in workers.values():
            w.stop(kill=w.index is not None or not w.process.is_alive())


def _worker_failure(worker, tasks) -> Optional[str]:
    if worker.index is None:
        return None
    if not worker.process.is_alive():
        return f"worker process died (exit code {worker.process.exitcode})"
    timeout = tasks[worker.index].timeout
    if timeout and time.time() - worker.started > timeout + HARD_KILL_GRACE_S:
        return f"timeout: time limit of {timeout:g} s reached (worker killed)"
    return None


def _failed_result(task, error, seconds) -> BenchmarkResult:
    s = task.structure
    return BenchmarkResult(name=s.name, method=task.method, d_min=task.d_min, kind=s.kind, cls=s.cls,
                           space_group=s.space_group, n_reference=s.n_non_h, error=error,
                           seconds=round(seconds, 3), total_seconds=round(seconds, 3))


class _Progress:
    """tqdm bar when tqdm is installed, else one log line per finished task."""

    def __init__(self, total, enabled=True):
        self.total, self.count, self.matched = total, 0, 0
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="task", desc="benchmark")
        self.enabled = enabled

    def update(self, r: BenchmarkResult):
        self.count += 1
        self.matched += bool(r.match)
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(matched=self.matched)
            self.bar.update(1)
            return
        if r.error:
            outcome = f"failed ({r.error[:120]})"
        else:
            rms = "" if r.rmsd is None else f", rmsd {r.rmsd:.3f} A"
            outcome = f"{'match' if r.match else 'no match'} ({r.matched_fraction:.0%} of atoms{rms}, R1 {r.r1})"
        width = len(str(self.total))
        logger.info("[%*d/%d] %s %s d_min=%s: %s, %.1f s", width, self.count, self.total, r.name, r.method,
                    d_min_label(r.d_min), outcome, r.seconds or 0.0)

    def close(self):
        if self.bar is not None:
            self.bar.close()
