"""LPG throughput benchmark: LPG vs A2C agent updates, raw gridworld stepping, one ES-LPG generation.

    python -m experiments.benchmarks.lpg_throughput [--quick] [--out FILE]

On one machine in one run (everything jitted, compiled ahead of time with the compile time
reported separately, warmed up once, then timed `reps` rounds with block_until_ready; the
programs are interleaved round by round so that outside load hits them alike):

(a) updates  The same gridworld level ("dense"), agent (MLP 32, ReLU, Adam 1e-3) and batch
             (64 envs x 20 steps per update) as the LPG reference preset (lpg-es-gridworld):
               raw         env stepping alone: vmapped env.step over the 64 envs, uniformly
                           random actions, lax.scan over K x 20 steps (auto-reset included);
               rollout_*   Lifetime.rollout alone (env + agent forward passes), scanned K times;
               update_*    Lifetime.update (rollout + objective loss + gradient + Adam), K times
                           in one lax.scan, for objective lpg (reference LPG network, 256 GRU
                           units), lpg with the CPU preset's 16-unit network, and a2c.
             Steps/s = K x 64 x 20 / seconds. The breakdown (raw env / agent forward / learning
             step) is read off as raw, rollout - raw, update - rollout.
(b) es       One generation of ES-LPG: preset lpg-es-gridworld-cpu with es.population=32
             (8 envs x 20 steps, lifetimes from all_shortlife x 0.2 = 50 updates, LPG 16 units),
             compile time and per-generation time; env steps per generation counted as training
             steps (the generation's env_steps metric) and training + evaluation steps.

Writes experiments/benchmarks/results/lpg_throughput_<platform>.json (…_quick.json with --quick).
Runs unchanged on GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from experiments.benchmarks.common import machine_info, make_raw, write_results

LEVEL = "dense"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def time_programs(programs, reps):
    """programs: {name: (fn, args)} -> {name: {compile_s, first_call_s, times_s, mean_s, std_s, min_s}}."""
    compiled, out = {}, {}
    for name, (fn, args) in programs.items():
        t0 = time.perf_counter()
        compiled[name] = jax.jit(fn).lower(*args).compile()
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(compiled[name](*args))
        out[name] = {"compile_s": compile_s, "first_call_s": time.perf_counter() - t0, "times_s": []}
        log(f"    compiled {name:<18} {compile_s:6.2f}s")
    for _ in range(reps):
        for name, (fn, args) in programs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(compiled[name](*args))
            out[name]["times_s"].append(time.perf_counter() - t0)
    for r in out.values():
        t = r["times_s"]
        r.update(mean_s=statistics.fmean(t), std_s=statistics.stdev(t) if len(t) > 1 else 0.0, min_s=min(t), median_s=statistics.median(t))
    return out


# ---------------------------------------------------------------------------------------------
# (a) agent updates


def reference_config(objective: str, lpg_hidden: int = 256):
    """The lpg-es-gridworld preset (MLP 32, 64 envs x 20 steps) with the given objective."""
    from discover.presets import get_preset

    from discover.presets.lpg import MLP_AGENT

    cfg = get_preset("lpg-es-gridworld")  # its agent is now the paper's tabular one: pin the MLP measured here
    return dataclasses.replace(cfg, agent=MLP_AGENT,
                               objective=dataclasses.replace(cfg.objective, name=objective, lpg_hidden=lpg_hidden))


def bench_updates(K, reps):
    from discover.config import EnvConfig
    from discover.curricula import make_task
    from discover.lifetime import make_lifetime
    from discover.objectives import make_objective

    base = reference_config("lpg")
    task = make_task(EnvConfig("gridworld", LEVEL), base.lifetime)
    env, level = task.env, task.template
    E, T = base.lifetime.num_envs, base.lifetime.rollout_len
    lifetime_n = jnp.int32(base.lifetime.lifetime)
    key = jax.random.key(0)
    programs, meta = {}, {}

    # raw env stepping at the same batch
    raw = make_raw(env, level, E, K * T)

    programs["raw_env"] = (raw, (key,))

    variants = {"lpg": ("lpg", 256), "lpg_h16": ("lpg", 16), "a2c": ("a2c", 256)}
    for name, (obj_name, hidden) in variants.items():
        cfg = reference_config(obj_name, hidden)
        objective = make_objective(cfg.objective)
        lt = make_lifetime(cfg, objective, env, level, base.lifetime.lifetime)
        obj_params = objective.init(jax.random.key(1))
        state = lt.init(jax.random.key(2), level)
        n_obj = int(sum(np.size(x) for x in jax.tree.leaves(obj_params)))
        n_agent = int(sum(np.size(x) for x in jax.tree.leaves(state.params)))
        meta[name] = {"objective": obj_name, "lpg_hidden": hidden if obj_name == "lpg" else None,
                      "objective_params": n_obj, "agent_params": n_agent}

        def updates(state, obj_params, key, lt=lt):
            def body(s, n):
                s, _ = lt.update(s, n, obj_params, level, lifetime_n, jax.random.fold_in(key, n))
                return s, None

            return jax.lax.scan(body, state, jnp.arange(K))[0]

        programs[f"update_{name}"] = (updates, (state, obj_params, key))
        if name != "lpg_h16":  # the rollout does not depend on the LPG network

            def rollouts(state, key, lt=lt):
                def body(carry, k):
                    env_state, obs = carry
                    env_state, obs, traj = lt.rollout(state.params, level, env_state, obs, k)
                    # consume every field, so that XLA cannot drop any of the rollout's work
                    return (env_state, obs), sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(traj))

                return jax.lax.scan(body, (state.env_state, state.obs), jax.random.split(key, K))[1].sum()

            programs[f"rollout_{name}"] = (rollouts, (state, key))

    res = time_programs(programs, reps)
    steps = K * E * T
    for r in res.values():
        r["env_steps"] = steps
        r["env_steps_per_s"] = steps / r["mean_s"]
        r["env_steps_per_s_best"] = steps / r["min_s"]
        r["ms_per_update"] = 1e3 * r["mean_s"] / K
    out = {"K_updates": K, "num_envs": E, "rollout_len": T, "level": LEVEL, "programs": res, "objectives": meta}
    u = lambda n: res[n]["mean_s"]
    out["ratio_lpg_over_a2c_steps_per_s"] = u("update_a2c") / u("update_lpg")
    out["ratio_lpg_h16_over_a2c_steps_per_s"] = u("update_a2c") / u("update_lpg_h16")
    breakdown = {}
    for name, roll in (("lpg", "rollout_lpg"), ("lpg_h16", "rollout_lpg"), ("a2c", "rollout_a2c")):
        total = u(f"update_{name}")
        parts = {"env": u("raw_env"), "agent_forward_in_rollout": u(roll) - u("raw_env"), "learning_step": total - u(roll)}
        breakdown[name] = {
            "ms_per_update": {k: 1e3 * v / K for k, v in parts.items()},
            "fraction": {k: v / total for k, v in parts.items()},
        }
        breakdown[name]["limited_by"] = max(parts, key=parts.get)
    out["breakdown"] = breakdown
    out["breakdown_note"] = (
        "env = raw_env; agent_forward_in_rollout = rollout - raw_env (actor + aux forward, sampling, "
        "trajectory bookkeeping); learning_step = update - rollout (objective loss incl. the LPG "
        "network, gradient, Adam). Differences of separately timed programs: approximate."
    )
    return out


# ---------------------------------------------------------------------------------------------
# (b) one ES-LPG generation


def bench_es(population, reps):
    from discover.meta.run import _keys, build, make_multi_generation
    from discover.presets import get_preset

    cfg = get_preset("lpg-es-gridworld-cpu")
    cfg = dataclasses.replace(cfg, es=dataclasses.replace(cfg.es, population=population))
    built = build(cfg)
    k_init, k_obj, k_run, _ = _keys(cfg)
    state = built.meta.init(k_init, built.objective.init(k_obj))
    t0 = time.perf_counter()
    compiled = make_multi_generation(built.meta, 1).lower(state, k_run).compile()
    compile_s = time.perf_counter() - t0
    log(f"    compiled es_generation     {compile_s:6.2f}s")
    t0 = time.perf_counter()
    state, metrics = jax.block_until_ready(compiled(state, k_run))
    first_s = time.perf_counter() - t0
    times, train_steps = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        state, metrics = jax.block_until_ready(compiled(state, k_run))
        times.append(time.perf_counter() - t0)
        train_steps.append(float(np.asarray(metrics["env_steps"]).sum()))
    lc = cfg.lifetime
    mean_s = statistics.fmean(times)
    train = statistics.fmean(train_steps)  # lifetimes are drawn per generation (all_shortlife: fixed 250 x 0.2)
    evals = float(population * lc.eval_envs * lc.eval_steps)
    return {
        "preset": "lpg-es-gridworld-cpu",
        "population": population,
        "lifetime": dataclasses.asdict(lc),
        "max_lifetime_updates": built.task.max_lifetime,
        "lpg_hidden": cfg.objective.lpg_hidden,
        "compile_s": compile_s,
        "first_call_s": first_s,
        "times_s": times,
        "mean_s": mean_s,
        "std_s": statistics.stdev(times) if len(times) > 1 else 0.0,
        "min_s": min(times),
        "train_env_steps_per_gen": train,
        "eval_env_steps_per_gen": evals,
        "train_env_steps_per_s": train / mean_s,
        "total_env_steps_per_s": (train + evals) / mean_s,
        "fitness_mean_last": float(np.asarray(metrics["fitness_mean"])[-1]),
    }


# ---------------------------------------------------------------------------------------------


def print_tables(res):
    info = res["machine"]
    a = res["updates"]
    print(f"\nLPG throughput: gridworld '{a['level']}', {a['num_envs']} envs x {a['rollout_len']} steps, "
          f"K={a['K_updates']} updates per call; {info['platform']} {info['devices']}, {info['cpu_count']} CPUs")
    print(f"{'program':<18} {'compile s':>10} {'ms/call':>9} {'± std':>7} {'ms/update':>10} {'steps/s':>12} {'best steps/s':>13}")
    for name, r in a["programs"].items():
        print(f"{name:<18} {r['compile_s']:>10.2f} {1e3 * r['mean_s']:>9.1f} {1e3 * r['std_s']:>7.1f} "
              f"{r['ms_per_update']:>10.2f} {r['env_steps_per_s']:>12,.0f} {r['env_steps_per_s_best']:>13,.0f}")
    print(f"LPG (256) / A2C steps/s: {a['ratio_lpg_over_a2c_steps_per_s']:.3f};  "
          f"LPG (16) / A2C: {a['ratio_lpg_h16_over_a2c_steps_per_s']:.3f}")
    print(f"\n{'breakdown ms/update':<20} {'env':>8} {'agent fwd':>10} {'learning':>9}   limited by")
    for name, b in a["breakdown"].items():
        m, f = b["ms_per_update"], b["fraction"]
        print(f"{name:<20} {m['env']:>8.2f} {m['agent_forward_in_rollout']:>10.2f} {m['learning_step']:>9.2f}   "
              f"{b['limited_by']} ({100 * f[b['limited_by']]:.0f}%)")
    e = res["es"]
    print(f"\nES-LPG generation ({e['preset']}, population {e['population']}, LPG {e['lpg_hidden']} units)")
    print(f"  compile {e['compile_s']:.1f}s, first call {e['first_call_s']:.2f}s, generation {e['mean_s']:.2f}s ± {e['std_s']:.2f} "
          f"(min {e['min_s']:.2f}s)")
    print(f"  env steps/gen: {e['train_env_steps_per_gen']:,.0f} training + {e['eval_env_steps_per_gen']:,.0f} evaluation; "
          f"{e['train_env_steps_per_s']:,.0f} training steps/s ({e['total_env_steps_per_s']:,.0f} incl. evaluation)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer updates and repetitions (about a minute on a 2-core CPU)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--updates", type=int, default=None, help="K agent updates per timed call (default 50, quick 10)")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--population", type=int, default=32)
    args = ap.parse_args(argv)
    faulthandler.dump_traceback_later(1500, exit=True)  # a hung XLA call should not hang forever
    K = args.updates or (10 if args.quick else 50)
    reps = args.reps or (3 if args.quick else 7)
    t_all = time.perf_counter()
    res = {"benchmark": "lpg_throughput", "quick": args.quick, "machine": machine_info()}
    log(f"(a) agent updates: K={K}, {reps} timed calls each")
    res["updates"] = bench_updates(K, reps)
    log(f"(b) one ES-LPG generation at population {args.population}")
    res["es"] = bench_es(args.population, 1 if args.quick else 3)
    res["total_benchmark_s"] = time.perf_counter() - t_all
    out = write_results(res, "lpg_throughput", args.quick, args.out)
    print_tables(res)
    print(f"\ntotal {res['total_benchmark_s']:.0f}s; wrote {out}")


if __name__ == "__main__":
    main()
