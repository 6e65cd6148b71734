"""The level buffer of prioritised level replay, as a pytree of fixed size B, and its pure updates.

Invariants (tests/test_plr.py checks them over many random rounds):
  * only `evaluated` slots hold a level; their scores are finite (a non-finite score never
    enters: a fresh level with one is not inserted, a replayed level with one keeps its score);
  * a fresh level replaces an empty slot or the lowest-scoring evaluated level, and only if
    its own score is higher than that level's;
  * the sizes never change; the cached antagonist / optimal returns of a level are written
    when it enters and never recomputed while it stays.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class LevelBuffer(NamedTuple):
    """B levels and what PLR knows about them. Shapes [B, ...]."""

    levels: object  # EnvParams pytree [B, ...]
    lifetimes: jax.Array  # [B] int32 agent updates N of the level's task
    scores: jax.Array  # [B] float32 latest score (meaningful where evaluated)
    last_sampled: jax.Array  # [B] int32 generation the level was last drawn (staleness)
    evaluated: jax.Array  # [B] bool: the slot holds a scored level
    in_use: jax.Array  # [B] bool: some agent trains on the level now (meta-gradients)
    antagonist: jax.Array  # [B] float32 cached antagonist return on the level (NaN: none)
    optimal: jax.Array  # [B] float32 cached optimal return of the level (NaN: none)
    max_return: jax.Array  # [B] float32 best episode return ever seen on the level (MaxMC)


def empty_buffer(template_level, size: int) -> LevelBuffer:
    """A buffer of `size` empty slots shaped like `template_level` (one unbatched EnvParams)."""
    nan = jnp.full((size,), jnp.nan, jnp.float32)
    return LevelBuffer(
        levels=jax.tree.map(lambda x: jnp.zeros((size,) + jnp.shape(x), jnp.asarray(x).dtype), template_level),
        lifetimes=jnp.ones((size,), jnp.int32),
        scores=jnp.zeros((size,), jnp.float32),
        last_sampled=jnp.zeros((size,), jnp.int32),
        evaluated=jnp.zeros((size,), bool),
        in_use=jnp.zeros((size,), bool),
        antagonist=nan,
        optimal=nan,
        max_return=jnp.full((size,), -jnp.inf, jnp.float32),
    )


class Entries(NamedTuple):
    """n candidate levels with what was measured on them this generation. Shapes [n, ...]."""

    levels: object
    lifetimes: jax.Array
    scores: jax.Array
    antagonist: jax.Array
    optimal: jax.Array
    max_return: jax.Array


def insert(buf: LevelBuffer, new: Entries, generation) -> tuple[LevelBuffer, jax.Array]:
    """Insert fresh levels where they beat the weakest slots. Returns (buffer, inserted [n] bool).

    The k-th best candidate is paired with the k-th weakest slot (empty slots first, then
    evaluated ones by ascending score) and replaces it if its score is higher; since both lists
    are sorted this keeps the B best of old and new. Non-finite candidates never enter.
    """
    n, size = new.scores.shape[0], buf.scores.shape[0]
    cand = jnp.where(jnp.isfinite(new.scores), new.scores, -jnp.inf)
    keep = jnp.where(buf.evaluated, buf.scores, -jnp.inf)
    order_new = jnp.argsort(-cand, stable=True)
    m = min(n, size)
    weakest = jnp.argsort(keep, stable=True)[:m]
    best = order_new[:m]
    # An empty slot (-inf) is beaten by any finite candidate; an evaluated one only by a higher score.
    take = jnp.isfinite(cand[best]) & ((~buf.evaluated[weakest]) | (cand[best] > keep[weakest]))
    slot = jnp.where(take, weakest, size)  # size: out of bounds, dropped
    put = lambda dst, src: dst.at[slot].set(src[best], mode="drop")
    buf = buf._replace(
        levels=jax.tree.map(put, buf.levels, new.levels),
        lifetimes=put(buf.lifetimes, new.lifetimes),
        scores=put(buf.scores, new.scores),
        last_sampled=buf.last_sampled.at[slot].set(generation, mode="drop"),
        evaluated=buf.evaluated.at[slot].set(True, mode="drop"),
        in_use=buf.in_use.at[slot].set(False, mode="drop"),
        antagonist=put(buf.antagonist, new.antagonist),
        optimal=put(buf.optimal, new.optimal),
        max_return=put(buf.max_return, new.max_return),
    )
    inserted = jnp.zeros((n,), bool).at[best].set(take)
    return buf, inserted


def rescore(buf: LevelBuffer, index, scores, max_return, generation) -> LevelBuffer:
    """Write the new scores [n] of replayed slots `index` [n] (non-finite ones keep their old
    score; an index of B or more is skipped); mark them sampled this generation and fold
    max_return [n] into the level's best."""
    size = buf.scores.shape[0]
    index = jnp.where(jnp.isfinite(scores), index, size)
    return buf._replace(
        scores=buf.scores.at[index].set(scores, mode="drop"),
        last_sampled=buf.last_sampled.at[index].set(generation, mode="drop"),
        max_return=buf.max_return.at[index].max(max_return, mode="drop"),
    )


def buffer_stats(buf: LevelBuffer) -> dict:
    """Scalars for the metrics log: how full the buffer is and its score distribution."""
    count = buf.evaluated.sum()
    scores = jnp.where(buf.evaluated, buf.scores, jnp.nan)
    q = jnp.nanquantile(scores, jnp.array([0.1, 0.5, 0.9]))
    some = count > 0
    nan = jnp.float32(jnp.nan)
    return {
        "buffer_size": count,
        "buffer_score_mean": jnp.where(some, jnp.nanmean(scores), nan),
        "buffer_score_p10": jnp.where(some, q[0], nan),
        "buffer_score_p50": jnp.where(some, q[1], nan),
        "buffer_score_p90": jnp.where(some, q[2], nan),
    }
