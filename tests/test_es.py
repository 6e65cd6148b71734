"""Evolution strategies: Open_ES + discover's fitness shaping on a quadratic, the shaping functions
themselves, antithetic task sampling (twins share level, lifetime and key) and NaN members."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import discover.meta.es as es_mod
from discover.config import AgentConfig, EnvConfig, ESConfig, LifetimeConfig, ObjectiveConfig, RunConfig
from discover.curricula import make_task
from discover.lifetime import LifetimeMetrics, make_lifetime
from discover.meta.fitness import SHAPINGS, centered_rank, fitness_stats, win_loss, z_score
from discover.meta.strategies import make_strategy
from discover.objectives import make_objective

# ---------------------------------------------------------------------------------------------
# ES mean moves toward better fitness on a quadratic


def _minimise_quadratic(shaping: str, antithetic: bool, seed: int = 0, generations: int = 150):
    dim = 8
    target = {"a": jnp.linspace(-1.0, 1.0, dim), "b": jnp.full((2, 3), 0.5)}
    template = jax.tree.map(jnp.zeros_like, target)
    cfg = ESConfig(population=16, sigma=0.1, lr=0.05, shaping=shaping, antithetic=antithetic)
    strategy, params = make_strategy(cfg, template)
    shape = SHAPINGS[shaping]

    def dist(x):
        return jnp.sqrt(sum(jnp.sum((a - b) ** 2) for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(target))))

    @jax.jit
    def step(state, key):
        k_ask, k_tell = jax.random.split(key)
        pop, state = strategy.ask(k_ask, state, params)
        sq = jax.vmap(lambda x: dist(x) ** 2)(pop)
        fitness = -sq  # higher is better
        state, _ = strategy.tell(k_tell, pop, -shape(fitness), state, params)  # evosax minimises
        return state, None

    state = strategy.init(jax.random.key(seed), template, params)
    d0 = float(dist(strategy.get_mean(state)))
    state, _ = jax.lax.scan(step, state, jax.random.split(jax.random.key(seed + 1), generations))
    d1 = float(dist(strategy.get_mean(state)))
    return d0, d1, strategy.get_mean(state)


@pytest.mark.parametrize(
    "shaping,antithetic", [("centered_rank", True), ("winloss", True), ("centered_rank", False), ("z_score", True)]
)
def test_es_mean_moves_toward_better_fitness_on_quadratic(shaping, antithetic):
    d0, d1, mean = _minimise_quadratic(shaping, antithetic)
    assert np.isfinite(d1)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(mean))
    # From ~1.9 away to within a small neighbourhood (Adam steps of ~lr limit the precision).
    assert d1 < d0 / 4, (shaping, d0, d1)


def test_es_mean_moves_away_when_fitness_is_negated():
    """Sign convention check: telling evosax +shaped (i.e. maximising distance) moves away."""
    dim = 4
    target = jnp.ones(dim)
    cfg = ESConfig(population=8, sigma=0.1, lr=0.05, shaping="centered_rank")
    strategy, params = make_strategy(cfg, jnp.zeros(dim))
    state = strategy.init(jax.random.key(0), jnp.zeros(dim), params)
    for i in range(30):
        pop, state = strategy.ask(jax.random.key(2 * i), state, params)
        fitness = -jnp.sum((pop - target) ** 2, axis=1)
        state, _ = strategy.tell(jax.random.key(2 * i + 1), pop, centered_rank(fitness), state, params)  # wrong sign
    d = float(jnp.linalg.norm(strategy.get_mean(state) - target))
    assert d > float(jnp.linalg.norm(target)) + 0.5


# ---------------------------------------------------------------------------------------------
# Fitness shaping


def test_winloss_hand_example():
    # P = 6: twins (0, 3), (1, 4), (2, 5). Pair 0: 0 wins; pair 1: tie; pair 2: member 2 is NaN, so 5 wins.
    f = jnp.array([3.0, 1.0, jnp.nan, 2.0, 1.0, -7.0])
    np.testing.assert_array_equal(np.asarray(win_loss(f)), [0.5, 0.0, -0.5, -0.5, 0.0, 0.5])


def test_winloss_both_twins_nan_is_a_tie_and_inf_loses():
    f = jnp.array([jnp.nan, jnp.inf, 0.0, jnp.nan, 5.0, -jnp.inf])
    out = np.asarray(win_loss(f))
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, [0.0, -0.5, 0.5, 0.0, 0.5, -0.5])


def test_centered_rank_ranks_nan_last():
    f = jnp.array([2.0, jnp.nan, -5.0, 10.0, 0.0])
    out = np.asarray(centered_rank(f))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [0.25, -0.5, -0.25, 0.5, 0.0])
    assert out.argmin() == 1
    # ranks span exactly [-0.5, 0.5] and sum to zero
    assert out.min() == -0.5 and out.max() == 0.5 and abs(out.sum()) < 1e-6


def test_z_score_finite_with_nan_and_nan_ranks_worst():
    f = jnp.array([1.0, 2.0, jnp.nan, 3.0])
    out = np.asarray(z_score(f))
    assert np.isfinite(out).all()
    assert out.argmin() == 2
    assert abs(out.mean()) < 1e-6 and abs(out.std() - 1.0) < 1e-3


@pytest.mark.parametrize("name", sorted(SHAPINGS))
def test_all_nan_gives_finite_zeros(name):
    out = np.asarray(SHAPINGS[name](jnp.full((6,), jnp.nan)))
    assert out.shape == (6,)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out, np.zeros(6))


def test_centered_rank_all_nan_is_finite_and_centred():
    out = np.asarray(centered_rank(jnp.full((6,), jnp.nan)))
    assert np.isfinite(out).all() and abs(out.sum()) < 1e-6


def test_fitness_stats_ignores_nonfinite():
    s = jax.device_get(fitness_stats(jnp.array([1.0, jnp.nan, 3.0, jnp.inf])))
    assert s["fitness_mean"] == 2.0 and s["fitness_max"] == 3.0 and s["fitness_min"] == 1.0
    assert s["nonfinite"] == 2


# ---------------------------------------------------------------------------------------------
# Antithetic task sampling and NaN members, through make_es with a fake agent lifetime


def _gridworld_cfg(population=16, antithetic=True, shaping="winloss", chunk_size=0):
    return RunConfig(
        env=EnvConfig("gridworld", "all_vrandlife"),
        agent=AgentConfig(hidden=(8,)),
        objective=ObjectiveConfig(name="lpo", lpo_hidden=8, epochs=1, minibatches=1),
        # packing off: these tests replace Lifetime.train, which only the unpacked path calls
        lifetime=LifetimeConfig(num_envs=2, rollout_len=8, lifetime=4, eval_envs=2, eval_steps=10, packing=False),
        es=ESConfig(population=population, sigma=0.1, lr=0.05, antithetic=antithetic, shaping=shaping, chunk_size=chunk_size),
    )


def _fake_train(params, level, lifetime, key):
    """Records what it was given: key data, lifetime and the whole level; fitness = -||params||^2."""
    fitness = -sum(jnp.sum(x**2) for x in jax.tree.leaves(params))
    return None, LifetimeMetrics(
        return_sum=jax.random.key_data(key), episodes=lifetime, loss=level, final_return=fitness
    )


def _build_es(cfg, train, monkeypatch, transform=None):
    """make_es with lifetime.train replaced; records each evaluate() call's inputs and outputs."""
    objective = make_objective(cfg.objective)
    task = make_task(cfg.env, cfg.lifetime)
    lifetime = make_lifetime(cfg, objective, task.env, task.template, task.max_lifetime)._replace(train=train)
    calls = []
    original = es_mod.make_population_eval

    def recording(lifetime_fns, chunk_size, mesh, slots=0):
        assert slots == 0
        evaluate = original(lifetime_fns, chunk_size, mesh, slots)

        def wrapped(pop, levels, lifetimes, keys):
            out, utilisation = evaluate(pop, levels, lifetimes, keys)
            if transform is not None:
                out = transform(out)
            calls.append(dict(pop=pop, levels=levels, lifetimes=lifetimes, keys=keys, out=out))
            return out, utilisation

        return wrapped

    monkeypatch.setattr(es_mod, "make_population_eval", recording)
    es = es_mod.make_es(cfg, objective, lifetime, task, mesh=None)
    return es, objective, calls


