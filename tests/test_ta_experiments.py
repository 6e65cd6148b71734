"""The temporal-awareness experiments: their statistics (hand-checked), the packed evaluation
grid (task order checked against training agents one by one), the schedule readouts
(discover.schedules) and the --quick smoke runs of both scripts, including redrawing every
figure from the saved data alone."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discover.config import AgentConfig, LifetimeConfig, ObjectiveConfig, RunConfig, EnvConfig
from discover.lifetime import make_lifetime
from discover.objectives import make_objective
from discover.objectives.drift import make_learned_drift
from discover.schedules import best_ratio, drift_schedule, pearson, regression_slope
from experiments import ta_common as common

# ------------------------------------------------------------------------------------ statistics


def test_hierarchical_bootstrap_resamples_meta_seeds_then_eval_seeds():
    # Meta seed 0 scores 1 everywhere, meta seed 1 scores 3: the mean is 2; a resample of meta
    # seeds is {0,0} (mean 1), {0,1} (2) or {1,1} (3), with probabilities 1/4, 1/2, 1/4, so the
    # 95% interval is [1, 3]; a bootstrap over the 4 values alone would give a narrower one.
    x = np.array([[1.0, 1.0], [3.0, 3.0]])
    stats = common.cell_stats(x, n_boot=2000)
    assert stats["mean"] == 2.0 and stats["mean_lo"] == 1.0 and stats["mean_hi"] == 3.0
    assert stats["per_seed_mean"] == [1.0, 3.0]
    # IQM of [1, 1, 3, 3]: drop floor(4/4) = 1 from each end -> mean(1, 3) = 2.
    assert stats["iqm"] == 2.0
    # A constant cell has a zero-width interval.
    flat = common.cell_stats(np.full((4, 8), 0.5))
    assert flat["mean_lo"] == flat["mean_hi"] == flat["iqm_lo"] == flat["iqm_hi"] == 0.5


def test_cell_stats_nan_cells_and_differences():
    nan = common.cell_stats(np.full((2, 3), np.nan))
    assert np.isnan(nan["mean"]) and np.isnan(nan["iqm_lo"])
    a, b = np.full((4, 8), 1.5), np.full((4, 8), 0.5)
    d = common.difference_stats(a, b)
    assert d["diff"] == 1.0 and d["lo"] == 1.0 and d["hi"] == 1.0
    rng = np.random.default_rng(0)
    noisy = common.difference_stats(rng.normal(1.0, 1.0, (4, 32)), rng.normal(0.0, 1.0, (4, 32)))
    assert noisy["lo"] < noisy["diff"] < noisy["hi"] and noisy["lo"] > 0.0


# ------------------------------------------------------------------------------------ packed grid


def _tiny_lpg_cfg():
    return RunConfig(
        env=EnvConfig("gridworld", "dense"),
        agent=AgentConfig(torso="linear", optimizer="sgd", lr=40.0, aux_lr=4.0, anneal_lr=False),
        objective=ObjectiveConfig(name="ta-lpg", lpg_hidden=8),
        lifetime=LifetimeConfig(num_envs=2, rollout_len=5, lifetime=6, eval_envs=4, eval_steps=30),
    )


def test_packed_returns_equal_agents_trained_one_by_one():
    """[M, L, S] = (meta seed, lifetime, eval seed): each entry is the agent that lifetime.train
    gives for those params, that N and that key, alone."""
    import environments

    cfg = _tiny_lpg_cfg()
    objective = make_objective(cfg.objective)
    env, level, _ = environments.resolve("gridworld", "dense")
    params = [objective.init(jax.random.key(i)) for i in range(2)]
    lifetimes, keys = (2, 5), jax.random.split(jax.random.key(7), 3)
    grid = common.packed_returns(cfg, objective, params, env, level, lifetimes, keys)
    assert grid.shape == (2, 2, 3)
    lt = make_lifetime(cfg, objective, env, level, max_lifetime=5)
    train = jax.jit(lambda p, n, k: lt.train(p, level, n, k)[1].final_return)
    for m in range(2):
        for i, n in enumerate(lifetimes):
            for s in range(3):
                np.testing.assert_allclose(grid[m, i, s], float(train(params[m], jnp.int32(n), keys[s])), rtol=1e-5)


# ------------------------------------------------------------------------------------ schedules


def test_best_ratio_slope_and_correlation_hand_computed():
    r = np.array([0.8, 0.9, 1.0, 1.1, 1.2, 1.3])
    # PPO-like surrogate for A = +1: rises to 1.2 and is flat after; the edge 1.2 is reported.
    assert best_ratio(r, np.minimum(r, 1.2)) == pytest.approx(1.2)
    # A = -1: -max(r, 0.8) is largest (-0.8) at r <= 0.8; the edge is 0.8.
    assert best_ratio(r, -np.maximum(r, 0.8)) == pytest.approx(0.8)
    # y = 2x + 1 exactly: slope 2, correlation 1; y = -x: slope -1, correlation -1.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert regression_slope(x, 2 * x + 1) == pytest.approx(2.0) and pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert regression_slope(x, -x) == pytest.approx(-1.0) and pearson(x, -x) == pytest.approx(-1.0)
    assert np.isnan(pearson(x, np.ones(4)))


def test_drift_schedule_of_ppo_init_is_ppo_clipping_at_every_progress():
    ocfg = ObjectiveConfig(name="ta-lpo", init_at_ppo=True, clip_eps=0.2)
    params = make_learned_drift(ocfg)[0](jax.random.key(0))
    s = drift_schedule(ocfg, params, progress=(0.0, 0.5, 1.0))
    assert s["drift"].shape == (3, 101, 101) and s["change"].shape == (2, 101, 101)
    np.testing.assert_array_equal(s["change"], 0.0)
    # The r grid (0.25 + 0.0175 k) has no point at 0.8 or 1.2: the nearest ones outside the clip
    # range, 0.7925 and 1.2125, are where the clipped surrogate is already flat.
    np.testing.assert_allclose(s["r_star"], [[0.7925, 1.2125]] * 3, atol=1e-4)


def test_drift_schedule_changes_only_for_ta_drifts():
    ta = ObjectiveConfig(name="ta-lpo", lpo_hidden=8)
    plain = dataclasses.replace(ta, name="lpo")
    s_ta = drift_schedule(ta, make_learned_drift(ta)[0](jax.random.key(1)), progress=(0.0, 1.0))
    s_plain = drift_schedule(plain, make_learned_drift(plain)[0](jax.random.key(1)), progress=(0.0, 1.0))
    assert np.abs(s_ta["change"]).max() > 1e-3
    np.testing.assert_array_equal(s_plain["change"], 0.0)


# ------------------------------------------------------------------------------------ smoke runs


# Both smoke runs are in the slow suite: TA-LPO's took 60 s of a default suite that had reached
# 9.5 minutes of its 10 on the 2-core machine; TA-LPG's compiles more programs (the recurrent
# LPG, its interpretation). The default suite keeps the runner's error path (below).
@pytest.mark.parametrize("module,pair,figures", [
    pytest.param("ta_lpo", "ta-lpo - lpo", ["drift_schedule.png"], marks=pytest.mark.slow),
    pytest.param("ta_lpg", "ta-lpg - lpg", ["lpg_schedule.png", "interpretation_ta-lpg_N4.png",
                                             "interpretation_lpg_N4.png"], marks=pytest.mark.slow),
])
def test_quick_run_end_to_end_and_redraw_from_saved_data(module, pair, figures, tmp_path, capsys):
    import importlib

    mod = importlib.import_module(f"experiments.{module}")
    out = tmp_path / module
    from experiments.ta_runner import main

    main(mod.EXPERIMENT, mod.__doc__, "unused", ["--quick", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    labels = results["labels"] + [results["baseline"]]
    for env in results["envs"].values():
        for label in labels:
            assert len(env["stats"][label]) == len(env["lifetimes"])
            assert np.isfinite(np.asarray(env["returns"][label], float)).all()
        assert list(env["diffs"]) == [pair]
    report = (out / "report.md").read_text()
    assert "IQM of the normalised score" in report and pair in report
    drawn = ["horizons.png", "meta_training.png", *figures]
    for name in drawn:
        assert (out / name).stat().st_size > 1000
        (out / name).unlink()
    # Everything is redrawn from results.json and schedule.npz alone.
    main(mod.EXPERIMENT, mod.__doc__, "unused", ["--plot-only", str(out)])
    for name in drawn:
        assert (out / name).exists(), name


def test_plot_only_without_data_is_one_line_exit_2(tmp_path, capsys):
    from experiments import ta_lpo
    from experiments.ta_runner import main

    with pytest.raises(SystemExit) as e:
        main(ta_lpo.EXPERIMENT, ta_lpo.__doc__, "unused", ["--plot-only", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
