"""The LPG gridworld family (Oh et al. 2020, appendix; GROOVE code) as one gymnax environment.

A *level* is entirely its :class:`GridParams` pytree: grid size, walls, start, objects and the
per-type reward / termination / respawn probabilities. Every array is padded to static maxima
(``MAX_SIZE`` x ``MAX_SIZE`` cells, ``MAX_OBJECTS`` objects, ``NUM_TYPES`` types), so ONE compiled
:class:`GridWorld` runs a batch of different levels under ``jax.vmap`` -- tabular and random
levels included, because the observation has the same shape for both.

Dynamics (one step):
  1. the agent moves one cell (up, right, down, left); walls and the grid border block it;
  2. an active object on the agent's new cell is collected: the agent gets its type's reward,
     the object becomes inactive, and the episode terminates with the type's p_terminate;
  3. every object that was inactive at the start of the step respawns with its type's
     p_respawn -- at its fixed position (tabular levels) or at a random free cell (random levels).
Episodes are truncated at ``max_steps_in_episode`` (gymnax ``is_truncated``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

MAX_SIZE = 11  # static maximum height and width
MAX_OBJECTS = 5  # static maximum number of objects in a level
NUM_TYPES = 5  # static maximum number of object types
NUM_CHANNELS = 1 + NUM_TYPES  # observation channels: agent, then one map per object type

# Row/column offsets of the 4 move actions: up, right, down, left.
MOVES = jnp.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=jnp.int32)


@struct.dataclass
class GridParams(environment.EnvParams):
    """One gridworld level. All fields are traced data (vmappable, storable in a buffer).

    Attributes:
        height, width: int scalars in [1, MAX_SIZE]; the level occupies rows < height, cols < width.
        walls: [MAX_SIZE, MAX_SIZE] bool; cells outside height x width are walls whatever this says.
        start: [2] int32 (row, col) start cell, used unless ``random_start``.
        obj_pos: [MAX_OBJECTS, 2] int32 fixed object cells (used by tabular levels).
        obj_type: [MAX_OBJECTS] int32 type index of each object, in [0, NUM_TYPES).
        obj_valid: [MAX_OBJECTS] bool, which object slots exist in this level.
        type_reward: [NUM_TYPES] float32 reward for collecting an object of each type.
        type_p_terminate: [NUM_TYPES] float32 probability that collecting ends the episode.
        type_p_respawn: [NUM_TYPES] float32 per-step probability that an inactive object respawns.
        tabular: bool. True: objects live at ``obj_pos`` and the observation is a one-hot of the
            agent position. False: objects start and respawn at random free cells and the
            observation also shows the object-type maps.
        random_start: bool, sample the start uniformly from free cells at every reset.
        max_steps_in_episode: int episode length (truncation).
    """

    height: Any = MAX_SIZE
    width: Any = MAX_SIZE
    walls: Any = None
    start: Any = None
    obj_pos: Any = None
    obj_type: Any = None
    obj_valid: Any = None
    type_reward: Any = None
    type_p_terminate: Any = None
    type_p_respawn: Any = None
    tabular: Any = True
    random_start: Any = False
    max_steps_in_episode: Any = 500


@struct.dataclass
class GridState(environment.EnvState):
    """Per-episode state.

    Attributes:
        time: int32 steps taken in this episode.
        pos: [2] int32 agent (row, col).
        obj_pos: [MAX_OBJECTS, 2] int32 current object cells.
        obj_active: [MAX_OBJECTS] bool, object present (collectable) now.
    """

    pos: jax.Array
    obj_pos: jax.Array
    obj_active: jax.Array


def make_grid_params(
    height: int,
    width: int,
    start: tuple[int, int],
    objects: list[tuple[int, int, int]],
    type_reward: list[float],
    type_p_terminate: list[float],
    type_p_respawn: list[float],
    max_steps_in_episode: int,
    walls: list[tuple[int, int]] | None = None,
    tabular: bool = True,
    random_start: bool = False,
) -> GridParams:
    """Builds a padded :class:`GridParams` from a readable description (host-side helper).

    Args:
        objects: list of (row, col, type) triples, at most MAX_OBJECTS.
        type_reward, type_p_terminate, type_p_respawn: per-type lists, at most NUM_TYPES long
            (padded with zeros).
        walls: list of (row, col) wall cells inside the grid.
    """
    if not (1 <= height <= MAX_SIZE and 1 <= width <= MAX_SIZE):
        raise ValueError(f"grid {height}x{width} must fit in {MAX_SIZE}x{MAX_SIZE}")
    if len(objects) > MAX_OBJECTS:
        raise ValueError(f"{len(objects)} objects given; at most {MAX_OBJECTS} are supported")
    n_types = len(type_reward)
    if n_types > NUM_TYPES or len(type_p_terminate) != n_types or len(type_p_respawn) != n_types:
        raise ValueError(f"give 1..{NUM_TYPES} types with reward, p_terminate and p_respawn each")

    def pad(values, size, fill):
        return list(values) + [fill] * (size - len(values))

    wall_map = jnp.zeros((MAX_SIZE, MAX_SIZE), dtype=bool)
    for r, c in walls or []:
        wall_map = wall_map.at[r, c].set(True)
    wall_map = wall_map | ~_inside_mask(height, width)
    objs = pad(objects, MAX_OBJECTS, (0, 0, 0))
    return GridParams(
        height=jnp.int32(height),
        width=jnp.int32(width),
        walls=wall_map,
        start=jnp.array(start, dtype=jnp.int32),
        obj_pos=jnp.array([[r, c] for r, c, _ in objs], dtype=jnp.int32),
        obj_type=jnp.array([t for _, _, t in objs], dtype=jnp.int32),
        obj_valid=jnp.arange(MAX_OBJECTS) < len(objects),
        type_reward=jnp.array(pad(type_reward, NUM_TYPES, 0.0), dtype=jnp.float32),
        type_p_terminate=jnp.array(pad(type_p_terminate, NUM_TYPES, 0.0), dtype=jnp.float32),
        type_p_respawn=jnp.array(pad(type_p_respawn, NUM_TYPES, 0.0), dtype=jnp.float32),
        tabular=jnp.bool_(tabular),
        random_start=jnp.bool_(random_start),
        max_steps_in_episode=jnp.int32(max_steps_in_episode),
    )


def _inside_mask(height, width) -> jax.Array:
    """[MAX_SIZE, MAX_SIZE] bool, True for cells with row < height and col < width."""
    rows = jnp.arange(MAX_SIZE)[:, None]
    cols = jnp.arange(MAX_SIZE)[None, :]
    return (rows < height) & (cols < width)


def blocked_cells(params: GridParams) -> jax.Array:
    """[MAX_SIZE, MAX_SIZE] bool: walls plus everything outside the level's grid."""
    return params.walls | ~_inside_mask(params.height, params.width)