def test_antithetic_twins_share_level_lifetime_and_key(monkeypatch):
    cfg = _gridworld_cfg(population=16)
    es, objective, calls = _build_es(cfg, _fake_train, monkeypatch)
    state = es.init(jax.random.key(0), objective.init(jax.random.key(1)))
    calls.clear()  # init traces a generation abstractly
    new_state, metrics = es.generation(state, jax.random.key(2))  # eager, so the recording is concrete
    assert len(calls) == 1
    rec = jax.device_get(calls[0]["out"])
    P, h = 16, 8
    keys, lifetimes, levels = rec.return_sum, rec.episodes, rec.loss
    assert keys.shape == (P, 2) and lifetimes.shape == (P,)
    # twins i and i + P/2 got the same key, lifetime and level
    np.testing.assert_array_equal(keys[:h], keys[h:])
    np.testing.assert_array_equal(lifetimes[:h], lifetimes[h:])
    for leaf in jax.tree.leaves(levels):
        leaf = np.asarray(leaf)
        np.testing.assert_array_equal(leaf[:h], leaf[h:])
    # different pairs got different keys, and the distribution really varies levels and lifetimes
    assert len({tuple(k) for k in keys[:h]}) == h
    assert len(set(lifetimes[:h].tolist())) > 1
    assert all(10 <= n <= 250 for n in lifetimes.tolist())
    assert any(len(np.unique(np.asarray(x)[:h].reshape(h, -1), axis=0)) > 1 for x in jax.tree.leaves(levels))
    # the twins are the antithetic perturbations mean +- sigma z
    pop = calls[0]["pop"]
    mean = es.mean(state)
    for p, m in zip(jax.tree.leaves(pop), jax.tree.leaves(mean)):
        p = np.asarray(p)
        np.testing.assert_allclose(p[:h] + p[h:], np.broadcast_to(2 * np.asarray(m), p[:h].shape), atol=1e-5)
        assert np.abs(p[:h] - p[h:]).max() > 0
    # the generation used the fake fitness: mean of -||theta_i||^2
    expected = rec.final_return
    assert np.isclose(float(metrics["fitness_mean"]), expected.mean(), rtol=1e-5)
    assert int(metrics["nonfinite"]) == 0
    assert int(new_state.generation) == 1
    # env_steps: twins are counted twice
    assert float(metrics["env_steps"]) == lifetimes.sum() * cfg.lifetime.num_envs * cfg.lifetime.rollout_len
    # the next generation folds its index into the key: fresh tasks
    es.generation(new_state, jax.random.key(2))
    keys2 = np.asarray(jax.device_get(calls[1]["out"]).return_sum)
    np.testing.assert_array_equal(keys2[:h], keys2[h:])
    assert not np.array_equal(keys, keys2)


