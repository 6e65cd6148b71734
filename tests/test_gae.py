"""GAE(lambda) on hand-computed trajectories: termination cuts the bootstrap, truncation does not."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discover.agents import gae

GAMMA = 0.9

# A 4-step trajectory with one truncation (step 1) and one termination (step 3):
#   step 0: ordinary step, bootstraps from V(s_1) = 1.0
#   step 1: TRUNCATED (time limit): done = 1 cuts the trace, but discount stays gamma and the
#           bootstrap uses V(final pre-reset obs) = 5.0, NOT values[2] = 1.5 (a new episode)
#   step 2: ordinary step, bootstraps from V(s_3) = 2.0
#   step 3: TERMINATED: discount 0, so next_values[3] = 7.0 must be ignored
REWARDS = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
VALUES = np.array([0.5, 1.0, 1.5, 2.0], np.float32)
NEXT_VALUES = np.array([1.0, 5.0, 2.0, 7.0], np.float32)
DISCOUNTS = np.array([GAMMA, GAMMA, GAMMA, 0.0], np.float32)
DONES = np.array([0.0, 1.0, 0.0, 1.0], np.float32)

# delta_t = r_t + discount_t * next_value_t - V_t
#   d0 = 1 + 0.9*1.0 - 0.5 = 1.4
#   d1 = 2 + 0.9*5.0 - 1.0 = 5.5
#   d2 = 3 + 0.9*2.0 - 1.5 = 3.3
#   d3 = 4 + 0.0*7.0 - 2.0 = 2.0
DELTAS = np.array([1.4, 5.5, 3.3, 2.0], np.float32)


def _run(use_jit, *args):
    fn = jax.jit(gae) if use_jit else gae
    adv, targets = fn(*[jnp.asarray(a) for a in args[:-1]], args[-1])
    return np.asarray(adv), np.asarray(targets)


@pytest.mark.parametrize("use_jit", [False, True])
def test_gae_hand_computed_lambda_half(use_jit):
    # lam = 0.5, carry coefficient gamma*lam*(1-done) = 0.45 at steps 0 and 2, 0 at steps 1 and 3:
    #   A3 = d3 = 2.0
    #   A2 = d2 + 0.45*A3 = 3.3 + 0.9 = 4.2
    #   A1 = d1 (trace cut by the truncation) = 5.5
    #   A0 = d0 + 0.45*A1 = 1.4 + 2.475 = 3.875
    # targets = A + V = [4.375, 6.5, 5.7, 4.0]
    adv, targets = _run(use_jit, REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, DONES, 0.5)
    np.testing.assert_allclose(adv, [3.875, 5.5, 4.2, 2.0], rtol=1e-6)
    np.testing.assert_allclose(targets, [4.375, 6.5, 5.7, 4.0], rtol=1e-6)


@pytest.mark.parametrize("use_jit", [False, True])
def test_gae_lambda_one_is_monte_carlo_minus_values(use_jit):
    # Discounted Monte-Carlo returns within each episode, bootstrapping only at the truncation:
    #   G3 = 4                          (terminated)
    #   G2 = 3 + 0.9*G3 = 6.6
    #   G1 = 2 + 0.9*V(final obs) = 2 + 0.9*5 = 6.5   (truncated: bootstrap, don't continue)
    #   G0 = 1 + 0.9*G1 = 1 + 5.85 = 6.85
    # A = G - V = [6.35, 5.5, 5.1, 2.0]
    adv, targets = _run(use_jit, REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, DONES, 1.0)
    np.testing.assert_allclose(adv, [6.35, 5.5, 5.1, 2.0], rtol=1e-6)
    np.testing.assert_allclose(targets, [6.85, 6.5, 6.6, 4.0], rtol=1e-6)


@pytest.mark.parametrize("use_jit", [False, True])
def test_gae_lambda_zero_is_td_error(use_jit):
    adv, targets = _run(use_jit, REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, DONES, 0.0)
    np.testing.assert_allclose(adv, DELTAS, rtol=1e-6)
    np.testing.assert_allclose(targets, DELTAS + VALUES, rtol=1e-6)


def test_gae_termination_ignores_next_value_truncation_uses_it():
    base, _ = _run(False, REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, DONES, 0.5)
    # Changing the terminated step's next value changes nothing.
    nv = NEXT_VALUES.copy()
    nv[3] = -100.0
    adv, _ = _run(False, REWARDS, VALUES, nv, DISCOUNTS, DONES, 0.5)
    np.testing.assert_array_equal(adv, base)
    # Changing the truncated step's bootstrap value changes A1 by 0.9*dv and A0 by 0.45*0.9*dv,
    # but nothing after the cut (steps 2, 3).
    nv = NEXT_VALUES.copy()
    nv[1] += 1.0
    adv, _ = _run(False, REWARDS, VALUES, nv, DISCOUNTS, DONES, 0.5)
    np.testing.assert_allclose(adv - base, [0.405, 0.9, 0.0, 0.0], atol=1e-6)
    # values[2] (the first state of the new episode) never leaks into step 1 through the cut.
    v = VALUES.copy()
    v[2] += 1.0
    adv, _ = _run(False, REWARDS, v, NEXT_VALUES, DISCOUNTS, DONES, 0.5)
    np.testing.assert_allclose(adv - base, [0.0, 0.0, -1.0, 0.0], atol=1e-6)


def test_gae_random_matches_reference_loop_and_vmap():
    """Random [T, E] data against a plain Python reference of the recursion, vmapped over E."""
    rng = np.random.default_rng(0)
    T, E, lam = 11, 3, 0.95
    r = rng.normal(size=(T, E)).astype(np.float32)
    v = rng.normal(size=(T, E)).astype(np.float32)
    nv = rng.normal(size=(T, E)).astype(np.float32)
    term = (rng.random((T, E)) < 0.15).astype(np.float32)
    trunc = (rng.random((T, E)) < 0.15).astype(np.float32) * (1 - term)
    done = np.maximum(term, trunc)
    disc = GAMMA * (1 - term)

    ref = np.zeros((T, E))
    for e in range(E):
        nxt = 0.0
        for t in reversed(range(T)):
            delta = r[t, e] + disc[t, e] * nv[t, e] - v[t, e]
            nxt = delta + GAMMA * lam * (1 - done[t, e]) * nxt
            ref[t, e] = nxt

    fn = jax.jit(jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None), out_axes=1))
    adv, targets = fn(r, v, nv, disc, done, lam)
    np.testing.assert_allclose(np.asarray(adv), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(targets), ref + v, rtol=1e-5, atol=1e-5)
