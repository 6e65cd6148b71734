"""Named levels and level distributions: validity, ranges, lifetimes, name errors."""

from collections import deque

import jax
import numpy as np
import pytest

from environments import DISTRIBUTION_NAMES, LEVEL_NAMES, get_distribution, get_level
from environments.gridworld import MAX_OBJECTS, blocked_cells

N_SAMPLES = 200


def check_layout(params) -> None:
    """Start and valid objects inside the grid, on free cells, pairwise distinct."""
    params = jax.tree.map(np.asarray, params)
    free = ~np.asarray(blocked_cells(params))
    h, w = int(params.height), int(params.width)
    objects = [tuple(p) for p, v in zip(params.obj_pos, params.obj_valid) if v]
    cells = [tuple(params.start)] + objects
    assert all(0 <= r < h and 0 <= c < w and free[r, c] for r, c in cells), cells
    assert len(set(cells)) == len(cells), cells


def reachable(free: np.ndarray, start) -> set:
    seen, todo = {tuple(start)}, deque([tuple(start)])
    while todo:
        r, c = todo.popleft()
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (r + dr, c + dc)
            inside = 0 <= n[0] < free.shape[0] and 0 <= n[1] < free.shape[1]
            if inside and free[n] and n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


@pytest.mark.parametrize("name", LEVEL_NAMES)
def test_named_levels_are_valid(name):
    params, lifetime = get_level(name)
    check_layout(params)
    assert bool(params.tabular) == (not name.startswith("rand_"))
    assert lifetime == (2500 if params.tabular else 25000)
    free = ~np.asarray(blocked_cells(params))
    assert reachable(free, np.asarray(params.start)) == {tuple(c) for c in np.argwhere(free)}


def test_reference_values_of_named_levels():
    dense, _ = get_level("dense")
    np.testing.assert_allclose(dense.type_reward[:3], [1.0, -1.0, -1.0])
    np.testing.assert_allclose(dense.type_p_respawn[:3], [0.05, 0.1, 0.5])
    assert int(dense.max_steps_in_episode) == 500 and int(dense.obj_valid.sum()) == 4
    longer, _ = get_level("longer")
    assert int(longer.height) == 9 and int(longer.walls[:9, 4].sum()) == 7  # two corridors
    assert int(get_level("long_dense")[0].max_steps_in_episode) == 2000


@pytest.fixture(scope="module")
def all_samples():
    dist = get_distribution("all_vrandlife")
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(dist.sample))(
        jax.random.split(jax.random.key(0), N_SAMPLES)))


def test_all_distribution_respects_ranges(all_samples):
    params, lifetime = all_samples
    assert params.walls.shape == (N_SAMPLES, 11, 11)
    assert params.height.min() >= 4 and params.height.max() <= 10
    assert len(np.unique(params.height)) > 4  # the range is actually explored
    n_objs = params.obj_valid.sum(-1)
    assert n_objs.min() >= 1 and n_objs.max() <= MAX_OBJECTS and len(np.unique(n_objs)) == 5
    valid_type = np.arange(5)[None, :] < n_objs[:, None]  # object i has type i
    rewards = np.where(valid_type, params.type_reward, np.nan)
    assert np.nanmin(rewards) >= -1.0 and np.nanmax(rewards) <= 1.0
    assert np.all(np.nanmax(rewards, axis=1) > 0.0)  # at least one positive reward per level
    p_term = params.type_p_terminate[valid_type]
    p_resp = params.type_p_respawn[valid_type]
    assert p_term.min() >= 1e-2 - 1e-7 and p_term.max() <= 1.0
    assert p_resp.min() >= 1e-3 - 1e-8 and p_resp.max() <= 1e-1 + 1e-7
    assert params.max_steps_in_episode.min() >= 20 and params.max_steps_in_episode.max() <= 750
    assert lifetime.min() >= 10 and lifetime.max() <= 250 and len(np.unique(lifetime)) > 20
    assert get_distribution("all_vrandlife").max_lifetime == 250
    assert params.tabular.all()


def test_sampled_layouts_are_valid_and_reachable(all_samples):
    params, _ = all_samples
    for i in range(N_SAMPLES):
        level = jax.tree.map(lambda x: x[i], params)
        check_layout(level)
        free = ~np.asarray(blocked_cells(level))
        assert int(free.sum()) >= 1 + MAX_OBJECTS
        if i < 40:  # BFS in Python is slow-ish; a subset suffices
            assert reachable(free, level.start) == {tuple(c) for c in np.argwhere(free)}
    assert params.walls[:, :4, :4].any()  # some walls are actually sampled