def test_without_antithetic_every_member_gets_its_own_task(monkeypatch):
    cfg = _gridworld_cfg(population=8, antithetic=False, shaping="centered_rank")
    es, objective, calls = _build_es(cfg, _fake_train, monkeypatch)
    state = es.init(jax.random.key(0), objective.init(jax.random.key(1)))
    calls.clear()
    es.generation(state, jax.random.key(2))
    keys = np.asarray(jax.device_get(calls[0]["out"]).return_sum)
    assert len({tuple(k) for k in keys}) == 8


@pytest.mark.parametrize("shaping", ["winloss", "z_score"])
def test_nan_member_keeps_mean_finite(monkeypatch, shaping):
    cfg = _gridworld_cfg(population=8, shaping=shaping)

    def nan_member_0(out):
        return out._replace(final_return=out.final_return.at[0].set(jnp.nan))

    es, objective, _ = _build_es(cfg, _fake_train, monkeypatch, transform=nan_member_0)
    state = es.init(jax.random.key(0), objective.init(jax.random.key(1)))
    gen = jax.jit(es.generation)
    before = np.concatenate([np.ravel(x) for x in jax.tree.leaves(es.mean(state))])
    for i in range(2):
        state, metrics = gen(state, jax.random.key(3))
        metrics = jax.device_get(metrics)
        assert int(metrics["nonfinite"]) == 1
        assert np.isfinite(metrics["fitness_mean"]) and np.isfinite(metrics["fitness_max"])
    after = np.concatenate([np.ravel(x) for x in jax.tree.leaves(es.mean(state))])
    assert np.isfinite(after).all()
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.es_state))
    assert not np.array_equal(before, after)  # the ES still moved


