"""Packed lifetimes (discover.packing): the LPT schedule by hand, packed agents equal agents
trained one at a time, utilisation, and non-finite agents reported as NaN."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discover.config import AgentConfig, LifetimeConfig, ObjectiveConfig
from discover.curricula import make_task
from discover.config import EnvConfig
from discover.lifetime import make_lifetime
from discover.objectives import make_objective
from discover.packing import auto_slots, lpt_schedule, make_packed_train, makespan_bound


def test_lpt_schedule_by_hand():
    # Longest first, each to the least loaded slot (ties: the lower slot):
    # 5 -> slot 0 [5, 0]; 3 (task 1) -> slot 1 [5, 3]; 3 (task 2) -> slot 1 [5, 6];
    # 2 (task 3) -> slot 0 [7, 6]; 1 (task 4) -> slot 1 [7, 7].
    sched = lpt_schedule(jnp.array([5, 3, 3, 2, 1]), 2)
    np.testing.assert_array_equal(sched.first, [0, 1])
    np.testing.assert_array_equal(sched.next, [3, 2, 4, -1, -1])
    np.testing.assert_array_equal(sched.loads, [7, 7])
    np.testing.assert_array_equal(sched.slot, [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(sched.start, [0, 0, 3, 5, 6])


def test_lpt_schedule_covers_every_task_once():
    lifetimes = jax.random.randint(jax.random.key(0), (97,), 1, 60)
    sched = jax.device_get(lpt_schedule(lifetimes, 13))
    seen, loads = [], []
    for s in range(13):
        t, load = int(sched.first[s]), 0
        while t >= 0:
            seen.append(t)
            load += int(lifetimes[t])
            t = int(sched.next[t])
        loads.append(load)
    assert sorted(seen) == list(range(97))
    np.testing.assert_array_equal(loads, sched.loads)
    # slot/start say where and when each task runs: back to back in its slot's queue order.
    for s in range(13):
        t, at = int(sched.first[s]), 0
        while t >= 0:
            assert (int(sched.slot[t]), int(sched.start[t])) == (s, at)
            at += int(lifetimes[t])
            t = int(sched.next[t])
    # The static bound that sizes the packed loop's statistics buffers holds.
    assert max(loads) <= makespan_bound(97, 13, 59)
    # LPT's makespan is within 4/3 of the best possible, which is at least the average load.
    assert max(loads) <= 4 / 3 * max(int(lifetimes.max()), int(lifetimes.sum()) / 13) + 1


def test_auto_slots():
    assert auto_slots(100, 75.0, 250) == 30
    assert auto_slots(100, 250.0, 250) == 100
    assert auto_slots(100, 75.0, 250, width=10.0) == 100
    assert auto_slots(4, 0.1, 250) == 1


def _lifetime(objective, env="CartPole-v1", distribution="", max_n=5, **agent):
    cfg = types.SimpleNamespace(
        agent=AgentConfig(hidden=(16,), **agent),
        objective=ObjectiveConfig(name=objective, epochs=2, minibatches=2, lpo_hidden=8, lpg_hidden=8),
        lifetime=LifetimeConfig(num_envs=4, rollout_len=8, lifetime=max_n, eval_envs=4, eval_steps=30),
    )
    task = make_task(EnvConfig(env, distribution), cfg.lifetime)
    obj = make_objective(cfg.objective)
    return make_lifetime(cfg, obj, task.env, task.template, max_n), obj, task


@pytest.mark.parametrize("objective,env,distribution", [
    ("ta-lpo", "CartPole-v1", ""),
    pytest.param("ta-lpg", "gridworld", "all_vrandlife", marks=pytest.mark.slow),  # LPG NaN: also test_lifetime
])
def test_packed_agents_equal_agents_trained_alone(objective, env, distribution):
    """Six tasks with their own N, objective parameters and levels in 3 slots; task 2's objective
    is NaN, so its agent diverges and must score NaN both ways (a diverged agent can still
    return a finite evaluation return: NaN logits make categorical sampling pick action 0)."""
    lt, obj, task = _lifetime(objective, env, distribution)
    p = 6
    lifetimes = jnp.array([3, 5, 1, 4, 2, 5], jnp.int32)
    keys = jax.random.split(jax.random.key(4), p)
    params = jax.vmap(obj.init)(jax.random.split(jax.random.key(1), p))
    params = jax.tree.map(lambda x: x.at[2].set(jnp.nan), params)
    _, levels, _ = task.curriculum.sample(jax.random.key(2), task.curriculum.init(jax.random.key(0)), p)
    packed, util = jax.jit(make_packed_train(lt, slots=3))(params, levels, lifetimes, keys)
    alone = jax.jit(lt.train)
    for i in range(p):
        n = int(lifetimes[i])
        _, m = alone(jax.tree.map(lambda x: x[i], params), jax.tree.map(lambda x: x[i], levels), lifetimes[i], keys[i])
        np.testing.assert_allclose(packed.final_return[i], m.final_return, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(packed.return_sum[i], m.return_sum, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(packed.episodes[i], m.episodes)
        np.testing.assert_allclose(packed.loss[i], m.loss, rtol=1e-4, atol=1e-6)
        assert np.all(np.asarray(packed.episodes[i, n:]) == 0)
    finite = np.isfinite(np.asarray(packed.final_return))
    np.testing.assert_array_equal(finite, [True, True, False, True, True, True])
    # 20 updates of work in 3 slots: LPT packs 5+2, 5+1, 4+3 -> makespan 7.
    assert float(util) == pytest.approx(20 / (3 * 7))
    # Not vacuous: tasks really differ.
    assert len(set(np.round(np.asarray(packed.final_return)[finite], 4).tolist())) > 1
