"""Where a meta-optimiser's levels come from, and what it reports back about them.

A LevelSource wraps a run's curriculum (discover.curricula) for the meta-optimisers:
  init(key) -> state
  draw(key, state, n, generation) -> (state, Draw)     n levels and lifetimes for the tasks
  score(key, state, Draw, Outcome, generation) -> (state, metrics)
Domain randomisation draws fresh levels and ignores outcomes. Prioritised level replay
(curricula.replay) draws from its buffer or fresh, scores the levels (curricula.scores) and
writes the scores back. Scores that need an antagonist (algorithmic regret) or a level's
optimal return run those only on fresh levels, inside a lax.cond on the generation's replay
decision, and cache the result in the buffer: a replayed level never reruns its antagonist.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from discover.curricula import scores as score_registry
from discover.curricula.buffer import Entries, buffer_stats, insert, rescore
from discover.curricula.optimal import optimal_return
from discover.curricula.replay import Draw, level_features, make_replay


class Outcome(NamedTuple):
    """What the learners did on the n levels (twins already averaged), [n] each."""

    learner_return: jax.Array  # final evaluation return
    pvl: jax.Array  # at the agent's last update
    value_mean: jax.Array  # at the agent's last update
    max_return: jax.Array  # best episode return the agents saw (training or evaluation)
    keys: jax.Array  # [n] the tasks' PRNG keys (the antagonist shares them)


class LevelSource(NamedTuple):
    init: Callable
    draw: Callable
    score: Callable
    needs_critic: bool  # learners must report value statistics (a side critic for LPG)


def outcome_from_metrics(metrics, lifetimes, keys, n: int) -> Outcome:
    """Outcome from LifetimeMetrics of P = n or 2n members (antithetic twins i, i + n share task i)."""
    last = jnp.maximum(lifetimes, 1) - 1

    def at_last(x):  # x [P, N_max] -> [P] at each member's last update (twins share N)
        return x[jnp.arange(x.shape[0]), jnp.tile(last, x.shape[0] // n)]

    pair = lambda x: x.reshape(-1, n)
    learner = jnp.nanmean(pair(metrics.final_return), 0)
    seen = jnp.max(metrics.return_max, -1) if metrics.return_max is not None else metrics.final_return
    best = jnp.max(pair(jnp.fmax(seen, metrics.final_return)), 0)
    pvl = pair(at_last(metrics.pvl)).mean(0) if metrics.pvl is not None else jnp.full(n, jnp.nan)
    value = pair(at_last(metrics.value_mean)).mean(0) if metrics.value_mean is not None else jnp.full(n, jnp.nan)
    return Outcome(learner, pvl, value, best, keys)


def make_domain_randomisation_source(task) -> LevelSource:
    def draw(key, state, n, generation):
        state, levels, lifetimes = task.curriculum.sample(key, state, n)
        return state, Draw(levels, lifetimes, jnp.bool_(False), jnp.zeros((n,), jnp.int32))

    def score(key, state, d, outcome, generation):
        return state, level_features(d.levels, d.lifetimes)

    return LevelSource(task.curriculum.init, draw, score, needs_critic=False)


def make_replay_source(ccfg, task, run_antagonist, horizon: int) -> LevelSource:
    """PLR over task.curriculum (the generator). run_antagonist(levels, lifetimes, keys) -> [n]
    final returns of antagonist agents; horizon: the evaluation's steps (for optimal returns)."""
    replay = make_replay(ccfg, task.curriculum, task.template)
    needs = score_registry.needs(ccfg.score)
    nan = lambda n: jnp.full((n,), jnp.nan, jnp.float32)

    def cached_or_fresh(d, cache, compute):
        return jax.lax.cond(d.replay, lambda: cache[d.index], compute)

    def score(key, buf, d, outcome, generation):
        n = d.lifetimes.shape[0]
        antagonist, optimal = nan(n), nan(n)
        if "antagonist" in needs:
            antagonist = cached_or_fresh(d, buf.antagonist, lambda: run_antagonist(d.levels, d.lifetimes, outcome.keys))
        if "optimal" in needs:
            optimal = cached_or_fresh(d, buf.optimal, lambda: jax.vmap(lambda lv: optimal_return(lv, horizon))(d.levels))
        best = jnp.where(d.replay, jnp.fmax(outcome.max_return, buf.max_return[d.index]), outcome.max_return)
        inputs = score_registry.ScoreInputs(
            outcome.learner_return, antagonist, optimal, outcome.pvl, outcome.value_mean, best, key
        )
        scores = score_registry.compute(ccfg.score, inputs)
        buf, metrics = replay.update(buf, d, Entries(d.levels, d.lifetimes, scores, antagonist, optimal, best), generation)
        ran = jnp.where(d.replay, 0, n).astype(jnp.int32)
        metrics.update(
            antagonist_lifetimes=ran if "antagonist" in needs else jnp.int32(0),
            score_mean=jnp.nanmean(scores),
            **level_features(d.levels, d.lifetimes),
        )
        return buf, metrics

    def draw(key, buf, n, generation):
        return buf, replay.draw(key, buf, n, generation)

    return LevelSource(replay.init, draw, score, needs_critic="critic" in needs)


