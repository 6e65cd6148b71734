"""Named gridworld levels and level distributions, each with its agent lifetime.

Sources (facts, not code): the LPG paper appendix (Oh et al. 2020, table of gridworlds) and the
GROOVE reference code (EmptyJackson/groove, ``environments/gridworld/configs.py``).

* Object types, rewards, p_terminate, p_respawn, grid sizes, episode lengths and wall shapes of
  the named levels are the GROOVE values. GROOVE re-samples the start and object cells of a
  named level at every draw; here a named level is ONE fixed level, so the start / object cells
  below are our own choice (GROOVE's ``default_params`` cells for ``dense``).
* Deviations forced by the static maxima (11x11, 5 objects): ``sparse`` is 13x13 in the
  reference and 11x11 here; ``longer`` has 7 objects in the LPG paper and 5 here (as in GROOVE).
* ``rand_longer`` and ``rand_long_dense`` have no GROOVE entry: they are the random-respawn /
  object-map-observation variants of ``longer`` and ``long_dense`` with identical numbers.
  ``rand_small`` and ``rand_very_dense`` are GROOVE's extra random levels.
* Lifetimes (agent updates) are GROOVE's: tabular levels 5 * 500 = 2500, random levels
  10 * 5 * 500 = 25000; distributions small 250, medium 1000, large 2500, all 1000,
  all_shortlife 250, all_vrandlife log-uniform integer in [10, 250], rand_all 25000.
* Distribution samplers follow GROOVE: square grids, object i has type i, the first type's
  reward is uniform in [0, 1] (so at least one positive reward) and the others uniform in
  [-1, 1], wall density = GROOVE's wall count / its max grid cells. Stricter than GROOVE, every
  free cell of a sampled level is reachable from the start (unreachable pockets become walls).
"""

from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np

from environments.gridworld import (
    MAX_OBJECTS,
    MAX_SIZE,
    NUM_TYPES,
    GridParams,
    make_grid_params,
    sample_cells,
)

TABULAR_LIFETIME = 5 * 500  # GROOVE _TABULAR_LIFETIME
RAND_LIFETIME = 10 * 5 * 500  # GROOVE _RAND_LIFETIME


def _column_wall(size: int, col: int, gaps: tuple[int, ...]) -> list[tuple[int, int]]:
    return [(r, col) for r in range(size) if r not in gaps]


def _row_wall(size: int, row: int, gaps: tuple[int, ...]) -> list[tuple[int, int]]:
    return [(row, c) for c in range(size) if c not in gaps]


# name -> make_grid_params kwargs (without ``tabular``). Objects are (row, col, type).
_LAYOUTS: dict[str, dict] = {
    "dense": dict(
        height=11, width=11, start=(0, 0), max_steps_in_episode=500,
        objects=[(1, 3, 0), (3, 7, 0), (8, 7, 1), (9, 2, 2)],
        type_reward=[1.0, -1.0, -1.0], type_p_terminate=[0.0, 0.5, 0.0],
        type_p_respawn=[0.05, 0.1, 0.5],
    ),
    "sparse": dict(
        height=11, width=11, start=(5, 5), max_steps_in_episode=50,
        objects=[(1, 9, 0), (9, 1, 1)],
        type_reward=[1.0, -1.0], type_p_terminate=[1.0, 1.0], type_p_respawn=[0.0, 0.0],
    ),
    "long": dict(
        height=11, width=11, start=(5, 5), max_steps_in_episode=1000,
        objects=[(0, 0, 0), (10, 10, 0), (2, 8, 1), (8, 2, 1)],
        type_reward=[1.0, -1.0], type_p_terminate=[0.0, 0.5], type_p_respawn=[0.01, 1.0],
    ),
    "longer": dict(
        # Vertical wall down the centre column with two corridors (rows 1 and 7).
        height=9, width=9, start=(4, 0), max_steps_in_episode=2000,
        walls=_column_wall(9, 4, gaps=(1, 7)),
        objects=[(0, 8, 0), (8, 8, 0), (2, 6, 1), (4, 6, 1), (6, 6, 1)],
        type_reward=[1.0, -1.0], type_p_terminate=[0.1, 0.8], type_p_respawn=[0.01, 1.0],
    ),
    "long_dense": dict(
        # Four rooms: a vertical wall (gaps at rows 0, 7) and a horizontal one (gaps at cols 2, 8).
        height=11, width=11, start=(0, 0), max_steps_in_episode=2000,
        walls=_column_wall(11, 5, gaps=(0, 7)) + _row_wall(11, 4, gaps=(2, 8)),
        objects=[(2, 3, 0), (1, 9, 0), (9, 1, 0), (8, 9, 0)],
        type_reward=[1.0], type_p_terminate=[0.0], type_p_respawn=[0.005],
    ),
    "small": dict(
        height=7, width=7, start=(0, 0), max_steps_in_episode=500,
        walls=[(1, 2), (3, 4)],  # GROOVE wall indices 9 and 25 on a 7-wide grid
        objects=[(0, 6, 0), (6, 6, 0), (6, 0, 1), (3, 3, 1)],
        type_reward=[1.0, -1.0], type_p_terminate=[0.0, 0.5], type_p_respawn=[0.05, 0.1],
    ),
    "sparse7": dict(
        height=7, width=7, start=(3, 3), max_steps_in_episode=50,
        objects=[(0, 0, 0), (0, 6, 1), (6, 6, 1)],
        type_reward=[1.0, -1.0], type_p_terminate=[1.0, 1.0], type_p_respawn=[1.0, 1.0],
    ),
    "very_dense": dict(
        height=11, width=11, start=(5, 5), max_steps_in_episode=2000,
        objects=[(0, 0, 0)],
        type_reward=[1.0], type_p_terminate=[0.0], type_p_respawn=[1.0],
    ),
}

