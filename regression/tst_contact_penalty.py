"""The known-molecule search's short-contact penalty: value, analytic gradient, body-pair screening."""
import itertools

import numpy as np
import pytest

import xdxd_cctbx  # noqa: F401  (import order)
import torch

from cctbx import sgtbx, uctbx
from xdxd_cctbx.known_molecule.contact_penalty import contact_penalty
from xdxd_cctbx.known_molecule.sites import all_operations


def _crystal(symbol="R -3 :H", cell=(14.0, 14.0, 9.0, 90, 90, 120), sizes=(6, 4, 1), n_poses=6, seed=3,
             dtype=torch.float64):
    """Compact random bodies (atoms within ~1.6 A of a centroid) in an oblique cell."""
    rng = np.random.default_rng(seed)
    sg = sgtbx.space_group_info(symbol).group()
    uc = uctbx.unit_cell(cell)
    orth = np.array(uc.orthogonalization_matrix()).reshape(3, 3)
    rots, trs = all_operations(sg)
    frac = []
    for _ in range(n_poses):
        atoms = []
        for n in sizes:
            centre = rng.random(3) @ orth.T
            atoms.append(centre + rng.normal(scale=0.9, size=(n, 3)))
        frac.append(np.concatenate(atoms) @ np.linalg.inv(orth).T)
    n = sum(sizes)
    offsets = np.cumsum([0] + list(sizes))
    ranges = list(zip(offsets[:-1], offsets[1:]))
    body_of = np.concatenate([[k] * s for k, s in enumerate(sizes)])
    thr = np.full((n, n), 2.8)
    thr[:, -1] = thr[-1, :] = 1.8
    t = lambda a: torch.tensor(np.asarray(a), dtype=dtype)  # noqa: E731
    active = np.ones(n)
    active[-1] = 0.0  # the last body is not placed yet
    identity = int(np.where(np.all(np.abs(rots - np.eye(3)) < 1e-9, axis=(1, 2)) & np.all(trs == 0, axis=1))[0][0])
    return dict(frac=t(frac), op_rot=t(rots), op_tr=t(trs), orth=t(orth), thr=t(thr),
                active_pairs=t(active[:, None] * active[None, :]),
                same_body=torch.tensor(body_of[:, None] == body_of[None, :]), identity_op=identity,
                ranges=ranges)


def _by_loops(c):
    """The penalty from its definition, one pair at a time (numpy)."""
    frac, rots, trs = c["frac"].numpy(), c["op_rot"].numpy(), c["op_tr"].numpy()
    orth, thr, act, same = c["orth"].numpy(), c["thr"].numpy(), c["active_pairs"].numpy(), c["same_body"].numpy()
    out = np.zeros(frac.shape[0])
    for b, s in itertools.product(range(frac.shape[0]), range(len(rots))):
        for i, j in itertools.product(range(frac.shape[1]), repeat=2):
            d = frac[b, i] - (rots[s] @ frac[b, j] + trs[s])
            lattice = np.round(d)
            if s == c["identity_op"] and same[i, j] and not lattice.any():
                continue
            dist = np.linalg.norm(orth @ (d - lattice))
            out[b] += act[i, j] * max(0.0, thr[i, j] - dist) ** 2
    return out


def test_penalty_is_the_sum_over_pairs_and_screening_changes_nothing():
    c = _crystal()
    expected = _by_loops(c)
    assert expected.min() > 0  # every pose has contacts
    full = contact_penalty(**c)
    screened = contact_penalty(**c, screen=True)
    assert np.allclose(full.numpy(), expected, rtol=1e-7)  # sqrt(d^2 + 1e-8) in the code
    assert np.allclose(screened.numpy(), full.numpy(), rtol=1e-10)


@pytest.mark.parametrize("screen", [False, True])
def test_gradient_matches_finite_differences(screen):
    c = _crystal(n_poses=2, sizes=(3, 2, 1))
    frac = c.pop("frac").clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: contact_penalty(x, **c, screen=screen), (frac,), eps=1e-6,
                                    atol=1e-5)


