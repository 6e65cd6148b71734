"""Throughput benchmark: environment steps per second of raw stepping, our PPO, and a reference.

    python -m experiments.benchmarks.throughput [--out FILE] [--quick]

For each environment (CartPole-v1 and one MinAtar game) and number of vmapped seeds (1, 8), on
the same machine in one run, it measures (all jitted, timed after compilation, with
block_until_ready; compile time reported separately):
  raw        gymnax stepping: the same E envs x T steps x N updates, random actions, lax.scan;
  ours       discover.lifetime.make_lifetime(...).train (PPO objective), vmapped over seeds;
  reference  experiments.benchmarks.ppo_reference (PureJaxRL-style single file), same
             hyper-parameters and architecture, on the very same wrapped environment;
and, for the analysis in the JSON "notes":
  rollout         our make_rollout alone, scanned N times (no GAE, no gradient steps);
  rollout_nosucc  the same without the per-step critic evaluation of the pre-reset successor
                  observation (one bootstrap value per rollout, as the reference does);
  ours_nosucc     ours with lifetime.bootstrap_truncation=false (truncation treated as
                  termination, exactly PureJaxRL's choice), to isolate the successor
                  critic's share of the gap to the reference.
Steps/s counts every environment step of every seed: seeds x E x T x N / seconds.
Our train ends with an evaluation; the benchmark sets eval_envs = eval_steps = 1 so that
it is negligible (the default 16 x 500 evaluation steps are < 2% of a full CartPole lifetime).
Runs unchanged on GPU (sizes are the same; pass --updates-* to scale up).
"""

from __future__ import annotations

import dataclasses

import argparse
import faulthandler
import json
import os
import signal
import statistics
import time
from pathlib import Path

import jax

from discover.agents import make_rollout
from discover.config import AgentConfig, LifetimeConfig, ObjectiveConfig, RunConfig
from discover.lifetime import make_lifetime
from discover.objectives import make_objective
from experiments.benchmarks.ppo_reference import make_train
from experiments.benchmarks.common import machine_info, make_raw

from experiments.benchmarks.common import RESULTS_DIR  # noqa: E402

# Hyper-parameters of SPEC section 3 (PureJaxRL's); `updates` is reduced for benchmarking.
CASES = {
    "CartPole-v1": dict(
        num_envs=4, rollout_len=128, epochs=4, minibatches=4, lr=2.5e-4, torso="mlp", hidden=(64, 64), activation="tanh"
    ),
    "MinAtar": dict(
        num_envs=64, rollout_len=128, epochs=4, minibatches=8, lr=5e-3, torso="mlp", hidden=(64, 64), activation="relu"
    ),
}


# ---------------------------------------------------------------------------------------------
# Environments


def make_env(name):
    """(env, env_params): environments.make if it works, else gymnax + the same wrappers."""
    try:
        import environments

        return environments.make(name), "environments.make"
    except Exception:  # pragma: no cover - fallback while environments is being written
        import gymnax
        from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper

        env, params = gymnax.make(name)
        return (LogWrapper(FlattenObservationWrapper(env)), params), "gymnax+FlattenObservationWrapper+LogWrapper"


# ---------------------------------------------------------------------------------------------
# Timing


def _block(x):
    return jax.block_until_ready(x)


def time_programs(programs, reps, log=None):
    """programs: {name: (fn, args)}. Compile each ahead of time and run it once (warm-up), then
    time `reps` rounds in which every program runs once (interleaved, so that load from other
    processes on a shared machine hits all of them alike).

    Returns {name: dict(compile_s, times_s, min_s, median_s)}; min_s is the headline number
    (the least disturbed run), median_s is kept for reference.
    """
    compiled, out = {}, {}
    for name, (fn, args) in programs.items():
        t0 = time.perf_counter()
        compiled[name] = jax.jit(fn).lower(*args).compile()
        compile_s = time.perf_counter() - t0
        _block(compiled[name](*args))
        out[name] = {"compile_s": compile_s, "times_s": []}
        if log:
            log(f"    compiled {name:<15} {compile_s:6.2f}s")
    for _ in range(reps):
        for name, (fn, args) in programs.items():
            t0 = time.perf_counter()
            _block(compiled[name](*args))
            out[name]["times_s"].append(time.perf_counter() - t0)
    for r in out.values():
        r["min_s"] = min(r["times_s"])
        r["median_s"] = statistics.median(r["times_s"])
    return out


