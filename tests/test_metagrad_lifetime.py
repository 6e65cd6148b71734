"""Meta-gradient K-step unrolls respect each agent's lifetime N, and the separate value critic of
the meta-objective learns from the agent's own rollouts (LPG paper)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def _chain_cfg(unroll=3):
    """The delayed chain (length 5, reward +1 / -1 for the first choice at the end) with gamma = 1:
    under a fixed policy the true values are V(first state) = pi(correct) - pi(wrong) and
    V = +1 / -1 on the correct / wrong branch, which a linear critic on the one-hot observation
    represents exactly. pi_hat starts at exactly zero and the meta learning rate is negligible,
    so the policy never changes and the critic has a fixed target."""
    return RunConfig(
        meta_optimizer="metagrad",
        env=EnvConfig("chain"),
        agent=AgentConfig(torso="linear", optimizer="sgd", lr=1.0, anneal_lr=False),
        objective=ObjectiveConfig(name="lpg", lpg_hidden=8, gamma=1.0, gae_lambda=0.95, lpg_pi_hat_init_scale=0.0),
        lifetime=LifetimeConfig(num_envs=8, rollout_len=10, lifetime=10_000, eval_envs=2, eval_steps=10),
        metagrad=MetaGradConfig(batch=2, unroll=unroll, lr=1e-12, critic_lr=3e-2),
    )


def _chain_states(length=5):
    """Observations [S, D] of every state of the default chain and their true values' sign pattern:
    (obs, branch) with branch -1 at the first state, 0 (correct) or 1 (wrong) after it."""
    from environments.chain import DelayedChain, ChainState, MAX_DISTRACTORS

    env, rows, branches = DelayedChain(), [], []
    for pos in range(length):
        for branch in ((-1,) if pos == 0 else (0, 1)):
            state = ChainState(time=jnp.int32(pos), pos=jnp.int32(pos), branch=jnp.int32(branch),
                               bits=jnp.zeros((MAX_DISTRACTORS,)))
            rows.append(env.get_obs(state))
            branches.append(branch)
    return jnp.stack(rows), np.array(branches)


@pytest.mark.slow  # suite time (a learning test)
def test_value_critic_learns_the_values_of_the_agents_policy_from_its_rollouts():
    cfg = _chain_cfg(unroll=3)
    built = build(cfg)
    from discover.agents import make_networks

    critic_nets = make_networks(cfg.agent, 2, "critic", 0)
    state = built.meta.init(jax.random.key(0), built.objective.init(jax.random.key(1)))
    obs, branch = _chain_states()
    pi = jax.nn.softmax(built.lifetime.nets.actor(jax.tree.map(lambda x: x[0], state.agents.params["actor"]), obs[0]))
    true_v = np.where(branch == -1, float(pi[0] - pi[1]), np.where(branch == 0, 1.0, -1.0))
    error = lambda critic: [float(np.mean((np.asarray(critic_nets.aux(jax.tree.map(lambda x: x[j], critic), obs)) - true_v) ** 2))
                            for j in range(cfg.metagrad.batch)]
    before = error(state.critic)
    gen = jax.jit(built.meta.generation)
    state, _ = gen(state, jax.random.key(2))
    # The critic took K + 1 = 4 Adam steps in that meta-step: one per rollout of the unroll, and
    # one on the meta-objective's rollout (optax's adam keeps its step count in the state).
    assert np.asarray(state.critic_opt[0].count).tolist() == [4, 4]
    for _ in range(39):
        state, _ = gen(state, jax.random.key(2))
    after = error(state.critic)
    # The policy did not move (so the target is fixed) ...
    pi_now = jax.nn.softmax(built.lifetime.nets.actor(jax.tree.map(lambda x: x[0], state.agents.params["actor"]), obs[0]))
    np.testing.assert_allclose(np.asarray(pi_now), np.asarray(pi), atol=1e-4)
    # ... and the critic of every agent went from ~1 to a small error against the true values.
    assert all(b > 0.3 for b in before), before
    # Measured: mean squared error 1.16 and 0.63 -> 0.00056 and 0.00055 after 40 meta-steps.
    assert all(a < 0.05 * b for a, b in zip(after, before)), (before, after)


def test_critic_data_leaves_out_rollouts_past_the_agents_lifetime():
    """An agent with N = 1 in a K = 3 unroll gives its critic its one rollout and the
    meta-objective's (weights 1, 0, 0, 1); an agent with N = 10,000 gives all four."""
    cfg = _chain_cfg(unroll=3)
    built = build(cfg)
    eta = built.objective.init(jax.random.key(1))
    state = built.meta.init(jax.random.key(0), eta)
    state = state._replace(lifetimes=jnp.array([1, 10_000], jnp.int32))
    _, aux = jax.jit(built.meta.loss)(eta, state, jax.random.split(jax.random.key(2), 2))
    critic_data = aux[2]
    np.testing.assert_array_equal(np.asarray(critic_data.weight), [[1, 0, 0, 1], [1, 1, 1, 1]])
    assert critic_data.obs.shape[:2] == (2, 4)  # [B, K + 1, T, E, D]
