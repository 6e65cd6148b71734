"""Shared machinery of the temporal-awareness experiments (experiments/ta_lpg.py, ta_lpo.py):
meta-train every (objective, seed), then train fresh agents with each discovered objective and
with the hand-designed baseline on a grid of lifetimes N, and summarise over seeds.

Evaluation: for each environment, every method's agents at every N and every evaluation seed
run in ONE packed program (discover.packing: tasks of different N share slots back to back,
so a grid up to N = 400 costs its useful updates, not horizons x 400). Evaluation seed s uses
the same level and PRNG key for every method and every N (common random numbers).

Statistics: a cell (method, environment, N) holds [M, S] scores (M meta-training seeds x S
evaluation seeds). Mean and IQM come with 95% *hierarchical* bootstrap intervals: resample the
meta-training seeds, then evaluation seeds within each, so the interval covers the variation
between discovered objectives, not only between agents trained by one of them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import environments
from discover import evaluate as ev
from discover.lifetime import make_lifetime
from discover.meta.run import load_config, load_discovered, train
from discover.objectives import make_objective
from discover.packing import auto_slots, make_packed_train

# ---------------------------------------------------------------------------------- meta-training


def meta_train_all(base_cfg, objectives: dict, seeds, out: Path, reuse: bool = False, log=print) -> dict:
    """Meta-train base_cfg with each objective name for each seed; run directories under out/runs.

    objectives: {label: objective name}. reuse: keep a finished run whose config.json equals
    the config it would get (so an interrupted experiment resumes at the next run).
    Returns {label: dict(objective=Objective, params=[M], summaries=[M], fitness=[M][G],
    wall_s=[M])}.
    """
    done = {}
    for label, name in objectives.items():
        entry = dict(params=[], summaries=[], fitness=[], wall_s=[])
        for seed in seeds:
            cfg = dataclasses.replace(base_cfg, seed=int(seed),
                                      objective=dataclasses.replace(base_cfg.objective, name=name))
            run_dir = out / "runs" / f"{label}_seed{seed}"
            finished = (run_dir / "discovered.msgpack").exists() and (run_dir / "summary.json").exists()
            if reuse and finished and load_config(run_dir) == cfg:
                summary = json.loads((run_dir / "summary.json").read_text())
                wall = float(json.loads((run_dir / "wall.json").read_text())["wall_s"])
                log(f"reusing {run_dir}")
            else:
                shutil.rmtree(run_dir, ignore_errors=True)  # never append to an old run
                t = time.time()
                summary = train(cfg, run_dir, progress=False)
                wall = time.time() - t
                (run_dir / "wall.json").write_text(json.dumps({"wall_s": wall}))
                log(f"meta-trained {label} seed {seed} in {wall:.0f} s: {json.dumps(summary)}")
            objective, params = load_discovered(run_dir, cfg)
            records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
            entry["objective"] = objective
            entry["params"].append(params)
            entry["summaries"].append(summary)
            entry["fitness"].append([r["fitness_mean"] for r in records])
            entry["wall_s"].append(wall)
        done[label] = entry
    return done


# -------------------------------------------------------------------------------------- evaluation


class EvalEnv(NamedTuple):
    """One evaluation environment. level: None (the env's default level), a named gridworld
    level, or EnvParams; agent / lifetime: AgentConfig / LifetimeConfig overriding the run's."""

    label: str
    env: str
    level: object = None
    held_out: bool = False
    agent: object = None
    lifetime: object = None


def make_env(spec: EvalEnv):
    """(wrapped env, EnvParams) of an EvalEnv."""
    if isinstance(spec.level, str):  # a named gridworld level (the cheaper tabular-only env if it is one)
        env, params, _ = environments.resolve(spec.env, spec.level)
        return env, params
    env, params = environments.make(spec.env)
    return env, (params if spec.level is None else spec.level)


def packed_returns(lt_cfg, objective, params_list, env, level, lifetimes, keys) -> np.ndarray:
    """Final evaluation returns [M, L, S] of fresh agents trained with each of M parameter sets
    (params_list; [{}] for a hand-designed objective) at each of L lifetimes with each of S keys,
    all on one level, in one packed program."""
    m, n_l, s = len(params_list), len(lifetimes), keys.shape[0]
    lt = make_lifetime(lt_cfg, objective, env, level, max_lifetime=int(max(lifetimes)))
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *params_list) if params_list[0] else {}
    task_m = np.repeat(np.arange(m), n_l * s)  # task order: meta seed, lifetime, eval seed
    task_n = np.tile(np.repeat(np.asarray(lifetimes, np.int32), s), m)
    task_s = np.tile(np.arange(s), m * n_l)
    params = jax.tree.map(lambda x: x[task_m], stacked)
    levels = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (task_m.size,) + jnp.shape(x)), level)
    slots = auto_slots(task_m.size, float(task_n.mean()), int(task_n.max()))
    run = jax.jit(make_packed_train(lt, slots))
    metrics, _ = run(params, levels, jnp.asarray(task_n), keys[task_s])
    return np.asarray(metrics.final_return, np.float64).reshape(m, n_l, s)


