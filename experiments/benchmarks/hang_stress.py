"""Hang stress test: run the project's vmapped-population programs many times, each call under a
time limit, and stop with every thread's stack on the first stall.

    python -m experiments.benchmarks.hang_stress [--calls 300] [--limit 120] [--programs a,b]
                                                 [--upstream] [--out FILE]

Why: on a 2-core machine XLA:CPU deadlocked inside batched LAPACK calls (flax's orthogonal
initialiser under vmap runs a batched QR, which jaxlib splits over the intra-op thread pool from
inside that pool; see experiments/benchmarks/hang_report/README.md). The project now initialises
weights without LAPACK (discover.agents.init). This script is the evidence: each program below
is compiled once and then called `calls` times; a call that takes longer than `limit` seconds
is a hang (a hung call uses no CPU and never returns), so faulthandler prints every Python
thread's stack and the process exits with status 1. On success it writes a JSON summary and
exits 0.

Programs (all tiny, all vmapped over a population or seeds, as the project runs them):
  orthogonal   the reproducer pattern: jit(vmap over 8 keys of four orthogonal init calls of
               shape (256, 64)) with discover.agents.init.orthogonal; with --upstream, flax's
               own orthogonal instead (expected to hang on affected jaxlib builds under load)
  init_mlp / init_conv / init_linear
               agent initialisation vmapped over 8 keys: CartPole MLP, Breakout-MinAtar conv,
               gridworld tabular (linear)
  es_ta_lpo    one ES generation of the quickstart preset (TA-LPO, CartPole), population 8
  es_ta_lpg    one ES generation of ta-lpg-gridworld-cpu (packed mixed lifetimes), population 8
  ppo_minatar  PPO on SpaceInvaders-MinAtar, 8 seeds vmapped (the pattern that hung before)
  metagrad     one meta-gradient step of lpg-gridworld-cpu
  es_groove    one GROOVE generation of groove-tabular-cpu (level buffer, PLR scores), population 4

--cpu-devices N gives XLA N CPU devices before its backend starts, so the ES generations run
sharded over them (population_mesh), with XLA's in-process collectives: the pattern in which a
GROOVE generation once deadlocked (two devices in different collectives). For example
`--cpu-devices 2 --programs es_ta_lpo,es_ta_lpg,es_groove`.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import os
import statistics
import sys
import time

import discover  # noqa: F401
import jax

from experiments.benchmarks.common import machine_info, write_results


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def _orthogonal(upstream: bool):
    if upstream:
        from flax.linen.initializers import orthogonal
    else:
        from discover.agents.init import orthogonal
    init = orthogonal()

    def four(key):
        return [init(k, (256, 64)) for k in jax.random.split(key, 4)]

    keys = jax.random.split(jax.random.key(0), 8)
    return jax.jit(jax.vmap(four)), (keys,), None


def _init(env_name, distribution, torso):
    from discover.config import AgentConfig, EnvConfig, LifetimeConfig, ObjectiveConfig
    from discover.curricula import make_task
    from discover.lifetime import make_lifetime
    from discover.objectives import make_objective

    import types

    cfg = types.SimpleNamespace(
        agent=AgentConfig(torso=torso, hidden=(64,) if torso != "linear" else ()),
        objective=ObjectiveConfig(name="ppo"),
        lifetime=LifetimeConfig(num_envs=4, rollout_len=8, lifetime=1, eval_steps=1),
    )
    task = make_task(EnvConfig(env_name, distribution), cfg.lifetime)
    lt = make_lifetime(cfg, make_objective(cfg.objective), task.env, task.template, 1)
    keys = jax.random.split(jax.random.key(0), 8)
    return jax.jit(jax.vmap(lt.init, in_axes=(0, None))), (keys, task.template), None


def _generation(preset, **overrides):
    """One ES (or meta-gradient) generation; the state is carried from call to call."""
    from discover.meta.run import _keys, build, make_multi_generation
    from discover.presets import get_preset

    cfg = get_preset(preset)
    sections = {k: v for k, v in overrides.items() if isinstance(v, dict)}
    cfg = dataclasses.replace(
        cfg,
        **{k: v for k, v in overrides.items() if not isinstance(v, dict)},
        **{k: dataclasses.replace(getattr(cfg, k), **v) for k, v in sections.items()},
    )
    built = build(cfg)
    k_init, k_obj, k_run, _ = _keys(cfg)
    state = built.meta.init(k_init, built.objective.init(k_obj))
    return make_multi_generation(built.meta, 1), (state, k_run), 0


def _ppo_minatar():
    import types

    from discover.config import AgentConfig, LifetimeConfig, ObjectiveConfig
    from discover.lifetime import make_lifetime
    from discover.objectives import make_objective
    import environments

    cfg = types.SimpleNamespace(
        agent=AgentConfig(hidden=(64, 64), activation="relu", lr=5e-3),
        objective=ObjectiveConfig(name="ppo", epochs=2, minibatches=2),
        lifetime=LifetimeConfig(num_envs=8, rollout_len=16, lifetime=2, eval_envs=4, eval_steps=20),
    )
    env, params = environments.make("SpaceInvaders-MinAtar")
    lt = make_lifetime(cfg, make_objective(cfg.objective), env, params, 2)
    keys = jax.random.split(jax.random.key(0), 8)
    run = jax.jit(jax.vmap(lambda k: lt.train({}, params, 2, k)[1].final_return))
    return run, (keys,), None


def programs(upstream: bool):
    """name -> builder() returning (jitted fn, args, carry index or None)."""
    tiny_lt = dict(num_envs=2, rollout_len=8, eval_envs=2, eval_steps=20)
    return {
        "orthogonal": lambda: _orthogonal(upstream),
        "init_mlp": lambda: _init("CartPole-v1", "", "mlp"),
        "init_conv": lambda: _init("Breakout-MinAtar", "", "conv"),
        "init_linear": lambda: _init("gridworld", "sparse", "linear"),
        "es_ta_lpo": lambda: _generation("quickstart", es=dict(population=8), lifetime=dict(lifetime=4, **tiny_lt)),
        "es_ta_lpg": lambda: _generation(
            "ta-lpg-gridworld-cpu", es=dict(population=8), lifetime=dict(lifetime_scale=0.04, **tiny_lt)
        ),
        "ppo_minatar": _ppo_minatar,
        "metagrad": lambda: _generation("lpg-gridworld-cpu", lifetime=dict(lifetime_scale=0.04, **tiny_lt)),
        "es_groove": lambda: _generation(
            "groove-tabular-cpu", es=dict(population=4), lifetime=dict(lifetime_scale=0.02, **tiny_lt),
            curriculum=dict(buffer_size=4), objective=dict(lpg_hidden=4),
        ),
    }


def stress(name, build, calls: int, limit: float) -> dict:
    """Compile `name`, then call it `calls` times, each under `limit` seconds (else dump and exit 1)."""
    t0 = time.perf_counter()
    fn, args, carry = build()
    faulthandler.dump_traceback_later(max(limit, 600), exit=True)  # compilation gets longer
    jax.block_until_ready(fn(*args))
    first_s = time.perf_counter() - t0
    times = []
    for _ in range(calls):
        faulthandler.dump_traceback_later(limit, exit=True)
        t = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
        if carry is not None:
            args = (out[0],) + tuple(args[1:])
    faulthandler.cancel_dump_traceback_later()
    row = {"program": name, "calls": calls, "build_and_first_call_s": first_s}
    if times:
        row.update(mean_call_s=statistics.fmean(times), max_call_s=max(times), total_s=sum(times))
    log(f"  {name:<12} {calls} calls ok, first {first_s:.1f}s" + (f", max call {max(times):.3f}s" if times else ""))
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per program after the first")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds one call may take before it counts as a hang")
    parser.add_argument("--programs", default="", help="comma-separated subset of the programs (default: all)")
    parser.add_argument("--upstream", action="store_true", help="flax's orthogonal in the reproducer (jaxlib bug)")
    parser.add_argument("--out", default=None, help="JSON output (default: results/hang_stress_<platform>.json)")
    parser.add_argument("--cpu-devices", type=int, default=0,
                        help="give XLA this many CPU devices (ES generations then run sharded over them)")
    args = parser.parse_args(argv)
    if args.cpu_devices > 1:
        # As the `discover` command sets them; XLA reads its flags when the backend starts (the
        # first jax.devices()), not at import.
        from discover.cpu_cores import ENV, use_cpu_cores

        os.environ[ENV] = str(args.cpu_devices)
        use_cpu_cores()
    table = programs(args.upstream)
    chosen = [p for p in args.programs.split(",") if p] or list(table)
    unknown = [p for p in chosen if p not in table]
    if unknown:
        parser.error(f"unknown program(s) {', '.join(unknown)}; choose from: {', '.join(table)}")
    res = {"benchmark": "hang_stress", "machine": machine_info(), "devices": len(jax.devices()),
           "calls": args.calls, "limit_s": args.limit,
           "upstream_orthogonal": args.upstream, "programs": []}
    log(f"hang stress: {args.calls} calls of {len(chosen)} programs, {args.limit:.0f}s per call")
    t0 = time.perf_counter()
    for name in chosen:
        res["programs"].append(stress(name, table[name], args.calls, args.limit))
    res["total_s"] = time.perf_counter() - t0
    out = write_results(res, "hang_stress", quick=args.calls < 300, out=args.out)
    log(f"no stall in {res['total_s']:.0f}s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