# ---------------------------------------------------------------------------------------------
# The programs


def run_config(case, updates):
    return RunConfig(
        agent=AgentConfig(torso=case["torso"], hidden=tuple(case["hidden"]), activation=case["activation"], lr=case["lr"]),
        objective=ObjectiveConfig(name="ppo", epochs=case["epochs"], minibatches=case["minibatches"]),
        lifetime=LifetimeConfig(
            num_envs=case["num_envs"], rollout_len=case["rollout_len"], lifetime=updates, eval_envs=1, eval_steps=1
        ),
    )


def reference_config(name, case, updates, cfg):
    o = cfg.objective
    return {
        "ENV_NAME": name,
        "LR": case["lr"],
        "NUM_ENVS": case["num_envs"],
        "NUM_STEPS": case["rollout_len"],
        "NUM_UPDATES": updates,
        "UPDATE_EPOCHS": case["epochs"],
        "NUM_MINIBATCHES": case["minibatches"],
        "GAMMA": o.gamma,
        "GAE_LAMBDA": o.gae_lambda,
        "CLIP_EPS": o.clip_eps,
        "ENT_COEF": o.ent_coef,
        "VF_COEF": o.vf_coef,
        "MAX_GRAD_NORM": cfg.agent.max_grad_norm,
        "ACTIVATION": case["activation"],
        "ANNEAL_LR": cfg.agent.anneal_lr,
        "HIDDEN": tuple(case["hidden"]),
        "TORSO": case["torso"],
    }


def make_ours(cfg, env, env_params, updates):
    lt = make_lifetime(cfg, make_objective(cfg.objective), env, env_params, updates)
    obj_params = make_objective(cfg.objective).init(jax.random.key(0))

    def ours(key):
        state, metrics = lt.train(obj_params, env_params, updates, key)
        return metrics.return_sum.sum() + metrics.final_return + metrics.loss.sum()

    return ours


def make_rollout_only(cfg, env, env_params, updates, successor=True):
    """N rollouts of our make_rollout with fixed (initial) agent parameters, one seed."""
    lt = make_lifetime(cfg, make_objective(cfg.objective), env, env_params, updates)
    nets = lt.nets
    rollout = make_rollout(env, nets, cfg.lifetime.rollout_len, bootstrap_truncation=successor)

    def rollouts(key):
        k_init, k_run = jax.random.split(key)
        state = lt.init(k_init, env_params)

        def body(carry, k):
            env_state, obs = carry
            env_state, obs, traj = rollout(state.params, env_params, env_state, obs, k)
            return (env_state, obs), traj.reward.sum() + traj.next_aux.sum() + traj.log_prob.sum()

        _, out = jax.lax.scan(body, (state.env_state, state.obs), jax.random.split(k_run, updates))
        return out.sum()

    return rollouts


def make_reference(name, case, updates, cfg, env, env_params):
    train = make_train(reference_config(name, case, updates, cfg), env, env_params)

    def ref(key):
        out = train(key)
        m = out["metrics"]
        return (m["returned_episode_returns"] * m["returned_episode"]).sum()

    return ref


def seeded(fn, seeds):
    """fn(key) -> scalar, vmapped over `seeds` keys (also for seeds == 1, as in an ES population)."""
    keys = jax.random.split(jax.random.key(0), seeds)
    return jax.vmap(fn), (keys,)


# ---------------------------------------------------------------------------------------------


