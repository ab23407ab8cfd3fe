"""Diffusion model: torus score, invariant loss, batched diffraction, sampler, training, weights."""
import math
import os

import xdxd_cctbx  # noqa: F401  (import order)
import numpy as np
import pytest
import torch

from xdxd_cctbx.diffusion.crystal import CrystalRecord, cell_matrix, collate, origin_choices, symmetry_images
from xdxd_cctbx.diffusion.diffraction import DiffractionContext, simulate_observations, unique_reflections
from xdxd_cctbx.diffusion.loss import denoising_target, noisy_coordinates, score_matching_loss
from xdxd_cctbx.diffusion.features import build_inputs
from xdxd_cctbx.diffusion.sampler import default_sampler_params, sample
from xdxd_cctbx.diffusion.torus import SigmaSchedule, wrapped_normal_log_prob, wrapped_normal_score
from xdxd_cctbx.model import DenoiserConfig, XdxdDenoiser
from xdxd_cctbx.sf import StructureFactorCalculator, SymmetryOperators

P21C = ["x,y,z", "-x,y+1/2,-z+1/2", "-x,-y,-z", "x,-y-1/2,z-1/2"]
P21 = ["x,y,z", "-x,y+1/2,-z"]
TINY = DenoiserConfig(dim=16, depth=1, heads=2, pair_dim=8, n_rbf=8)


def _record(ops=P21C, n=6, seed=0, d_min=1.5, cell=(7.1, 8.3, 9.2, 90.0, 104.0, 90.0)):
    rng = np.random.default_rng(seed)
    o = SymmetryOperators.from_xyz_strings(ops)
    rot, tr = o.rotations.numpy(), o.translations.numpy()
    hkl, _ = unique_reflections(cell, rot, tr, d_min)
    z = rng.choice([6, 7, 8], n)
    return CrystalRecord(cell=np.array(cell), rotations=rot, translations=tr, atomic_numbers=z, hkl=hkl,
                         frac=rng.random((n, 3)), u_iso=np.full(n, 0.03), name="test")


def _observed(record, seed=0):
    batch = simulate_observations(collate([record]), torch.Generator().manual_seed(seed), missing_max=0.1)
    return batch.replace(occupancy=None)


def test_wrapped_normal_score_matches_numerical_derivative():
    torch.manual_seed(0)
    x = torch.rand(200, dtype=torch.float64)
    mu = torch.rand(200, dtype=torch.float64)
    sigma = torch.exp(torch.empty(200, dtype=torch.float64).uniform_(math.log(0.005), math.log(0.7)))
    h = 1e-6 * sigma
    numeric = (wrapped_normal_log_prob(x + h, mu, sigma) - wrapped_normal_log_prob(x - h, mu, sigma)) / (2 * h)
    analytic = wrapped_normal_score(x, mu, sigma)
    assert torch.allclose(analytic, numeric, rtol=1e-5, atol=1e-6 / sigma.min())
    # normalised on the circle: integral of the density over [0,1) is 1
    grid = torch.linspace(0, 1, 4001, dtype=torch.float64)[:-1]
    for s in (0.02, 0.2, 0.6):
        p = torch.exp(wrapped_normal_log_prob(grid, torch.tensor(0.3, dtype=torch.float64),
                                              torch.tensor(s, dtype=torch.float64)))
        assert abs(float(p.mean()) - 1.0) < 1e-6


def test_batched_diffraction_matches_sf_engine_with_padding():
    recs = [_record(P21C, 5, 1), _record(P21, 3, 2, cell=(6.0, 7.0, 8.0, 90, 95, 90))]
    batch = collate(recs, dtype=torch.float64)
    a, b = DiffractionContext(batch).f_calc(batch.frac)
    for i, r in enumerate(recs):
        ops = SymmetryOperators(torch.from_numpy(r.rotations), torch.from_numpy(r.translations))
        calc = StructureFactorCalculator(r.hkl, r.cell, ops, ["C", "N", "O"])
        labels = [{6: "C", 7: "N", 8: "O"}[int(z)] for z in r.atomic_numbers]
        f = calc(torch.as_tensor(r.frac), calc.type_index(labels))
        m = len(r.hkl)
        assert torch.allclose(a[i, :m], f.real, atol=1e-9) and torch.allclose(b[i, :m], f.imag, atol=1e-9)
        assert not batch.refl_mask[i, m:].any()


