"""Noise drawn ahead of the step loop (discover.agents.rollout.make_step_noise, GridWorld's
StepNoise) gives bit for bit the rollouts and evaluations of drawing it inside the loop, as the
code did before: the same actions (argmax(logits + gumbel) is jax.random.categorical), the same
env transitions, for our envs and a gymnax one, in one block and in several with a remainder.
The gridworld's step with a key is itself checked against recordings of the implementation
before this change (tests/test_gridworld_reference.py); here its drawn noise must reproduce it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import environments
from discover.agents import make_evaluate, make_networks, make_rollout
from discover.agents.rollout import _block, make_step_noise, scan_steps
from discover.config import AgentConfig
from environments.gridworld import StepNoise
from environments.levels import get_distribution


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _random_levels(n):
    """[n] non-tabular gridworld levels (objects respawn at random cells) and [n] tabular ones."""
    sample = lambda name, seed: jax.vmap(get_distribution(name).sample)(jax.random.split(jax.random.key(seed), n))[0]
    return sample("rand_all", 3), sample("all_vrandlife", 4)


@pytest.mark.parametrize("tabular_only", [False, True])
def test_gridworld_step_accepts_its_drawn_noise(tabular_only):
    env = environments.GridWorld(tabular_only)
    general, tabular = _random_levels(16)
    levels = tabular if tabular_only else general
    keys = jax.random.split(jax.random.key(0), 16)
    state = jax.vmap(env.initial_state)(keys, levels)
    step = jax.jit(jax.vmap(env.step))
    for t in range(30):
        keys = jax.random.split(jax.random.fold_in(jax.random.key(1), t), 16)
        actions = jax.random.randint(jax.random.fold_in(jax.random.key(2), t), (16,), 0, 4)
        with_keys = step(keys, state, actions, levels)
        noise = jax.vmap(env.draw_step_noise)(keys)
        assert isinstance(noise, StepNoise) and (noise.k_reset is None) == tabular_only
        _assert_trees_equal(with_keys, step(noise, state, actions, levels))
        state = with_keys[1]


def _reference_rollout(env, nets, num_steps):
    """The rollout as it was before its noise was drawn ahead: every draw inside the loop."""
    step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def rollout(params, env_params, env_state, obs, key):
        def step(carry, step_key):
            env_state, obs = carry
            k_act, k_env = jax.random.split(step_key)
            logits = nets.actor(params["actor"], obs)
            action = jax.random.categorical(k_act, logits)
            next_obs, env_state, reward, term, trunc, info = step_env(
                jax.random.split(k_env, obs.shape[0]), env_state, action, env_params)
            return (env_state, next_obs), (obs, action, reward, term, trunc, info["returned_episode_returns"])

        return jax.lax.scan(step, (env_state, obs), jax.random.split(key, num_steps))

    return rollout


def _reference_evaluate(env, nets, num_envs, num_steps):
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def evaluate(actor_params, env_params, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = reset(jax.random.split(k_reset, num_envs), env_params)

        def step(carry, step_key):
            state, obs, ret, finished = carry
            k_act, k_env = jax.random.split(step_key)
            action = jax.random.categorical(k_act, nets.actor(actor_params, obs))
            obs, state, reward, term, trunc, _ = step_env(jax.random.split(k_env, num_envs), state, action, env_params)
            ret = ret + (1.0 - finished) * reward
            finished = jnp.maximum(finished, jnp.logical_or(term, trunc).astype(jnp.float32))
            return (state, obs, ret, finished), None

        zeros = jnp.zeros(num_envs)
        (_, _, ret, _), _ = jax.lax.scan(step, (state, obs, zeros, zeros), jax.random.split(k_run, num_steps))
        return ret.mean()

    return evaluate


ENVS = {
    "gridworld-random": lambda: (environments.make("gridworld")[0], jax.tree.map(lambda x: x[0], _random_levels(1)[0])),
    "gridworld-tabular": lambda: (environments.make("gridworld", tabular_only=True)[0],
                                  jax.tree.map(lambda x: x[0], _random_levels(1)[1])),
    "chain": lambda: environments.make("chain", noise=0.3),
    "CartPole-v1": lambda: environments.make("CartPole-v1"),
}


@pytest.mark.parametrize("name", sorted(ENVS))
def test_rollout_and_evaluate_equal_drawing_inside_the_loop(name):
    env, level = ENVS[name]()
    num_envs, num_steps = 4, 37
    nets = make_networks(AgentConfig(torso="mlp", hidden=(16,)), env.num_actions, "critic", 1)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), num_envs), level)
    # Large random weights, so the policy is far from uniform and the actions vary.
    params = jax.tree.map(lambda x: 3.0 * x, nets.init(jax.random.key(1), obs[0]))
    key = jax.random.key(2)

    (state_a, obs_a), ref = jax.jit(_reference_rollout(env, nets, num_steps))(params, level, state, obs, key)
    state_b, obs_b, traj = jax.jit(make_rollout(env, nets, num_steps))(params, level, state, obs, key)
    _assert_trees_equal((state_a, obs_a), (state_b, obs_b))
    ref_obs, action, reward, term, trunc, _ = ref
    np.testing.assert_array_equal(np.asarray(traj.obs), np.asarray(ref_obs))
    np.testing.assert_array_equal(np.asarray(traj.action), np.asarray(action))
    np.testing.assert_array_equal(np.asarray(traj.reward), np.asarray(reward))
    np.testing.assert_array_equal(np.asarray(traj.done), np.asarray(term | trunc, dtype=np.float32))
    assert len(np.unique(np.asarray(action))) > 1

    # 150 evaluation steps: blocks of 50 (one loop); 131 (prime): blocks of 64 and a remainder.
    steps = 131 if name.startswith("gridworld") else 150
    want = jax.jit(_reference_evaluate(env, nets, num_envs, steps))(params["actor"], level, key)
    got = jax.jit(make_evaluate(env, nets, num_envs, steps))(params["actor"], level, key)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_blocks():
    assert _block(20, 64) == 20 and _block(64, 64) == 64
    assert _block(500, 64) == 50 and _block(150, 64) == 50 and _block(200, 64) == 50
    assert _block(131, 64) == 64  # prime: blocks of 64 and a remainder of 3


@pytest.mark.parametrize("num_steps,cap", [(12, 64), (12, 4), (13, 4), (7, 3)])
def test_scan_steps_is_a_plain_scan(num_steps, cap):
    """Stacked outputs and the final carry equal a scan that draws each step's noise inside."""
    draw = lambda k: jax.random.uniform(k, (2,))
    step = lambda c, u: (c * 0.5 + u.sum(), c + u[0])
    key = jax.random.key(5)
    want = jax.lax.scan(lambda c, k: step(c, draw(k)), jnp.float32(1.0), jax.random.split(key, num_steps))
    got = scan_steps(step, jnp.float32(1.0), key, num_steps, draw, cap)
    _assert_trees_equal(got, want)
    assert got[1].shape == (num_steps,)


def test_step_noise_matches_categorical():
    """argmax(logits + gumbel) with the drawn gumbel is jax.random.categorical's sample."""
    env = environments.make("chain")[0]
    draw = make_step_noise(env, 64)
    logits = jax.random.normal(jax.random.key(7), (64, env.num_actions)) * 2.0
    for i in range(5):
        step_key = jax.random.key(i)
        k_act, _ = jax.random.split(step_key)
        gumbel, _ = draw(step_key)
        np.testing.assert_array_equal(np.asarray(jnp.argmax(logits + gumbel, axis=-1)),
                                      np.asarray(jax.random.categorical(k_act, logits)))
