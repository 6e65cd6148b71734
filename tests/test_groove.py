"""GROOVE wired together: scores equal their definitions, the optimal return of hand-built
levels by hand, the antagonist runs once per fresh level and never for a replayed one, and a
run with a level buffer resumes bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discover.curricula import make_task
from discover.curricula.optimal import optimal_return
from discover.config import CurriculumConfig, EnvConfig, LifetimeConfig
from discover.meta.levels import Outcome, make_replay_source
from environments import make_grid_params


@pytest.mark.parametrize("kwargs,horizon,expected", [
    # object worth 1 two cells right, terminating: reach it in 2 steps
    (dict(objects=[(0, 2, 0)], type_p_terminate=[1.0], type_p_respawn=[0.0], max_steps_in_episode=10), 100, 1.0),
    # ... but the episode lasts 1 step
    (dict(objects=[(0, 2, 0)], type_p_terminate=[1.0], type_p_respawn=[0.0], max_steps_in_episode=1), 100, 0.0),
    # adjacent, never terminating, respawns surely one step after it was taken: collect, wait,
    # collect ... 1 + floor((H - 1) / 2) in H steps
    (dict(objects=[(0, 1, 0)], type_p_terminate=[0.0], type_p_respawn=[1.0], max_steps_in_episode=10), 100, 5.0),
    (dict(objects=[(0, 1, 0)], type_p_terminate=[0.0], type_p_respawn=[1.0], max_steps_in_episode=10), 4, 2.0),
    # terminating with p = 1/2 on each collection: 1 + 1/2 + 1/4 + 1/8 + 1/16 in 10 steps
    (dict(objects=[(0, 1, 0)], type_p_terminate=[0.5], type_p_respawn=[1.0], max_steps_in_episode=10), 100, 1.9375),
])
def test_optimal_return_by_hand(kwargs, horizon, expected):
    level = make_grid_params(1, 3, (0, 0), type_reward=[1.0], **kwargs)
    assert float(optimal_return(level, horizon)) == pytest.approx(expected, abs=1e-5)


def _source(score, buffer_size=8, replay_prob=0.5):
    """A PLR level source over `small` tabular levels with a counting fake antagonist whose
    return on a level is 10 + its object count (so cached values can be checked)."""
    ccfg = CurriculumConfig(name="plr", score=score, buffer_size=buffer_size, replay_prob=replay_prob)
    task = make_task(EnvConfig("gridworld", "small"), LifetimeConfig(lifetime=5))
    calls = []

    def antagonist(levels, lifetimes, keys):
        calls.append(1)  # traced once per compilation of the fresh branch
        return 10.0 + levels.obj_valid.sum(-1).astype(jnp.float32)

    return make_replay_source(ccfg, task, antagonist, horizon=50), calls


def _outcome(n, learner):
    return Outcome(jnp.asarray(learner, jnp.float32), jnp.zeros(n), jnp.zeros(n), jnp.asarray(learner, jnp.float32),
                   jax.random.split(jax.random.key(0), n))


def test_scores_equal_their_definitions_and_the_antagonist_runs_once_per_fresh_level():
    n = 4
    src, _ = _source("alg_regret")
    opt_src, _ = _source("optimal_regret")
    buf, opt_buf = src.init(jax.random.key(0)), opt_src.init(jax.random.key(0))
    draw, score = jax.jit(src.draw, static_argnums=2), jax.jit(src.score)
    cached = {}
    fresh_rounds = ran = 0
    for g in range(30):
        buf, d = draw(jax.random.key(g), buf, n, g)
        learner = np.linspace(0.0, 1.5, n) + g % 3
        new_buf, m = score(jax.random.key(100 + g), buf, d, _outcome(n, learner), g)
        objects = np.asarray(d.levels.obj_valid.sum(-1))
        if bool(d.replay):
            assert int(m["antagonist_lifetimes"]) == 0
            idx = np.asarray(d.index)
            # replayed: the cached antagonist return, never recomputed; score = antagonist - learner
            np.testing.assert_allclose(np.asarray(new_buf.antagonist)[idx], 10.0 + objects)
            np.testing.assert_allclose(np.asarray(new_buf.scores)[idx], 10.0 + objects - learner, rtol=1e-6)
        else:
            fresh_rounds += 1
            ran += int(m["antagonist_lifetimes"])
            assert int(m["antagonist_lifetimes"]) == n
        ev = np.asarray(new_buf.evaluated)
        for slot in np.flatnonzero(ev):
            level_id = tuple(np.asarray(new_buf.levels.obj_pos[slot]).ravel())
            value = float(new_buf.antagonist[slot])
            assert cached.setdefault((slot, level_id), value) == value
        buf = new_buf
    assert ran == n * fresh_rounds and 0 < fresh_rounds < 30

    # optimal regret: the score of a fresh level is its value-iteration optimum minus the learner's
    _, d = opt_src.draw(jax.random.key(1), opt_buf, n, 0)
    learner = np.array([0.1, 0.2, 0.3, 0.4])
    opt_buf, _ = opt_src.score(jax.random.key(2), opt_buf, d, _outcome(n, learner), 0)
    expected = jax.vmap(lambda lv: optimal_return(lv, 50))(d.levels)
    slots = np.flatnonzero(np.asarray(opt_buf.evaluated))
    got = {round(float(opt_buf.optimal[s]), 5): float(opt_buf.scores[s]) for s in slots}
    for e, lr in zip(np.asarray(expected), learner):
        assert got[round(float(e), 5)] == pytest.approx(e - lr, abs=1e-5)


def test_scores_registry_each_needs_what_it_reads():
    from discover.curricula.scores import SCORES, ScoreInputs, compute

    s = ScoreInputs(jnp.array([1.0]), jnp.array([3.0]), jnp.array([5.0]), jnp.array([0.25]),
                    jnp.array([2.0]), jnp.array([4.5]), jax.random.key(0))
    assert float(compute("alg_regret", s)[0]) == 2.0
    assert float(compute("optimal_regret", s)[0]) == 4.0
    assert float(compute("pvl", s)[0]) == 0.25
    assert float(compute("maxmc", s)[0]) == 2.5
    assert 0 <= float(compute("random", s)[0]) < 1
    assert set(SCORES) == {"alg_regret", "optimal_regret", "pvl", "maxmc", "random"}


def test_config_refuses_what_plr_cannot_do():
    from discover.config import ConfigError, RunConfig, apply_overrides, validate
    from discover.presets import get_preset

    def check(preset, overrides):
        validate(apply_overrides(get_preset(preset), overrides))

    with pytest.raises(ConfigError, match="level distribution"):
        check("quickstart", [("curriculum.name", "plr")])
    with pytest.raises(ConfigError, match="buffer_size"):
        check("groove-tabular-cpu", [("curriculum.buffer_size", "3")])
    with pytest.raises(ConfigError, match="tabular"):
        check("groove-tabular-cpu", [("env.distribution", "rand_all"), ("curriculum.score", "optimal_regret")])
    with pytest.raises(ConfigError, match="power"):
        check("groove-tabular-cpu", [("curriculum.temperature", "0")])
    check("groove-tabular-cpu", [])
    assert isinstance(get_preset("groove-gridworld"), RunConfig)
    assert get_preset("groove-gridworld").curriculum.buffer_size == 4000


TINY_GROOVE = [
    "--generations", "6", "--checkpoint_every", "2", "--heldout_every", "0", "--es.population", "4",
    "--es.shaping", "centered_rank", "--lifetime.num_envs", "4", "--lifetime.lifetime_scale", "0.02",
    "--lifetime.eval_envs", "2", "--curriculum.buffer_size", "4", "--objective.lpg_hidden", "4",
]  # fmt: skip


@pytest.mark.slow  # 45 s of CLI runs; test_plr checks the buffer's checkpoint round trip in the default suite
def test_resume_with_a_level_buffer_is_bit_identical(tmp_path, cache_dir):
    """A GROOVE run of 3 generations resumed to 6 ends with the same objective and the same
    checkpoint, level buffer included (same checksum), as an uninterrupted run of 6. The
    processes share a compilation cache: only the first compiles."""
    import json

    from tests.runs import assert_same_params, cli, ok

    args = ["train", "--preset", "groove-tabular-cpu", *TINY_GROOVE]
    ok(cli([*args, "--out", tmp_path / "a"], cwd=tmp_path, cache_dir=cache_dir))
    ok(cli([*args, "--generations", "3", "--out", tmp_path / "b"], cwd=tmp_path, cache_dir=cache_dir))
    ok(cli(["train", "--resume", tmp_path / "b", "--generations", "6"], cwd=tmp_path, cache_dir=cache_dir))
    assert_same_params(tmp_path / "a", tmp_path / "b")
    manifest = lambda run: json.loads((run / "checkpoints" / "gen_000006" / "manifest.json").read_text())
    assert manifest(tmp_path / "a")["sha256"] == manifest(tmp_path / "b")["sha256"]
    data = np.load(tmp_path / "a" / "checkpoints" / "gen_000006" / "arrays.npz")
    assert any(a.dtype == bool and a.shape == (4,) and a.all() for a in data.values())  # the buffer's `evaluated`


@pytest.mark.slow
def test_meta_gradients_with_level_replay_score_levels_when_lifetimes_end():
    """GROOVE's Algorithm 1: meta-gradient LPG whose agents, when their lifetime ends, write their
    level's score into the buffer and draw the next level; levels in use are never drawn twice."""
    import jax

    from discover.config import apply_overrides
    from discover.meta.run import _keys, build, make_multi_generation
    from discover.presets import get_preset

    cfg = apply_overrides(get_preset("lpg-gridworld-cpu"), [
        ("curriculum.name", "plr"), ("curriculum.buffer_size", "8"), ("lifetime.lifetime_scale", "0.02"),
        ("objective.lpg_hidden", "4"), ("lifetime.eval_steps", "20"),
    ])  # fmt: skip
    built = build(cfg)
    k_init, k_obj, k_run, _ = _keys(cfg)
    state = built.meta.init(k_init, built.objective.init(k_obj))
    step = make_multi_generation(built.meta, 1)
    inserted = ran = replays = 0
    for _ in range(8):
        state, m = step(state, k_run)
        inserted += int(m["levels_inserted"][0])
        ran += int(m["antagonist_lifetimes"][0])
        replays += int(m["replay"][0])
        buf = state.curriculum_state
        slots = np.asarray(state.level_slot)
        used = slots[slots >= 0]
        assert len(set(used.tolist())) == len(used)  # no level in use twice
        np.testing.assert_array_equal(np.flatnonzero(np.asarray(buf.in_use)), np.sort(used))
        assert np.all(np.isfinite(np.asarray(buf.scores)[np.asarray(buf.evaluated)]))
    assert inserted > 0 and ran > 0 and replays > 0


@pytest.mark.slow
def test_groove_experiment_quick_runs_end_to_end(tmp_path):
    import json

    from experiments.groove_experiment import main

    assert main(["--quick", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["summary"]) == {"small", "medium", "sparse", "long", "chain"}
    assert set(res["summary"]["chain"]) == {"dr", "groove"}
    assert (tmp_path / "groove_experiment.png").stat().st_size > 10_000