def test_denoising_target_invariant_to_equivalent_descriptions():
    rec = _record(P21C, 6, 3)
    batch = collate([rec], dtype=torch.float64)
    sf = torch.full((1, 3), 0.02, dtype=torch.float64)
    x_t = noisy_coordinates(batch.frac, sf, torch.Generator().manual_seed(1))
    target, _ = denoising_target(x_t, batch.frac, sf, batch)
    # the same crystal written differently: other symmetry images per atom + a permitted origin shift
    images = symmetry_images(batch.frac, batch)[0]  # (N,K,3)
    pick = torch.tensor([1, 2, 3, 0, 1, 2])
    other = images[torch.arange(6), pick]
    shifts, signs, _ = origin_choices(rec.rotations, rec.translations)
    assert len(shifts) == 8  # P21/c: 8 origins
    moved = signs[5] * other + torch.as_tensor(shifts[5])
    moved = moved - torch.floor(moved)
    target2, _ = denoising_target(x_t, moved.unsqueeze(0), sf, batch)
    assert torch.allclose(target, target2, atol=1e-8)
    # and it is the plain wrapped-normal target when x_t is close to the given description
    plain = wrapped_normal_score(x_t, batch.frac, sf[:, None, :]) * sf[:, None, :]
    assert torch.allclose(target, plain, atol=1e-6)


def test_sampler_shapes_symmetry_and_determinism():
    torch.manual_seed(0)
    model = XdxdDenoiser(TINY).eval()
    crystal = _observed(_record(P21C, 5, 4, d_min=2.0))
    p = default_sampler_params()
    p.n_samples, p.n_steps, p.refine_steps = 3, 4, 3
    r1 = sample(model, crystal, p, schedule=SigmaSchedule(), seed=7)
    r2 = sample(model, crystal, p, schedule=SigmaSchedule(), seed=7)
    r3 = sample(model, crystal, p, schedule=SigmaSchedule(), seed=8)
    assert r1.frac.shape == (3, 5, 3)
    assert float(r1.frac.min()) >= 0 and float(r1.frac.max()) < 1
    assert torch.equal(r1.frac, r2.frac) and not torch.equal(r1.frac, r3.frac)
    assert torch.all(r1.score[1:] >= r1.score[:-1])
    # candidates are asymmetric units: expanded by the operations, |F(h)| = |F(hR)|
    cand = r1.frac[0].double()
    full = symmetry_images(cand.unsqueeze(0), collate([_record(P21C, 5, 4)], dtype=torch.float64))[0]
    full = full.reshape(-1, 3)
    p1 = SymmetryOperators.from_xyz_strings(["x,y,z"])
    h = np.array([[1, 2, 3], [-1, 2, -3], [2, 1, 1], [-2, 1, -1]])  # pairs related by the 2-fold along b
    calc = StructureFactorCalculator(h, crystal_cell(), p1, ["C"])
    f = calc(full, torch.zeros(full.shape[0], dtype=torch.long)).abs()
    assert torch.allclose(f[0], f[1], rtol=1e-6) and torch.allclose(f[2], f[3], rtol=1e-6)


def test_sampler_defaults_match_phil():
    libtbx_phil = pytest.importorskip("libtbx.phil")
    from xdxd_cctbx.diffusion.sampler import master_phil_str

    phil = vars(libtbx_phil.parse(master_phil_str).extract().sampler)
    phil = {k: v for k, v in phil.items() if not k.startswith("_")}
    assert phil == vars(default_sampler_params())


def crystal_cell():
    return (7.1, 8.3, 9.2, 90.0, 104.0, 90.0)


