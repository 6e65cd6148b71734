"""discover.evaluate: statistics on hand examples, normalised scores, train_returns, horizon test."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import environments
from discover import evaluate as ev
from discover.config import AgentConfig, LifetimeConfig, ObjectiveConfig
from discover.lifetime import make_lifetime
from discover.objectives import make_objective


def test_iqm_hand_examples():
    # [1..8]: drop floor(8/4) = 2 from each end -> mean(3, 4, 5, 6) = 4.5
    assert ev.iqm(np.arange(1, 9)) == 4.5
    # order does not matter; outliers are trimmed: [100, 1, 2, 3] -> drop 1 and 100 -> mean(2, 3)
    assert ev.iqm([100.0, 1.0, 2.0, 3.0]) == 2.5
    # fewer than 4 values: nothing is trimmed -> plain mean
    assert ev.iqm([1.0, 2.0, 6.0]) == 3.0
    assert np.isnan(ev.iqm([]))


def test_bootstrap_ci_hand_examples():
    # a constant sample has a degenerate interval at the constant
    assert ev.bootstrap_ci(np.full(10, 3.0)) == (3.0, 3.0)
    x = np.arange(1, 9, dtype=float)
    lo, hi = ev.bootstrap_ci(x, np.mean, n_boot=2000, seed=0)
    assert 1.0 <= lo < 4.5 < hi <= 8.0  # brackets the sample mean, inside the data range
    assert ev.bootstrap_ci(x, ev.iqm, seed=3) == ev.bootstrap_ci(x, ev.iqm, seed=3)  # seeded
    lo_i, hi_i = ev.bootstrap_ci(x, ev.iqm, seed=0)
    assert lo_i <= 4.5 <= hi_i
    # a wider level (alpha larger) gives a narrower interval
    lo50, hi50 = ev.bootstrap_ci(x, np.mean, n_boot=2000, alpha=0.5, seed=0)
    assert lo <= lo50 and hi50 <= hi


def test_normalised_score_hand_values():
    # (ret - random) / (baseline - random): (6 - 2) / (10 - 2) = 0.5
    assert ev.normalised_score(6.0, 10.0, 2.0) == 0.5
    # random = 0 by default: 5 / 10
    assert ev.normalised_score(5.0, 10.0) == 0.5
    # equals the baseline -> 1; equals random -> 0; worse than random -> negative
    np.testing.assert_allclose(ev.normalised_score([10.0, 2.0, 0.0], 10.0, 2.0), [1.0, 0.0, -0.25])
    # negative returns: baseline -1 beats random -3; ret -2 is halfway: (-2 + 3) / (-1 + 3) = 0.5
    assert ev.normalised_score(-2.0, -1.0, -3.0) == 0.5
    # baseline no better than random: undefined -> NaN (not a sign-flipped ratio)
    assert np.isnan(ev.normalised_score(1.0, 2.0, 2.0))
    assert np.isnan(ev.normalised_score(1.0, -1.0, 0.0))


def test_summarise_drops_nan():
    s = ev.summarise([1.0, 2.0, np.nan, 3.0, 4.0])
    assert s["mean"] == 2.5 and s["iqm"] == 2.5 and s["ci_lo"] <= 2.5 <= s["ci_hi"]


def test_train_returns_cartpole_a2c_shape():
    cfg = types.SimpleNamespace(
        agent=AgentConfig(hidden=(16,)),
        objective=ObjectiveConfig(name="a2c"),
        lifetime=LifetimeConfig(num_envs=2, rollout_len=8, lifetime=4, eval_envs=2, eval_steps=20),
    )
    r = ev.train_returns(cfg, "a2c", {}, "CartPole-v1", None, [2, 4], seeds=2)
    assert r.shape == (2, 2) and np.all(np.isfinite(r)) and np.all(r > 0)


def _update_params(name, ns, lifetime):
    """Agent params after one update at each step n in ns of an N-update life, all from the same
    state, rollout key and LPG params (so the same batch); one jitted update."""
    cfg = types.SimpleNamespace(
        agent=AgentConfig(hidden=(8,), anneal_lr=False),  # no lr schedule: only LPG may see n/N
        objective=ObjectiveConfig(name=name, lpg_hidden=8, lpg_m=4),
        lifetime=LifetimeConfig(num_envs=2, rollout_len=6, lifetime=lifetime, eval_envs=2, eval_steps=10),
    )
    env, level = environments.make("chain")
    obj = make_objective(cfg.objective)
    lt = make_lifetime(cfg, obj, env, level, max_lifetime=lifetime)
    # Larger-than-init LPG weights so the temporal inputs visibly move pi_hat.
    obj_params = jax.tree.map(lambda x: 3.0 * x, obj.init(jax.random.key(1)))
    state = lt.init(jax.random.key(0), level)
    update = jax.jit(lambda n: lt.update(state, n, obj_params, level, jnp.int32(lifetime), jax.random.key(2))[0].params)
    return [update(jnp.int32(n)) for n in ns]


def _max_diff(a, b):
    return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("name,differs", [("ta-lpg", True), ("lpg", False)])
def test_horizon_changes_update_only_for_temporal_lpg(name, differs):
    """The same batch at n = 0 and n = N/2: TA-LPG sees n/N and updates differently; LPG cannot."""
    lifetime = 10
    p0, p_half = _update_params(name, (0, lifetime // 2), lifetime)
    d = _max_diff(p0, p_half)
    if differs:
        assert d > 1e-7
    else:
        assert d == 0.0


# ------------------------------------------------------------------ statistics of discover evaluate


def test_bootstrap_ci_two_point_hand_case():
    # x = [0, 1]: a resample of 2 values has mean 0 w.p. 1/4, 0.5 w.p. 1/2, 1 w.p. 1/4.
    # 95% interval: the 2.5% and 97.5% quantiles of that distribution are 0 and 1.
    assert ev.bootstrap_ci([0.0, 1.0], np.mean, n_boot=20000) == (0.0, 1.0)
    # 20% interval (alpha = 0.8): quantiles 0.4 and 0.6 both fall on the middle mass, 0.5.
    assert ev.bootstrap_ci([0.0, 1.0], np.mean, n_boot=20000, alpha=0.8) == (0.5, 0.5)


def test_iqm_and_bootstrap_band_hand_case():
    # IQM of [0, 1, 2, 3, 4, 5, 6, 100]: drop 2 from each end -> mean(2, 3, 4, 5) = 3.5
    s = ev.summarise([0, 1, 2, 3, 4, 5, 6, 100])
    assert s["iqm"] == 3.5 and s["mean"] == 121 / 8
    # The band of identical seeds is the curve itself; a point where no seed has data is NaN.
    curves = np.array([[1.0, np.nan, 3.0], [1.0, np.nan, 3.0]])
    mean, lo, hi = ev.bootstrap_band(curves)
    np.testing.assert_array_equal(mean, [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(lo, mean)
    np.testing.assert_array_equal(hi, mean)


def test_verdict_ties_where_cis_overlap():
    a = dict(ci_lo=10.0, ci_hi=20.0)
    assert ev.verdict(a, dict(ci_lo=19.0, ci_hi=30.0)) == "ties"
    assert ev.verdict(a, dict(ci_lo=21.0, ci_hi=30.0)) == "worse"
    assert ev.verdict(a, dict(ci_lo=1.0, ci_hi=9.0)) == "better"


def test_cell_rows_normalise_per_environment():
    """Each environment is normalised by its own baseline and random returns:
    env A: random 0, baseline mean 10 -> learned [5, 15] scores [0.5, 1.5];
    env B: random -10, baseline mean 0 -> learned [-5, -5] scores [0.5, 0.5]."""
    from discover.config import LifetimeConfig
    from discover.run_eval import Cell, EnvSpec, Method, cell_rows

    cfg = types.SimpleNamespace(lifetime=LifetimeConfig(num_envs=2, rollout_len=5))
    methods = [Method("lpo", None, None, "learned"), Method("ppo", None, None, "baseline")]
    cases = {"A": (0.0, [5.0, 15.0], [8.0, 12.0], [0.5, 1.5]), "B": (-10.0, [-5.0, -5.0], [-1.0, 1.0], [0.5, 0.5])}
    for label, (rand, learned, base, expected) in cases.items():
        cell = Cell(EnvSpec(label, label, ""), cfg, None, None, (7,))
        finals = {"lpo": np.array([learned]), "ppo": np.array([base])}
        rows = cell_rows(cell, methods, finals, "ppo", rand, (1.0,))
        lpo = next(r for r in rows if r["method"] == "lpo")
        np.testing.assert_allclose(lpo["norm_returns"], expected)
        assert lpo["norm_mean"] == pytest.approx(np.mean(expected))
        assert lpo["env_steps"] == 7 * 2 * 5 and lpo["random_return"] == rand
        ppo = next(r for r in rows if r["method"] == "ppo")
        assert ppo["norm_mean"] == pytest.approx(1.0)  # the baseline scores 1 by construction
