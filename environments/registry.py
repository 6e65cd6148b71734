"""``make(name)`` for our environments and every gymnax environment, with standard wrappers.

Every environment comes back wrapped as
``LogWrapper(FlattenObservationWrapper(FloatObservationWrapper(env)))``:
flat float32 observations, episode statistics in ``info`` (``returned_episode_returns``,
``returned_episode_lengths``, ``returned_episode``) and gymnax's auto-reset ``step`` returning
``(obs, state, reward, terminated, truncated, info)``. ``num_actions``, ``observation_space``
and ``action_space`` pass through the wrappers.

Names:
  * ``"gridworld"``: kwargs ``level=NAME`` (default ``"dense"``, any of ``LEVEL_NAMES``) or
    ``params=GridParams`` (e.g. a sampled level); ``tabular_only=True`` promises that only tabular
    levels with a fixed start will be used (a cheaper step, observation [11, 11, 1]).
  * ``"gridworld-NAME"``: shorthand for ``make("gridworld", level=NAME)``.
  * ``"chain"``: kwargs are ChainParams fields (``length``, ``correct_action``, ``noise``, ...)
    overriding the default level, or ``params=ChainParams``.
  * every ``gymnax.registered_envs`` id, e.g. ``"CartPole-v1"``, ``"Breakout-MinAtar"``; kwargs
    go to ``gymnax.make``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import gymnax
import jax
import jax.numpy as jnp
from gymnax.environments import environment, spaces
from gymnax.wrappers.purerl import FlattenObservationWrapper, GymnaxWrapper, LogWrapper

from environments.chain import DelayedChain, make_chain_params
from environments.gridworld import GridWorld
from environments.levels import LEVEL_NAMES, get_level


class FloatObservationWrapper(GymnaxWrapper):
    """Casts observations to float32; a Discrete observation becomes a one-hot vector.

    gymnax has no such wrapper, and a few of its envs observe ints (FourRooms) or a Discrete
    index (FrozenLake), which FlattenObservationWrapper rejects and networks cannot take.
    """

    def _discrete_n(self, params) -> int | None:
        space = self._env.observation_space(params)
        return int(space.n) if isinstance(space, spaces.Discrete) else None

    def _convert(self, obs: jax.Array, params) -> jax.Array:
        n = self._discrete_n(params)
        if n is not None:
            return jax.nn.one_hot(obs, n, dtype=jnp.float32)
        return jnp.asarray(obs, dtype=jnp.float32)

    def observation_space(self, params) -> spaces.Box:
        n = self._discrete_n(params)
        if n is not None:
            return spaces.Box(0.0, 1.0, (n,), jnp.float32)
        space = self._env.observation_space(params)
        return spaces.Box(space.low, space.high, space.shape, jnp.float32)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: environment.EnvParams | None = None):
        params = self._env.default_params if params is None else params
        obs, state = self._env.reset(key, params)
        return self._convert(obs, params), state

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key: jax.Array, state: Any, action: Any,
             params: environment.EnvParams | None = None):
        params = self._env.default_params if params is None else params
        obs, state, reward, terminated, truncated, info = self._env.step(
            key, state, action, params)
        info = {**info, "final_observation": self._convert(info["final_observation"], params)}
        return self._convert(obs, params), state, reward, terminated, truncated, info


def wrap(env: environment.Environment) -> GymnaxWrapper:
    """Applies the standard wrappers (float, flatten, log) to a gymnax-style environment."""
    return LogWrapper(FlattenObservationWrapper(FloatObservationWrapper(env)))


def _make_gridworld(level: str = "dense", params=None, tabular_only: bool = False):
    if params is None:
        params, _ = get_level(level)
    return GridWorld(tabular_only), params


def _make_chain(params=None, **overrides):
    if params is not None and overrides:
        raise ValueError("give either params= or ChainParams field overrides, not both")
    return DelayedChain(), params if params is not None else make_chain_params(**overrides)


def _make_gymnax(env_id: str, **kwargs):
    return gymnax.make(env_id, **kwargs)


def _build_registry() -> dict[str, Callable[..., tuple[Any, Any]]]:
    registry: dict[str, Callable] = {"gridworld": _make_gridworld, "chain": _make_chain}
    for level in LEVEL_NAMES:
        registry[f"gridworld-{level}"] = partial(_make_gridworld, level)
    for env_id in gymnax.registered_envs:
        registry[env_id] = partial(_make_gymnax, env_id)
    return registry


_REGISTRY = _build_registry()


def list_envs() -> list[str]:
    """All names ``make`` accepts: ours first, then every gymnax environment."""
    return list(_REGISTRY)


def make(name: str, **kwargs) -> tuple[GymnaxWrapper, environment.EnvParams]:
    """Returns ``(wrapped_env, default_params)`` for a registered environment name.

    Raises:
        ValueError: (one line) for an unknown name, listing the valid names.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown environment {name!r}; choose from: {', '.join(_REGISTRY)}")
    env, params = _REGISTRY[name](**kwargs)
    return wrap(env), params