# level name -> (layout, tabular, lifetime)
_NAMED: dict[str, tuple[str, bool, int]] = {
    "dense": ("dense", True, TABULAR_LIFETIME),
    "sparse": ("sparse", True, TABULAR_LIFETIME),
    "long": ("long", True, TABULAR_LIFETIME),
    "longer": ("longer", True, TABULAR_LIFETIME),
    "long_dense": ("long_dense", True, TABULAR_LIFETIME),
    "rand_dense": ("dense", False, RAND_LIFETIME),
    "rand_sparse": ("sparse7", False, RAND_LIFETIME),  # GROOVE: 7x7, objects respawn (p=1)
    "rand_long": ("long", False, RAND_LIFETIME),
    "rand_longer": ("longer", False, RAND_LIFETIME),
    "rand_long_dense": ("long_dense", False, RAND_LIFETIME),
    "rand_small": ("small", False, RAND_LIFETIME),
    "rand_very_dense": ("very_dense", False, RAND_LIFETIME),
}

TABULAR_LEVELS = ("dense", "sparse", "long", "longer", "long_dense")
RANDOM_LEVELS = ("rand_dense", "rand_sparse", "rand_long", "rand_longer", "rand_long_dense",
                 "rand_small", "rand_very_dense")
LEVEL_NAMES = TABULAR_LEVELS + RANDOM_LEVELS


def get_level(name: str) -> tuple[GridParams, int]:
    """Returns (params, default lifetime in agent updates) of a named level."""
    if name not in _NAMED:
        raise ValueError(f"unknown level {name!r}; choose from: {', '.join(LEVEL_NAMES)}")
    layout, tabular, lifetime = _NAMED[name]
    return make_grid_params(**_LAYOUTS[layout], tabular=tabular), lifetime


# ----------------------------------------------------------------------------- distributions


@dataclasses.dataclass(frozen=True, eq=False)
class FixedLevel:
    """A named level seen as a (trivial) distribution: ``sample`` ignores its key."""

    name: str
    params: GridParams
    lifetime: int

    @property
    def max_lifetime(self) -> int:
        return self.lifetime

    @property
    def tabular_only(self) -> bool:
        return is_tabular(self.params)

    def lifetime_quantiles(self, n: int = 1000) -> np.ndarray:
        return np.full(n, self.lifetime)

    def sample(self, key: chex.PRNGKey) -> tuple[GridParams, jax.Array]:
        """Returns (params, int32 lifetime); vmapping over keys broadcasts the level."""
        del key
        return self.params, jnp.int32(self.lifetime)


@dataclasses.dataclass(frozen=True, eq=False)
class LevelMixture:
    """Uniform mixture over fixed levels (GROOVE's "tabular" mode)."""

    name: str
    levels: tuple[FixedLevel, ...]

    @property
    def max_lifetime(self) -> int:
        return max(level.lifetime for level in self.levels)

    @property
    def tabular_only(self) -> bool:
        return all(level.tabular_only for level in self.levels)

    def lifetime_quantiles(self, n: int = 1000) -> np.ndarray:
        return np.sort(np.concatenate([lv.lifetime_quantiles(n) for lv in self.levels]))[:: len(self.levels)]

    def sample(self, key: chex.PRNGKey) -> tuple[GridParams, jax.Array]:
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[lv.params for lv in self.levels])
        lifetimes = jnp.array([lv.lifetime for lv in self.levels], dtype=jnp.int32)
        i = jax.random.randint(key, (), 0, len(self.levels))
        return jax.tree.map(lambda x: x[i], stacked), lifetimes[i]


