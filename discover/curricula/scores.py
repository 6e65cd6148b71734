"""Level scores for prioritised level replay, behind one registry (SPEC section 7).

Every score maps what one generation measured on n levels (ScoreInputs, each [n]) to a score
[n]; higher means "replay this level more". `needs` says what the generation must compute:
  antagonist  the return of an agent trained by the hand-designed antagonist (A2C for LPG, PPO
              for LPO) on the same level and lifetime; computed once, when a level enters the
              buffer, and read from the buffer's cache when it is replayed
  optimal     the level's exact optimal return (tabular gridworld levels; curricula.optimal),
              cached like the antagonist's
  critic      the learner's value statistics on its final rollout (its own critic, or for LPG a
              side critic that never touches its update; discover.agents.side_critic)
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


class ScoreInputs(NamedTuple):
    """Per-level measurements, [n] each (NaN where not computed)."""

    learner_return: jax.Array  # final evaluation return of the learned-objective agents (twin mean)
    antagonist: jax.Array  # antagonist's final evaluation return on the level
    optimal: jax.Array  # optimal return of the level
    pvl: jax.Array  # mean max(GAE, 0) over the learner's final rollout
    value_mean: jax.Array  # mean V(s_t) over the learner's final rollout
    max_return: jax.Array  # best episode return ever seen on the level
    key: jax.Array  # PRNG key (random scores)


class Score(NamedTuple):
    fn: Callable  # ScoreInputs -> [n]
    needs: tuple  # subset of ("antagonist", "optimal", "critic")
    doc: str


SCORES = {
    "alg_regret": Score(
        lambda s: s.antagonist - s.learner_return, ("antagonist",),
        "algorithmic regret: antagonist's return minus the learner's (GROOVE)",
    ),
    "optimal_regret": Score(
        lambda s: s.optimal - s.learner_return, ("optimal",),
        "optimal return of the level (value iteration; tabular gridworlds) minus the learner's",
    ),
    "pvl": Score(lambda s: s.pvl, ("critic",), "positive value loss: mean max(GAE, 0) of the learner's final rollout"),
    "maxmc": Score(
        lambda s: s.max_return - s.value_mean, ("critic",),
        "maximum Monte-Carlo: best return ever seen on the level minus the mean value estimate",
    ),
    "random": Score(
        lambda s: jax.random.uniform(s.key, s.learner_return.shape), (),
        "uniform random scores (replay does not depend on the learner: domain randomisation's baseline)",
    ),
}


def needs(score: str) -> tuple:
    return SCORES[score].needs


def compute(score: str, inputs: ScoreInputs) -> jax.Array:
    """Scores [n] (float32); non-finite entries are left for the buffer to refuse."""
    return SCORES[score].fn(inputs).astype(jnp.float32)
