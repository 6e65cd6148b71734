"""The one validation layer: every check that needs the registries or several config sections.

`validate(cfg, purpose)` runs before anything is written or compiled, for the CLI and for
`discover.train(cfg)` alike, and returns the resolved config (derived defaults filled in, e.g.
lifetime.eval_steps = 0 becomes the environment's episode limit), which is what a run stores
in its config.json. Every failure is a one-line ConfigError naming the field and what would
be right. Single-field checks live in the dataclasses (discover.config).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

from discover.config import HAND_DESIGNED, LEARNED, ConfigError, RunConfig

PURPOSES = ("train", "baseline")


def check_names(env_cfg) -> None:
    """env.name and env.distribution name entries of the environment registry (the one resolver,
    environments.resolve, whose checks these are)."""
    import environments

    try:
        environments.check_names(env_cfg.name, env_cfg.distribution)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _limit(params):
    value = getattr(params, "max_steps_in_episode", None)
    return None if value is None else int(value)


def episode_limit(env_cfg) -> tuple[int | None, bool]:
    """(the longest episode any task of env_cfg can have, whether every task has that same
    limit). The limit is None where the environment does not say."""
    import environments

    dist = env_cfg.distribution
    if not dist:
        return _limit(environments.make(env_cfg.name)[1]), True
    d = environments.get_distribution(dist)
    if isinstance(d, environments.FixedLevel):
        return _limit(d.params), True
    if isinstance(d, environments.LevelMixture):
        limits = [_limit(lv.params) for lv in d.levels]
        return (None if None in limits else max(limits)), len(set(limits)) == 1
    return int(d.episode_length[1]), False


def resolve(cfg: RunConfig) -> RunConfig:
    """cfg with derived defaults filled in: lifetime.eval_steps = 0 -> the episode limit."""
    if cfg.lifetime.eval_steps:
        return cfg
    limit, _ = episode_limit(cfg.env)
    if limit is None:
        raise ConfigError(f"lifetime.eval_steps=0 means the episode limit, but {cfg.env.name} has none; set lifetime.eval_steps")
    return dataclasses.replace(cfg, lifetime=dataclasses.replace(cfg.lifetime, eval_steps=limit))


def _check_eval_steps(cfg: RunConfig) -> None:
    """An evaluation shorter than an episode caps every return (Acrobot at 200 steps gives every
    agent -200, and ES never moves), so where every task has the same limit a shorter value is
    refused; on level sets with per-level limits it is allowed (a partial return of collected
    rewards still ranks agents there)."""
    limit, fixed = episode_limit(cfg.env)
    steps = cfg.lifetime.eval_steps
    if fixed and limit is not None and steps < limit:
        where = cfg.env.name + (f" ({cfg.env.distribution})" if cfg.env.distribution else "")
        raise ConfigError(
            f"lifetime.eval_steps={steps} is shorter than {where}'s episode limit of {limit} steps, so evaluation "
            f"would cap every return; use 0 (= {limit}) or more"
        )


def _check_objective(cfg: RunConfig, purpose: str) -> None:
    ocfg = cfg.objective
    if purpose == "train" and ocfg.name not in LEARNED:
        raise ConfigError(
            f"objective.name={ocfg.name} is hand-designed: it has no parameters to meta-train; choose one of "
            f"{', '.join(LEARNED)} (or run it with `discover baseline`)"
        )
    if purpose == "baseline" and ocfg.name not in HAND_DESIGNED:
        raise ConfigError(f"discover baseline trains a hand-designed objective ({', '.join(HAND_DESIGNED)}), not {ocfg.name}")
    # Switches that would be silently ignored by the chosen objective.
    if ocfg.init_at_ppo and ocfg.name not in ("lpo", "ta-lpo"):
        raise ConfigError(f"objective.init_at_ppo=true applies to lpo/ta-lpo, not {ocfg.name}")
    if ocfg.log_lifetime and ocfg.name != "ta-lpo":
        raise ConfigError(f"objective.log_lifetime=true applies to ta-lpo, not {ocfg.name}")


def _check_shapes(cfg: RunConfig):
    """Minibatch divisibility and the agent torso against the environment; returns the flat
    observation size (for the memory estimate)."""
    import environments

    from discover.lifetime import image_shape_of
    from discover.objectives import make_objective

    objective = make_objective(cfg.objective)
    lcfg, m = cfg.lifetime, cfg.objective.minibatches
    if objective.sequence and lcfg.num_envs % m:
        raise ConfigError(f"objective.minibatches={m} must divide lifetime.num_envs={lcfg.num_envs} ({cfg.objective.name} splits whole trajectories)")
    if not objective.sequence and (lcfg.num_envs * lcfg.rollout_len) % m:
        raise ConfigError(
            f"objective.minibatches={m} must divide lifetime.num_envs x lifetime.rollout_len = {lcfg.num_envs * lcfg.rollout_len}"
        )
    # Every level of an environment has the same observation shape (gridworld levels included).
    env, params = environments.make(cfg.env.name)
    image = image_shape_of(env, params)
    if cfg.agent.torso == "conv" and image is None:
        raise ConfigError(f"agent.torso=conv needs image observations (e.g. a MinAtar game); {cfg.env.name} has flat ones: use mlp")
    return int(math.prod(env.observation_space(params).shape))


def _check_strategy(es_cfg) -> None:
    """es.strategy_kwargs names arguments the evosax strategy accepts, with values it takes."""
    import inspect

    import jax.numpy as jnp

    from discover.meta.strategies import STRATEGIES, make_strategy

    kwargs = json.loads(es_cfg.strategy_kwargs)
    accepted = set(inspect.signature(STRATEGIES[es_cfg.strategy].__init__).parameters) - {"self", "solution", "population_size"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ConfigError(f"es.strategy_kwargs: {es_cfg.strategy} takes no argument {', '.join(unknown)}; it takes: {', '.join(sorted(accepted))}")
    try:
        make_strategy(es_cfg, {"w": jnp.zeros(2)})
    except Exception as e:  # evosax raises many types; all mean "this value is not accepted"
        raise ConfigError(f"es.strategy_kwargs={es_cfg.strategy_kwargs} is not accepted by {es_cfg.strategy}: {_first_line(e)}") from None


def _check_curriculum(cfg: RunConfig) -> None:
    """Prioritised level replay needs a level generator, room for one generation's levels, and
    for optimal regret levels whose optimum value iteration can compute (tabular gridworlds)."""
    import environments

    ccfg, dist = cfg.curriculum, cfg.env.distribution
    if ccfg.name != "plr":
        return
    if dist not in environments.DISTRIBUTION_NAMES:
        raise ConfigError(
            f"curriculum.name=plr replays levels drawn from a level distribution; env.distribution={dist!r} is not one "
            f"(choose from: {', '.join(environments.DISTRIBUTION_NAMES)})"
        )
    if cfg.meta_optimizer == "metagrad":
        tasks = cfg.metagrad.batch
    else:
        tasks = cfg.es.population // 2 if cfg.es.antithetic else cfg.es.population
    if ccfg.buffer_size < tasks:
        raise ConfigError(
            f"curriculum.buffer_size={ccfg.buffer_size} must hold at least the {tasks} levels of one generation, so a "
            "replay can draw them without repeats"
        )
    if ccfg.score == "optimal_regret" and not environments.get_distribution(dist).tabular_only:
        raise ConfigError(f"curriculum.score=optimal_regret needs tabular gridworld levels (fixed objects); {dist!r} has random ones")


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def physical_memory() -> int:
    """Bytes of RAM on this machine (0 if unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def generation_bytes(cfg: RunConfig, obs_size: int, purpose: str) -> float:
    """A lower bound on the bytes one generation holds at once: every member in flight keeps
    its rollout ([E, T] observations and per-step values) and its network activations."""
    lcfg, width = cfg.lifetime, max(cfg.agent.hidden or (1,))
    if purpose == "baseline":
        members = 1
    elif cfg.meta_optimizer == "metagrad":
        members = cfg.metagrad.batch * (cfg.metagrad.unroll + 1)
    else:
        members = cfg.es.chunk_size or cfg.es.population
    per_step = obs_size + 8 + 2 * width + (cfg.objective.lpg_hidden if cfg.objective.name in ("lpg", "ta-lpg") else 0)
    rollout = lcfg.num_envs * lcfg.rollout_len * per_step
    evaluation = lcfg.eval_envs * (obs_size + 2 * width)
    return 4.0 * members * (rollout + evaluation)


def _check_memory(cfg: RunConfig, obs_size: int, purpose: str) -> None:
    need, have = generation_bytes(cfg, obs_size, purpose), physical_memory()
    if have and need > have:
        raise ConfigError(
            f"one generation needs at least {need / 2**30:.3g} GiB (es.population/es.chunk_size x lifetime.num_envs x "
            f"lifetime.rollout_len x observation), more than this machine's {have / 2**30:.3g} GiB; lower those sizes "
            "or set es.chunk_size"
        )


def validate(cfg: RunConfig, purpose: str = "train") -> RunConfig:
    """Check cfg for a `purpose` ("train": meta-training, "baseline": a hand-designed
    objective) and return it resolved. Raises a one-line ConfigError naming the field."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if not isinstance(cfg, RunConfig):
        raise ConfigError(f"expected a discover.RunConfig, got {type(cfg).__name__}")
    check_names(cfg.env)
    _check_objective(cfg, purpose)
    _check_curriculum(cfg)
    cfg = resolve(cfg)
    _check_eval_steps(cfg)
    obs_size = _check_shapes(cfg)
    if purpose == "train" and cfg.meta_optimizer == "es":
        _check_strategy(cfg.es)
    _check_memory(cfg, obs_size, purpose)
    if cfg.wandb:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("wandb=true needs the wandb package: pip install 'discover[wandb]'") from None
    return cfg