def log_uniform(key: chex.PRNGKey, shape: tuple, low: float, high: float) -> jax.Array:
    """Floats with log uniform in [log low, log high]."""
    return jnp.exp(jax.random.uniform(key, shape, minval=jnp.log(low), maxval=jnp.log(high)))


def log_uniform_int(key: chex.PRNGKey, low: int, high: int) -> jax.Array:
    """int32 scalar: a log-uniform float in [low, high] rounded (so it stays in [low, high])."""
    return jnp.round(log_uniform(key, (), low, high)).astype(jnp.int32)


def log_uniform_int_quantiles(low: int, high: int, n: int = 1000) -> np.ndarray:
    """[n] evenly spaced quantiles of log_uniform_int(low, high), for static summaries (e.g. the
    mean lifetime that sizes packed lifetimes); exact for low == high."""
    q = (np.arange(n) + 0.5) / n
    return np.round(np.exp(np.log(low) + q * (np.log(high) - np.log(low)))).astype(np.int64)


def is_tabular(params: GridParams) -> bool:
    """A concrete level is tabular with a fixed start (what GridWorld(tabular_only=True) needs)."""
    return bool(params.tabular) and not bool(params.random_start)


def reachable_cells(free: jax.Array, start: jax.Array) -> jax.Array:
    """[MAX_SIZE, MAX_SIZE] bool: cells of ``free`` 4-connected to ``start`` [2] (flood fill)."""
    seed = jnp.zeros_like(free).at[start[0], start[1]].set(True) & free

    def grow(state):
        reach, _ = state
        padded = jnp.pad(reach, 1)
        neighbours = padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]
        new = (reach | neighbours) & free
        return new, jnp.any(new != reach)

    reach, _ = jax.lax.while_loop(lambda s: s[1], grow, (seed, jnp.bool_(True)))
    return reach


@dataclasses.dataclass(frozen=True)
class GridDistribution:
    """A GROOVE-style random level distribution (static config; ``sample`` is pure).

    Attributes:
        size: inclusive (min, max) side of the square grid.
        n_objects: inclusive (min, max) number of objects; object i has type i.
        episode_length: inclusive (min, max), log-uniform integer.
        wall_density: probability that an in-grid cell is a wall before repair.
        lifetime: inclusive (min, max) agent updates; log-uniform integer when min < max.
        tabular: tabular (fixed objects, one-hot observation) or random levels.
    """

    name: str
    size: tuple[int, int]
    n_objects: tuple[int, int]
    episode_length: tuple[int, int]
    wall_density: float
    lifetime: tuple[int, int]
    tabular: bool = True
    reward_range: tuple[float, float] = (-1.0, 1.0)
    p_terminate_range: tuple[float, float] = (1e-2, 1.0)
    p_respawn_range: tuple[float, float] = (1e-3, 1e-1)

    @property
    def max_lifetime(self) -> int:
        return self.lifetime[1]

    @property
    def tabular_only(self) -> bool:
        return self.tabular  # sampled levels never have a random start

    def lifetime_quantiles(self, n: int = 1000) -> np.ndarray:
        return log_uniform_int_quantiles(*self.lifetime, n)

    def sample(self, key: chex.PRNGKey) -> tuple[GridParams, jax.Array]:
        """Samples one valid level and its lifetime; jittable and vmappable over ``key``.

        Returns:
            (GridParams with unbatched leaves, int32 lifetime).
        """
        keys = jax.random.split(key, 10)
        size = jax.random.randint(keys[0], (), self.size[0], self.size[1] + 1)
        n_objs = jax.random.randint(keys[1], (), self.n_objects[0], self.n_objects[1] + 1)
        rows = jnp.arange(MAX_SIZE)[:, None]
        cols = jnp.arange(MAX_SIZE)[None, :]
        inside = (rows < size) & (cols < size)

        # Walls, then repair: keep the start's connected component, and drop all walls when
        # fewer than 1 + MAX_OBJECTS cells remain (random respawn needs that many free cells).
        walls = jax.random.bernoulli(keys[2], self.wall_density, (MAX_SIZE, MAX_SIZE)) & inside
        start = sample_cells(keys[3], inside, 1)[0]
        walls = walls.at[start[0], start[1]].set(False)
        reach = reachable_cells(inside & ~walls, start)
        enough = jnp.sum(reach) >= 1 + MAX_OBJECTS
        free = jnp.where(enough, reach, inside)

        not_start = free.at[start[0], start[1]].set(False)
        obj_pos = sample_cells(keys[4], not_start, MAX_OBJECTS)
        valid = jnp.arange(MAX_OBJECTS) < n_objs
        used_type = jnp.arange(NUM_TYPES) < n_objs

        low, high = self.reward_range
        reward = jax.random.uniform(keys[5], (NUM_TYPES,), minval=low, maxval=high)
        # The first type is always present and non-negative: every level has a positive reward.
        reward = reward.at[0].set(jax.random.uniform(keys[6], (), minval=0.0, maxval=high))
        p_term = log_uniform(keys[7], (NUM_TYPES,), *self.p_terminate_range)
        p_resp = log_uniform(keys[8], (NUM_TYPES,), *self.p_respawn_range)
        k_len, k_life = jax.random.split(keys[9])

        params = GridParams(
            height=size.astype(jnp.int32),
            width=size.astype(jnp.int32),
            walls=~free,
            start=start,
            obj_pos=obj_pos,
            obj_type=jnp.arange(MAX_OBJECTS, dtype=jnp.int32),
            obj_valid=valid,
            type_reward=jnp.where(used_type, reward, 0.0),
            type_p_terminate=jnp.where(used_type, p_term, 0.0),
            type_p_respawn=jnp.where(used_type, p_resp, 0.0),
            tabular=jnp.bool_(self.tabular),
            random_start=jnp.bool_(False),
            max_steps_in_episode=log_uniform_int(k_len, *self.episode_length),
        )
        lo, hi = self.lifetime
        lifetime = jnp.int32(lo) if lo == hi else log_uniform_int(k_life, lo, hi)
        return params, lifetime


