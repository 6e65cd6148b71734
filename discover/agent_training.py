"""Train agents with a fixed objective: a shipped pretrained one, a run's discovered one, or a
hand-designed one (`discover.train_agent`, `discover train-agent`).

The agent and lifetime settings start from those the objective was discovered with and are
adapted to the environment by discover.profiles (a conv torso on MinAtar, evaluation episodes
as long as the environment's own limit); any field can be overridden. All seeds train in one
compiled program (vmapped).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from discover.config import ConfigError, RunConfig

HAND_DESIGNED = ("ppo", "a2c", "dpo")


def resolve_objective(objective):
    """A Pretrained from a Pretrained, a shipped name or a run directory; a hand-designed name
    ('ppo', 'a2c', 'dpo') gives one with empty params and the default RunConfig."""
    from discover.objectives import make_objective
    from discover.pretrained import Pretrained, load

    if isinstance(objective, Pretrained):
        return objective
    if objective in HAND_DESIGNED:
        cfg = RunConfig()
        cfg = dataclasses.replace(cfg, objective=dataclasses.replace(cfg.objective, name=objective))
        return Pretrained(objective, make_objective(cfg.objective), {}, cfg, {"hand_designed": True})
    return load(objective)


def train_agent(objective, env: str | None = None, seeds: int = 4, updates: int | None = None, overrides=(),
                seed: int = 0) -> dict:
    """Train `seeds` fresh agents with a fixed objective; returns a dict of numpy results.

    objective: a Pretrained (discover.load), a shipped name, a run directory or 'ppo'/'a2c'/'dpo'.
    env: 'NAME' or 'gridworld:LEVELS' (default: the environment the objective was discovered on).
    updates: the lifetime N in agent updates (default: its meta-training lifetime).
    overrides: [(dotted path, text)] config overrides, e.g. [("agent.lr", "1e-3")].
    Returns final_returns [S], curve [S, N] (mean return of the episodes ending in each update,
    NaN if none), mean_final_return, env_steps (per agent), wall_time_s and the config used.
    """
    from discover import evaluate as ev
    from discover.run_eval import parse_env, prepare_env, reference_lifetime, run_env

    pre = resolve_objective(objective)
    cfg = pre.config
    spec = parse_env(env) if env else run_env(cfg)
    n = int(updates) if updates else reference_lifetime(cfg)
    if n < 1:
        raise ConfigError(f"updates must be >= 1, got {n}")
    cell = prepare_env(spec, cfg, overrides, (n,), seeds, seed)
    if cell.cfg.objective.name != pre.objective.name:
        raise ConfigError("objective.name cannot be overridden here; choose the objective itself")
    keys = jax.random.split(jax.random.key(seed), seeds)
    t0 = time.time()
    final, curve = ev.train_grid(cell.cfg, pre.objective, pre.params, cell.env, cell.levels, (n,), keys)
    lcfg = cell.cfg.lifetime
    return dict(objective=pre.name, env=spec.label, seeds=seeds, updates=n,
                env_steps=n * lcfg.num_envs * lcfg.rollout_len, final_returns=final[0],
                mean_final_return=float(np.mean(final[0])), curve=curve[0], wall_time_s=time.time() - t0,
                config=cell.cfg)
