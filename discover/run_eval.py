"""Evaluate a run directory's objective on a grid of environments x horizons (`discover evaluate`).

For every environment E and horizon multiple m, fresh agents are trained for N = round(m * N_ref)
updates with the run's objective (the discovered one, or the ES mean of a checkpoint) and with
the hand-designed baseline at the same budget (A2C for LPG-family objectives, PPO otherwise),
S seeds each. N_ref is the run's meta-training lifetime: `lifetime.lifetime` for a fixed
level, the largest lifetime of a level distribution otherwise (times its lifetime_scale).
Returns are normalised per environment and horizon as (ret - random) / (baseline - random),
with the uniform random policy's mean return on that environment (discover.evaluate).

Programs: one compiled program per (environment, method) covers all horizons x seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from discover import evaluate as ev
from discover.config import ConfigError, EnvConfig, apply_overrides
from discover.curricula import make_task
from discover.lifetime import image_shape_of
from discover.objectives import make_objective
from discover.profiles import agent_for, lifetime_for


class EnvSpec(NamedTuple):
    """An evaluation environment: `label` as given on the command line, `name` for
    environments.make and `distribution` (a gridworld level, '+' mixture or distribution)."""

    label: str
    name: str
    distribution: str


class Method(NamedTuple):
    """Something that trains agents: a label, its Objective, its params and its role
    ("learned", "initial" or "baseline")."""

    label: str
    objective: object
    params: object
    role: str


def parse_env(text: str) -> EnvSpec:
    """'NAME' or 'NAME:LEVELS' (e.g. 'Breakout-MinAtar', 'gridworld:long', 'gridworld:all_small')."""
    name, _, dist = text.partition(":")
    return EnvSpec(text, name, dist)


def run_env(cfg) -> EnvSpec:
    """The environment a run was meta-trained on."""
    label = f"{cfg.env.name}:{cfg.env.distribution}" if cfg.env.distribution else cfg.env.name
    return EnvSpec(label, cfg.env.name, cfg.env.distribution)


def reference_lifetime(cfg) -> int:
    """N_ref: the largest lifetime the run meta-trained agents for."""
    return int(make_task(cfg.env, cfg.lifetime).max_lifetime)


def baseline_name(objective) -> str:
    """A2C for objectives with LPG's predictor head, PPO for the rest (as meta.run does)."""
    return "a2c" if objective.head == "predictor" else "ppo"


# --------------------------------------------------------------------------------- preparation


class Cell(NamedTuple):
    """Everything needed to train on one environment: its task, levels, agent and lifetimes."""

    spec: EnvSpec
    cfg: object  # RunConfig with this environment's agent and lifetime settings
    env: object
    levels: object  # EnvParams batched [S]
    lifetimes: tuple  # N per horizon [L]
    curriculum: object = None  # where the levels came from (more are drawn for the random policy)


@functools.lru_cache(maxsize=64)
def _task(env_cfg, lifetime_cfg):
    """make_task, memoised so one environment object (and so its compiled programs, see
    evaluate.train_grid) serves every evaluation in a process."""
    return make_task(env_cfg, lifetime_cfg)


def prepare_env(spec: EnvSpec, cfg, overrides, lifetimes, seeds: int, seed: int) -> Cell:
    """Resolve an environment, its S levels and its agent (discover.profiles, then the dotted
    overrides); lifetimes: N per horizon. Every error is one ConfigError line, raised before
    anything compiles."""
    try:
        task = _task(EnvConfig(spec.name, spec.distribution), cfg.lifetime)
    except ValueError as e:
        raise ConfigError(f"--envs {spec.label!r}: {str(e).splitlines()[0]}") from None
    if spec.distribution and spec.name != "gridworld":
        raise ConfigError(f"--envs {spec.label!r}: level sets (':LEVELS') exist only for gridworld")
    env_cfg = dataclasses.replace(cfg, env=EnvConfig(spec.name, spec.distribution),
                                  agent=agent_for(spec.name, cfg.agent),
                                  lifetime=lifetime_for(task.template, cfg.lifetime))
    env_cfg = apply_overrides(env_cfg, overrides)
    if env_cfg.agent.torso == "conv" and image_shape_of(task.env, task.template) is None:
        raise ConfigError(f"--agent.torso conv needs image observations; {spec.label} has none")
    k = jax.random.fold_in(jax.random.key(seed), 1)
    _, levels, _ = task.curriculum.sample(k, task.curriculum.init(k), seeds)
    return Cell(spec, env_cfg, task.env, levels, tuple(int(n) for n in lifetimes), task.curriculum)


