"""Today's gridworld against trajectories recorded from the implementation before its step was
specialised for speed (tests/data/gridworld_reference.npz, written at commit b0c6d1e by
tests/data/make_gridworld_reference.py): same keys and actions must give the same states,
rewards, terminations, truncations and observations, step for step, on deterministic and
stochastic levels alike, for the general env and for the tabular-only env on tabular levels."""

import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest

from environments import GridWorld

DATA = Path(__file__).parent / "data"
_spec = importlib.util.spec_from_file_location("make_reference", DATA / "make_gridworld_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

RECORDED = np.load(DATA / "gridworld_reference.npz")
LEVELS = ref.levels()
TABULAR = [name for name, p in LEVELS.items() if bool(p.tabular)]
FIELDS = ("pos", "obj_pos", "obj_active", "time", "reward", "terminated", "truncated", "actions")


def _compare(name, got, channels):
    for field in FIELDS:
        np.testing.assert_array_equal(got[field], RECORDED[f"{name}/{field}"], err_msg=f"{name}: {field}")
    for field in ("obs", "final_obs", "reset_obs"):
        want = np.unpackbits(RECORDED[f"{name}/{field}"], axis=-1)[..., : 1 + 5]
        np.testing.assert_array_equal(got[field], want[..., :channels], err_msg=f"{name}: {field}")
        if channels == 1:  # tabular-only obs drops channels that were always zero there
            assert not want[..., 1:].any(), name


def test_reference_covers_both_kinds_and_events():
    assert TABULAR and len(TABULAR) < len(LEVELS)
    assert sum(RECORDED[f"{n}/terminated"].sum() for n in LEVELS) > 0
    assert sum(RECORDED[f"{n}/truncated"].sum() for n in LEVELS) > 0
    assert sum((RECORDED[f"{n}/reward"] != 0).sum() for n in LEVELS) > 10


def _all_trajectories(env, names):
    """ref.run for every named level in one vmapped program: {name: dict of numpy arrays}."""
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *[LEVELS[n] for n in names])
    out = jax.tree.map(np.asarray, jax.jit(jax.vmap(lambda p: ref.run(env, p, 7)))(stacked))
    return {n: {k: v[i] for k, v in out.items()} for i, n in enumerate(names)}


def test_general_env_reproduces_recorded_trajectories():
    for name, got in _all_trajectories(GridWorld(), list(LEVELS)).items():
        _compare(name, got, channels=6)


def test_tabular_only_env_reproduces_recorded_trajectories():
    for name, got in _all_trajectories(GridWorld(tabular_only=True), TABULAR).items():
        _compare(name, got, channels=1)
