"""Domain randomisation: every task is a fresh draw from a level distribution (or a fixed level)."""

from __future__ import annotations

from typing import Callable, NamedTuple

import dataclasses
import math

import jax
import jax.numpy as jnp

import environments
from environments.levels import log_uniform_int


class Curriculum(NamedTuple):
    """Pure functions of a curriculum (see discover.curricula)."""

    init: Callable
    sample: Callable
    update: Callable


class Task(NamedTuple):
    """What a run trains on: the env, one level for shapes, the curriculum, the static max N."""

    env: object
    template: object
    curriculum: Curriculum
    max_lifetime: int


def make_domain_randomisation(distribution) -> Curriculum:
    """DR over a distribution with a pure `sample(key) -> (EnvParams, lifetime)`."""

    def sample(key, state, n):
        levels, lifetimes = jax.vmap(distribution.sample)(jax.random.split(key, n))
        return state, levels, jnp.asarray(lifetimes, jnp.int32)

    return Curriculum(init=lambda key: jnp.zeros((), jnp.int32), sample=sample, update=lambda s, levels, scores: s)


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


class _LogUniformLifetime(NamedTuple):
    """Levels from `base`; lifetimes log-uniform in [low, high] instead of base's."""

    base: object
    low: int
    high: int

    def sample(self, key):
        k_level, k_life = jax.random.split(key)
        level, _ = self.base.sample(k_level)
        return level, log_uniform_int(k_life, self.low, self.high)


class _Fixed(NamedTuple):
    """The trivial distribution: one level and one lifetime."""

    level: object
    lifetime: int

    def sample(self, key):
        del key
        return self.level, jnp.int32(self.lifetime)


def make_task(env_cfg, lifetime_cfg) -> Task:
    """Build the environment and curriculum named by an EnvConfig.

    env.distribution empty: the environment's default level at lifetime.lifetime updates.
    Otherwise a named level or level distribution of `environments` (its lifetimes are used,
    times lifetime.lifetime_scale; for a named level or a '+' mixture, lifetime.lifetime is its
    lifetime, or with lifetime.lifetime_min > 0 the upper end of a log-uniform range).
    """
    env, default = environments.make(env_cfg.name)
    name = env_cfg.distribution
    if name and name not in environments.LEVEL_NAMES and "+" not in name:
        # A level distribution that samples its own lifetimes.
        dist = _Scaled(environments.get_distribution(name), lifetime_cfg.lifetime_scale)
        max_lifetime = max(1, int(math.ceil(dist.base.max_lifetime * lifetime_cfg.lifetime_scale)))
    else:
        # The default level, a named level or a '+' mixture: every task lives lifetime.lifetime
        # updates, or with lifetime_min > 0 a log-uniform draw up to it.
        if not name:
            dist = _Fixed(default, lifetime_cfg.lifetime)
        elif name in environments.LEVEL_NAMES:
            dist = _Fixed(environments.get_level(name)[0], lifetime_cfg.lifetime)
        else:
            mixture = environments.get_distribution(name)
            levels = tuple(dataclasses.replace(lv, lifetime=lifetime_cfg.lifetime) for lv in mixture.levels)
            dist = dataclasses.replace(mixture, levels=levels)
        if lifetime_cfg.lifetime_min > 0:
            dist = _LogUniformLifetime(dist, lifetime_cfg.lifetime_min, lifetime_cfg.lifetime)
        max_lifetime = lifetime_cfg.lifetime
    template = jax.tree.map(lambda x: x, dist.sample(jax.random.key(0))[0])
    return Task(env, template, make_domain_randomisation(dist), max_lifetime)
