"""Delayed chain MDP: the first choice is paid for only at the end of the chain."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from environments import DelayedChain, make_chain_params, sample_chain_params
from environments.chain import MAX_DISTRACTORS, OBS_SIZE

ENV = DelayedChain()


def episode(params, first_action, seed=0):
    """Plays one episode (first action, then action 0); returns rewards and terminated flags."""
    key = jax.random.key(seed)
    _, state = ENV.reset(key, params)
    rewards, terms = [], []
    for t in range(int(params.length)):
        key, sub = jax.random.split(key)
        _, state, r, term, _, _ = ENV.step(sub, state, first_action if t == 0 else 0, params)
        rewards.append(float(r))
        terms.append(bool(term))
    return rewards, terms


def test_correct_first_action_pays_only_at_the_end():
    params = make_chain_params(length=5, correct_action=1, correct_reward=2.0, wrong_reward=-1.0)
    rewards, terms = episode(params, first_action=1)
    assert rewards == pytest.approx([0.0, 0.0, 0.0, 0.0, 2.0])
    assert terms == [False, False, False, False, True]
    rewards, _ = episode(params, first_action=0)
    assert rewards == pytest.approx([0.0, 0.0, 0.0, 0.0, -1.0])


def test_noise_and_distractors():
    params = make_chain_params(length=8, noise=0.5, num_distractors=3)
    rewards, _ = episode(params, first_action=0)
    assert rewards[-1] == 1.0
    middle = np.array(rewards[:-1])
    assert np.all(np.abs(middle) <= 0.5) and np.any(middle != 0.0)
    obs, _ = ENV.reset(jax.random.key(3), params)
    assert obs.shape == (OBS_SIZE,) == ENV.observation_space(params).shape
    bits = np.asarray(obs[-MAX_DISTRACTORS:])
    assert np.all(bits[3:] == 0.0) and set(np.unique(bits)) <= {0.0, 1.0}


def test_vmapped_random_chains_terminate_at_their_length():
    keys = jax.random.split(jax.random.key(0), 16)
    params = jax.vmap(sample_chain_params)(keys)
    assert int(params.length.min()) >= 5 and int(params.length.max()) <= 30
    _, state = jax.vmap(ENV.reset)(keys, params)

    def body(state, t):
        # Always pick the correct branch first.
        action = jnp.where(t == 0, params.correct_action, 0)
        _, state, r, term, _, _ = jax.vmap(ENV.step)(keys, state, action, params)
        return state, (r, term)

    _, (rewards, terms) = jax.lax.scan(body, state, jnp.arange(30))
    first_term = np.argmax(np.asarray(terms), axis=0) + 1
    np.testing.assert_array_equal(first_term, np.asarray(params.length))
    np.testing.assert_allclose(np.asarray(rewards)[first_term - 1, np.arange(16)], 1.0)


def test_invalid_chain_rejected():
    with pytest.raises(ValueError, match="length"):
        make_chain_params(length=100)
    with pytest.raises(ValueError, match="unknown chain fields"):
        make_chain_params(lenght=5)