# GROOVE wall counts over its max grid cells: small 7/36, medium 10/64, large & all 15/100.
_DISTRIBUTIONS: dict[str, GridDistribution] = {
    "small": GridDistribution("small", (4, 6), (1, 3), (20, 100), 7 / 36, (250, 250)),
    "medium": GridDistribution("medium", (6, 8), (2, 4), (100, 250), 10 / 64, (1000, 1000)),
    "large": GridDistribution("large", (8, 10), (2, 5), (250, 750), 15 / 100, (2500, 2500)),
    "all": GridDistribution("all", (4, 10), (1, 5), (20, 750), 15 / 100, (1000, 1000)),
    "all_shortlife": GridDistribution(
        "all_shortlife", (4, 10), (1, 5), (20, 750), 15 / 100, (250, 250)),
    "all_vrandlife": GridDistribution(
        "all_vrandlife", (4, 10), (1, 5), (20, 750), 15 / 100, (10, 250)),
    "rand_all": GridDistribution(
        "rand_all", (4, 10), (1, 5), (20, 750), 15 / 100, (RAND_LIFETIME, RAND_LIFETIME),
        tabular=False),
}

DISTRIBUTION_NAMES = tuple(_DISTRIBUTIONS) + ("tabular",)


def get_distribution(name: str) -> GridDistribution | LevelMixture | FixedLevel:
    """Returns an object with ``.sample(key) -> (GridParams, lifetime)`` and ``.max_lifetime``.

    Accepts the distribution names, every named level (a trivial distribution), and
    "name+name+..." of named levels: a uniform mixture over them, each at its own lifetime.
    """
    if "+" in name:
        parts = name.split("+")
        bad = [p for p in parts if p not in _NAMED]
        if bad or len(parts) < 2:
            raise ValueError(
                f"level mixture {name!r} must join two or more named levels with '+'; "
                f"unknown: {', '.join(repr(b) for b in bad) or 'none'}; named levels: {', '.join(LEVEL_NAMES)}"
            )
        return LevelMixture(name, tuple(get_distribution(p) for p in parts))
    if name in _DISTRIBUTIONS:
        return _DISTRIBUTIONS[name]
    if name == "tabular":
        return LevelMixture("tabular", tuple(get_distribution(n) for n in TABULAR_LEVELS))
    if name in _NAMED:
        params, lifetime = get_level(name)
        return FixedLevel(name, params, lifetime)
    raise ValueError(
        f"unknown level distribution {name!r}; choose from: "
        f"{', '.join(DISTRIBUTION_NAMES + LEVEL_NAMES)}"
    )
