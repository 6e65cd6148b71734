"""Delayed chain MDP (LPG paper, Oh et al. 2020, appendix) as a level-parameterised gymnax env.

The agent picks one of two branches at the first state; afterwards every action moves it one
state along the chain. The reward for the first choice (``correct_reward`` or ``wrong_reward``)
is given only on the last transition, ``length`` steps later, so solving the MDP needs credit
assignment across the whole chain. Optional distractions from the paper's variants: noisy
rewards on the intermediate steps and random distractor bits in the observation.

As in the paper the chain length is a level property (the paper samples it from [5, 30]); the
exact noise distributions are ours: intermediate rewards uniform in [-noise, noise], distractor
bits fair coin flips. Everything is padded to ``MAX_CHAIN_LENGTH`` / ``MAX_DISTRACTORS`` so
different chains vmap in one program.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct
import numpy as np
from gymnax.environments import environment, spaces

MAX_CHAIN_LENGTH = 32  # static maximum chain length
MAX_DISTRACTORS = 8  # static maximum number of random observation bits
OBS_SIZE = MAX_CHAIN_LENGTH + 2 + MAX_DISTRACTORS


@struct.dataclass
class ChainParams(environment.EnvParams):
    """One chain level; all fields are traced scalars.

    Attributes:
        length: int in [2, MAX_CHAIN_LENGTH], steps per episode (= delay of the reward).
        correct_action: int in {0, 1}, the first action that earns ``correct_reward``.
        correct_reward, wrong_reward: float rewards revealed at the end of the chain.
        noise: float, intermediate rewards are uniform in [-noise, noise] (0 = noiseless).
        num_distractors: int in [0, MAX_DISTRACTORS], random bits appended to the observation.
        max_steps_in_episode: truncation limit; at least ``length`` so it never cuts the chain.
    """

    length: Any = 10
    correct_action: Any = 0
    correct_reward: Any = 1.0
    wrong_reward: Any = -1.0
    noise: Any = 0.0
    num_distractors: Any = 0
    max_steps_in_episode: Any = MAX_CHAIN_LENGTH


@struct.dataclass
class ChainState(environment.EnvState):
    """Attributes: time int32; pos int32 in [0, length]; branch int32 (-1 before the choice);
    bits [MAX_DISTRACTORS] float32 current distractor bits."""

    pos: jax.Array
    branch: jax.Array
    bits: jax.Array


def make_chain_params(**overrides) -> ChainParams:
    """Default chain level (length 10, correct action 0, +1 / -1, noiseless) with overrides."""
    fields = dict(length=10, correct_action=0, correct_reward=1.0, wrong_reward=-1.0,
                  noise=0.0, num_distractors=0, max_steps_in_episode=MAX_CHAIN_LENGTH)
    unknown = set(overrides) - set(fields)
    if unknown:
        raise ValueError(
            f"unknown chain fields {sorted(unknown)}; choose from: {', '.join(fields)}")
    fields.update(overrides)
    if not 2 <= int(fields["length"]) <= MAX_CHAIN_LENGTH:
        raise ValueError(f"chain length must be in [2, {MAX_CHAIN_LENGTH}], got {fields['length']}")
    if not 0 <= int(fields["num_distractors"]) <= MAX_DISTRACTORS:
        raise ValueError(f"num_distractors must be in [0, {MAX_DISTRACTORS}]")
    ints = ("length", "correct_action", "num_distractors", "max_steps_in_episode")
    return ChainParams(**{
        k: jnp.int32(v) if k in ints else jnp.float32(v) for k, v in fields.items()
    })


def sample_chain_params(
    key: chex.PRNGKey,
    length_range: tuple[int, int] = (5, 30),
    noise: float = 0.0,
    num_distractors: int = 0,
) -> ChainParams:
    """Random chain (LPG: length uniform in [5, 30], random correct branch); vmappable over key."""
    k_len, k_act = jax.random.split(key)
    return ChainParams(
        length=jax.random.randint(k_len, (), length_range[0], length_range[1] + 1),
        correct_action=jax.random.randint(k_act, (), 0, 2),
        correct_reward=jnp.float32(1.0),
        wrong_reward=jnp.float32(-1.0),
        noise=jnp.float32(noise),
        num_distractors=jnp.int32(num_distractors),
        max_steps_in_episode=jnp.int32(MAX_CHAIN_LENGTH),
    )


@dataclasses.dataclass(frozen=True)
class ChainDistribution:
    """A level distribution of delayed chains (the LPG paper's chain tasks): length uniform in
    ``length_range``, a random correct branch, and the variant's noise / distractor bits.

    Same protocol as the gridworld distributions of ``environments.levels``: ``sample(key) ->
    (ChainParams, int32 lifetime)``, ``max_lifetime``, ``lifetime_quantiles(n)``. The lifetime
    (agent updates) is ours: the chain is solved in far fewer updates than a gridworld.
    """

    name: str
    length_range: tuple[int, int] = (5, 30)
    noise: float = 0.0
    num_distractors: int = 0
    lifetime: int = 250

    @property
    def max_lifetime(self) -> int:
        return self.lifetime

    @property
    def tabular_only(self) -> bool:
        return False  # not a gridworld: no tabular-only gridworld variant applies

    def lifetime_quantiles(self, n: int = 1000) -> np.ndarray:
        return np.full(n, self.lifetime)

    def sample(self, key: chex.PRNGKey) -> tuple[ChainParams, jax.Array]:
        params = sample_chain_params(key, self.length_range, self.noise, self.num_distractors)
        return params, jnp.int32(self.lifetime)


# The paper's three chain variants: plain, noisy intermediate rewards, random distractor bits
# (the noise level and number of bits are ours).
CHAIN_DISTRIBUTIONS = {
    "delayed_chain": ChainDistribution("delayed_chain"),
    "delayed_chain_noisy": ChainDistribution("delayed_chain_noisy", noise=0.5),
    "delayed_chain_distractors": ChainDistribution("delayed_chain_distractors", num_distractors=MAX_DISTRACTORS),
}


class DelayedChain(environment.Environment[ChainState, ChainParams]):
    """Delayed chain MDP. Actions: 2. Observation: float32 [MAX_CHAIN_LENGTH + 2 + MAX_DISTRACTORS]
    = one-hot position, one-hot chosen branch (zeros before the choice), distractor bits."""

    @property
    def default_params(self) -> ChainParams:
        return make_chain_params()

    def _bits(self, key: chex.PRNGKey, params: ChainParams) -> jax.Array:
        bits = jax.random.bernoulli(key, 0.5, (MAX_DISTRACTORS,)).astype(jnp.float32)
        return jnp.where(jnp.arange(MAX_DISTRACTORS) < params.num_distractors, bits, 0.0)

    def step_env(
        self, key: chex.PRNGKey, state: ChainState, action: int | jax.Array, params: ChainParams
    ) -> tuple[jax.Array, ChainState, jax.Array, jax.Array, dict]:
        k_noise, k_bits = jax.random.split(key)
        branch = jnp.where(state.pos == 0, jnp.asarray(action, jnp.int32), state.branch)
        pos = state.pos + 1
        terminated = pos >= params.length
        final = jnp.where(branch == params.correct_action,
                          params.correct_reward, params.wrong_reward)
        noise = params.noise * jax.random.uniform(k_noise, (), minval=-1.0, maxval=1.0)
        reward = jnp.where(terminated, final, noise).astype(jnp.float32)
        new_state = ChainState(time=state.time + 1, pos=pos, branch=branch,
                               bits=self._bits(k_bits, params))
        return self.get_obs(new_state, params), new_state, reward, terminated, {}

    def reset_env(self, key: chex.PRNGKey, params: ChainParams) -> tuple[jax.Array, ChainState]:
        state = ChainState(time=jnp.int32(0), pos=jnp.int32(0), branch=jnp.int32(-1),
                           bits=self._bits(key, params))
        return self.get_obs(state, params), state

    def get_obs(self, state: ChainState, params: ChainParams | None = None, key=None) -> jax.Array:
        """float32 [OBS_SIZE]; see the class docstring."""
        position = jax.nn.one_hot(state.pos, MAX_CHAIN_LENGTH, dtype=jnp.float32)
        branch = jax.nn.one_hot(state.branch, 2, dtype=jnp.float32)  # -1 gives zeros
        return jnp.concatenate([position, branch, state.bits])

    def is_terminated(self, state: ChainState, params: ChainParams) -> jax.Array:
        return state.pos >= params.length

    @property
    def name(self) -> str:
        return "DelayedChain-LPG"

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: ChainParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2)

    def observation_space(self, params: ChainParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (OBS_SIZE,), jnp.float32)
