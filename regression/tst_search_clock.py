"""The known-molecule search's work clock: the cost model and the clock's scope (the search that
does not depend on the machine's speed is in tst_known_molecule.py)."""
import time

import pytest

import xdxd_cctbx  # noqa: F401  (import order)
from xdxd_cctbx.known_molecule import search_clock


class _Sized:
    """Stands in for a placement problem in the cost model: 10 atoms in 2 bodies, 3 torsions."""

    class calc:
        n_representatives = 2
        n_reflections = 100

    class op_rot:
        shape = (4, 3, 3)

    elements = ["C"] * 10
    bodies = [None, None]
    tors_axes = [[1, 2], [3]]


def test_work_clock_charges_steps_and_is_scoped():
    problem = _Sized()
    assert search_clock.size_terms(problem, False) == ((1.0, 2.0, 0.0), (1.0, 2000.0, 400.0, 10.0, 0.0))
    per_step, per_pose = search_clock.size_terms(problem, True)
    assert per_step == (1.0, 2.0, 3.0) and per_pose == (1.0, 2000.0, 400.0, 10.0, 3.0)
    seconds = (sum(c * t for c, t in zip(search_clock.STEP_COSTS, per_step))
               + 32 * sum(c * t for c, t in zip(search_clock.POSE_COSTS, per_pose)))
    assert search_clock.step_seconds(problem, 32, True) == pytest.approx(seconds)
    assert search_clock.step_seconds(problem, 32, True) > search_clock.step_seconds(problem, 32, False)
    assert search_clock.step_seconds(problem, 64, False) > search_clock.step_seconds(problem, 32, False)
    assert search_clock.current().kind == "wall"
    with search_clock.using("work") as clock:
        assert search_clock.now() == 0.0
        search_clock.charge_steps(problem, 32, 10, True)
        search_clock.charge_steps(problem, 0, 10, True)
        assert search_clock.now() == pytest.approx(10 * seconds)
        with search_clock.using("work"):  # a nested search keeps its own time
            assert search_clock.now() == 0.0
        assert clock.now() == pytest.approx(10 * seconds)
    assert search_clock.current().kind == "wall"
    assert abs(search_clock.now() - time.time()) < 5.0
    with pytest.raises(ValueError, match="unknown search clock 'cpu': use one of work, wall"):
        with search_clock.using("cpu"):
            pass