def sample_cells(key: chex.PRNGKey, allowed: jax.Array, k: int) -> jax.Array:
    """Samples k distinct cells uniformly from ``allowed`` without replacement.

    Uses the Gumbel top-k trick so it is jittable with a static k. If fewer than k cells are
    allowed, the tail of the result is arbitrary (disallowed) cells; callers use only as many
    entries as there are allowed cells.

    Args:
        allowed: [MAX_SIZE, MAX_SIZE] bool.
    Returns:
        [k, 2] int32 (row, col) cells, allowed ones first, in random order.
    """
    scores = jax.random.gumbel(key, (MAX_SIZE * MAX_SIZE,))
    # A large finite penalty (not -inf) keeps top_k well defined when few cells are allowed.
    scores = jnp.where(allowed.reshape(-1), scores, scores - 1e9)
    _, idx = jax.lax.top_k(scores, k)
    return jnp.stack([idx // MAX_SIZE, idx % MAX_SIZE], axis=-1).astype(jnp.int32)


def _cells_mask(cells: jax.Array, include: jax.Array) -> jax.Array:
    """[MAX_SIZE, MAX_SIZE] bool map of ``cells`` [n, 2] where ``include`` [n] is True."""
    grid = jnp.zeros((MAX_SIZE, MAX_SIZE), dtype=bool)
    return grid.at[cells[:, 0], cells[:, 1]].max(include)


class StepNoise(NamedTuple):
    """Everything one auto-resetting `GridWorld.step` draws from its key, drawn ahead of the step
    by `GridWorld.draw_step_noise(key)`, bit for bit. `step` accepts it in place of the key, so a
    rollout can draw a whole trajectory's noise in a few wide calls before its loop rather than
    many narrow ones inside it (the wrappers pass the key through untouched)."""

    u_term: jax.Array  # [] uniform in [0, 1): a collected object ends the episode when below its p_terminate
    u_respawn: jax.Array  # [MAX_OBJECTS] uniform: an inactive object respawns when below its p_respawn
    k_cells: Any  # key of the respawn cells (None when tabular_only: objects never move)
    k_reset: Any  # key of the auto-reset's initial state (None when tabular_only: nothing random)


class GridWorld(environment.Environment[GridState, GridParams]):
    """LPG gridworld; every level is a :class:`GridParams` value, the env itself is level-free.

    Observation: float32 [MAX_SIZE, MAX_SIZE, 1 + NUM_TYPES]; channel 0 is the one-hot agent
    position, channel 1 + t marks active objects of type t (all zero on tabular levels, so the
    observation is then exactly a one-hot of the position). Actions: 0 up, 1 right, 2 down, 3 left.

    tabular_only: a static promise that every level this instance sees is tabular with a fixed
    start (as every tabular named level and tabular distribution is). Such an env skips what
    those levels never use: no random cells are drawn at reset or respawn, and the observation
    is only channel 0, [MAX_SIZE, MAX_SIZE, 1] (the other channels are always zero there).
    Trajectories are otherwise identical, key for key, to the general env's
    (tests/test_gridworld_reference.py).
    """

    def __init__(self, tabular_only: bool = False):
        super().__init__()
        self.tabular_only = bool(tabular_only)

    @property
    def default_params(self) -> GridParams:
        """The "dense" reference level (tabular, 11x11, 4 objects of 3 types)."""
        return make_grid_params(
            height=11,
            width=11,
            start=(0, 0),
            objects=[(1, 3, 0), (3, 7, 0), (8, 7, 1), (9, 2, 2)],
            type_reward=[1.0, -1.0, -1.0],
            type_p_terminate=[0.0, 0.5, 0.0],
            type_p_respawn=[0.05, 0.1, 0.5],
            max_steps_in_episode=500,
        )

    def transition(
        self, key: chex.PRNGKey, state: GridState, action: int | jax.Array, params: GridParams
    ) -> tuple[GridState, jax.Array, jax.Array]:
        """One transition without building the observation: (state, reward, terminated).

        See the module docstring for the order of events.
        """
        noise = key if isinstance(key, StepNoise) else self._transition_noise(key, None)
        blocked = blocked_cells(params)

        # Move: a target outside the padded board or on a blocked cell leaves the agent in place.
        target = state.pos + MOVES[action]
        clipped = jnp.clip(target, 0, MAX_SIZE - 1)
        can_move = jnp.all(target == clipped) & ~blocked[clipped[0], clipped[1]]
        pos = jnp.where(can_move, clipped, state.pos)

        # Collect: object positions are distinct, so at most one object is collected.
        collected = state.obj_active & jnp.all(state.obj_pos == pos[None, :], axis=-1)
        reward = jnp.sum(jnp.where(collected, params.type_reward[params.obj_type], 0.0))
        p_term = jnp.sum(jnp.where(collected, params.type_p_terminate[params.obj_type], 0.0))
        terminated = noise.u_term < jnp.clip(p_term, 0.0, 1.0)  # jax.random.bernoulli(k_term, p)

        # Respawn only objects inactive before this step, so a collected object is absent for at
        # least one step (as in the reference implementation).
        p_respawn = params.type_p_respawn[params.obj_type]
        respawn = (
            ~state.obj_active
            & params.obj_valid
            & (noise.u_respawn < jnp.clip(p_respawn, 0.0, 1.0))
        )
        still_active = state.obj_active & ~collected
        if self.tabular_only:
            obj_pos = params.obj_pos  # objects never move on tabular levels: nothing to draw
        else:
            # Random levels: respawned objects go to distinct free cells away from the agent and
            # the objects that remain; the i-th respawning object takes the i-th sampled cell.
            occupied = _cells_mask(state.obj_pos, still_active).at[pos[0], pos[1]].set(True)
            cells = sample_cells(noise.k_cells, ~blocked & ~occupied, MAX_OBJECTS)
            rank = jnp.cumsum(respawn) - 1
            random_pos = jnp.where(respawn[:, None], cells[jnp.clip(rank, 0)], state.obj_pos)
            obj_pos = jnp.where(params.tabular, params.obj_pos, random_pos)

        new_state = GridState(
            time=state.time + 1,
            pos=pos,
            obj_pos=obj_pos,
            obj_active=still_active | respawn,
        )
        return new_state, reward.astype(jnp.float32), terminated

    def _transition_noise(self, key_step: chex.PRNGKey, key_reset) -> StepNoise:
        """The draws `transition` makes from key_step (as jax.random.bernoulli would make them)."""
        k_term, k_respawn, k_cells = jax.random.split(key_step, 3)
        u_term = jax.random.uniform(k_term, (), jnp.float32)
        u_respawn = jax.random.uniform(k_respawn, (MAX_OBJECTS,), jnp.float32)
        if self.tabular_only:
            return StepNoise(u_term, u_respawn, None, None)
        return StepNoise(u_term, u_respawn, k_cells, key_reset)

    def draw_step_noise(self, key: chex.PRNGKey) -> StepNoise:
        """What `step(key, ...)` draws, as a StepNoise that `step` accepts in place of the key."""
        key_step, key_reset = jax.random.split(key)
        return self._transition_noise(key_step, key_reset)

    def initial_state(self, key: chex.PRNGKey, params: GridParams) -> GridState:
        """Start of an episode: all valid objects active; random levels get random object cells."""
        if self.tabular_only:
            del key  # fixed start, fixed objects: nothing is random
            return GridState(time=jnp.int32(0), pos=params.start.astype(jnp.int32),
                             obj_pos=params.obj_pos, obj_active=params.obj_valid)
        k_start, k_objs = jax.random.split(key)
        free = ~blocked_cells(params)
        fixed_objs = _cells_mask(params.obj_pos, params.obj_valid & params.tabular)
        random_start = sample_cells(k_start, free & ~fixed_objs, 1)[0]
        start = jnp.where(params.random_start, random_start, params.start)
        not_start = free.at[start[0], start[1]].set(False)
        random_objs = sample_cells(k_objs, not_start, MAX_OBJECTS)
        return GridState(
            time=jnp.int32(0),
            pos=start.astype(jnp.int32),
            obj_pos=jnp.where(params.tabular, params.obj_pos, random_objs),
            obj_active=params.obj_valid,
        )

    def step_env(
        self, key: chex.PRNGKey, state: GridState, action: int | jax.Array, params: GridParams
    ) -> tuple[jax.Array, GridState, jax.Array, jax.Array, dict]:
        """One transition (gymnax API): (obs, state, reward, terminated, info)."""
        new_state, reward, terminated = self.transition(key, state, action, params)
        return self.get_obs(new_state, params), new_state, reward, terminated, {}

    def reset_env(self, key: chex.PRNGKey, params: GridParams) -> tuple[jax.Array, GridState]:
        state = self.initial_state(key, params)
        return self.get_obs(state, params), state

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key: chex.PRNGKey, state: GridState, action: int | jax.Array, params: GridParams | None = None):
        """gymnax's auto-resetting step, with its key use and outputs, but one observation is
        built from the selected state (not one for the step and one for the reset, then a
        select); `final_observation` (the pre-reset one) is built only if a caller reads it."""
        if params is None:
            params = self.default_params
        noise = key if isinstance(key, StepNoise) else self.draw_step_noise(key)
        state_st, reward, terminated = self.transition(noise, state, action, params)
        truncated = self.is_truncated(state_st, params)
        done = jnp.logical_or(terminated, truncated)
        state_re = self.initial_state(noise.k_reset, params)
        new_state = jax.tree.map(lambda x, y: jax.lax.select(done, x, y), state_re, state_st)
        info = {"terminated": terminated, "truncated": truncated, "final_observation": self.get_obs(state_st, params)}
        return self.get_obs(new_state, params), new_state, reward, terminated, truncated, info

    def get_obs(self, state: GridState, params: GridParams | None = None, key=None) -> jax.Array:
        """float32 [MAX_SIZE, MAX_SIZE, C], C = 1 + NUM_TYPES (1 if tabular_only); see the class docstring."""
        if params is None:
            params = self.default_params
        # The position one-hot as a comparison with an iota, not a scatter into zeros: the same
        # values, but one fused elementwise kernel instead of a materialised zero grid and a
        # scatter, which counts inside every rollout and evaluation step on the CPU.
        cells = jnp.arange(MAX_SIZE)
        here = (cells[:, None] == state.pos[0]) & (cells[None, :] == state.pos[1])
        obs = here.astype(jnp.float32)[:, :, None]
        if self.tabular_only:
            return obs
        obs = jnp.concatenate([obs, jnp.zeros((MAX_SIZE, MAX_SIZE, NUM_CHANNELS - 1), jnp.float32)], axis=-1)
        show = (state.obj_active & ~params.tabular).astype(jnp.float32)
        # .max (not .set) so padded inactive slots sharing a cell cannot erase a visible object.
        return obs.at[state.obj_pos[:, 0], state.obj_pos[:, 1], 1 + params.obj_type].max(show)

    def is_terminated(self, state: GridState, params: GridParams) -> jax.Array:
        """Termination is stochastic and decided inside ``transition``; no terminal states."""
        return jnp.bool_(False)

    @property
    def name(self) -> str:
        return "GridWorld-LPG"

    @property
    def num_actions(self) -> int:
        return 4

    def action_space(self, params: GridParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(4)

    def observation_space(self, params: GridParams | None = None) -> spaces.Box:
        channels = 1 if self.tabular_only else NUM_CHANNELS
        return spaces.Box(0.0, 1.0, (MAX_SIZE, MAX_SIZE, channels), jnp.float32)
