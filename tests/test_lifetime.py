"""make_lifetime: mixed lifetimes in one program, determinism, PPO learns CartPole, LPG runs."""

import types

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper

from discover.config import AgentConfig, LifetimeConfig, ObjectiveConfig
from discover.lifetime import make_lifetime
from discover.objectives import make_objective


def _cartpole():
    env, env_params = gymnax.make("CartPole-v1")
    return LogWrapper(FlattenObservationWrapper(env)), env_params


def _cfg(objective=None, agent=None, lifetime=None):
    # make_lifetime reads only cfg.agent, cfg.objective and cfg.lifetime.
    return types.SimpleNamespace(
        agent=agent or AgentConfig(),
        objective=objective or ObjectiveConfig(),
        lifetime=lifetime or LifetimeConfig(),
    )


SMALL = dict(
    objective=ObjectiveConfig(name="ppo", epochs=2, minibatches=2),
    agent=AgentConfig(hidden=(32, 32)),
    lifetime=LifetimeConfig(num_envs=4, rollout_len=16, lifetime=5, eval_envs=4, eval_steps=50),
)


def _build(max_lifetime, **kw):
    cfg = _cfg(**{**SMALL, **kw})
    env, env_params = _cartpole()
    obj = make_objective(cfg.objective)
    lt = make_lifetime(cfg, obj, env, env_params, max_lifetime)
    return lt, obj, env_params


def _assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def small_ppo():
    """A jitted train with max_lifetime 5 (shared by the tests below, compiled once)."""
    lt, obj, env_params = _build(5)
    return jax.jit(lt.train), obj.init(jax.random.key(0)), env_params, lt


@pytest.mark.slow  # suite time; test_packing checks packed mixed lifetimes against agents trained alone
def test_mixed_lifetimes_match_separate_agents(small_ppo):
    train5, obj_params, env_params, lt5 = small_ppo
    key = jax.random.key(42)
    lifetimes = jnp.array([3, 5])
    # One program, two agents with different N, padded to max_lifetime = 5.
    batched = jax.jit(jax.vmap(lt5.train, in_axes=(None, None, 0, None)))
    state_b, metrics_b = batched(obj_params, env_params, lifetimes, key)

    lt3, _, _ = _build(3)
    state3, metrics3 = jax.jit(lt3.train)(obj_params, env_params, 3, key)
    state5, metrics5 = train5(obj_params, env_params, 5, key)

    for i, (state, metrics, n) in enumerate([(state3, metrics3, 3), (state5, metrics5, 5)]):
        _assert_trees_close(jax.tree.map(lambda x: x[i], state_b.params), state.params)
        np.testing.assert_allclose(np.asarray(metrics_b.return_sum[i, :n]), np.asarray(metrics.return_sum[:n]), rtol=1e-5)
        np.testing.assert_array_equal(np.asarray(metrics_b.episodes[i, :n]), np.asarray(metrics.episodes[:n]))
        np.testing.assert_allclose(float(metrics_b.final_return[i]), float(metrics.final_return), rtol=1e-5)
    # The N=3 agent is frozen after 3 updates: zero stats for updates 3 and 4.
    np.testing.assert_array_equal(np.asarray(metrics_b.return_sum[0, 3:]), 0.0)
    np.testing.assert_array_equal(np.asarray(metrics_b.episodes[0, 3:]), 0.0)
    assert metrics3.loss.shape == (3,) and metrics_b.loss.shape == (2, 5)
    # ... and really differs from the N=5 agent (else the comparison would be vacuous).
    diff = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(state3.params), jax.tree.leaves(state5.params)))
    assert diff > 1e-6


def test_same_seed_identical_different_seed_differs(small_ppo):
    train5, obj_params, env_params, _ = small_ppo
    a = train5(obj_params, env_params, 5, jax.random.key(7))
    b = train5(obj_params, env_params, 5, jax.random.key(7))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    c = train5(obj_params, env_params, 5, jax.random.key(8))
    diff = max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a[0].params), jax.tree.leaves(c[0].params)))
    assert diff > 1e-6


