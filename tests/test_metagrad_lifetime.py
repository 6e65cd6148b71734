"""Meta-gradient K-step unrolls respect each agent's lifetime N, and the separate value critic of
the meta-objective learns from the agent's own rollouts (LPG paper)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from discover.config import AgentConfig, EnvConfig, LifetimeConfig, MetaGradConfig, ObjectiveConfig, RunConfig
from discover.meta.run import build


def _cfg(unroll=5, **metagrad):
    return RunConfig(
        meta_optimizer="metagrad",
        env=EnvConfig("gridworld", "dense"),
        # anneal_lr: the agent's step is lr * (1 - n/N), negative past N if updates ran on.
        agent=AgentConfig(hidden=(16,), activation="relu", lr=0.05, anneal_lr=True),
        objective=ObjectiveConfig(name="ta-lpg", lpg_hidden=8),
        lifetime=LifetimeConfig(num_envs=4, rollout_len=10, lifetime=50, eval_envs=2, eval_steps=10),
        metagrad=MetaGradConfig(batch=2, unroll=unroll, **metagrad),
    )


def _leaves_close(a, b):
    return all(np.allclose(np.asarray(x), np.asarray(y), atol=1e-6) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_unroll_freezes_agents_at_their_lifetime():
    """Agent 0 has N = 3 inside a K = 5 unroll: it takes exactly updates 0, 1, 2 (the same as
    calling lifetime.update three times with the same keys) and its counter stops at 3; agent 1
    (N = 50) takes all 5."""
    cfg = _cfg(unroll=5)
    built = build(cfg)
    eta = built.objective.init(jax.random.key(1))
    state = built.meta.init(jax.random.key(0), eta)
    state = state._replace(lifetimes=jnp.array([3, 50], jnp.int32))
    keys = jax.random.split(jax.random.key(2), 2)
    loss, aux = jax.jit(built.meta.loss)(eta, state, keys)
    agents_next, n_k = aux[0], aux[1]
    assert np.isfinite(float(loss))
    np.testing.assert_array_equal(np.asarray(n_k), [3, 5])

    take = lambda tree, j: jax.tree.map(lambda x: x[j], tree)
    update = jax.jit(built.lifetime.update)
    for j, steps, life in ((0, 3, 3), (1, 5, 50)):
        agent, level = take(state.agents, j), take(state.levels, j)
        for i in range(steps):
            agent, _ = update(agent, jnp.int32(i), eta, level, jnp.int32(life), jax.random.fold_in(keys[j], i))
        assert _leaves_close(agent.params, take(agents_next, j).params), f"agent {j}"
    # Without the mask agent 0 would also have taken updates 3 and 4, at learning rates
    # 0.05 (1 - 3/3) = 0 and 0.05 (1 - 4/3) < 0: a fourth update alone already differs.
    agent = take(state.agents, 0)
    for i in range(5):
        agent, _ = update(agent, jnp.int32(i), eta, take(state.levels, 0), jnp.int32(3), jax.random.fold_in(keys[0], i))
    assert not _leaves_close(agent.params, take(agents_next, 0).params)
