"""LPG gridworld dynamics: walls, collection, termination, respawn, observations, vmapped levels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from environments import GridWorld, get_distribution, get_level, make_grid_params
from environments.gridworld import MAX_SIZE, NUM_TYPES, blocked_cells

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
ENV = GridWorld()  # one instance so gymnax's jitted step/reset compile once per params shape


def tiny_level(**overrides):
    """3x4 level: start (0,0), wall at (1,0), one object of type 2 at (0,1) worth 0.7."""
    kwargs = dict(
        height=3, width=4, start=(0, 0), objects=[(0, 1, 2)],
        type_reward=[0.0, 0.0, 0.7], type_p_terminate=[0.0, 0.0, 0.0],
        type_p_respawn=[0.0, 0.0, 0.0], walls=[(1, 0)], max_steps_in_episode=50,
    )
    kwargs.update(overrides)
    return make_grid_params(**kwargs)


def rollout(params, actions, seed=0):
    """Steps ENV through ``actions``; returns lists of (state, reward, terminated, truncated)."""
    key = jax.random.key(seed)
    _, state = ENV.reset(key, params)
    out = []
    for a in actions:
        key, sub = jax.random.split(key)
        _, state, reward, term, trunc, _ = ENV.step(sub, state, a, params)
        out.append((state, float(reward), bool(term), bool(trunc)))
    return out


def test_walls_and_border_block_movement():
    params = tiny_level(objects=[(2, 3, 0)])  # object out of the way
    # (0,0): up is the border, down is the wall at (1,0) -> both stay put; right moves.
    steps = rollout(params, [UP, DOWN, LEFT, RIGHT])
    positions = [tuple(np.asarray(s.pos)) for s, *_ in steps]
    assert positions == [(0, 0), (0, 0), (0, 0), (0, 1)]
    # Cells beyond width=4 are blocked even when the walls array says free.
    open_params = params.replace(
        walls=jnp.zeros((MAX_SIZE, MAX_SIZE), bool), start=jnp.array([0, 3]))
    (state, *_), = rollout(open_params, [RIGHT])
    assert tuple(np.asarray(state.pos)) == (0, 3)
    assert bool(blocked_cells(open_params)[0, 4]) and not bool(blocked_cells(open_params)[1, 0])


def test_collecting_gives_type_reward_and_deactivates():
    steps = rollout(tiny_level(), [RIGHT, RIGHT, LEFT])
    rewards = [r for _, r, _, _ in steps]
    # Collected on the first step (reward of type 2); gone afterwards (p_respawn 0).
    assert rewards == pytest.approx([0.7, 0.0, 0.0])
    assert not bool(steps[0][0].obj_active[0])


def test_termination_probability():
    term_steps = rollout(tiny_level(type_p_terminate=[0.0, 0.0, 1.0]), [RIGHT])
    assert term_steps[0][2] is True
    no_term = rollout(tiny_level(), [RIGHT, RIGHT])
    assert not any(t for _, _, t, _ in no_term)


def test_truncation_at_episode_length():
    steps = rollout(tiny_level(objects=[(2, 3, 0)], max_steps_in_episode=3), [UP] * 3)
    assert [tr for *_, tr in steps] == [False, False, True]
    assert int(steps[-1][0].time) == 0  # auto-reset after truncation


def test_respawn_probability_one_and_zero():
    # p_respawn 1: collected at step 1, absent after it, back after step 2 at its fixed cell
    # (0,1), where stepping LEFT onto it collects it again.
    steps = rollout(tiny_level(type_p_respawn=[0.0, 0.0, 1.0]), [RIGHT, RIGHT, LEFT, RIGHT])
    active = [bool(s.obj_active[0]) for s, *_ in steps]
    assert active == [False, True, False, True]
    assert [r for _, r, _, _ in steps] == pytest.approx([0.7, 0.0, 0.7, 0.0])
    # p_respawn 0: never back.
    steps = rollout(tiny_level(), [RIGHT, RIGHT] + [UP] * 20)
    assert not any(bool(s.obj_active[0]) for s, *_ in steps)


def test_tabular_obs_is_position_one_hot_random_obs_shows_objects():
    tab, _ = get_level("dense")
    obs, state = ENV.reset(jax.random.key(0), tab)
    assert obs.shape == (MAX_SIZE, MAX_SIZE, 1 + NUM_TYPES) == ENV.observation_space(tab).shape
    assert obs.dtype == jnp.float32
    assert float(obs.sum()) == 1.0 and float(obs[0, 0, 0]) == 1.0

    rand, _ = get_level("rand_dense")
    obs, state = ENV.reset(jax.random.key(0), rand)
    assert float(obs[..., 0].sum()) == 1.0
    # dense has 4 objects: 2 of type 0, 1 of type 1, 1 of type 2, each on its own cell.
    assert [float(obs[..., 1 + t].sum()) for t in range(NUM_TYPES)] == [2.0, 1.0, 1.0, 0.0, 0.0]
    for (r, c), t in zip(np.asarray(state.obj_pos)[:4], [0, 0, 1, 2]):
        assert float(obs[r, c, 1 + t]) == 1.0


def test_random_start_samples_free_cells():
    params = tiny_level(random_start=True)
    keys = jax.random.split(jax.random.key(1), 64)
    starts = jax.vmap(lambda k: ENV.reset(k, params)[1].pos)(keys)
    starts = {tuple(s) for s in np.asarray(starts)}
    free = ~np.asarray(blocked_cells(params))
    assert len(starts) > 3
    assert all(free[r, c] and (r, c) != (0, 1) for r, c in starts)  # never on the fixed object


def test_random_level_rollout_keeps_objects_valid():
    """A 300-step random-action rollout on rand_dense (respawns at random cells, auto-resets):
    agent and active objects always sit on distinct free cells."""
    params, _ = get_level("rand_dense")
    free = ~np.asarray(blocked_cells(params))

    def body(carry, key):
        state = carry
        k_act, k_step = jax.random.split(key)
        action = jax.random.randint(k_act, (), 0, 4)
        _, state, reward, *_ = ENV.step(k_step, state, action, params)
        return state, (state.pos, state.obj_pos, state.obj_active, reward)

    _, state = ENV.reset(jax.random.key(0), params)
    keys = jax.random.split(jax.random.key(3), 300)
    _, (pos, obj_pos, active, rewards) = jax.lax.scan(body, state, keys)
    pos, obj_pos, active = map(np.asarray, (pos, obj_pos, active))
    assert np.any(np.asarray(rewards) != 0.0)  # some object was collected
    assert np.any(~active[:, :4]) and not np.any(active[:, 4:])  # padded slot never active
    for t in range(300):
        cells = [tuple(p) for p, a in zip(obj_pos[t], active[t]) if a]
        assert all(free[r, c] for r, c in cells + [tuple(pos[t])])
        assert len(set(cells)) == len(cells) and tuple(pos[t]) not in cells


def test_vmapped_batch_of_distinct_levels_under_jit():
    dense, _ = get_level("dense")
    sparse, _ = get_level("sparse")
    sampled, _ = jax.jit(get_distribution("all").sample)(jax.random.key(7))
    custom = tiny_level()  # RIGHT collects 0.7
    levels = [dense, sparse, sampled, custom]
    batch = jax.tree.map(lambda *xs: jnp.stack(xs), *levels)
    keys = jax.random.split(jax.random.key(0), len(levels))

    reset = jax.jit(jax.vmap(ENV.reset))
    step = jax.jit(jax.vmap(ENV.step))
    obs, state = reset(keys, batch)
    assert obs.shape == (4, MAX_SIZE, MAX_SIZE, 1 + NUM_TYPES)
    starts = np.stack([np.asarray(level.start) for level in levels])
    np.testing.assert_array_equal(np.asarray(state.pos), starts)
    actions = jnp.array([RIGHT, RIGHT, UP, RIGHT])
    obs, state, reward, term, trunc, _ = step(keys, state, actions, batch)
    # dense: (0,0) -> (0,1); sparse: (5,5) -> (5,6); custom collects its object.
    assert tuple(np.asarray(state.pos[0])) == (0, 1) and tuple(np.asarray(state.pos[1])) == (5, 6)
    assert float(reward[3]) == pytest.approx(0.7) and float(reward[0]) == 0.0
    # Each level matches stepping it alone.
    for i, level in enumerate(levels):
        _, s0 = ENV.reset(keys[i], level)
        o1, s1, r1, *_ = ENV.step(keys[i], s0, actions[i], level)
        np.testing.assert_array_equal(np.asarray(o1), np.asarray(obs[i]))
        assert float(r1) == pytest.approx(float(reward[i]))
