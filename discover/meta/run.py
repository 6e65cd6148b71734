"""The host side of meta-training: build, initialise or resume, loop, log, checkpoint, summarise.

This is the only place with a Python loop over generations and with file I/O. Each loop
iteration is one jitted call covering `gens_per_call` generations; metrics come back to the
host once per call.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from discover import checkpoint
from discover.config import RunConfig, from_dict, to_dict
from discover.curricula import make_task
from discover.lifetime import make_lifetime
from discover.logging import MetricsLog, init_wandb, write_json
from discover.objectives import make_objective


class Built(NamedTuple):
    objective: object
    task: object
    lifetime: object
    baseline: object  # Lifetime of the hand-designed baseline (A2C for LPG, PPO otherwise)
    meta: object  # ES or MetaGrad: init(key, params), generation(state, run_key), mean(state)


def baseline_name(objective) -> str:
    return "a2c" if objective.head == "predictor" else "ppo"


def build(cfg: RunConfig) -> Built:
    """Build every pure function of a run (nothing is compiled yet)."""
    import dataclasses

    from discover.curricula.scores import needs
    from discover.meta.es import make_es

    objective = make_objective(cfg.objective)
    task = make_task(cfg.env, cfg.lifetime)
    metagrad = cfg.meta_optimizer == "metagrad"
    plr = cfg.curriculum.name == "plr"
    side_critic = plr and "critic" in needs(cfg.curriculum.score)
    lifetime = make_lifetime(cfg, objective, task.env, task.template, task.max_lifetime, differentiable=metagrad,
                             side_critic=side_critic)
    baseline = _hand_designed_lifetime(cfg, baseline_name(objective), task)
    antagonist = None
    if plr and "antagonist" in needs(cfg.curriculum.score):
        ccfg = cfg.curriculum
        name = baseline_name(objective) if ccfg.antagonist == "auto" else ccfg.antagonist
        agent = dataclasses.replace(cfg.agent, lr=ccfg.antagonist_lr) if ccfg.antagonist_lr else cfg.agent
        antagonist = _hand_designed_lifetime(dataclasses.replace(cfg, agent=agent), name, task)
    if cfg.meta_optimizer == "es":
        meta = make_es(cfg, objective, lifetime, task, baseline, antagonist_lifetime=antagonist)
    else:
        from discover.meta.metagrad import make_metagrad

        meta = make_metagrad(cfg, objective, lifetime, task, antagonist_lifetime=antagonist)
    return Built(objective, task, lifetime, baseline, meta)


def _hand_designed_lifetime(cfg, name: str, task):
    """The Lifetime of hand-designed objective `name` (a2c, ppo) with cfg's agent and lifetime."""
    import dataclasses
    import types

    ocfg = dataclasses.replace(cfg.objective, name=name)
    sections = types.SimpleNamespace(agent=cfg.agent, objective=ocfg, lifetime=cfg.lifetime)
    return make_lifetime(sections, make_objective(ocfg), task.env, task.template, task.max_lifetime)


def _keys(cfg):
    root = jax.random.key(cfg.seed)
    k_init, k_obj, k_run, k_eval = jax.random.split(root, 4)
    return k_init, k_obj, k_run, k_eval


def make_multi_generation(meta, k: int):
    """One jitted call running k generations under lax.scan; metrics stacked [k]."""

    def many(state, run_key):
        return jax.lax.scan(lambda s, _: meta.generation(s, run_key), state, None, length=k)

    return jax.jit(many)


def make_objective_eval(built: Built, key, n_tasks: int = 8):
    """Returns (evaluate(params) -> [n_tasks] final returns of fresh agents trained with params,
    baseline() -> the same for the hand-designed baseline), on n_tasks tasks of the run's
    curriculum with fixed tasks and keys, compiled once and reused for every params."""
    k_task, k_train = jax.random.split(key)
    _, levels, lifetimes = built.task.curriculum.sample(k_task, built.task.curriculum.init(k_task), n_tasks)
    keys = jax.random.split(k_train, n_tasks)

    def returns(lt, params):
        return jax.vmap(lambda lv, n, k: lt.train(params, lv, n, k)[1].final_return)(levels, lifetimes, keys)

    learned = jax.jit(lambda p: returns(built.lifetime, p))
    baseline = jax.jit(lambda: returns(built.baseline, {}))
    return (lambda p: np.asarray(learned(p))), (lambda: np.asarray(baseline()))


