"""Domain randomisation: every task is a fresh draw from a level distribution (or a fixed level)."""

from __future__ import annotations

from typing import Callable, NamedTuple

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

import environments
from environments.levels import log_uniform_int, log_uniform_int_quantiles


class Curriculum(NamedTuple):
    """Pure functions of a curriculum (see discover.curricula)."""

    init: Callable
    sample: Callable


class Task(NamedTuple):
    """What a run trains on: the env, one level for shapes, the curriculum, the static max N.

    mean_lifetime: the expected N of a task (sizes packed lifetimes, discover.packing);
    fixed_lifetime: every task lives exactly max_lifetime updates (nothing to pack).
    """

    env: object
    template: object
    curriculum: Curriculum
    max_lifetime: int
    mean_lifetime: float = 0.0
    fixed_lifetime: bool = True


def make_domain_randomisation(distribution) -> Curriculum:
    """DR over a distribution with a pure `sample(key) -> (EnvParams, lifetime)`."""

    def sample(key, state, n):
        levels, lifetimes = jax.vmap(distribution.sample)(jax.random.split(key, n))
        return state, levels, jnp.asarray(lifetimes, jnp.int32)

    return Curriculum(init=lambda key: jnp.zeros((), jnp.int32), sample=sample)


class _Scaled(NamedTuple):
    """A level distribution whose lifetimes are multiplied by `scale` (at least 1 update)."""

    base: object
    scale: float

    def sample(self, key):
        level, lifetime = self.base.sample(key)
        if self.scale == 1.0:
            return level, jnp.asarray(lifetime, jnp.int32)
        scaled = jnp.ceil(jnp.asarray(lifetime, jnp.float32) * self.scale)
        return level, jnp.maximum(scaled, 1).astype(jnp.int32)

    def lifetime_quantiles(self, n: int = 1000) -> np.ndarray:
        return np.maximum(np.ceil(self.base.lifetime_quantiles(n) * self.scale), 1)


class _LogUniformLifetime(NamedTuple):
    """Levels from `base`; lifetimes log-uniform in [low, high] instead of base's."""

    base: object
    low: int
    high: int

    def sample(self, key):
        k_level, k_life = jax.random.split(key)
        level, _ = self.base.sample(k_level)
        return level, log_uniform_int(k_life, self.low, self.high)

    def lifetime_quantiles(self, n: int = 1000) -> np.ndarray:
        return log_uniform_int_quantiles(self.low, self.high, n)


class _Fixed(NamedTuple):
    """The trivial distribution: one level and one lifetime."""

    level: object
    lifetime: int

    def sample(self, key):
        del key
        return self.level, jnp.int32(self.lifetime)

    def lifetime_quantiles(self, n: int = 1000) -> np.ndarray:
        return np.full(n, self.lifetime)


def make_task(env_cfg, lifetime_cfg) -> Task:
    """Build the environment and curriculum named by an EnvConfig (via environments.resolve).

    env.distribution empty: the environment's default level at lifetime.lifetime updates.
    Otherwise a named level or level distribution of `environments` (its lifetimes are used,
    times lifetime.lifetime_scale; for a named level or a '+' mixture, lifetime.lifetime is its
    lifetime, or with lifetime.lifetime_min > 0 the upper end of a log-uniform range).
    """
    env, template, levels = environments.resolve(env_cfg.name, env_cfg.distribution)
    if env_cfg.distribution in environments.DISTRIBUTION_NAMES:
        # A level distribution that samples its own lifetimes.
        dist = _Scaled(levels, lifetime_cfg.lifetime_scale)
        max_lifetime = max(1, int(math.ceil(levels.max_lifetime * lifetime_cfg.lifetime_scale)))
    else:
        # The default level, a named level or a '+' mixture: every task lives lifetime.lifetime
        # updates, or with lifetime_min > 0 a log-uniform draw up to it.
        if isinstance(levels, environments.LevelMixture):
            mixture = tuple(dataclasses.replace(lv, lifetime=lifetime_cfg.lifetime) for lv in levels.levels)
            dist = dataclasses.replace(levels, levels=mixture)
        else:
            dist = _Fixed(template, lifetime_cfg.lifetime)
        if lifetime_cfg.lifetime_min > 0:
            dist = _LogUniformLifetime(dist, lifetime_cfg.lifetime_min, lifetime_cfg.lifetime)
        max_lifetime = lifetime_cfg.lifetime
    quantiles = dist.lifetime_quantiles()
    return Task(env, template, make_domain_randomisation(dist), max_lifetime,
                mean_lifetime=float(np.mean(quantiles)), fixed_lifetime=bool(np.all(quantiles == max_lifetime)))