def test_all_nan_population_keeps_mean_finite(monkeypatch):
    cfg = _gridworld_cfg(population=8)
    es, objective, _ = _build_es(
        cfg, _fake_train, monkeypatch, transform=lambda o: o._replace(final_return=jnp.full_like(o.final_return, jnp.nan))
    )
    state = es.init(jax.random.key(0), objective.init(jax.random.key(1)))
    state, metrics = jax.jit(es.generation)(state, jax.random.key(3))
    assert int(metrics["nonfinite"]) == 8
    assert np.isnan(metrics["fitness_mean"]) and np.isnan(metrics["fitness_max"])  # nothing to summarise
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(es.mean(state)))


def test_diverged_agents_rank_last_end_to_end():
    """agent.lr 1e30 makes every agent diverge. Their evaluation returns can look finite (NaN
    logits make categorical sampling always pick action 0: about 9 on CartPole), so fitness
    checks the agent's parameters: every member must count as non-finite, the mean stays put."""
    from discover.config import apply_overrides
    from discover.meta.run import _keys, build, make_multi_generation
    from discover.presets import get_preset

    cfg = apply_overrides(get_preset("quickstart"), [("agent.lr", "1e30"), ("es.population", "8"), ("lifetime.lifetime", "4")])
    built = build(cfg)
    k_init, k_obj, k_run, _ = _keys(cfg)
    state = built.meta.init(k_init, built.objective.init(k_obj))
    state, metrics = make_multi_generation(built.meta, 1)(state, k_run)
    assert int(metrics["nonfinite"][0]) == 8
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(built.meta.mean(state)))


def _smooth_fake_train(params, level, lifetime, key):
    """A cheap deterministic stand-in for an agent's lifetime that depends on every input."""
    x = sum(jnp.sum(jnp.tanh(v)) for v in jax.tree.leaves(params))
    lv = sum(jnp.sum(jnp.asarray(v, jnp.float32)) for v in jax.tree.leaves(level))
    noise = jax.random.normal(key, ())
    final = -(x - 0.3) ** 2 + 0.01 * lv + 0.1 * noise + 0.001 * lifetime
    return None, LifetimeMetrics(jnp.zeros(3), jnp.zeros(3), jnp.zeros(3), final)


def test_chunked_evaluation_matches_vmap(monkeypatch):
    results = []
    for chunk in (0, 2):
        cfg = _gridworld_cfg(population=8, shaping="centered_rank", chunk_size=chunk)
        es, objective, _ = _build_es(cfg, _smooth_fake_train, monkeypatch)
        state = es.init(jax.random.key(0), objective.init(jax.random.key(1)))
        gen = jax.jit(es.generation)
        metrics = []
        for _ in range(3):
            state, m = gen(state, jax.random.key(5))
            metrics.append(jax.device_get(m))
        results.append((jax.device_get(state), metrics))
        if chunk == 0:  # the ES mean moved, so the comparison is not vacuous
            moved = zip(jax.tree.leaves(es.mean(state)), jax.tree.leaves(objective.init(jax.random.key(1))))
            assert any(not np.allclose(a, b) for a, b in moved)
    (ref_state, ref_metrics), others = results[0], results[1:]
    for state, metrics in others:
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(ref_state)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
        for m, r in zip(metrics, ref_metrics):
            for k in r:
                np.testing.assert_allclose(m[k], r[k], rtol=1e-5, atol=1e-6, err_msg=k)
