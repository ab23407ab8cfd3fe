"""Where the search spends its starts: pruned optimisations, rotation/translation peaks not
tried before (known_molecule.search, known_molecule.starts)."""
import time

import xdxd_cctbx  # noqa: F401  (import order)


def _near_and_random(problem, answer, n, seed):
    """n starts turned 20 degrees and moved 1 A from the answer, and n random ones."""
    import torch

    from xdxd_cctbx.known_molecule.placement import PoseBatch
    from xdxd_cctbx.known_molecule.pose_moves import turned_and_moved

    gen = torch.Generator().manual_seed(seed)
    return PoseBatch.cat([turned_and_moved(answer, n, 20.0, 1.0, gen), problem.random_poses(n, gen)])


def test_pruned_fit_keeps_the_starts_that_lead_to_the_answer(rigid_p21c_problem):
    """Half of the starts stop after 40 % of the steps: those near the answer are among the
    half that goes on and still find it; every pose's loss is that of the pose returned."""
    import torch

    from xdxd_cctbx.known_molecule.batch_fit import optimise_in_chunks

    problem, answer = rigid_p21c_problem
    with torch.no_grad():
        best = float(problem.losses(answer)[0][0])
    n = 32
    found = {}
    for keep in (1.0, 0.5):
        poses = _near_and_random(problem, answer, n, seed=7)
        gen = torch.Generator().manual_seed(1)
        losses = optimise_in_chunks(problem, poses, 100, False, 1000, time.time() + 600, gen, smoothing_b=100.0,
                               keep_fraction=keep)
        with torch.no_grad():
            assert torch.allclose(losses, problem.losses(poses)[0], atol=1e-5)
        found[keep] = int((losses[:n] < best + 0.02).sum())
    assert found[1.0] >= n // 2, found
    assert found[0.5] >= found[1.0] - 2, found


def test_restarts_continue_down_the_list_of_peaks(rigid_p21c_problem):
    """Starts into an empty cell continue down the ranked rotation/translation candidates from
    call to call (from the top again once all were used); starts given a partial structure
    always take its best peaks."""
    import torch

    from xdxd_cctbx.known_molecule.starts import StartGenerator

    problem, _ = rigid_p21c_problem
    starter = StartGenerator(problem, n_orientations=200, n_keep=3, n_peaks=2, seed=0)
    gen = torch.Generator().manual_seed(0)
    n = 3 * (2 if starter._core(0) is not None else 1)  # half of each list of 6 (whole body, core)
    calls = [starter.informed(None, [], [0], n, gen) for _ in range(3)]

    def keys(poses):
        return {(tuple(poses.base_rot[i, 0].flatten().tolist()), tuple(poses.trans[i, 0].tolist()))
                for i in range(poses.size)}

    first, second, third = (keys(c) for c in calls)
    assert len(first) == len(second) == n
    assert not first & second  # candidates 1-3, then 4-6
    assert third == first  # all used: from the top again
    base = problem.random_poses(1, gen)
    assert keys(starter.informed(base, [], [0], n, gen)) == keys(starter.informed(base, [], [0], n, gen))