def bench_case(name, case, seeds, updates, reps, analysis, log):
    (env, env_params), env_source = make_env(name)
    cfg = run_config(case, updates)
    E, T = case["num_envs"], case["rollout_len"]
    steps = seeds * E * T * updates
    progs = {
        "raw": make_raw(env, env_params, E, T * updates),
        "ours": make_ours(cfg, env, env_params, updates),
        "reference": make_reference(name, case, updates, cfg, env, env_params),
    }
    if analysis:
        progs["rollout"] = make_rollout_only(cfg, env, env_params, updates, successor=True)
        progs["rollout_nosucc"] = make_rollout_only(cfg, env, env_params, updates, successor=False)
        # PureJaxRL's bootstrapping (truncation treated as termination): no successor critic.
        nosucc = dataclasses.replace(cfg, lifetime=dataclasses.replace(cfg.lifetime, bootstrap_truncation=False))
        progs["ours_nosucc"] = make_ours(nosucc, env, env_params, updates)
    res = {
        "env": name,
        "env_source": env_source,
        "seeds": seeds,
        "num_envs": E,
        "rollout_len": T,
        "updates": updates,
        "epochs": case["epochs"],
        "minibatches": case["minibatches"],
        "lr": case["lr"],
        "network": f"{case['torso']} {list(case['hidden'])} {case['activation']}",
        "env_steps_per_run": steps,
        "programs": {},
    }
    log(f"  {name} x{seeds} seeds, {updates} updates:")
    timed = time_programs({k: seeded(fn, seeds) for k, fn in progs.items()}, reps, log)
    for key, r in timed.items():
        r["steps_per_s"] = steps / r["min_s"]
        log(f"    {key:<15} compile {r['compile_s']:6.2f}s  run min {r['min_s']:8.4f}s median {r['median_s']:8.4f}s  "
            f"{r['steps_per_s']:12,.0f} steps/s")
    res["programs"] = timed
    p = res["programs"]
    sps = {k: v["steps_per_s"] for k, v in p.items()}
    res["steps_per_s"] = {k: sps[k] for k in ("raw", "ours", "reference")}
    res["compile_s"] = {k: v["compile_s"] for k, v in p.items()}
    res["ratio_ours_raw"] = sps["ours"] / sps["raw"]
    res["ratio_ours_reference"] = sps["ours"] / sps["reference"]
    res["ratio_reference_raw"] = sps["reference"] / sps["raw"]
    if analysis:
        t = {k: v["min_s"] for k, v in p.items()}
        res["analysis"] = {
            # share of our train time spent collecting experience (the rest: GAE + gradient epochs)
            "rollout_fraction_of_ours": t["rollout"] / t["ours"],
            "gradient_fraction_of_ours": 1.0 - t["rollout"] / t["ours"],
            "env_fraction_of_rollout": t["raw"] / t["rollout"],
            # per-step critic evaluation of the pre-reset successor observation
            "successor_critic_cost_of_rollout": 1.0 - t["rollout_nosucc"] / t["rollout"],
            "successor_critic_cost_of_ours": 1.0 - t["ours_nosucc"] / t["ours"],
            "ratio_ours_nosucc_reference": sps["ours_nosucc"] / sps["reference"],
        }
    return res


def print_table(results, log):
    head = (f"{'env':<22} {'seeds':>5} {'raw steps/s':>13} {'ours steps/s':>13} {'ref steps/s':>13} "
            f"{'ours/raw':>9} {'ours/ref':>9} {'compile ours/ref s':>19}")
    log(head)
    log("-" * len(head))
    for r in results:
        s = r["steps_per_s"]
        log(f"{r['env']:<22} {r['seeds']:>5} {s['raw']:>13,.0f} {s['ours']:>13,.0f} {s['reference']:>13,.0f} "
            f"{r['ratio_ours_raw']:>9.3f} {r['ratio_ours_reference']:>9.3f} "
            f"{r['compile_s']['ours']:>9.1f}/{r['compile_s']['reference']:<9.1f}")
    if any("analysis" in r for r in results):
        log("")
        head = (f"{'env':<22} {'seeds':>5} {'rollout/ours':>13} {'env/rollout':>12} {'succ. critic':>13} "
                f"{'succ. critic':>13} {'ours_nosucc/ref':>16}")
        log(head)
        log(f"{'':<22} {'':>5} {'(time)':>13} {'(time)':>12} {'% of rollout':>13} {'% of ours':>13} {'':>16}")
        log("-" * len(head))
        for r in results:
            a = r.get("analysis")
            if a:
                log(f"{r['env']:<22} {r['seeds']:>5} {a['rollout_fraction_of_ours']:>13.3f} "
                    f"{a['env_fraction_of_rollout']:>12.3f} {100 * a['successor_critic_cost_of_rollout']:>12.1f}% "
                    f"{100 * a['successor_critic_cost_of_ours']:>12.1f}% {a['ratio_ours_nosucc_reference']:>16.3f}")