def horizon_lifetimes(cfg, multiples) -> tuple[int, ...]:
    """N = round(m * N_ref) updates (at least 1) for each multiple m."""
    ref = reference_lifetime(cfg)
    return tuple(max(1, int(round(m * ref))) for m in multiples)


def load_methods(run_dir, cfg, checkpoint: int | None = None, initial: bool = False,
                 baselines: tuple[str, ...] = ()) -> list[Method]:
    """The run's objective (discovered, or the ES mean at a checkpoint), optionally the initial
    objective (initial.msgpack), and the hand-designed baselines (the natural one first)."""
    from flax import serialization

    objective = make_objective(cfg.objective)
    if checkpoint is None:
        from discover.meta.run import load_discovered

        _, params = load_discovered(run_dir, cfg)
        methods = [Method(cfg.objective.name, objective, params, "learned")]
    else:
        methods = [Method(f"{cfg.objective.name}@gen{checkpoint}", objective,
                          checkpoint_mean(run_dir, cfg, checkpoint), "learned")]
    if initial:
        path = Path(run_dir) / "initial.msgpack"
        if not path.exists():
            raise ConfigError(f"--initial: {path} not found (runs save it from this version on)")
        template = objective.init(jax.random.key(0))
        methods.append(Method("initial", objective, serialization.from_bytes(template, path.read_bytes()), "initial"))
    names = list(dict.fromkeys((baseline_name(objective),) + tuple(baselines)))
    for name in names:
        if name not in ("a2c", "ppo", "dpo"):
            raise ConfigError(f"--baselines: {name!r} is not a hand-designed objective; choose from a2c, ppo, dpo")
        ocfg = dataclasses.replace(cfg.objective, name=name)
        methods.append(Method(name, make_objective(ocfg), {}, "baseline"))
    return methods


def checkpoint_mean(run_dir, cfg, generation: int):
    """The ES mean (the objective a run would return) stored in checkpoint `generation`."""
    from discover import checkpoint as ckpt
    from discover.meta.run import build

    built = build(cfg)
    state = built.meta.init(jax.random.key(0), built.objective.init(jax.random.key(0)))
    _, state = ckpt.restore(run_dir, state, generation=generation)
    return built.meta.mean(jax.tree.map(jnp.asarray, state))


# ---------------------------------------------------------------------------------- evaluation


def _method_cfg(cell_cfg, method: Method):
    """The cell's config with the method's objective name (baselines keep the run's PPO/A2C
    settings: epochs, minibatches, gamma, ...)."""
    return dataclasses.replace(cell_cfg, objective=dataclasses.replace(cell_cfg.objective, name=method.objective.name))


def _train(cfg, method: Method, cell: Cell, keys, per_horizon: bool):
    """(final [L, S], curve [L, S, max N]): every horizon in one program (agents past their own
    N are frozen, yet still computed: the grid costs L x the longest lifetime, one compilation),
    or per_horizon: one program per horizon (no wasted updates, L compilations)."""
    if not per_horizon:
        return ev.train_grid(cfg, method.objective, method.params, cell.env, cell.levels, cell.lifetimes, keys)
    n_max = max(cell.lifetimes)
    finals, curves = [], []
    for n in cell.lifetimes:
        f, c = ev.train_grid(cfg, method.objective, method.params, cell.env, cell.levels, (n,), keys)
        finals.append(f[0])
        curves.append(np.pad(c[0], ((0, 0), (0, n_max - n)), constant_values=np.nan))
    return np.stack(finals), np.stack(curves)


