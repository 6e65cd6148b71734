"""Prioritised level replay: buffer invariants over many random rounds, replay frequencies,
and one test for each PLR bug shipped elsewhere (levels reset to random ones after the first
episode, division by zero in rank weights, temperature applied as a division, -inf scores
entering the buffer). Levels here are toy pytrees {"id": int}; the buffer is level-agnostic."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discover.curricula.buffer import Entries, empty_buffer, insert, rescore
from discover.curricula.plr import draw_replay, replay_probs, score_weights, staleness_weights
from discover.curricula.replay import make_replay

TEMPLATE = {"id": jnp.int32(0)}


def _entries(ids, scores):
    n = len(ids)
    return Entries({"id": jnp.asarray(ids, jnp.int32)}, jnp.full((n,), 7, jnp.int32), jnp.asarray(scores, jnp.float32),
                   jnp.arange(n, dtype=jnp.float32), jnp.full((n,), jnp.nan), jnp.zeros((n,)))


def _ccfg(**kw):
    base = dict(buffer_size=16, replay_prob=0.5, prioritisation="rank", temperature=1.0, staleness=0.1)
    return types.SimpleNamespace(**{**base, **kw})


class _Generator:
    """Fresh levels with ids counting up from 1000 (so every fresh level is new)."""

    def init(self, key):
        return jnp.int32(0)

    def sample(self, key, state, n):
        ids = 1000 + jax.random.randint(key, (n,), 0, 10**6)
        return state, {"id": ids}, jnp.full((n,), 7, jnp.int32)


def test_insert_keeps_the_best_and_refuses_non_finite_scores():
    buf = empty_buffer(TEMPLATE, 4)
    buf, ins = insert(buf, _entries([1, 2, 3], [0.5, -jnp.inf, jnp.nan]), 0)
    np.testing.assert_array_equal(ins, [True, False, False])  # -inf and NaN never enter
    assert int(buf.evaluated.sum()) == 1
    buf, _ = insert(buf, _entries([4, 5, 6], [0.1, 0.2, 0.3]), 1)
    assert int(buf.evaluated.sum()) == 4
    # Full: a new level replaces the lowest (0.1) only if it scores higher.
    buf, ins = insert(buf, _entries([7, 8], [0.05, 0.25]), 2)
    np.testing.assert_array_equal(ins, [False, True])
    held = dict(zip(np.asarray(buf.levels["id"]).tolist(), np.asarray(buf.scores).tolist()))
    assert 4 not in held and 8 in held and 7 not in held
    assert sorted(np.round(list(held.values()), 3)) == [0.2, 0.25, 0.3, 0.5]
    assert np.all(np.isfinite(np.asarray(buf.scores)[np.asarray(buf.evaluated)]))


def test_rescore_ignores_non_finite_scores():
    buf, _ = insert(empty_buffer(TEMPLATE, 4), _entries([1, 2], [0.5, 0.7]), 0)
    slots = jnp.argsort(buf.levels["id"])[2:]  # slots of ids 1, 2
    buf2 = rescore(buf, slots, jnp.array([jnp.nan, 0.9]), jnp.zeros(2), 5)
    np.testing.assert_allclose(np.asarray(buf2.scores)[np.asarray(slots)], [0.5, 0.9])
    assert int(buf2.last_sampled[slots[1]]) == 5


def test_buffer_invariants_over_many_random_rounds():
    replay = make_replay(_ccfg(), _Generator(), TEMPLATE)
    buf = replay.init(jax.random.key(0))
    draw = jax.jit(replay.draw, static_argnums=2)
    update = jax.jit(replay.update)
    n, rounds, replays = 4, 200, 0
    rng = np.random.default_rng(0)
    for g in range(rounds):
        d = draw(jax.random.key(g), buf, n, g)
        ids = np.asarray(d.levels["id"])
        if bool(d.replay):
            replays += 1
            index = np.asarray(d.index)
            assert len(set(index.tolist())) == n  # never the same level twice at once
            assert np.asarray(buf.evaluated)[index].all()  # only evaluated levels are replayed
            np.testing.assert_array_equal(ids, np.asarray(buf.levels["id"])[index])
        scores = rng.normal(size=n).astype(np.float32)
        scores[rng.random(n) < 0.1] = rng.choice([np.nan, -np.inf, np.inf])  # junk must never enter
        before = np.asarray(buf.scores)[np.asarray(buf.evaluated)]
        buf, metrics = update(buf, d, _entries(ids, scores), g)
        ev = np.asarray(buf.evaluated)
        assert buf.scores.shape == (16,) and buf.levels["id"].shape == (16,)
        assert np.all(np.isfinite(np.asarray(buf.scores)[ev]))
        if not bool(d.replay) and before.size == 16:
            # Full buffer: the kept scores are the 16 best of old and (finite) new ones.
            pool = np.concatenate([before, scores[np.isfinite(scores)]])
            np.testing.assert_allclose(np.sort(np.asarray(buf.scores)[ev]), np.sort(pool)[-16:], rtol=1e-6)
    assert 40 < replays < 160 and int(buf.evaluated.sum()) == 16


def test_buffer_survives_a_checkpoint_and_continues_bit_for_bit(tmp_path):
    """A level buffer saved mid-run and restored continues exactly as the one never saved (the
    full CLI kill-and-resume with a buffer is a slow test in test_groove.py)."""
    from discover import checkpoint

    replay = make_replay(_ccfg(), _Generator(), TEMPLATE)
    draw = jax.jit(replay.draw, static_argnums=2)
    update = jax.jit(replay.update)
    rng = np.random.default_rng(1)

    def rounds(buf, start, stop):
        for g in range(start, stop):
            d = draw(jax.random.key(g), buf, 4, g)
            buf, _ = update(buf, d, _entries(np.asarray(d.levels["id"]), rng_scores[g]), g)
        return buf

    rng_scores = rng.normal(size=(40, 4)).astype(np.float32)
    buf = rounds(replay.init(jax.random.key(0)), 0, 20)
    checkpoint.save(tmp_path, 20, {"buffer": buf})
    _, restored = checkpoint.restore(tmp_path, {"buffer": replay.init(jax.random.key(5))})
    restored = restored["buffer"]
    for a, b in zip(jax.tree.leaves(buf), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree.leaves(rounds(buf, 20, 40)), jax.tree.leaves(rounds(restored, 20, 40))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_no_replay_until_enough_evaluated_levels():
    replay = make_replay(_ccfg(replay_prob=1.0), _Generator(), TEMPLATE)
    buf = replay.init(jax.random.key(0))
    buf, _ = insert(buf, _entries([1, 2, 3], [1.0, 2.0, 3.0]), 0)
    assert not bool(replay.draw(jax.random.key(1), buf, 4, 1).replay)  # 3 < 4 levels
    buf, _ = insert(buf, _entries([4], [4.0]), 0)
    assert bool(replay.draw(jax.random.key(1), buf, 4, 1).replay)


def test_rank_weights_temperature_is_a_power():
    scores = jnp.array([3.0, 1.0, 2.0, 0.0])
    mask = jnp.array([True, True, True, False])
    for t in (0.5, 1.0, 2.0):
        # ranks 1, 3, 2 -> h = 1, 1/3, 1/2; P proportional to h^(1/T). (A temperature applied
        # as a division, h / T, would give the same P for every T.)
        h = np.array([1.0, 1 / 3, 1 / 2]) ** (1 / t)
        np.testing.assert_allclose(score_weights(scores, mask, "rank", t)[:3], h / h.sum(), rtol=1e-5)
        assert float(score_weights(scores, mask, "rank", t)[3]) == 0.0
    p_sharp = np.asarray(score_weights(scores, mask, "rank", 0.1))
    assert p_sharp[0] > 0.999  # T -> 0 is greedy, without overflow


@pytest.mark.parametrize("scores,mask", [
    (jnp.zeros(4), jnp.ones(4, bool)),  # all tied
    (jnp.array([5.0, 0, 0, 0]), jnp.array([True, False, False, False])),  # one level
    (jnp.array([-1.0, -2.0, -3.0, 0.0]), jnp.ones(4, bool)),  # proportional with non-positive scores
])
def test_weights_never_divide_by_zero(scores, mask):
    for kind in ("rank", "proportional"):
        for t in (1e-3, 1.0, 1e3):
            p = np.asarray(score_weights(scores, mask, kind, t))
            assert np.all(np.isfinite(p)) and abs(p.sum() - 1) < 1e-5 and np.all(p[~np.asarray(mask)] == 0)
    p = np.asarray(staleness_weights(jnp.full(4, 3), 3, mask))  # nothing stale: uniform
    assert np.all(np.isfinite(p)) and abs(p.sum() - 1) < 1e-5


def test_replay_frequencies_follow_the_prioritisation():
    """One draw at a time, 20000 times: frequencies match P = (1 - rho) P_S + rho P_C within
    4 standard errors per level, for rank and proportional scores, two temperatures, staleness."""
    buf, _ = insert(empty_buffer(TEMPLATE, 6), _entries([1, 2, 3, 4, 5], [2.0, 0.5, 1.0, 0.1, 3.0]), 0)
    buf = buf._replace(last_sampled=jnp.array([0, 9, 4, 2, 8, 0]))
    draws = jax.jit(jax.vmap(draw_replay, in_axes=(0, None, None)), static_argnums=2)
    keys = jax.random.split(jax.random.key(0), 20000)
    for kind, t, rho in (("rank", 1.0, 0.0), ("rank", 0.3, 0.3), ("proportional", 2.0, 0.5)):
        p = np.asarray(replay_probs(buf, 10, kind, t, rho))
        assert p[5] == 0 and abs(p.sum() - 1) < 1e-5  # the empty slot is never drawn
        freq = np.bincount(np.asarray(draws(keys, jnp.asarray(p), 1))[:, 0], minlength=6) / len(keys)
        se = np.sqrt(p * (1 - p) / len(keys))
        assert np.all(np.abs(freq - p) <= 4 * se + 1e-9), (kind, t, rho, freq, p)


def test_replayed_level_is_the_agents_level_for_every_episode():
    """The bug where levels reset to domain-randomised ones after the first episode: an agent
    trained on a replayed level must see that level at every reset of its lifetime."""
    from discover.config import AgentConfig, EnvConfig, LifetimeConfig, ObjectiveConfig
    from discover.curricula import make_task
    from discover.lifetime import make_lifetime
    from discover.objectives import make_objective

    cfg = types.SimpleNamespace(agent=AgentConfig(hidden=(8,)), objective=ObjectiveConfig(name="a2c"),
                                lifetime=LifetimeConfig(num_envs=4, rollout_len=30, lifetime=3, eval_steps=10))
    task = make_task(EnvConfig("gridworld", "small"), cfg.lifetime)
    lt = make_lifetime(cfg, make_objective(cfg.objective), task.env, task.template, 3)
    _, levels, _ = task.curriculum.sample(jax.random.key(5), task.curriculum.init(jax.random.key(0)), 2)
    level = jax.tree.map(lambda x: x[1], levels)
    level = level.replace(max_steps_in_episode=jnp.int32(3))  # many episodes per rollout
    state = lt.init(jax.random.key(1), level)
    starts = []
    for n in range(3):
        _, _, traj = lt.rollout(state.params, level, state.env_state, state.obs, jax.random.key(10 + n))
        first = np.concatenate([np.ones((1, 4)), np.asarray(traj.done[:-1])], 0).astype(bool)  # steps that begin episodes
        starts.append(np.asarray(traj.obs)[first])
    obs = np.concatenate(starts)
    assert len(obs) > 10
    start_cell = int(level.start[0]) * 11 + int(level.start[1])
    # Tabular-only observation [11 * 11]: every episode starts at this level's own start cell.
    assert np.all(np.argmax(obs, -1) == start_cell)
