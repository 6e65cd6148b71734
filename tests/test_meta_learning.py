"""Meta-learning actually learns on CPU: ES improves an LPO drift initialised away from PPO,
and ES discovers an LPG that trains tabular agents on a gridworld level.

The drift starts as a random network at 3x the usual scale, which blocks learning within the
short CartPole lifetime; ES has to find a drift under which agents learn. Measured on a 2-core
CPU (population 16, centered-rank shaping), the mean population fitness of the last 5
generations over the first 5 was 1.9x-3.9x for seeds 0-5 after 40 generations in an earlier
version (e.g. seed 0: 22.7 -> 87.7); with the current code seed 2 reached only 28.2 -> 39.2
after 40, so the other seeds run 60 (seeds 1-5: 21.7 -> 93.8, 28.2 -> 59.0, 22.4 -> 94.9,
25.5 -> 80.8, 21.3 -> 95.4);
win/loss shaping on this single-level task was less reliable (seeds 1-3 stayed flat), so these
tests use centered ranks.
"""

import dataclasses

import jax
import numpy as np
import pytest

from discover.meta.run import _keys, build, make_multi_generation, make_objective_eval, train
from discover.presets.lpg import lpg_es_tabular_cpu
from discover.presets.lpo import quickstart


def _lpo_cfg(seed: int, generations: int = 40):
    cfg = quickstart()  # CartPole, 24-update lifetimes, population 16, sigma 0.1
    return dataclasses.replace(
        cfg,
        seed=seed,
        generations=generations,
        objective=dataclasses.replace(cfg.objective, name="lpo", lpo_init_scale=3.0, init_at_ppo=False),
        es=dataclasses.replace(cfg.es, population=16, shaping="centered_rank"),
    )


def _meta_train(cfg, gens_per_call: int = 10):
    built = build(cfg)
    k_init, k_obj, k_run, _ = _keys(cfg)
    state = built.meta.init(k_init, built.objective.init(k_obj))
    step = make_multi_generation(built.meta, gens_per_call)
    fitness = []
    for _ in range(cfg.generations // gens_per_call):
        state, metrics = step(state, k_run)
        fitness.extend(np.asarray(metrics["fitness_mean"]).tolist())
    return np.array(fitness), built, state


def _assert_learns(fitness, what):
    first, last = fitness[:5].mean(), fitness[-5:].mean()
    assert np.isfinite(fitness).all(), what
    assert last > 1.5 * first and last - first > 15, f"{what}: first 5 gens {first:.1f} -> last 5 {last:.1f}: {np.round(fitness, 1)}"


def test_es_improves_lpo_drift_on_cartpole():
    fitness, built, state = _meta_train(_lpo_cfg(seed=0))
    assert len(fitness) == 40
    _assert_learns(fitness, "lpo seed 0")
    # the drift did change, and the search mean stays finite
    assert np.isfinite(np.asarray(state.es_state.mean)).all()
    assert int(state.generation) == 40


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_es_improves_lpo_drift_other_seeds(seed):
    fitness, _, _ = _meta_train(_lpo_cfg(seed=seed, generations=60))
    _assert_learns(fitness, f"lpo seed {seed}")


@pytest.mark.slow
def test_quickstart_preset_learns_and_discovered_beats_init(tmp_path):
    """The quickstart preset (TA-LPO, win/loss) end to end: ~22 -> ~90 in 40 generations."""
    cfg = quickstart()
    summary = train(cfg, tmp_path, progress=False)
    records = [r for r in (tmp_path / "metrics.jsonl").read_text().splitlines() if r]
    assert len(records) == cfg.generations
    import json

    fitness = np.array([json.loads(r)["fitness_mean"] for r in records])
    _assert_learns(fitness, "quickstart")
    assert summary["eval_return_discovered"] > summary["eval_return_init"] + 10


# ------------------------------------------------------------------------------------------
# LPG by ES on the level mixture sparse+dense with tabular agents (preset lpg-es-tabular-cpu).
# The untrained LPG (pi_hat layer at zero) leaves the uniform policy alone. Measured on the
# 2-core CPU, 40 generations, 128 held-back tasks: seeds 0 and 1 went from 0.42 (initial) to
# 1.38 and 1.35 (A2C at the same budget: 1.26). On "sparse" alone 3 of 4 seeds learned.


def _lpg_learns(seed: int, generations: int, n_eval: int):
    cfg = dataclasses.replace(lpg_es_tabular_cpu(), seed=seed, generations=generations)
    fitness, built, state = _meta_train(cfg)
    _, k_obj, _, _ = _keys(cfg)
    evaluate, _ = make_objective_eval(built, jax.random.key(1234), n_eval)
    init = evaluate(built.objective.init(k_obj))
    found = evaluate(built.meta.mean(state))
    first, last = fitness[:5].mean(), fitness[-5:].mean()
    assert np.isfinite(fitness).all()
    assert last > first + 0.3, f"seed {seed}: population fitness {first:.2f} -> {last:.2f}: {np.round(fitness, 2)}"
    # Fresh agents on fixed held-back tasks (levels and seeds): trained by the discovered LPG vs
    # by the initial one, which leaves them at the uniform policy.
    assert found.mean() > init.mean() + 0.5, f"seed {seed}: initial {init.mean():.2f}, discovered {found.mean():.2f}"


def test_es_discovers_an_lpg_that_trains_tabular_agents():
    # Seed 0 measured on 32 tasks: initial 0.39; after 10/20/30 generations 1.26/1.55/1.29;
    # population fitness 0.21 (first 5) -> 0.95 (gens 16-20).
    _lpg_learns(seed=0, generations=20, n_eval=32)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_es_discovers_an_lpg_other_seeds(seed):
    _lpg_learns(seed=seed, generations=40, n_eval=64)