def evaluate_cells(cells: list[Cell], methods: list[Method], multiples, seeds: int, seed: int = 0,
                   random_samples: int = 32, log=print, per_horizon: bool = False):
    """Train every method on every cell. Returns (rows, curves, envs):
    rows: one dict per (env, method, multiple) with raw and normalised returns and statistics;
    curves: {(env label, method label): [L, S, N_max] learning curves};
    envs: {env label: its name, levels, agent and lifetime settings, random return, timings}."""
    rows, curves, envs = [], {}, {}
    keys = jax.random.split(jax.random.key(seed), seeds)
    for cell in cells:
        t_env = time.time()
        finals = {}
        lcfg = cell.cfg.lifetime
        for m in methods:
            t0 = time.time()
            mcfg = _method_cfg(cell.cfg, m)
            finals[m.label], curves[(cell.spec.label, m.label)] = _train(
                mcfg, m, cell, keys, per_horizon)
            log(f"  {cell.spec.label:<24} {m.label:<16} {len(cell.lifetimes)} horizons x {seeds} seeds "
                f"in {time.time() - t0:.1f}s")
        n_rand = max(seeds, random_samples)
        k_rand = jax.random.fold_in(jax.random.key(seed), 2)
        _, rand_levels, _ = cell.curriculum.sample(k_rand, cell.curriculum.init(k_rand), n_rand)
        rand = float(ev.random_policy_returns(cell.cfg, cell.env, rand_levels, jax.random.split(k_rand, n_rand)).mean())
        base = next(m.label for m in methods if m.role == "baseline")
        rows += cell_rows(cell, methods, finals, base, rand, multiples, seed)
        envs[cell.spec.label] = dict(
            name=cell.spec.name, distribution=cell.spec.distribution, lifetimes=list(cell.lifetimes),
            env_steps=[n * lcfg.num_envs * lcfg.rollout_len for n in cell.lifetimes],
            steps_per_update=lcfg.num_envs * lcfg.rollout_len, random_return=rand, baseline=base,
            agent=dataclasses.asdict(cell.cfg.agent), lifetime=dataclasses.asdict(lcfg),
            wall_time_s=time.time() - t_env)
    return rows, curves, envs


def cell_rows(cell: Cell, methods, finals: dict, base: str, rand: float, multiples, seed: int = 0):
    """Rows of one environment: per method and horizon, returns [S], normalised scores [S]
    against the baseline's mean return at that horizon, their statistics, and a verdict
    against the baseline (ties where the two 95% CIs of the mean return overlap)."""
    lcfg = cell.cfg.lifetime
    rows = []
    for m in methods:
        for i, (mult, n) in enumerate(zip(multiples, cell.lifetimes)):
            ret = finals[m.label][i]
            norm = ev.normalised_score(ret, finals[base][i].mean(), rand)
            stats = ev.summarise(ret, seed=seed)
            base_stats = ev.summarise(finals[base][i], seed=seed)
            verdict = "" if m.label == base else ev.verdict(stats, base_stats)
            rows.append(dict(env=cell.spec.label, method=m.label, role=m.role, multiple=mult, lifetime=n,
                             env_steps=n * lcfg.num_envs * lcfg.rollout_len, seeds=len(ret),
                             **stats, **{f"norm_{k}": v for k, v in ev.summarise(norm, seed=seed).items()},
                             baseline_mean=base_stats["mean"], random_return=rand, vs_baseline=verdict,
                             returns=ret.tolist(), norm_returns=norm.tolist()))
    return rows


