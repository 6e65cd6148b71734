"""Lifetime (temporal) features shared by TA-LPO and TA-LPG: computed here and nowhere else."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp


class LifetimeFeatures(NamedTuple):
    """Where the agent is in its life. Scalars (or [P] when vmapped over a population).

    progress: n / N, the fraction of the lifetime completed (n = update index, 0-based).
    log_lifetime: log N, the log of the lifetime in updates.
    """

    progress: jnp.ndarray
    log_lifetime: jnp.ndarray


def lifetime_features(n, lifetime) -> LifetimeFeatures:
    """Features of update n of an agent with lifetime N updates."""
    n = jnp.asarray(n, jnp.float32)
    lifetime = jnp.asarray(lifetime, jnp.float32)
    return LifetimeFeatures(progress=n / lifetime, log_lifetime=jnp.log(lifetime))