def train(cfg: RunConfig, run_dir, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> dict:
    """Meta-train per cfg in run_dir (resuming its latest checkpoint if resume). Returns the summary.

    stop_after: stop (as if killed) after this many generations in this call; for tests.
    """
    if cfg.distributed:
        # Every host runs this same program; the population mesh then spans all global devices.
        jax.distributed.initialize()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        write_json(run_dir / "config.json", to_dict(cfg))
    built = build(cfg)
    k_init, k_obj, k_run, k_eval = _keys(cfg)
    init_params = built.objective.init(k_obj)
    state = built.meta.init(k_init, init_params)
    log = MetricsLog(run_dir, init_wandb(cfg, run_dir))
    start = 0
    if resume:
        start, state = checkpoint.restore(run_dir, state)
        state = jax.tree.map(jnp.asarray, state)
        log.truncate(start)
    steps = {}  # generations per call -> compiled call (the last call of a run may be shorter)
    total = cfg.generations
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start, unit="gen", dynamic_ncols=True)
    t_start = time.time()
    gen = start
    last_ckpt = start
    done_here = 0
    while gen < total:
        k = min(cfg.gens_per_call, total - gen)
        if k not in steps:
            steps[k] = make_multi_generation(built.meta, k)
        t0 = time.time()
        state, metrics = steps[k](state, k_run)
        metrics = jax.device_get(metrics)
        dt = time.time() - t0
        for i in range(k):
            log.write({"generation": gen + i, **{name: v[i] for name, v in metrics.items()}, "wall_time": dt / k})
        gen += k
        done_here += k
        if bar is not None:
            bar.update(k)
            bar.set_postfix(fitness=f"{float(np.nanmean(metrics['fitness_mean'])):.3g}")
        if gen - last_ckpt >= cfg.checkpoint_every or gen >= total:
            checkpoint.save(run_dir, gen, state)
            last_ckpt = gen
        if stop_after is not None and done_here >= stop_after:
            if bar is not None:
                bar.close()
            return {}
    if bar is not None:
        bar.close()
    final_params = built.meta.mean(state)
    (run_dir / "discovered.msgpack").write_bytes(serialization.to_bytes(final_params))
    summary = summarise(cfg, built, init_params, final_params, k_eval, log.read(), time.time() - t_start)
    write_json(run_dir / "summary.json", summary)
    try:
        from discover import plots

        plots.plot_run(run_dir, cfg, built, final_params)
    except Exception as e:  # a plotting failure must not lose a finished run
        print(f"warning: plotting failed: {e}")
    return summary


def summarise(cfg, built, init_params, final_params, key, records, wall):
    """Compare the discovered objective with its initialisation and the hand-designed baseline
    on the same held-back tasks and seeds."""
    n = 8
    evaluate, baseline = make_objective_eval(built, key, n)
    init_ret, final_ret, base_ret = evaluate(init_params), evaluate(final_params), baseline()
    return {
        "objective": cfg.objective.name,
        "env": cfg.env.name,
        "distribution": cfg.env.distribution,
        "generations": len(records),
        "wall_time_s": wall,
        "env_steps": float(sum(r.get("env_steps", 0) or 0 for r in records)),
        "first_fitness_mean": records[0]["fitness_mean"] if records else None,
        "last_fitness_mean": records[-1]["fitness_mean"] if records else None,
        "eval_tasks": n,
        "eval_return_init": float(init_ret.mean()),
        "eval_return_discovered": float(final_ret.mean()),
        f"eval_return_{baseline_name(built.objective)}": float(base_ret.mean()),
    }


def load_config(run_dir) -> RunConfig:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise checkpoint.CheckpointError(f"{path} not found: {run_dir} is not a run directory")
    return from_dict(RunConfig, json.loads(path.read_text()))


def load_discovered(run_dir, cfg: RunConfig | None = None):
    """The discovered objective parameters of a finished run (and its objective)."""
    cfg = cfg or load_config(run_dir)
    objective = make_objective(cfg.objective)
    template = objective.init(jax.random.key(0))
    path = Path(run_dir) / "discovered.msgpack"
    if not path.exists():
        raise checkpoint.CheckpointError(f"{path} not found: the run has not finished")
    return objective, serialization.from_bytes(template, path.read_bytes())