def make_level_source(cfg, task, run_antagonist=None) -> LevelSource:
    """The LevelSource of cfg.curriculum (CurriculumConfig) over task (curricula.Task)."""
    if cfg.curriculum.name == "dr":
        return make_domain_randomisation_source(task)
    return make_replay_source(cfg.curriculum, task, run_antagonist, cfg.lifetime.eval_steps)


class AgentLevels(NamedTuple):
    """Levels of persistent agents (meta-gradients), each agent on its own schedule.

    init(key, b) -> (state, Held): the first level of each of b agents;
    finish(key, state, done [b], Held, Outcome, generation) -> (state, Held, metrics): the levels
    of agents whose lifetime just ended are scored and written to the buffer (GROOVE's
    Algorithm 1) and those agents get their next level; the others keep theirs.
    """

    init: Callable
    finish: Callable
    needs_critic: bool


class Held(NamedTuple):
    """What b agents train on: levels [b, ...], lifetimes [b], slot [b] (buffer slot of a
    replayed level, -1 for a fresh one)."""

    levels: object
    lifetimes: jax.Array
    slot: jax.Array


def _select(mask, new, old):
    return jax.tree.map(lambda a, o: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, o), new, old)


def make_agent_levels(cfg, task, run_antagonist=None) -> AgentLevels:
    """AgentLevels of cfg.curriculum; run_antagonist as for make_level_source."""
    ccfg = cfg.curriculum
    if ccfg.name == "dr":

        def init(key, b):
            state, levels, lifetimes = task.curriculum.sample(key, task.curriculum.init(key), b)
            return state, Held(levels, lifetimes, jnp.full((b,), -1, jnp.int32))

        def finish(key, state, done, held, outcome, generation):
            state, levels, lifetimes = task.curriculum.sample(key, state, done.shape[0])
            return state, _select(done, Held(levels, lifetimes, held.slot), held), {}

        return AgentLevels(init, finish, needs_critic=False)

    replay = make_replay(ccfg, task.curriculum, task.template)
    needs = score_registry.needs(ccfg.score)
    horizon = cfg.lifetime.eval_steps

    def assign(key, buf, mask, held, generation):
        """Draw levels for the agents in mask [b]; replayed slots are marked in use."""
        d = replay.draw(key, buf, mask.shape[0], generation)
        slot = jnp.where(d.replay, d.index, -1)
        used = jnp.where(mask & (slot >= 0), slot, buf.scores.shape[0])
        buf = buf._replace(in_use=buf.in_use.at[used].set(True, mode="drop"))
        return buf, _select(mask, Held(d.levels, d.lifetimes, slot), held), d.replay

    def init(key, b):
        buf = replay.init(key)
        empty = Held(jax.tree.map(lambda x: jnp.zeros((b,) + jnp.shape(x), jnp.asarray(x).dtype), task.template),
                     jnp.ones((b,), jnp.int32), jnp.full((b,), -1, jnp.int32))
        buf, held, _ = assign(key, buf, jnp.ones((b,), bool), empty, 0)
        return buf, held

    def finish(key, buf, done, held, outcome, generation):
        b, size = done.shape[0], buf.scores.shape[0]
        k_score, k_draw = jax.random.split(key)
        replayed = held.slot >= 0
        fresh = done & ~replayed
        cache = lambda c: jnp.where(replayed, c[jnp.maximum(held.slot, 0)], jnp.nan)
        nan = jnp.full((b,), jnp.nan, jnp.float32)
        antagonist, optimal = nan, nan
        if "antagonist" in needs:
            run = lambda: run_antagonist(held.levels, held.lifetimes, outcome.keys)
            antagonist = jnp.where(replayed, cache(buf.antagonist), jax.lax.cond(fresh.any(), run, lambda: nan))
        if "optimal" in needs:
            run = lambda: jax.vmap(lambda lv: optimal_return(lv, horizon))(held.levels)
            optimal = jnp.where(replayed, cache(buf.optimal), jax.lax.cond(fresh.any(), run, lambda: nan))
        best = jnp.where(replayed, jnp.fmax(outcome.max_return, cache(buf.max_return)), outcome.max_return)
        inputs = score_registry.ScoreInputs(outcome.learner_return, antagonist, optimal, outcome.pvl,
                                            outcome.value_mean, best, k_score)
        scores = score_registry.compute(ccfg.score, inputs)
        back = jnp.where(done & replayed, held.slot, size)
        buf = rescore(buf, back, scores, best, generation)
        buf = buf._replace(in_use=buf.in_use.at[back].set(False, mode="drop"))
        entries = Entries(held.levels, held.lifetimes, jnp.where(fresh, scores, jnp.nan), antagonist, optimal, best)
        buf, inserted = insert(buf, entries, generation)
        buf, held, replay_drawn = assign(k_draw, buf, done, held, generation)
        metrics = {
            "replay": replay_drawn.astype(jnp.float32),
            "levels_inserted": inserted.sum().astype(jnp.int32),
            "antagonist_lifetimes": jnp.where(fresh.any(), b, 0).astype(jnp.int32) if "antagonist" in needs else jnp.int32(0),
            **buffer_stats(buf),
        }
        return buf, held, metrics

    return AgentLevels(init, finish, needs_critic="critic" in needs)