def test_training_step_reduces_loss_on_fixed_batch():
    torch.manual_seed(0)
    recs = [_record(P21C, 6, 10, d_min=2.0), _record(P21, 4, 11, d_min=1.8, cell=(6.0, 7.0, 8.0, 90, 95, 90))]
    batch = simulate_observations(collate(recs), torch.Generator().manual_seed(0)).replace(occupancy=None)
    model = XdxdDenoiser(TINY)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = SigmaSchedule()
    t = torch.tensor([0.2, 0.4])

    def loss_fn():
        gen = torch.Generator().manual_seed(3)
        s = schedule.sigma(t)
        sf = schedule.frac_sigma(s, batch.lengths)
        x_t = noisy_coordinates(batch.frac, sf, gen)
        inputs = build_inputs(batch, DiffractionContext(batch), x_t, s, n_tokens=16)
        target, _ = denoising_target(x_t, batch.frac, sf, batch)
        return score_matching_loss(model(inputs), target, batch.atom_mask).mean()

    first = float(loss_fn().detach())
    for _ in range(25):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert float(loss_fn().detach()) < 0.7 * first


def test_checkpoint_round_trip_and_strict_loading(tmp_path):
    from xdxd_cctbx.training.checkpoint import export_weights, model_from_checkpoint, save_checkpoint
    from xdxd_cctbx.weights.loading import WeightsError, load_denoiser, load_weights_file, sha256_of

    torch.manual_seed(0)
    model = XdxdDenoiser(TINY)
    state = {"architecture": TINY.as_dict(), "schedule": SigmaSchedule().as_dict(), "data_recipe": {"source": "t"},
             "seed": 0, "step": 5, "model": model.state_dict(), "ema": model.state_dict()}
    path = str(tmp_path / "ckpt.pt")
    save_checkpoint(path, state)
    loaded, schedule, ckpt = model_from_checkpoint(path)
    assert ckpt["step"] == 5 and schedule == SigmaSchedule()
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    wpath = str(tmp_path / "w.pt")
    digest = export_weights(ckpt, wpath)
    assert digest == sha256_of(wpath)
    load_weights_file(wpath, sha256=digest)
    with pytest.raises(WeightsError, match="^checksum mismatch for .*w.pt: registry says sha256 0+, file has "):
        load_weights_file(wpath, sha256="0" * 64)
    bad = dict(model.state_dict())
    bad.pop("head_free.bias")
    bad["extra.weight"] = torch.zeros(1)
    save_checkpoint(path, dict(state, ema=bad))
    message = (f"checkpoint {path} does not fit the XdxdDenoiser architecture: "
               "missing keys ['head_free.bias']; unexpected keys ['extra.weight']")
    with pytest.raises(WeightsError) as err:
        model_from_checkpoint(path)
    assert str(err.value) == message
    with pytest.raises(WeightsError, match="not found"):
        load_denoiser(path=str(tmp_path / "absent.pt"))


def test_shipped_weights_load_and_match_registry():
    from xdxd_cctbx.weights.loading import REGISTRY_PATH, load_denoiser, load_registry, sha256_of

    entries = load_registry()
    assert entries, f"no weights registered in {REGISTRY_PATH}"
    for entry in entries:
        path = os.path.join(os.path.dirname(REGISTRY_PATH), entry["file"])
        assert os.path.getsize(path) < 25e6
        assert sha256_of(path) == entry["sha256"]
        model, schedule, meta = load_denoiser(entry["name"])
        assert meta["architecture"] == entry["architecture"]
        assert sum(p.numel() for p in model.parameters()) == entry["n_parameters"]


