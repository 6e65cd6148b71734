"""A meta-training run: validate, own the run directory, build, start or resume, loop, summarise.

This and discover.meta.loop are the only places with a Python loop over generations and with
file I/O. What a run directory guarantees (lock, checksummed checkpoints, signals, resume,
watchdog) is listed in the README.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from discover import checkpoint, distributed, rundir, signals
from discover.config import ConfigError, RunConfig, from_dict, to_dict
from discover.curricula import make_task
from discover.lifetime import make_lifetime
from discover.logging import MetricsLog, init_wandb, write_bytes, write_json
from discover.meta import loop as loop_mod
from discover.meta.loop import make_multi_generation  # noqa: F401  (re-exported: tests, benchmarks)
from discover.objectives import make_objective
from discover.validate import resolve, validate
from discover.watchdog import Watchdog


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
    from discover.curricula.scores import needs
    from discover.meta.es import make_es

    cfg = resolve(cfg)  # lifetime.eval_steps = 0 means the environment's episode limit
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


def make_objective_eval(built: Built, key, n_tasks: int = 8):
    """Returns (evaluate(params) -> [n_tasks] final returns of fresh agents trained with params,
    baseline() -> the same for the hand-designed baseline), on n_tasks tasks of the run's
    curriculum with fixed tasks and keys, compiled once and reused for every params."""
    from discover.meta.es import make_population_eval
    from discover.packing import auto_slots

    # task.curriculum is the level generator itself (domain randomisation), never a training
    # buffer: held-back tasks are fresh draws whatever the run's curriculum.
    k_task, k_train = jax.random.split(key)
    task = built.task
    _, levels, lifetimes = task.curriculum.sample(k_task, task.curriculum.init(k_task), n_tasks)
    keys = jax.random.split(k_train, n_tasks)
    slots = 0 if task.fixed_lifetime else auto_slots(n_tasks, task.mean_lifetime, task.max_lifetime)

    def returns(lt, params):
        tiled = jax.tree.map(lambda x: jnp.broadcast_to(x, (n_tasks,) + jnp.shape(x)), params)
        return make_population_eval(lt, 0, None, slots)(tiled, levels, lifetimes, keys)[0].final_return

    learned = jax.jit(lambda p: returns(built.lifetime, p))
    baseline = jax.jit(lambda: returns(built.baseline, {}))
    return (lambda p: np.asarray(learned(p))), (lambda: np.asarray(baseline()))


def train(cfg: RunConfig, run_dir, resume: bool = False, progress: bool = True, stop_after: int | None = None) -> dict:
    """Meta-train per cfg in run_dir (resuming its latest intact checkpoint if resume); returns
    the summary. Everything is validated before anything is written or compiled.

    resume: cfg must equal the run's config.json except `generations`, which may extend the run.
    stop_after: stop (as if killed) after this many generations in this call; for tests.
    Raises ConfigError (bad config or run directory), CheckpointError, loop.RunError, or
    signals.Interrupted when the command line's signal handling stopped the run.
    """
    if cfg.distributed:
        distributed.initialize()  # before any JAX computation, validation included
    cfg = validate(cfg, "train")
    run_dir = Path(run_dir)
    writer = distributed.is_writer()
    if writer:
        lock = rundir.open_existing(run_dir) if resume else rundir.open_new(run_dir, "train")
    else:
        lock = None
        if resume:
            rundir.check_resume(run_dir)
    try:
        return _train(cfg, run_dir, resume, progress, stop_after, writer)
    finally:
        if lock is not None:
            lock.release()


def _check_same_run(saved: RunConfig, cfg: RunConfig, run_dir) -> None:
    """A resumed run must be the saved one, field for field, except its length."""
    a, b = _flat(to_dict(dataclasses.replace(saved, generations=cfg.generations))), _flat(to_dict(cfg))
    diff = [k for k in a if a[k] != b.get(k)]
    if diff:
        raise ConfigError(f"the config differs from {Path(run_dir) / 'config.json'} in {', '.join(diff)}; "
                          "a resumed run keeps its config (only --generations may change)")  # fmt: skip


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def _train(cfg, run_dir, resume, progress, stop_after, writer):
    hint = f"resume with: discover train --resume {run_dir}"
    signals.set_phase("start-up", hint if resume else "")
    watchdog = Watchdog(cfg.watchdog_s, run_dir / "watchdog-stacks.txt" if writer else None, f"; {hint}").start()
    try:
        if resume:
            saved = validate(load_config(run_dir), "train")
            _check_same_run(saved, cfg, run_dir)
        elif writer:
            write_json(run_dir / "config.json", to_dict(cfg))
            signals.set_phase("start-up", hint)
        built = build(cfg)
        watchdog.beat("building the run's functions")
        k_init, k_obj, k_run, k_eval = _keys(cfg)
        init_params = built.objective.init(k_obj)
        state = built.meta.init(k_init, init_params)
        watchdog.beat("initialising the meta-state")
        start = 0
        if resume:
            start, state = _restore(run_dir, state, cfg)
            if cfg.generations < start:
                raise ConfigError(f"{run_dir} already ran {start} generations; --generations must be at least {start}")
            done = _finished_summary(run_dir, start, cfg)
            if done is not None:
                print(f"{run_dir} already finished its {start} generations; nothing to do")
                return done
        log = MetricsLog(run_dir, init_wandb(cfg, run_dir) if writer else None, enabled=writer)
        if writer:
            if resume:
                checkpoint.remove_partial(run_dir)
                write_json(run_dir / "config.json", to_dict(cfg))  # --generations may have changed
            log.truncate(start)
            if not (run_dir / "initial.msgpack").exists():  # what ES started from
                write_bytes(run_dir / "initial.msgpack", serialization.to_bytes(distributed.to_host(init_params)))
        evaluate, baseline = make_objective_eval(built, k_eval, cfg.heldout_tasks)
        # Every process evaluates (on its own device), so the processes of a multi-process run
        # stay in step; only process 0 logs it.
        heldout = (lambda p: float(evaluate(distributed.to_host(p)).mean())) if cfg.heldout_every else None
        writer_ = checkpoint.AsyncWriter(run_dir, enabled=writer, info={"config": _run_identity(cfg)})
        bar = loop_mod.Progress(progress and writer, cfg.generations, start)
        ctx = loop_mod.Loop(cfg, built.meta, k_run, log, writer_, watchdog, heldout, bar)
        try:
            state, gen = loop_mod.run(ctx, state, start, stop_after, handle_signals=not cfg.distributed)
        except signals.Interrupted as e:
            raise signals.Interrupted(e.signum, f"{e}; {hint}") from None
        finally:
            bar.close()
            writer_.close()
        if gen < cfg.generations:  # stop_after
            return {}
        signals.set_phase("the final evaluation", f"{hint} to finish it")
        watchdog.beat("the last generation (now the final evaluation)")
        final_params = distributed.to_host(built.meta.mean(state))
        if writer:
            write_bytes(run_dir / "discovered.msgpack", serialization.to_bytes(final_params))
        summary = summarise(cfg, built, distributed.to_host(init_params), final_params, evaluate, baseline, log.read(),
                            beat=watchdog.beat)  # fmt: skip
        if writer:
            write_json(run_dir / "summary.json", summary)
            _plot(run_dir, cfg, built, final_params)
        return summary
    finally:
        watchdog.stop()


def _run_identity(cfg) -> dict:
    """What a checkpoint records of its run: the config except its length (as JSON reads it back)."""
    return json.loads(json.dumps({k: v for k, v in to_dict(cfg).items() if k != "generations"}))


def _restore(run_dir, state, cfg):
    """(generation, state) of the newest intact checkpoint; generation 0 if none was ever written
    (a run stopped before its first checkpoint restarts exactly from its config)."""
    if not checkpoint.has_checkpoints(run_dir):
        print(f"{run_dir} has no checkpoint yet: starting from generation 0")
        return 0, state
    skipped = []
    gen, restored = checkpoint.restore(run_dir, state, on_skip=lambda g, why: skipped.append((g, why)))
    for g, why in skipped:
        print(f"warning: the checkpoint of generation {g} is damaged ({why}); resuming from generation {gen}",
              file=sys.stderr)  # fmt: skip
    stored = checkpoint.info(run_dir, gen).get("config")
    if stored is not None:
        a, b = _flat(stored), _flat(_run_identity(cfg))
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if diff:
            k = diff[0]
            raise ConfigError(
                f"{Path(run_dir) / 'config.json'} was edited after the checkpoint of generation {gen} was written "
                f"({k}: {a.get(k)!r} -> {b.get(k)!r}{', ...' if len(diff) > 1 else ''}); restore it to resume"
            )
    return gen, jax.tree.map(jnp.asarray, restored)


def _finished_summary(run_dir, start, cfg):
    """The stored summary of a run that already finished cfg.generations (else None)."""
    summary = Path(run_dir) / "summary.json"
    if start != cfg.generations or not summary.exists() or not (Path(run_dir) / "discovered.msgpack").exists():
        return None
    try:
        data = json.loads(summary.read_text())
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("generations") == start else None


def _plot(run_dir, cfg, built, params):
    try:
        from discover import plots

        plots.plot_run(run_dir, cfg, built, params)
    except Exception as e:  # a plotting failure must not lose a finished run
        print(f"warning: plotting failed: {e}", file=sys.stderr)


def summarise(cfg, built, init_params, final_params, evaluate, baseline, records, beat=lambda what: None):
    """Compare the discovered objective with its initialisation and the hand-designed baseline
    on the same held-back tasks and seeds. Wall time is the sum over generations of all the
    sessions of the run (a resumed run counts each generation once)."""
    init_ret = evaluate(init_params)
    beat("the final evaluation of the initial objective")
    final_ret = evaluate(final_params)
    beat("the final evaluation of the discovered objective")
    base_ret = baseline()
    return {
        "objective": cfg.objective.name,
        "env": cfg.env.name,
        "distribution": cfg.env.distribution,
        "generations": len(records),
        "wall_time_s": float(sum((r.get("wall_time") or 0) + (r.get("heldout_s") or 0) for r in records)),
        "env_steps": float(sum(r.get("env_steps", 0) or 0 for r in records)),
        "first_fitness_mean": records[0]["fitness_mean"] if records else None,
        "last_fitness_mean": records[-1]["fitness_mean"] if records else None,
        "eval_tasks": cfg.heldout_tasks,
        "eval_return_init": float(init_ret.mean()),
        "eval_return_discovered": float(final_ret.mean()),
        f"eval_return_{baseline_name(built.objective)}": float(base_ret.mean()),
        # Where it ran: the population is sharded over the devices when it divides evenly
        # (several CPU devices on request: discover.cpu_cores).
        "backend": jax.default_backend(),
        "devices": jax.device_count(),
    }


def load_config(run_dir) -> RunConfig:
    """A run's config.json, read strictly: every field present and of its type (one-line
    ConfigError naming the file and field otherwise)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise rundir.RunDirError(f"{path} not found: {run_dir} is not a run directory")
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        where = f" ({e.msg}, line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise ConfigError(f"{path} is not valid JSON{where}; restore it from a copy to use this run") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    return from_dict(RunConfig, data, where=f"{path}: ", complete=True)