def test_site_operations_of_a_body_on_a_special_position_are_left_out():
    c = _crystal(sizes=(4, 3, 1), n_poses=3)
    n_ops = c["op_rot"].shape[0]
    on_site = torch.zeros(3, n_ops, dtype=torch.float64)
    on_site[:, c["identity_op"]] = 1.0
    on_site[1, :3] = 1.0  # pose 1: body 0 sits on a site of the first three operations
    with_site = contact_penalty(**c, on_site={0: on_site})
    screened = contact_penalty(**c, on_site={0: on_site}, screen=True)
    plain = contact_penalty(**c)
    assert torch.allclose(with_site, screened, rtol=1e-10)
    assert torch.allclose(with_site[[0, 2]], plain[[0, 2]], rtol=1e-10)
    assert float(with_site[1]) < float(plain[1])


def test_kept_pair_fraction_counts_the_atom_pairs_of_the_blocks_that_can_touch():
    """Two bodies 5 A apart in a 100 A P-1 cell: only each body with itself (identity) can touch."""
    from xdxd_cctbx.known_molecule.contact_penalty import kept_pair_fraction

    sg = sgtbx.space_group_info("P -1").group()
    rots, trs = all_operations(sg)
    orth = torch.eye(3, dtype=torch.float64) * 100.0
    offsets = torch.tensor([[0.0, 0.0, 0.0], [0.8, 0.0, 0.0], [0.0, 0.8, 0.0],  # body 0 (3 atoms)
                            [5.0, 0.0, 0.0], [5.0, 0.8, 0.0]], dtype=torch.float64)  # body 1 (2 atoms)
    frac = ((offsets + 25.0) / 100.0).unsqueeze(0)
    kept = kept_pair_fraction(frac, torch.tensor(rots), torch.tensor(trs), orth, 2.8, [(0, 3), (3, 5)])
    assert kept == pytest.approx((3 * 3 + 2 * 2) / (2 * 5 * 5))


def _problem(symbol, cell, copies=1):
    """A placement problem of ``copies`` bodies of coronene, 24 atoms (data: dummy amplitudes)."""
    from cctbx import crystal, miller
    from cctbx.array_family import flex

    from xdxd_cctbx.known_molecule import parse_molecule
    from xdxd_cctbx.known_molecule.conformers import embed_ensemble
    from xdxd_cctbx.known_molecule.placement import Body, PlacementProblem

    cs = crystal.symmetry(unit_cell=cell, space_group_symbol=symbol)
    ensemble = embed_ensemble(parse_molecule("c1cc2ccc3ccc4ccc5ccc6ccc1c1c2c3c4c5c61"), n_conformers=1, seed=0)[0]
    indices = miller.build_set(cs, anomalous_flag=False, d_min=3.0)
    dummy = indices.array(data=flex.double(indices.size(), 1.0)).set_observation_type_xray_amplitude()
    return PlacementProblem(dummy, [Body(ensemble) for _ in range(copies)])


def test_the_clash_term_screens_body_pairs_only_where_that_leaves_most_pairs_out():
    # R-3, one molecule in a large cell: most symmetry copies are far away
    assert _problem("R -3 :H", (40.0, 40.0, 30.0, 90, 90, 120)).screen_clash
    # fewer than 8 operations
    assert not _problem("P 1 21/c 1", (40.0, 40.0, 30.0, 90, 90, 90)).screen_clash
    # C2/c packed tight: every copy is near, so the screen would only add work
    assert not _problem("C 1 2/c 1", (12.0, 13.0, 10.5, 90, 103, 90)).screen_clash
    # more than 4 bodies: one Python-level block per body pair
    assert not _problem("R -3 :H", (40.0, 40.0, 30.0, 90, 90, 120), copies=5).screen_clash