def evaluate_env(cfg, methods: dict, baseline: str, spec: EvalEnv, lifetimes, seeds: int, seed: int = 0,
                 random_samples: int = 64) -> dict:
    """Every method and the baseline at every N on one environment.

    methods: {label: (Objective, [params per meta seed])}. Returns dict(lifetimes, random_return,
    returns={label: [M, L, S]} including the baseline's [1, L, S], norm={label: [M, L, S]}:
    (return - random) / (baseline mean at that N - random), NaN where the baseline does not beat
    random), wall_s.
    """
    t = time.time()
    env, level = make_env(spec)
    lt_cfg = dataclasses.replace(cfg, agent=spec.agent or cfg.agent, lifetime=spec.lifetime or cfg.lifetime)
    keys = jax.random.split(jax.random.key(seed), seeds)
    returns = {}
    runs = dict(methods)
    runs[baseline] = (make_objective(dataclasses.replace(cfg.objective, name=baseline)), [{}])
    for label, (objective, params_list) in runs.items():
        returns[label] = packed_returns(lt_cfg, objective, params_list, env, level, lifetimes, keys)
    rand_levels = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (random_samples,) + jnp.shape(x)), level)
    rand = float(ev.random_policy_returns(lt_cfg, env, rand_levels, jax.random.split(jax.random.key(seed + 1),
                                                                                        random_samples)).mean())
    base = returns[baseline].mean(axis=(0, 2))  # [L]
    norm = {label: ev.normalised_score(r, base[None, :, None], rand) for label, r in returns.items()}
    return dict(lifetimes=[int(n) for n in lifetimes], random_return=rand, returns=returns, norm=norm,
                wall_s=time.time() - t)


# -------------------------------------------------------------------------------------- statistics


def _iqm_rows(x: np.ndarray) -> np.ndarray:
    """IQM of each row of x [B, K] (NaNs dropped per row, as evaluate.iqm trims: floor(K/4) each side)."""
    return np.array([ev.iqm(row[np.isfinite(row)]) if np.isfinite(row).any() else np.nan for row in x])


STATS = {"mean": lambda x: np.nanmean(x, axis=1) if np.isfinite(x).any() else np.full(len(x), np.nan),
         "iqm": _iqm_rows}


def hierarchical_samples(x: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """[n_boot, M * S] bootstrap resamples of x [M, S]: M meta seeds with replacement, then S
    evaluation seeds with replacement within each chosen meta seed."""
    x = np.asarray(x, float)
    m, s = x.shape
    rng = np.random.default_rng(seed)
    meta = rng.integers(0, m, size=(n_boot, m, 1))
    inner = rng.integers(0, s, size=(n_boot, m, s))
    return x[meta, inner].reshape(n_boot, m * s)


def cell_stats(x: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean and IQM of x [M, S] with 95% hierarchical bootstrap CIs, and the per-meta-seed means."""
    x = np.asarray(x, float)
    boots = hierarchical_samples(x, n_boot, seed)
    out = {}
    for name, fn in STATS.items():
        value = float(fn(x.reshape(1, -1))[0])
        dist = fn(boots)
        finite = dist[np.isfinite(dist)]
        lo, hi = (np.quantile(finite, [0.025, 0.975]) if finite.size else (np.nan, np.nan))
        out.update({name: value, f"{name}_lo": float(lo), f"{name}_hi": float(hi)})
    with np.errstate(all="ignore"):
        out["per_seed_mean"] = [float(v) for v in np.nanmean(x, axis=1)] if np.isfinite(x).any() else [np.nan] * len(x)
    return out


def difference_stats(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of a [M, S] minus mean of b [M', S'] with a 95% CI from independent hierarchical
    bootstraps of each (the meta seeds of two objectives are not paired)."""
    da = STATS["mean"](hierarchical_samples(a, n_boot, seed))
    db = STATS["mean"](hierarchical_samples(b, n_boot, seed + 1))
    diff = da - db
    finite = diff[np.isfinite(diff)]
    lo, hi = np.quantile(finite, [0.025, 0.975]) if finite.size else (np.nan, np.nan)
    value = float(np.nanmean(a) - np.nanmean(b)) if np.isfinite(a).any() and np.isfinite(b).any() else float("nan")
    return dict(diff=value, lo=float(lo), hi=float(hi))


def summarise_env(result: dict, pairs, seed: int = 0) -> dict:
    """Statistics of one evaluate_env result: stats[label][i] (normalised score and return at
    the i-th N) and diff[(ta, plain)][i] for each (TA label, non-TA label) in pairs."""
    stats = {}
    for label, norm in result["norm"].items():
        rets = result["returns"][label]
        stats[label] = [dict(norm=cell_stats(norm[:, i], seed=seed), ret=cell_stats(rets[:, i], seed=seed))
                        for i in range(norm.shape[1])]
    diffs = {f"{ta} - {plain}": [difference_stats(result["norm"][ta][:, i], result["norm"][plain][:, i], seed=seed)
                                 for i in range(len(result["lifetimes"]))] for ta, plain in pairs}
    return dict(stats=stats, diffs=diffs)


# ------------------------------------------------------------------------------------------ files


def to_jsonable(x):
    """numpy arrays and scalars inside dicts / lists -> plain lists and floats (NaN kept as NaN)."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def json_dumps(x) -> str:
    return json.dumps(to_jsonable(x), indent=1)


def json_loads(text: str):
    return json.loads(text)
