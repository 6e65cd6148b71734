"""The prioritised-level-replay curriculum: draw a generation's levels, then write their scores.

Each generation either *replays* n distinct levels from the buffer (with probability
replay_prob, once the buffer holds at least n replayable levels) or draws n *fresh* levels from
the generator (domain randomisation over the configured level distribution). The decision is
one scalar per generation, taken outside any vmap or shard_map, so the programs downstream
(learners, and the antagonist that only fresh levels need) always see n levels, and the
antagonist program runs only in fresh generations (a lax.cond at the top level).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from discover.curricula.buffer import Entries, LevelBuffer, buffer_stats, empty_buffer, insert, rescore
from discover.curricula.plr import draw_replay, replay_probs


class Draw(NamedTuple):
    """One generation's n levels. replay: scalar bool; index [n]: buffer slots (when replay)."""

    levels: object
    lifetimes: jax.Array
    replay: jax.Array
    index: jax.Array


class Replay(NamedTuple):
    init: Callable  # key -> LevelBuffer
    draw: Callable  # (key, buffer, n, generation) -> Draw
    update: Callable  # (buffer, Draw, Entries, generation) -> (buffer, metrics dict)


def make_replay(ccfg, generator, template) -> Replay:
    """ccfg: CurriculumConfig; generator: a curricula.Curriculum drawing fresh (levels, lifetimes);
    template: one level (for the buffer's shapes)."""

    def init(key):
        del key
        return empty_buffer(template, ccfg.buffer_size)

    def draw(key, buf, n, generation):
        k_coin, k_fresh, k_replay = jax.random.split(key, 3)
        probs = replay_probs(buf, generation, ccfg.prioritisation, ccfg.temperature, ccfg.staleness)
        enough = (buf.evaluated & ~buf.in_use).sum() >= n
        replay = enough & (jax.random.uniform(k_coin) < ccfg.replay_prob)
        _, fresh_levels, fresh_lifetimes = generator.sample(k_fresh, generator.init(k_fresh), n)
        index = draw_replay(k_replay, probs, n)
        pick = lambda old, new: jnp.where(replay, old, new)
        levels = jax.tree.map(lambda b, f: pick(b[index], f), buf.levels, fresh_levels)
        return Draw(levels, pick(buf.lifetimes[index], fresh_lifetimes), replay, index)

    def update(buf, d: Draw, entries: Entries, generation):
        def replayed(buf):
            return rescore(buf, d.index, entries.scores, entries.max_return, generation), jnp.int32(0)

        def fresh(buf):
            buf, inserted = insert(buf, entries, generation)
            return buf, inserted.sum().astype(jnp.int32)

        buf, n_inserted = jax.lax.cond(d.replay, replayed, fresh, buf)
        return buf, {"replay": d.replay.astype(jnp.float32), "levels_inserted": n_inserted, **buffer_stats(buf)}

    return Replay(init, draw, update)


def level_features(levels, lifetimes) -> dict:
    """Means over a generation's levels of what describes a gridworld level (grid side, number
    of objects) and of the lifetime N; only N for other environments."""
    out = {"level_lifetime": lifetimes.astype(jnp.float32).mean()}
    if hasattr(levels, "obj_valid"):
        out["level_size"] = levels.height.astype(jnp.float32).mean()
        out["level_objects"] = levels.obj_valid.sum(-1).astype(jnp.float32).mean()
    return out
