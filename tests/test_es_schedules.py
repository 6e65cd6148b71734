"""The ES sigma and learning-rate schedules (es.sigma / sigma_decay / sigma_min, es.lr / lr_decay /
lr_min): the values each generation uses, their validation, and that the sampled population
really spreads by the scheduled sigma."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from discover.config import ConfigError, ESConfig, LifetimeConfig
from discover.meta.run import build
from discover.meta.strategies import lr_schedule, make_strategy, sigma_schedule
from discover.presets import get_preset


def test_sigma_schedule_values_hand_computed():
    # 0.04 * 0.5^g floored at 0.01: g = 0, 1, 2, 3, 4 -> 0.04, 0.02, 0.01, 0.01 (0.005 floored), 0.01
    sched = sigma_schedule(ESConfig(sigma=0.04, sigma_decay=0.5, sigma_min=0.01))
    np.testing.assert_allclose([float(sched(g)) for g in range(5)], [0.04, 0.02, 0.01, 0.01, 0.01], rtol=1e-6)
    # The LPO reference: 0.04 * 0.999^g reaches the floor 0.01 after ln(4) / -ln(0.999) = 1385.6 generations.
    ref = sigma_schedule(ESConfig(sigma=0.04, sigma_decay=0.999, sigma_min=0.01))
    np.testing.assert_allclose(float(ref(1000)), 0.04 * 0.999**1000, rtol=1e-4)  # 0.014708
    np.testing.assert_allclose(float(ref(1385)), 0.04 * 0.999**1385, rtol=1e-4)  # 0.010005, above the floor
    np.testing.assert_allclose(float(ref(1386)), 0.01, rtol=1e-6)  # 0.009996 floored
    constant = sigma_schedule(ESConfig(sigma=0.1))
    assert float(constant(0)) == float(constant(10_000)) == pytest.approx(0.1)
    # The learning rate follows the same pattern: 1e-2 * 0.9^g floored at 5e-3 -> g = 7: 4.78e-3 floored.
    lr = lr_schedule(ESConfig(lr=1e-2, lr_decay=0.9, lr_min=5e-3))
    np.testing.assert_allclose([float(lr(g)) for g in (0, 1, 6, 7)], [1e-2, 9e-3, 0.9**6 * 1e-2, 5e-3], rtol=1e-5)


def test_population_spread_follows_the_sigma_schedule():
    """Open_ES draws mean + sigma z: with the same ask key, the spread after g updates is
    schedule(g - 1) / sigma times the spread at generation 0 (evosax sets sigma after each tell)."""
    cfg = ESConfig(population=8, sigma=0.08, sigma_decay=0.5, sigma_min=0.015, lr=1e-2)
    template = {"w": jnp.zeros((5,))}
    strategy, params = make_strategy(cfg, template)
    state = strategy.init(jax.random.key(0), template, params)
    ask_key = jax.random.key(1)

    def spread(state):
        pop, _ = strategy.ask(ask_key, state, params)
        return float(jnp.abs(pop["w"] - strategy.get_mean(state)["w"]).mean())

    base = spread(state)
    expected_sigma = [0.08, 0.08, 0.04, 0.02, 0.015, 0.015]  # used at generations 0..5
    for g, sigma in enumerate(expected_sigma):
        np.testing.assert_allclose(float(state.std), sigma, rtol=1e-6)
        np.testing.assert_allclose(spread(state), base * sigma / 0.08, rtol=1e-5)
        pop, _ = strategy.ask(jax.random.key(10 + g), state, params)
        state, _ = strategy.tell(jax.random.key(20 + g), pop, jnp.arange(8.0), state, params)


def test_es_generation_reports_the_scheduled_sigma_and_lr():
    """Through the whole ES program (discover.meta.es): the logged sigma after generation g is
    the scale generation g + 1 will use, schedule(g); es_lr is lr_schedule(g)."""
    cfg = get_preset("quickstart")
    cfg = dataclasses.replace(
        cfg,
        lifetime=LifetimeConfig(num_envs=2, rollout_len=8, lifetime=2, eval_envs=2, eval_steps=10),
        es=dataclasses.replace(cfg.es, population=4, sigma=0.04, sigma_decay=0.5, sigma_min=0.01,
                               lr=0.05, lr_decay=0.5, lr_min=0.02),
    )
    built = build(cfg)
    state = built.meta.init(jax.random.key(0), built.objective.init(jax.random.key(1)))
    gen = jax.jit(built.meta.generation)
    sigmas, lrs = [], []
    for _ in range(4):
        state, metrics = gen(state, jax.random.key(2))
        sigmas.append(float(metrics["sigma"]))
        lrs.append(float(metrics["es_lr"]))
    np.testing.assert_allclose(sigmas, [0.04, 0.02, 0.01, 0.01], rtol=1e-6)
    np.testing.assert_allclose(lrs, [0.05, 0.025, 0.02, 0.02], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(sigma_decay=0.0), "es.sigma_decay must be in (0, 1]"),
        (dict(sigma_decay=1.5), "es.sigma_decay must be in (0, 1]"),
        (dict(sigma=0.04, sigma_min=0.05), "es.sigma_min must be in [0, es.sigma=0.04]"),
        (dict(sigma_min=-1.0), "es.sigma_min must be in"),
        (dict(strategy="SNES", antithetic=False, shaping="centered_rank", sigma_decay=0.9),
         "es.sigma_decay < 1 needs a strategy with a sigma schedule"),
    ],
)
def test_sigma_schedule_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        ESConfig(**kwargs)
