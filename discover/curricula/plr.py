"""Prioritised level replay (Jiang et al. 2021) over a LevelBuffer: replay weights and draws.

Replay distribution over the evaluated, not-in-use levels l:
    P(l) = (1 - rho) * P_S(l) + rho * P_C(l)
    P_S(l) = h(l)^(1/T) / sum_j h(j)^(1/T)   with  h = 1 / rank(score)        (rank prioritisation)
                                                   or h = max(score, 0) + eps (proportional)
    P_C(l) = (g - last_sampled(l)) / sum_j (g - last_sampled(j))              (staleness)
The temperature T is applied as a power, in log space, so a small T cannot overflow; an
all-zero proportional or staleness term falls back to uniform rather than dividing by zero.
Ranks are 1 for the highest score (ties broken by slot, so ranks are a permutation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from discover.curricula.buffer import LevelBuffer

_EPS = 1e-6


def _normalise_log(logw, mask):
    """Probabilities from log-weights over `mask` (uniform over mask if nothing is finite)."""
    logw = jnp.where(mask, logw, -jnp.inf)
    top = jnp.max(logw)
    w = jnp.where(mask & jnp.isfinite(logw), jnp.exp(logw - jnp.where(jnp.isfinite(top), top, 0.0)), 0.0)
    total = w.sum()
    uniform = mask / jnp.maximum(mask.sum(), 1)
    return jnp.where(total > 0, w / jnp.where(total > 0, total, 1.0), uniform)


def score_weights(scores, mask, prioritisation: str, temperature: float):
    """P_S [B]: replay probabilities from scores over `mask` (see module docstring)."""
    if prioritisation == "rank":
        key = jnp.where(mask, scores, -jnp.inf)
        order = jnp.argsort(-key, stable=True)
        ranks = jnp.zeros_like(order).at[order].set(jnp.arange(1, key.shape[0] + 1))
        logh = -jnp.log(ranks.astype(jnp.float32))
    else:
        logh = jnp.log(jnp.maximum(scores, 0.0) + _EPS)
    return _normalise_log(logh / temperature, mask)


def staleness_weights(last_sampled, generation, mask):
    """P_C [B]: proportional to generations since a level was last drawn (uniform if all zero)."""
    stale = jnp.maximum(generation - last_sampled, 0).astype(jnp.float32)
    return _normalise_log(jnp.log(jnp.where(stale > 0, stale, 0.0)), mask)


def replay_probs(buf: LevelBuffer, generation, prioritisation: str, temperature: float, staleness: float):
    """P [B] over replayable slots (evaluated and not in use); zero elsewhere."""
    mask = buf.evaluated & ~buf.in_use
    p_s = score_weights(buf.scores, mask, prioritisation, temperature)
    p_c = staleness_weights(buf.last_sampled, generation, mask)
    return (1.0 - staleness) * p_s + staleness * p_c


def draw_replay(key, probs, n: int):
    """n distinct slots drawn by successive sampling without replacement from probs [B]
    (Gumbel top-k); the first draw follows probs exactly."""
    logits = jnp.where(probs > 0, jnp.log(jnp.where(probs > 0, probs, 1.0)), -jnp.inf)
    _, index = jax.lax.top_k(logits + jax.random.gumbel(key, probs.shape), n)
    return index.astype(jnp.int32)
