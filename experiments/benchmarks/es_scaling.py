"""ES scaling benchmark: generation time vs population, host-loop overhead, sharded vs unsharded.

    python -m experiments.benchmarks.es_scaling [--quick] [--out FILE]

On one machine in one run, for a fixed small TA-LPO config (the `quickstart` preset: CartPole,
4 envs x 32 steps x 24 updates, then 8 x 200 evaluation steps per member):

  scaling     for each population P (8, 16, 32, 64): the one-generation program of
              discover.meta.run.make_multi_generation(meta, 1), compiled ahead of time (compile
              time reported separately), run once to warm up, then timed `reps` times with
              block_until_ready, the state carried from call to call as in training. The
              populations are interleaved round by round so that load from other processes hits
              them alike. Env steps per second count training steps (the generation's
              `env_steps` metric: P x E x T x N) and, separately, training + evaluation steps.
  host_loop   the real host loop, discover.meta.run.train(cfg, tmpdir, progress=False), for G
              generations with gens_per_call 1 and 4 and held-back evaluations off. The loop
              dispatches the next call before reading the previous call's metrics and writes
              checkpoints in a background thread; its logged wall time per generation (between
              two metric reads, first call excluded) is compared with the compiled generation
              alone from the scaling part: host_fraction = 1 - compiled / logged.
  sharding    in a subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=4, one
              generation from the same state with the default mesh (shard_map over 4 devices)
              and with make_es(..., mesh=None): ES means, per-member fitness and the
              generation's metrics compared (max abs difference, bit-identical or not), time of
              each. If they differ, a third program (unsharded, es.chunk_size = P / 4, so each
              vmap has the same width as a shard) tells whether the vmap width is the cause.

Writes experiments/benchmarks/results/es_scaling_<platform>.json (…_quick.json with --quick).
Runs unchanged on GPU (on one GPU the sharding part still uses 4 virtual host CPU devices;
it reports what it ran on).
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
from experiments.benchmarks.common import machine_info, write_results

SHARD_FLAGS = "--xla_force_host_platform_device_count=4"


def base_config(population: int, generations: int = 40, gens_per_call: int = 1):
    from discover.presets import get_preset

    cfg = get_preset("quickstart")
    return dataclasses.replace(
        cfg,
        generations=generations,
        gens_per_call=gens_per_call,
        es=dataclasses.replace(cfg.es, population=population),
    )


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def _stats(times):
    return {
        "times_s": times,
        "mean_s": statistics.fmean(times),
        "std_s": statistics.stdev(times) if len(times) > 1 else 0.0,
        "min_s": min(times),
        "median_s": statistics.median(times),
    }


# ---------------------------------------------------------------------------------------------
# 1. generation time vs population


def bench_scaling(populations, reps, cache):
    from discover.meta.run import _keys, build, make_multi_generation

    progs = {}
    for p in populations:
        cfg = base_config(p)
        built = build(cfg)
        k_init, k_obj, k_run, _ = _keys(cfg)
        state = built.meta.init(k_init, built.objective.init(k_obj))
        t0 = time.perf_counter()
        compiled = make_multi_generation(built.meta, 1).lower(state, k_run).compile()
        compile_s = time.perf_counter() - t0
        cache[(p, 1)] = compiled
        t0 = time.perf_counter()
        state, metrics = jax.block_until_ready(compiled(state, k_run))
        first_s = time.perf_counter() - t0
        lc = cfg.lifetime
        train_steps = float(np.asarray(metrics["env_steps"]).sum())
        eval_steps = float(p * lc.eval_envs * lc.eval_steps)
        progs[p] = dict(compiled=compiled, state=state, key=k_run, times=[])
        progs[p]["row"] = {
            "population": p,
            "compile_s": compile_s,
            "first_call_s": first_s,
            "train_env_steps_per_gen": train_steps,
            "eval_env_steps_per_gen": eval_steps,
        }
        log(f"  P={p:<3} compiled in {compile_s:6.2f}s, first call {first_s:.3f}s")
    for _ in range(reps):  # interleaved rounds
        for p, pr in progs.items():
            t0 = time.perf_counter()
            pr["state"], _ = jax.block_until_ready(pr["compiled"](pr["state"], pr["key"]))
            pr["times"].append(time.perf_counter() - t0)
    rows = []
    for p, pr in progs.items():
        row = pr["row"]
        row.update(_stats(pr["times"]))
        row["train_env_steps_per_s"] = row["train_env_steps_per_gen"] / row["mean_s"]
        row["total_env_steps_per_s"] = (row["train_env_steps_per_gen"] + row["eval_env_steps_per_gen"]) / row["mean_s"]
        row["per_member_ms"] = 1e3 * row["mean_s"] / p
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# 2. host overhead of the real training loop


def bench_host_loop(population, generations, gens_per_call, gen_s):
    """The real loop, discover.meta.run.train, for `generations` generations (held-back
    evaluations off, checkpoints every preset checkpoint_every); its logged per-generation wall
    time (time between two metric reads of the asynchronous loop, host work included) against
    the compiled generation alone (gen_s, from the scaling part at the same population)."""
    import json

    import discover.meta.run as run_mod

    cfg = dataclasses.replace(base_config(population, generations=generations, gens_per_call=gens_per_call),
                              heldout_every=0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_mod.train(cfg, Path(tmp) / "run", progress=False)
        total_s = time.perf_counter() - t0
        lines = (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()
        walls = [json.loads(line)["wall_time"] for line in lines if line]
    steady = walls[gens_per_call:]  # the first call includes compilation
    per_gen = statistics.fmean(steady)
    return {
        "population": population,
        "generations": generations,
        "gens_per_call": gens_per_call,
        "checkpoint_every": cfg.checkpoint_every,
        "logged_wall_per_gen_s": per_gen,
        "compiled_gen_s": gen_s,
        "host_fraction": max(0.0, 1.0 - gen_s / per_gen),
        "host_overhead_per_gen_ms": 1e3 * (per_gen - gen_s),
        "train_total_s_incl_build_compile_summary": total_s,
    }


# ---------------------------------------------------------------------------------------------
# 3. sharded vs unsharded (subprocess with 4 host devices)


def shard_worker(population, reps, quick=False):
    """Runs inside the subprocess; prints one JSON object on stdout."""
    import discover.meta.es as es_mod
    from discover.meta.run import _keys, build

    orig_stats = es_mod.fitness_stats
    # Expose the per-member raw fitness in the generation's metrics (traced into both programs).
    es_mod.fitness_stats = lambda f: {**orig_stats(f), "fitness": f}

    cfg = base_config(population)
    built = build(cfg)  # default mesh="auto"
    k_init, k_obj, k_run, _ = _keys(cfg)
    state = built.meta.init(k_init, built.objective.init(k_obj))
    mesh = es_mod.population_mesh(population)
    variants = {"sharded": built.meta}
    variants["unsharded"] = es_mod.make_es(cfg, built.objective, built.lifetime, built.task, built.baseline, mesh=None)
    chunk = population // len(jax.devices())
    cfg_chunk = dataclasses.replace(cfg, es=dataclasses.replace(cfg.es, chunk_size=chunk))
    chunked = es_mod.make_es(cfg_chunk, built.objective, built.lifetime, built.task, built.baseline, mesh=None)

    compiled_text = {}

    def run(meta, name):
        fn = jax.jit(meta.generation)
        t0 = time.perf_counter()
        compiled = fn.lower(state, k_run).compile()
        compile_s = time.perf_counter() - t0
        compiled_text[name] = compiled.as_text()
        out = jax.block_until_ready(compiled(state, k_run))  # from the same state every time
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(state, k_run))
            times.append(time.perf_counter() - t0)
        new_state, metrics = out
        res = {"compile_s": compile_s, **_stats(times)}
        mean_leaves = jax.tree.leaves(meta.mean(new_state))
        arrays = {"es_mean": np.concatenate([np.ravel(np.asarray(x)) for x in mean_leaves])}
        arrays["es_state"] = np.concatenate(
            [np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(new_state.es_state) if jnp.issubdtype(x.dtype, jnp.number)]
        )
        arrays.update({jax.tree_util.keystr(path).strip("[]'\""): np.asarray(v) for path, v in jax.tree_util.tree_flatten_with_path(metrics)[0]})
        return res, arrays

    results, arrays = {}, {}
    for name, meta in variants.items():
        results[name], arrays[name] = run(meta, name)
        print(f"  {name}: compile {results[name]['compile_s']:.2f}s, gen {results[name]['mean_s']:.3f}s", file=sys.stderr, flush=True)

    def compare(a, b):
        out = {}
        for k in a:
            x, y = a[k].astype(np.float64), b[k].astype(np.float64)
            out[k] = {
                "max_abs_diff": float(np.max(np.abs(x - y))) if x.size else 0.0,
                "bit_identical": bool(np.array_equal(a[k], b[k])),
            }
        return out

    cmp = compare(arrays["sharded"], arrays["unsharded"])
    report = {
        "population": population,
        "devices": [str(d) for d in jax.devices()],
        "mesh": None if mesh is None else {"axis": mesh.axis_names, "shape": dict(mesh.shape)},
        "per_device_members": population // len(jax.devices()),
        "XLA_FLAGS_effective": os.environ.get("XLA_FLAGS", ""),
        "sharded": results["sharded"],
        "unsharded": results["unsharded"],
        "sharded_vs_unsharded": cmp,
        "all_bit_identical": all(v["bit_identical"] for v in cmp.values()),
        "fitness_sharded": arrays["sharded"]["fitness"].tolist(),
        "fitness_unsharded": arrays["unsharded"]["fitness"].tolist(),
    }
    # Collectives that GSPMD put into the sharded program outside the shard_map'd evaluation.
    hlo = compiled_text["sharded"]
    report["sharded_collectives"] = [
        re.sub(r"\s+", " ", line.strip())[:200]
        for line in hlo.splitlines()
        if re.search(r"= \S+ (all-reduce|all-gather|reduce-scatter|all-to-all)\(", line)
    ]
    report["sharded_tell_all_reduces"] = sum(
        1 for line in hlo.splitlines() if re.search(r"= .* all-reduce\(", line) and "tell" in line
    )
    if not report["all_bit_identical"] and not quick:
        # Diagnosis 1: same program without shard_map but vmaps of the shard's width.
        results["chunked"], arrays["chunked"] = run(chunked, "chunked")
        report["chunked_unsharded"] = {"chunk_size": chunk, **results["chunked"]}
        report["chunked_vs_sharded_identical"] = compare(arrays["chunked"], arrays["sharded"])
        report["chunked_vs_unsharded_identical"] = compare(arrays["chunked"], arrays["unsharded"])
        # Diagnosis 2: sharded, but population and fitness constrained to be replicated before
        # strategy.tell, so GSPMD cannot split the ES update's reduction over the population.
        rep = NamedSharding(mesh, PartitionSpec())

        class ReplicatedTell:
            def __init__(self, inner):
                self.inner = inner

            def __getattr__(self, name):
                return getattr(self.inner, name)

            def tell(self, key, pop, fitness, st, params):
                pop, fitness = jax.lax.with_sharding_constraint((pop, fitness), rep)
                return self.inner.tell(key, pop, fitness, st, params)

        orig = es_mod.make_strategy
        es_mod.make_strategy = lambda c, t: (lambda sp: (ReplicatedTell(sp[0]), sp[1]))(orig(c, t))
        try:
            rt = es_mod.make_es(cfg, built.objective, built.lifetime, built.task, built.baseline)
        finally:
            es_mod.make_strategy = orig
        results["rt"], arrays["rt"] = run(rt, "rt")
        report["sharded_replicated_tell"] = results["rt"]
        report["sharded_replicated_tell_all_reduces_in_tell"] = sum(
            1 for line in compiled_text["rt"].splitlines() if re.search(r"= .* all-reduce\(", line) and "tell" in line
        )
        report["sharded_replicated_tell_vs_unsharded_identical"] = compare(arrays["rt"], arrays["unsharded"])
    print(json.dumps(report))


def bench_sharding(population, reps, timeout, quick=False):
    env = dict(os.environ)
    env["XLA_FLAGS"] = SHARD_FLAGS
    env["JAX_PLATFORMS"] = "cpu"  # 4 virtual host devices, also on a GPU machine
    cmd = [sys.executable, "-m", "experiments.benchmarks.es_scaling", "--_shard-worker", str(population), "--reps", str(reps)] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parents[2])
    sys.stderr.write(proc.stderr[-4000:] if proc.returncode else "".join(l + "\n" for l in proc.stderr.splitlines() if l.startswith("  ")))
    if proc.returncode:
        return {"error": f"worker exited with {proc.returncode}", "stderr_tail": proc.stderr[-2000:]}
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["subprocess_s"] = time.perf_counter() - t0
    report["XLA_FLAGS_set_by_parent"] = SHARD_FLAGS
    return report


# ---------------------------------------------------------------------------------------------


def print_tables(res):
    info = res["machine"]
    print(f"\nES scaling: quickstart (TA-LPO, CartPole), {info['platform']} {info['devices']}, {info['cpu_count']} CPUs")
    print(f"{'P':>4} {'compile s':>10} {'gen ms':>9} {'± std':>7} {'min ms':>8} {'ms/member':>10} {'train steps/s':>14} {'+eval steps/s':>14}")
    for r in res["scaling"]:
        print(
            f"{r['population']:>4} {r['compile_s']:>10.2f} {1e3 * r['mean_s']:>9.1f} {1e3 * r['std_s']:>7.1f} "
            f"{1e3 * r['min_s']:>8.1f} {r['per_member_ms']:>10.2f} {r['train_env_steps_per_s']:>14,.0f} {r['total_env_steps_per_s']:>14,.0f}"
        )
    print("\nHost loop (discover.meta.run.train; logged wall time per generation vs the compiled generation)")
    print(f"{'P':>4} {'G':>4} {'gens/call':>9} {'logged ms/gen':>14} {'compiled ms/gen':>16} {'host frac':>10}")
    for r in res["host_loop"]:
        print(
            f"{r['population']:>4} {r['generations']:>4} {r['gens_per_call']:>9} {1e3 * r['logged_wall_per_gen_s']:>14.1f} "
            f"{1e3 * r['compiled_gen_s']:>16.1f} {100 * r['host_fraction']:>9.1f}%"
        )
    s = res["sharding"]
    print("\nSharded (4 host devices) vs unsharded, one generation from the same state")
    if "error" in s:
        print("  ERROR:", s["error"])
        return
    print(f"  P={s['population']}, {s['per_device_members']} members/device; "
          f"sharded {1e3 * s['sharded']['mean_s']:.1f} ms (compile {s['sharded']['compile_s']:.1f}s), "
          f"unsharded {1e3 * s['unsharded']['mean_s']:.1f} ms (compile {s['unsharded']['compile_s']:.1f}s)")
    for k, v in s["sharded_vs_unsharded"].items():
        print(f"  {k:<14} max|diff| {v['max_abs_diff']:.3g}  bit-identical {v['bit_identical']}")
    print(f"  all-reduces inside strategy.tell in the sharded program: {s.get('sharded_tell_all_reduces')}")
    if "chunked_vs_unsharded_identical" in s:
        ident = lambda d: all(v["bit_identical"] for v in d.values())
        print(f"  diagnosis: unsharded with chunk_size={s['chunked_unsharded']['chunk_size']} (vmap width of a shard) "
              f"bit-identical to unsharded {ident(s['chunked_vs_unsharded_identical'])}, to sharded {ident(s['chunked_vs_sharded_identical'])}")
        print(f"  diagnosis: sharded with pop/fitness replicated before tell: all-reduces in tell "
              f"{s['sharded_replicated_tell_all_reduces_in_tell']}, bit-identical to unsharded "
              f"{ident(s['sharded_replicated_tell_vs_unsharded_identical'])} ({1e3 * s['sharded_replicated_tell']['mean_s']:.1f} ms)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="populations 8,16, fewer reps (< 2 min on a 2-core CPU)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--populations", type=str, default=None, help="comma-separated, default 8,16,32,64")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--_shard-worker", dest="shard_worker", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.shard_worker is not None:
        shard_worker(args.shard_worker, args.reps or 3, args.quick)
        return
    faulthandler.dump_traceback_later(1500, exit=True)  # a hung XLA call should not hang forever
    quick = args.quick
    pops = [int(x) for x in args.populations.split(",")] if args.populations else ([8, 16] if quick else [8, 16, 32, 64])
    reps = args.reps or (3 if quick else 8)
    loop_pop, loop_gens = (8, 16) if quick else (16, 40)
    shard_pop = 8 if quick else 16
    t_all = time.perf_counter()
    res = {"benchmark": "es_scaling", "quick": quick, "machine": machine_info()}
    base = base_config(16)
    res["config"] = {
        "preset": "quickstart",
        "objective": base.objective.name,
        "env": base.env.name,
        "lifetime": dataclasses.asdict(base.lifetime),
        "agent_hidden": base.agent.hidden,
        "lpo_hidden": base.objective.lpo_hidden,
        "es": {k: v for k, v in dataclasses.asdict(base.es).items() if k != "population"},
    }
    cache = {}
    log(f"[1/3] generation time vs population {pops}, {reps} timed generations each")
    res["scaling"] = bench_scaling(pops, reps, cache)
    log(f"[2/3] host loop: train() for {loop_gens} generations at P={loop_pop}, gens_per_call 1 and 4")
    ideal = next(r for r in res["scaling"] if r["population"] == loop_pop)
    res["host_loop"] = [bench_host_loop(loop_pop, loop_gens, k, ideal["min_s"]) for k in (1, 4)]
    log(f"[3/3] sharded vs unsharded generation at P={shard_pop} in a subprocess with 4 host devices")
    res["sharding"] = bench_sharding(shard_pop, 2 if quick else 3, timeout=600, quick=quick)
    res["total_benchmark_s"] = time.perf_counter() - t_all
    out = write_results(res, "es_scaling", quick, args.out)
    print_tables(res)
    print(f"\ntotal {res['total_benchmark_s']:.0f}s; wrote {out}")


if __name__ == "__main__":
    main()