def test_train_command_runs_and_resumes(tmp_path):
    from xdxd_cctbx.command_line.train import run

    out = str(tmp_path / "run")
    common = [f"train.output_dir={out}", "data.toy_pool=4", "train.batch_size=2", "model.dim=16", "model.depth=1",
              "model.pair_dim=8", "model.n_rbf=8", "validation.folder=None", "train.log_every=1",
              "data.max_reflections=200", "data.n_tokens=16"]
    assert run(common + ["train.steps=2"]) == 0
    assert os.path.isfile(os.path.join(out, "checkpoint_latest.pt"))
    assert run(common + ["train.steps=3"]) == 0
    from xdxd_cctbx.training.checkpoint import load_checkpoint

    assert load_checkpoint(os.path.join(out, "checkpoint_latest.pt"))["step"] == 3


def test_training_pool_combines_shards_and_saved_toy_pools(tmp_path):
    from types import SimpleNamespace

    from xdxd_cctbx.training.data import CrystalPool
    from xdxd_cctbx.training.trainer import build_pool

    first, second = CrystalPool.toy(3, seed=1), CrystalPool.toy(2, seed=2)
    first.save_npz(str(tmp_path / "toy_a.npz"))
    second.save_npz(str(tmp_path / "toy_b.npz"))
    data = SimpleNamespace(shards=None, toy_pool_file=str(tmp_path / "toy_*.npz"), toy_pool=4, max_atoms=60)
    params = SimpleNamespace(data=data, train=SimpleNamespace(output_dir=str(tmp_path), seed=0))
    pool = build_pool(params)
    assert len(pool) == 5
    assert [r.n_atoms for r in pool.records] == [r.n_atoms for r in first.records + second.records]
    data.toy_pool_file = str(tmp_path / "toy_a.npz") + "," + str(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="data.toy_pool_file: no file matches .*missing.npz"):
        build_pool(params)


def test_pool_reflection_lists_equal_fresh_lists_and_keep_the_lowest_angles():
    from xdxd_cctbx.training.data import CrystalPool

    pool = CrystalPool.toy(3, seed=4)
    twin = CrystalPool(list(pool.records))
    twin.precompute_reflections(d_min_floor=0.8, max_reflections=300, workers=1)
    for i, r in enumerate(pool.records):
        for d_min in (2.4, 1.6, 1.0):
            fresh, _ = unique_reflections(r.cell, r.rotations, r.translations, d_min)
            got = pool.reflections(i, d_min, d_min_floor=0.8, max_reflections=300)
            assert np.array_equal(got, twin.reflections(i, d_min, d_min_floor=0.8, max_reflections=300))
            if len(fresh) <= 300:
                assert sorted(map(tuple, got)) == sorted(map(tuple, fresh))
            else:  # capped: the 300 lowest-angle reflections of the fresh list
                g_star = np.linalg.inv(cell_matrix(r.cell).T @ cell_matrix(r.cell))
                d_fresh = np.sort(np.einsum("mi,ij,mj->m", fresh, g_star, fresh))
                d_got = np.einsum("mi,ij,mj->m", got, g_star, got)
                assert len(got) == 300 and np.allclose(np.sort(d_got), d_fresh[:300], atol=1e-5)


def test_run_validation_reports_after_each_structure():
    from xdxd_cctbx.training.validation import run_validation, with_simulated_data

    torch.manual_seed(0)
    model = XdxdDenoiser(TINY)
    records = [with_simulated_data(_record(seed=1, n=4), 2.0, seed=0),
               with_simulated_data(_record(ops=P21, seed=2, n=5), 2.0, seed=0)]
    seen = []
    figures = run_validation(model, SigmaSchedule(0.02, 12.0), records, n_samples=2, n_steps=3,
                             device=torch.device("cpu"),
                             on_structure=lambda i, rec, m: seen.append((i, m["n"], len(m["prior_matched_fraction"]))))
    assert seen == [(0, 1, 1), (1, 2, 2)]
    assert figures["n"] == 2 and len(figures["matched_fraction"]) == 2
    assert all(0.0 <= f <= 1.0 for f in figures["matched_fraction"] + figures["prior_matched_fraction"])
    assert figures["mean_matched_fraction"] == pytest.approx(np.mean(figures["matched_fraction"]))
