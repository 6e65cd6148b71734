"""Fitness shaping for ES: higher raw fitness is better; non-finite members always rank last.

All functions take raw fitness [P] and return shaped fitness [P] (higher is better) that is
finite whatever the input, so the ES mean can never become NaN.
"""

from __future__ import annotations

import jax.numpy as jnp


def _finite_or_worst(f):
    """Replace non-finite entries by (min finite - 1), or 0 if nothing is finite."""
    finite = jnp.isfinite(f)
    worst = jnp.min(jnp.where(finite, f, jnp.inf))
    worst = jnp.where(jnp.isfinite(worst), worst - 1.0, 0.0)
    return jnp.where(finite, f, worst)


def centered_rank(f):
    """Ranks scaled to [-0.5, 0.5]; tied members share their average rank, so an all-tied
    population (e.g. every agent solved the task) gives all zeros and the mean stays put. f: [P]."""
    f = _finite_or_worst(f)
    below = (f[None, :] < f[:, None]).sum(1)
    ties = (f[None, :] == f[:, None]).sum(1) - 1
    ranks = (below + ties / 2).astype(jnp.float32)
    return ranks / (f.shape[0] - 1) - 0.5


def z_score(f):
    """(f - mean) / std over the population, non-finite members set to the worst finite value."""
    f = _finite_or_worst(f)
    return (f - f.mean()) / (f.std() + 1e-8)


def win_loss(f):
    """Antithetic win/loss: member i and i + P/2 are twins; the better gets +0.5, the other -0.5,
    a tie 0 each. Removes the difficulty of the shared task from the signal. f: [P], P even."""
    f = _finite_or_worst(f)
    h = f.shape[0] // 2
    plus, minus = f[:h], f[h:]
    s = 0.5 * jnp.sign(plus - minus)
    return jnp.concatenate([s, -s])


def raw(f):
    return _finite_or_worst(f)


SHAPINGS = {"winloss": win_loss, "centered_rank": centered_rank, "z_score": z_score, "raw": raw}


def fitness_stats(f):
    """Summary of raw fitness over its finite members, and how many were not finite (the
    summary is NaN, logged as null, when no member is finite: there is nothing to summarise)."""
    finite = jnp.isfinite(f)
    n = finite.sum()
    some = n > 0
    return {
        "fitness_mean": jnp.where(some, jnp.where(finite, f, 0.0).sum() / jnp.maximum(n, 1), jnp.nan),
        "fitness_max": jnp.where(some, jnp.max(jnp.where(finite, f, -jnp.inf)), jnp.nan),
        "fitness_min": jnp.where(some, jnp.min(jnp.where(finite, f, jnp.inf)), jnp.nan),
        "nonfinite": (~finite).sum(),
    }