def evaluate_run(run_dir, env_texts=(), multiples=ev.MULTIPLES, seeds: int = 16, checkpoint: int | None = None,
                 overrides=(), initial: bool = False, baselines=(), seed: int = 0, log=print,
                 per_horizon: bool = False):
    """Evaluate a run directory (see the module docstring). Returns (results dict, curves).

    env_texts: environments as 'NAME' or 'NAME:LEVELS' (default: the run's own); overrides:
    [(dotted path, text)] for the agent and lifetime sections, applied after the per-environment
    choice of discover.profiles; per_horizon: one program per horizon (see _train).
    """
    from discover.meta.run import load_config

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no config.json); give the directory `discover train` wrote")
    cfg = load_config(run_dir)
    specs = [parse_env(t) for t in env_texts] or [run_env(cfg)]
    cells = [prepare_env(s, cfg, overrides, horizon_lifetimes(cfg, multiples), seeds, seed) for s in specs]
    methods = load_methods(run_dir, cfg, checkpoint, initial, baselines)
    t0 = time.time()
    rows, curves, envs = evaluate_cells(cells, methods, multiples, seeds, seed, log=log, per_horizon=per_horizon)
    results = dict(run_dir=str(run_dir), objective=cfg.objective.name, checkpoint=checkpoint,
                   seeds=seeds, seed=seed, multiples=list(multiples), reference_lifetime=reference_lifetime(cfg),
                   methods=[dict(label=m.label, role=m.role, objective=m.objective.name) for m in methods],
                   envs=envs, rows=rows, wall_time_s=time.time() - t0, backend=jax.default_backend())
    return results, curves


# -------------------------------------------------------------------------------------- output

SUMMARY_FIELDS = ("env", "method", "role", "multiple", "lifetime", "env_steps", "seeds", "mean", "ci_lo", "ci_hi",
                  "iqm", "iqm_lo", "iqm_hi", "norm_mean", "norm_ci_lo", "norm_ci_hi", "norm_iqm", "norm_iqm_lo",
                  "norm_iqm_hi", "baseline_mean", "random_return", "vs_baseline")


def write_results(results: dict, curves: dict, out_dir) -> Path:
    """results.json (everything), summary.csv (one row per cell), returns.csv (one row per
    seed: tidy) and curves.npz (learning curves [L, S, N_max] per env and method)."""
    import csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = {f"curve_{i}": k for i, k in enumerate(curves)}
    np.savez_compressed(out / "curves.npz", **{name: curves[k] for name, k in keys.items()})
    results = dict(results, curve_keys={name: list(k) for name, k in keys.items()})
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    with (out / "summary.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, SUMMARY_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(results["rows"])
    with (out / "returns.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("env", "method", "role", "multiple", "lifetime", "env_steps", "seed", "return", "normalised"))
        for r in results["rows"]:
            for s, (ret, norm) in enumerate(zip(r["returns"], r["norm_returns"])):
                w.writerow((r["env"], r["method"], r["role"], r["multiple"], r["lifetime"], r["env_steps"], s, ret, norm))
    return out


def load_results(eval_dir):
    """(results dict, curves {(env, method): array}) as write_results left them."""
    eval_dir = Path(eval_dir)
    results = json.loads((eval_dir / "results.json").read_text())
    with np.load(eval_dir / "curves.npz") as data:
        curves = {tuple(k): data[name] for name, k in results.get("curve_keys", {}).items()}
    return results, curves


def format_summary(results: dict) -> str:
    """A one-screen table: per environment and method, the mean final return at each horizon,
    then the IQM of the normalised score and the verdict against the baseline."""
    lines = [f"{results['objective']} from {results['run_dir']}"
             + (f" (checkpoint {results['checkpoint']})" if results["checkpoint"] is not None else "")
             + f": {results['seeds']} seeds per cell, N_ref = {results['reference_lifetime']} updates",
             "cells: mean final return / IQM of (ret - random) / (baseline - random); "
             "+ better, = ties, - worse than the baseline (95% CIs of the mean)"]
    mults = results["multiples"]
    head = f"{'env':<22} {'method':<14}" + "".join(f"{f'{m:g}x':>17}" for m in mults)
    lines += [head, "-" * len(head)]
    mark = {"better": "+", "ties": "=", "worse": "-", "": " "}
    for env in results["envs"]:
        for method in dict.fromkeys(r["method"] for r in results["rows"]):
            cells = []
            for m in mults:
                r = next(r for r in results["rows"] if r["env"] == env and r["method"] == method and r["multiple"] == m)
                cells.append(f"{r['mean']:9.4g}/{r['norm_iqm']:5.2f}{mark[r['vs_baseline']]}")
            lines.append(f"{env[:22]:<22} {method[:14]:<14}" + "".join(f"{c:>17}" for c in cells))
    return "\n".join(lines)
