"""environments.make: our envs and gymnax envs, uniformly wrapped."""

import jax
import jax.numpy as jnp
import pytest

import environments
from environments import get_level, list_envs, make


@pytest.mark.parametrize("name,kwargs", [
    ("gridworld", {}),
    ("gridworld-rand_long_dense", {}),
    ("chain", {"length": 4}),
    ("CartPole-v1", {}),
    ("Breakout-MinAtar", {}),
    ("FrozenLake-misc", {}),  # Discrete observation -> one-hot floats
])
def test_make_gives_flat_float_logged_env(name, kwargs):
    env, params = make(name, **kwargs)
    obs_shape = env.observation_space(params).shape
    assert len(obs_shape) == 1 and env.num_actions == env.action_space(params).n
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.shape == obs_shape and obs.dtype == jnp.float32
    action = env.action_space(params).sample(jax.random.key(1))
    obs, state, reward, term, trunc, info = env.step(jax.random.key(2), state, action, params)
    assert obs.shape == obs_shape and obs.dtype == jnp.float32
    assert info["final_observation"].shape == obs_shape
    for k in ("returned_episode_returns", "returned_episode_lengths", "returned_episode"):
        assert k in info


def test_log_wrapper_reports_chain_episode_return():
    env, params = make("chain", length=3, correct_action=1, correct_reward=2.5)
    _, state = env.reset(jax.random.key(0), params)
    for t, a in enumerate([1, 0, 0]):
        _, state, r, term, trunc, info = env.step(jax.random.key(t), state, a, params)
    assert bool(term) and bool(info["returned_episode"])
    assert float(info["returned_episode_returns"]) == 2.5
    assert int(info["returned_episode_lengths"]) == 3


def test_make_gridworld_with_sampled_params_vmaps():
    env, _ = make("gridworld")
    # Distinct levels (tabular and random) in one batch through the wrapped env.
    levels = [get_level(n)[0] for n in ("dense", "sparse", "rand_long", "rand_longer")]
    params = jax.tree.map(lambda *xs: jnp.stack(xs), *levels)
    keys = jax.random.split(jax.random.key(1), 4)
    obs, state = jax.vmap(env.reset)(keys, params)
    assert obs.shape == (4, 11 * 11 * 6)
    obs, *_ = jax.vmap(env.step)(keys, state, jnp.zeros(4, jnp.int32), params)
    assert obs.shape == (4, 11 * 11 * 6)


def test_list_envs_covers_ours_and_gymnax():
    import gymnax

    names = list_envs()
    assert {"gridworld", "chain", "gridworld-dense"} <= set(names)
    assert set(gymnax.registered_envs) <= set(names)


def test_unknown_environment_is_a_one_line_error():
    with pytest.raises(ValueError) as err:
        make("Foo")
    msg = str(err.value)
    assert msg.startswith("unknown environment 'Foo'; choose from:") and "\n" not in msg
    assert "CartPole-v1" in msg and "gridworld" in msg and "chain" in msg


def test_environments_imports_nothing_from_discover():
    import pathlib

    root = pathlib.Path(environments.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "import discover" not in text and "from discover" not in text, path


@pytest.mark.slow
@pytest.mark.parametrize("name", list_envs())
def test_every_registered_env_resets_and_steps(name):
    """The full registry matrix (about 40 compiles), behind the slow mark."""
    if name == "MNISTBandit-bsuite":
        pytest.skip("gymnax downloads MNIST on construction; no network in CI")
    env, params = make(name)
    obs, state = env.reset(jax.random.key(0), params)
    action = env.action_space(params).sample(jax.random.key(1))
    obs, *_ = env.step(jax.random.key(2), state, action, params)
    assert obs.dtype == jnp.float32 and obs.shape == env.observation_space(params).shape