def load_discovered(run_dir, cfg: RunConfig | None = None):
    """The discovered objective parameters of a finished run (and its objective)."""
    cfg = cfg or load_config(run_dir)
    return _load_params(run_dir, "discovered.msgpack", cfg, "the run has not finished")


def load_initial(run_dir, cfg: RunConfig | None = None):
    """The objective parameters ES started from (and its objective)."""
    cfg = cfg or load_config(run_dir)
    return _load_params(run_dir, "initial.msgpack", cfg, "the run was made before initial.msgpack existed")


def _load_params(run_dir, name, cfg, missing_why):
    objective = make_objective(cfg.objective)
    template = objective.init(jax.random.key(0))
    path = Path(run_dir) / name
    if not path.exists():
        raise checkpoint.CheckpointError(f"{path} not found: {missing_why}")
    try:
        params = serialization.from_bytes(template, path.read_bytes())
    except Exception as e:  # msgpack/flax raise many types for a damaged or mismatched file
        raise checkpoint.CheckpointError(f"{path} is damaged or does not match config.json ({type(e).__name__})") from None
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(template)):
        if np.shape(a) != np.shape(b):
            raise checkpoint.CheckpointError(f"{path} does not match config.json (shape {np.shape(a)} vs {np.shape(b)})")
    return objective, params
