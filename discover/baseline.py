"""`discover baseline`: train a hand-designed objective (PPO or A2C) on one environment.

The lifetime is run in jitted chunks of updates so the host can show progress; chunking does
not change results, since every update's key depends only on its index n.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from discover import rundir, signals
from discover.config import to_dict
from discover.curricula import make_task
from discover.lifetime import make_lifetime
from discover.logging import MetricsLog, write_json
from discover.objectives import make_objective


def run_baseline(cfg, run_dir, seeds: int = 1, chunk: int = 50, progress: bool = True) -> dict:
    """Train `seeds` agents (vmapped) with cfg.objective on cfg.env in a new run directory
    (validated first, locked while it is written; never an existing run or file)."""
    from discover.validate import validate

    cfg = validate(cfg, "baseline")
    run_dir = Path(run_dir)
    with rundir.open_new(run_dir, "baseline"):
        signals.set_phase("the baseline training", f"{run_dir} is incomplete: start again with a new --out")
        return _run(cfg, run_dir, seeds, chunk, progress)


def _run(cfg, run_dir, seeds, chunk, progress):
    write_json(run_dir / "config.json", to_dict(cfg))  # seeds are recorded in summary.json
    objective = make_objective(cfg.objective)
    task = make_task(cfg.env, cfg.lifetime)
    life = make_lifetime(cfg, objective, task.env, task.template, task.max_lifetime)
    level = task.template
    n_updates = task.max_lifetime
    keys = jax.random.split(jax.random.key(cfg.seed), seeds)
    k_init, k_train, k_eval = (jax.vmap(lambda k: jax.random.split(k, 3))(keys)).transpose(1, 0)

    state = jax.jit(jax.vmap(life.init, in_axes=(0, None)))(k_init, level)
    compiled = {}

    def chunk_fn(length):
        """Jitted: `length` updates from update index `start`, vmapped over seeds."""
        if length not in compiled:

            def run(state, start, k):
                body = lambda s, n: life.update(s, n, {}, level, n_updates, jax.random.fold_in(k, n))
                return jax.lax.scan(body, state, start + jnp.arange(length))

            compiled[length] = jax.jit(jax.vmap(run, in_axes=(0, None, 0)))
        return compiled[length]

    log = MetricsLog(run_dir)
    log.path.write_text("")
    bar = None
    if progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=n_updates, unit="upd", dynamic_ncols=True)
    returns = []
    t0 = time.time()
    for start in range(0, n_updates, chunk):
        length = min(chunk, n_updates - start)
        state, stats = chunk_fn(length)(state, start, k_train)
        stats = jax.device_get(stats)
        with np.errstate(invalid="ignore"):
            ret = np.where(stats["episodes"] > 0, stats["return_sum"] / np.maximum(stats["episodes"], 1), np.nan)
        for i in range(length):
            returns.append(ret[:, i])
            mean = float(np.nanmean(ret[:, i])) if np.isfinite(ret[:, i]).any() else None
            log.write({"generation": start + i, "update": start + i, "return_mean": mean})
        if bar is not None:
            bar.update(length)
            if np.isfinite(ret).any():
                bar.set_postfix(ret=f"{np.nanmean(ret):.3g}")
    if bar is not None:
        bar.close()
    wall = time.time() - t0
    final = np.asarray(jax.jit(jax.vmap(life.evaluate, in_axes=(0, None, 0)))(state.params["actor"], level, k_eval))
    curve = np.stack(returns, axis=1)
    from discover.plots import plot_learning_curve

    with warnings.catch_warnings():  # updates in which no episode ended are NaN, by design
        warnings.simplefilter("ignore", RuntimeWarning)
        plot_learning_curve(curve, run_dir / "learning_curve.png", f"{cfg.objective.name} on {cfg.env.name}")
    steps = n_updates * cfg.lifetime.num_envs * cfg.lifetime.rollout_len
    summary = {
        "objective": cfg.objective.name,
        "env": cfg.env.name,
        "seeds": seeds,
        "updates": n_updates,
        "env_steps_per_seed": steps,
        "final_return_mean": float(final.mean()),
        "final_return_per_seed": final.tolist(),
        "wall_time_s": wall,
        "steps_per_second": steps * seeds / wall,
    }
    write_json(run_dir / "summary.json", summary)
    return summary
