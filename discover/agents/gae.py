"""Generalised advantage estimation on one time-major trajectory (batch with vmap)."""

import chex
import jax
import jax.numpy as jnp


def gae(rewards, values, next_values, discounts, dones, lam):
    """GAE(lambda) on one trajectory.

    Args:
      rewards, values: [T] r_t and V(s_t).
      next_values: [T] V(s'_t) of the true successor (the pre-reset observation at episode ends).
      discounts: [T] gamma * (1 - terminated_t): zero bootstraps only on true termination.
      dones: [T] 1 where the episode ended (terminated or truncated): the trace is cut there.
      lam: lambda.

    Returns:
      advantages [T], targets [T] = advantages + values, where
      delta_t = r_t + discount_t * next_value_t - V(s_t) and
      A_t = delta_t + discount_t' * lam * (1 - done_t) * A_{t+1}, discount_t' = gamma
      (we use discounts_t / (1 - terminated_t) = gamma; since done_t cuts the trace whenever
      terminated_t, discounts_t * lam * (1 - done_t) == gamma * lam * (1 - done_t)).
    """
    chex.assert_equal_shape([rewards, values, next_values, discounts, dones])
    chex.assert_rank(rewards, 1)
    deltas = rewards + discounts * next_values - values
    carry_coef = discounts * lam * (1.0 - dones)

    def step(adv_next, x):
        delta, coef = x
        adv = delta + coef * adv_next
        return adv, adv

    # unroll: on accelerators a T-step loop of tiny kernels is launch-bound; unrolling 16 steps
    # per iteration cuts the launches without changing the arithmetic.
    _, adv = jax.lax.scan(step, jnp.zeros_like(rewards[0]), (deltas, carry_coef), reverse=True, unroll=16)
    return adv, adv + values