def test_small_distribution_ranges():
    dist = get_distribution("small")
    params, lifetime = jax.jit(jax.vmap(dist.sample))(jax.random.split(jax.random.key(1), 64))
    assert 4 <= int(params.height.min()) and int(params.height.max()) <= 6
    n = params.obj_valid.sum(-1)
    assert 1 <= int(n.min()) and int(n.max()) <= 3
    steps = params.max_steps_in_episode
    assert 20 <= int(steps.min()) and int(steps.max()) <= 100
    assert np.all(np.asarray(lifetime) == 250) and dist.max_lifetime == 250


def test_all_variants_differ_only_in_lifetime():
    base = get_distribution("all")
    for name, life in [("all", (1000, 1000)), ("all_shortlife", (250, 250)),
                       ("all_vrandlife", (10, 250))]:
        dist = get_distribution(name)
        assert dist.lifetime == life
        assert dist.size == (4, 10) and dist.n_objects == (1, 5)
        assert dist.episode_length == (20, 750) and dist.wall_density == base.wall_density
        assert dist.p_terminate_range == (1e-2, 1.0) and dist.p_respawn_range == (1e-3, 1e-1)


def test_named_levels_and_mixture_as_distributions():
    dist = get_distribution("sparse")
    params, lifetime = jax.vmap(dist.sample)(jax.random.split(jax.random.key(0), 3))
    assert params.walls.shape == (3, 11, 11) and np.all(np.asarray(lifetime) == 2500)
    assert dist.max_lifetime == 2500
    mix = get_distribution("tabular")
    params, lifetime = jax.jit(jax.vmap(mix.sample))(jax.random.split(jax.random.key(0), 32))
    assert len(np.unique(np.asarray(params.max_steps_in_episode))) >= 3  # several levels drawn
    assert mix.max_lifetime == 2500
    assert set(DISTRIBUTION_NAMES) >= {"small", "medium", "large", "all", "all_shortlife",
                                       "all_vrandlife"}


def test_plus_joins_named_levels_into_a_uniform_mixture():
    mix = get_distribution("sparse+dense")
    params, lifetime = jax.jit(jax.vmap(mix.sample))(jax.random.split(jax.random.key(0), 64))
    starts = {tuple(s) for s in np.asarray(params.start).tolist()}
    assert starts == {(5, 5), (0, 0)}  # sparse starts in the centre, dense in the corner
    assert np.all(np.asarray(lifetime) == 2500)
    for bad in ("sparse+nope", "sparse+", "all+dense"):
        with pytest.raises(ValueError, match="named levels"):
            get_distribution(bad)


def test_level_mixture_task_uses_the_configured_lifetime():
    from discover.config import EnvConfig, LifetimeConfig
    from discover.curricula import make_task

    task = make_task(EnvConfig("gridworld", "sparse+dense"), LifetimeConfig(lifetime=7))
    cur = task.curriculum
    _, levels, lifetimes = cur.sample(jax.random.key(1), cur.init(jax.random.key(1)), 16)
    assert task.max_lifetime == 7 and np.all(np.asarray(lifetimes) == 7)
    assert len({tuple(s) for s in np.asarray(levels.start).tolist()}) == 2


@pytest.mark.parametrize("fn", [get_level, get_distribution])
def test_unknown_names_raise_one_line(fn):
    with pytest.raises(ValueError) as err:
        fn("nope")
    msg = str(err.value)
    assert "nope" in msg and "dense" in msg and "\n" not in msg


def test_lifetime_min_draws_log_uniform_lifetimes_for_fixed_levels_and_mixtures():
    from discover.config import ConfigError, EnvConfig, LifetimeConfig, RunConfig
    from discover.curricula import make_task

    for dist in ("sparse+dense", "sparse", ""):
        env = EnvConfig("gridworld", dist)
        task = make_task(env, LifetimeConfig(lifetime=50, lifetime_min=5))
        cur = task.curriculum
        _, levels, lifetimes = cur.sample(jax.random.key(2), cur.init(jax.random.key(2)), 256)
        n = np.asarray(lifetimes)
        assert task.max_lifetime == 50 and n.min() >= 5 and n.max() <= 50, dist
        assert np.median(n) < 27.5  # log-uniform: median ~ sqrt(5 * 50) = 16, not the midpoint
        assert len(np.unique(n)) > 20
    with pytest.raises(ConfigError, match="lifetime_min"):
        LifetimeConfig(lifetime=50, lifetime_min=60)
    with pytest.raises(ConfigError, match="samples its own lifetimes"):
        RunConfig(env=EnvConfig("gridworld", "all_vrandlife"), lifetime=LifetimeConfig(lifetime=50, lifetime_min=5))