def test_training_changes_params_and_counts_episodes(small_ppo):
    train5, obj_params, env_params, lt = small_ppo
    key = jax.random.key(3)
    state, metrics = train5(obj_params, env_params, 5, key)
    init_state = lt.init(jax.random.split(key, 3)[0], env_params)  # train's own k_init
    diff = max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(init_state.params), jax.tree.leaves(state.params)))
    assert diff > 1e-5
    # 5 updates x 4 envs x 16 steps = 320 CartPole steps under a near-random policy: some episodes end,
    # and every completed CartPole episode has return >= 1 (one reward per step).
    assert float(metrics.episodes.sum()) >= 1
    assert float(metrics.return_sum.sum()) >= float(metrics.episodes.sum())
    assert np.isfinite(float(metrics.final_return)) and float(metrics.final_return) > 0
    assert bool(jnp.all(jnp.isfinite(metrics.loss)))


def test_lpg_trains_a_few_updates_without_nan():
    cfg = _cfg(
        objective=ObjectiveConfig(name="ta-lpg"),
        agent=AgentConfig(hidden=(32,), lr=1e-3),
        lifetime=LifetimeConfig(num_envs=4, rollout_len=20, lifetime=3, eval_envs=4, eval_steps=50),
    )
    env, env_params = _cartpole()
    obj = make_objective(cfg.objective)
    assert obj.head == "predictor"
    lt = make_lifetime(cfg, obj, env, env_params, 3)
    assert lt.nets.head == "predictor" and lt.nets.aux_size == cfg.objective.lpg_m
    key = jax.random.key(0)
    obj_params = jax.jit(obj.init)(jax.random.key(1))
    train = jax.jit(lt.train)
    state, metrics = train(obj_params, env_params, 3, key)
    for leaf in jax.tree.leaves(state.params):
        assert bool(jnp.all(jnp.isfinite(leaf)))
    init_state = lt.init(jax.random.split(key, 3)[0], env_params)
    for part in ("actor", "aux"):
        diff = max(
            float(jnp.abs(x - y).max())
            for x, y in zip(jax.tree.leaves(init_state.params[part]), jax.tree.leaves(state.params[part]))
        )
        assert diff > 0.0, part
    assert np.isfinite(float(metrics.final_return))
    assert float(metrics.episodes.sum()) >= 1
    # A NaN LPG makes the agent diverge: its fitness is NaN (ranked last by ES), even though a
    # diverged agent's evaluation return can look finite (NaN logits always sample action 0).
    nan_params = jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), obj_params)
    _, nan_metrics = train(nan_params, env_params, 3, key)
    assert np.isnan(float(nan_metrics.final_return))


@pytest.mark.slow
def test_ppo_solves_cartpole():
    """PureJaxRL's CartPole PPO setting: 4 envs x 128 steps x 976 updates (~5e5 steps), lr 2.5e-4,
    4 epochs x 4 minibatches; three seeds vmapped; mean final evaluation return >= 450."""
    cfg = _cfg(lifetime=LifetimeConfig(num_envs=4, rollout_len=128, lifetime=976, eval_envs=16, eval_steps=500))
    assert cfg.agent.lr == 2.5e-4 and cfg.objective.name == "ppo"
    env, env_params = _cartpole()
    obj = make_objective(cfg.objective)
    lt = make_lifetime(cfg, obj, env, env_params, cfg.lifetime.lifetime)
    keys = jax.random.split(jax.random.key(0), 3)
    train = jax.jit(jax.vmap(lt.train, in_axes=(None, None, None, 0)))
    _, metrics = train({}, env_params, cfg.lifetime.lifetime, keys)
    final = np.asarray(metrics.final_return)
    print("final returns per seed:", final, "lifetime returns:", np.asarray(metrics.lifetime_return))
    assert final.shape == (3,)
    assert final.mean() >= 450, final