def make_notes(results):
    notes = [
        "steps/s = seeds x num_envs x rollout_len x updates / fastest of `reps` timed runs of the jitted, "
        "vmapped program (after one warm-up run; programs are run interleaved, and the minimum is used "
        "because the machine may be shared); compile time is measured separately (lower().compile()).",
        "raw: random actions, no network; ours: discover.lifetime train (PPO objective, eval reduced to "
        "1 env x 1 step); reference: experiments/benchmarks/ppo_reference.py (PureJaxRL-style), same "
        "environment object, hyper-parameters and architecture.",
    ]
    for r in results:
        a = r.get("analysis")
        if not a:
            continue
        notes.append(
            f"{r['env']} x{r['seeds']} seeds: ours runs at {r['ratio_ours_raw']:.1%} of raw stepping and "
            f"{r['ratio_ours_reference']:.1%} of the reference. The rollout alone takes "
            f"{a['rollout_fraction_of_ours']:.0%} of our train time (env stepping is "
            f"{a['env_fraction_of_rollout']:.0%} of the rollout), so GAE + {r['epochs']} epochs x "
            f"{r['minibatches']} minibatches of gradient steps take {a['gradient_fraction_of_ours']:.0%}. "
            f"The per-step critic evaluation of the pre-reset successor observation costs "
            f"{a['successor_critic_cost_of_rollout']:.0%} of the rollout and "
            f"{a['successor_critic_cost_of_ours']:.0%} of the whole train; without it ours runs at "
            f"{a['ratio_ours_nosucc_reference']:.1%} of the reference."
        )
    return notes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=str, default=None, help="JSON output (default results/throughput_<platform>.json)")
    ap.add_argument("--quick", action="store_true", help="CI-sized: fewer updates and repetitions")
    ap.add_argument("--minatar", default="SpaceInvaders-MinAtar", help="the MinAtar game (e.g. Breakout-MinAtar)")
    ap.add_argument("--seeds", default="1,8", help="comma-separated numbers of vmapped seeds")
    ap.add_argument("--updates-cartpole", type=int, default=None)
    ap.add_argument("--updates-minatar", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None, help="timed runs per program (median reported)")
    ap.add_argument("--no-analysis", action="store_true", help="skip the rollout / successor-critic pieces")
    args = ap.parse_args(argv)

    up_cp = args.updates_cartpole or (8 if args.quick else 64)
    up_ma = args.updates_minatar or (2 if args.quick else 8)
    reps = args.reps or (3 if args.quick else 5)
    seeds_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    faulthandler.enable()
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid> dumps stacks
    info = machine_info()
    out = Path(args.out) if args.out else RESULTS_DIR / f"throughput_{info['platform']}.json"

    def log(msg):
        print(msg, flush=True)

    log(f"platform {info['platform']}  devices {info['devices']}  cpus {info['cpu_count']}  ({info['cpu_model']})")
    t_start = time.perf_counter()
    results = []
    for name, base, updates in (("CartPole-v1", CASES["CartPole-v1"], up_cp), (args.minatar, CASES["MinAtar"], up_ma)):
        for seeds in seeds_list:
            results.append(bench_case(name, base, seeds, updates, reps, not args.no_analysis, log))
    total = time.perf_counter() - t_start
    info["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    log("")
    print_table(results, log)
    doc = {
        "machine": info,
        "settings": {"quick": args.quick, "reps": reps, "updates": {"CartPole-v1": up_cp, args.minatar: up_ma}},
        "total_benchmark_s": total,
        "cases": results,
        "notes": make_notes(results),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    log(f"\nwrote {out}  ({total:.0f}s)")
    return doc


if __name__ == "__main__":
    main()
