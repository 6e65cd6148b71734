"""A2C learns on a tabular gridworld level where a random policy does not."""

import dataclasses

import jax
import numpy as np

import environments
from discover.config import EnvConfig, LifetimeConfig
from discover.curricula import make_task
from discover.lifetime import make_lifetime
from discover.objectives import make_objective
from discover.presets import get_preset


def test_a2c_tabular_agent_beats_random_on_sparse_level():
    cfg = get_preset("baseline-gridworld")  # tabular (linear) agent, SGD lr 40 / 4, A2C
    cfg = dataclasses.replace(
        cfg,
        env=EnvConfig("gridworld", "sparse"),
        lifetime=LifetimeConfig(num_envs=16, rollout_len=20, lifetime=150, eval_envs=32, eval_steps=60),
    )
    objective = make_objective(cfg.objective)
    task = make_task(cfg.env, cfg.lifetime)
    level, _ = environments.get_level("sparse")
    life = make_lifetime(cfg, objective, task.env, level, cfg.lifetime.lifetime)
    keys = jax.random.split(jax.random.key(0), 3)
    trained = jax.jit(jax.vmap(lambda k: life.train({}, level, cfg.lifetime.lifetime, k)[1].final_return))(keys)

    # A random policy: zero actor weights give uniform action probabilities.
    def random_return(k):
        params = life.init(k, level).params
        params = jax.tree.map(lambda x: x * 0.0, params)
        return life.evaluate(params["actor"], level, k)

    rand = jax.jit(jax.vmap(random_return))(jax.random.split(jax.random.key(1), 8))
    trained, rand = np.asarray(trained), np.asarray(rand)
    # sparse: one +1 object (terminating) and one -1; a uniform policy rarely reaches +1 in 50 steps.
    assert rand.mean() < 0.3, rand
    assert trained.mean() > 0.7 and trained.min() > rand.mean() + 0.3, (trained, rand)
