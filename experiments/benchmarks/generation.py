"""Generation benchmark: TA-LPG meta-training generations with mixed and fixed lifetimes.

    python -m experiments.benchmarks.generation [--scale cpu|reference] [--baseline-src DIR]
                                                [--reps 3] [--baseline-reps K] [--out FILE]

One run, one machine, the TA-LPG gridworld preset (`ta-lpg-gridworld`) at a scale that fits it
(`--scale cpu`: the widths of `ta-lpg-gridworld-cpu`, LPG core 16 units, 8 workers x 20 steps,
evaluation 8 x 200, population 32, at the preset's lifetimes;
`--scale reference`: the preset itself, population 1024, 64 workers, 256 units, for a GPU). Every
program is compiled ahead of time (compile time reported), called once to warm up after all
cases are compiled, then timed `reps` times with the ES state carried from call to call. This
commit's cases run in one fresh process, interleaved round by round (mixed, mixed_unpacked,
fixed, mixed, ...), so that a slow spell of a shared machine hits them alike; the baseline
runs in a fresh process of its own.

  mixed          all_vrandlife (N log-uniform in [10, 250]), packed lifetimes (the default)
  mixed_unpacked all_vrandlife with lifetime.packing=false: every agent scanned to N = 250
  fixed          all_shortlife (N = 250 for every agent), same population and sizes
  mixed_pw<w>    `mixed` with lifetime.pack_width=w (only with --pack-widths)
  fixed_c<k>     `fixed` with es.chunk_size=k: chunks of k members one after the other (only
                 with --chunk-sizes)
  baseline       `mixed` run by the code of another commit (--baseline-src: a directory holding
                 that commit's `discover/` and `environments/`, e.g. made with
                 `git archive b0c6d1e discover environments | tar -x -C DIR`), the commit this
                 engine work started from

Useful env steps are the agents' training steps (sum of N x workers x rollout length, the
generation's `env_steps` metric); utilisation is the generation's own metric (useful / computed
agent updates). Headline: useful steps/s of `mixed` / `fixed` (target >= 0.85), over all rounds,
and the same ratio per round (mixed and fixed timed back to back) with its mean and IQM and their
bootstrap 95% confidence intervals over rounds.

Gridworld share of an LPG update: at the same scale, S agents (the packed slot count) vmapped,
K updates of the preset's agent with TA-LPG, against K x workers x rollout steps of the tabular
env alone (random actions, auto-reset) and of the general (non-tabular-only) env.

Writes experiments/benchmarks/results/generation_<platform>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The MLP-32 Adam agent these timings were measured with (the preset's own agent became the
# LPG paper's tabular one later); passed as flags, so older commits get the same agent.
MLP_AGENT = {"agent.torso": "mlp", "agent.hidden": "32", "agent.activation": "relu", "agent.optimizer": "adam",
             "agent.lr": "0.001", "agent.aux_lr": "0"}

SCALES = {
    # The ta-lpg-gridworld-cpu preset's widths at the reference lifetimes (N in [10, 250]: the
    # lifetime distribution is what this benchmark is about), population 32.
    "cpu": {
        "es.population": "32",
        "objective.lpg_hidden": "16",
        "lifetime.num_envs": "8",
        "lifetime.eval_envs": "8",
        "lifetime.eval_steps": "200",
        **MLP_AGENT,
    },
    "reference": dict(MLP_AGENT),
}

# Runs in a fresh process against whichever code is first on PYTHONPATH (this commit's or
# another's): builds the preset with each case's overrides, compiles every case, then times
# one-generation calls round by round, each round calling every case once in turn (so a slow
# spell of a shared machine hits all cases alike), and prints JSON.
DRIVER = r"""
import json, sys, time
args = json.loads(sys.argv[1])
import discover
import jax
try:
    from discover.presets import get_preset
except ImportError:  # older layout
    from experiments.presets import get_preset
from discover.config import apply_overrides
from discover.meta.run import _keys, build, make_multi_generation
progs = {}
for name, overrides in args["cases"].items():
    cfg = apply_overrides(get_preset(args["preset"]), list(overrides.items()))
    built = build(cfg)
    k_init, k_obj, k_run, _ = _keys(cfg)
    state = built.meta.init(k_init, built.objective.init(k_obj))
    t0 = time.perf_counter()
    gen = make_multi_generation(built.meta, 1).lower(state, k_run).compile()
    compile_s = time.perf_counter() - t0
    progs[name] = dict(gen=gen, state=state, key=k_run, out=dict(compile_s=compile_s, times_s=[], metrics=[]))
for p in progs.values():  # one untimed round once everything is compiled (first calls run slow)
    p["state"], _ = jax.block_until_ready(p["gen"](p["state"], p["key"]))
for _ in range(args["reps"]):
    for name, p in progs.items():
        t0 = time.perf_counter()
        p["state"], metrics = jax.block_until_ready(p["gen"](p["state"], p["key"]))
        p["out"]["times_s"].append(time.perf_counter() - t0)
        p["out"]["metrics"].append({k: float(v[0]) for k, v in jax.device_get(metrics).items()})
device, n_devices = jax.devices()[0].device_kind, len(jax.devices())
print("RESULT " + json.dumps({name: dict(p["out"], device=device, devices=n_devices) for name, p in progs.items()}))
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_driver(src: Path, cases: dict, reps: int, timeout: float = 3600, preset: str = "ta-lpg-gridworld",
               cpu_devices: int = 0) -> dict:
    """Time generations of `preset` for each case (name -> overrides) using the code under
    `src`, in one fresh process, the cases interleaved round by round. Returns name -> result.
    cpu_devices > 0: that process sees that many CPU devices (one per core is the point), and
    the population is sharded over them as on any multi-device machine."""
    path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    if cpu_devices:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={cpu_devices}".strip()
    arg = json.dumps(dict(preset=preset, cases=cases, reps=reps))
    proc = subprocess.run([sys.executable, "-c", DRIVER, arg], env=env, cwd=src, capture_output=True,
                          text=True, timeout=timeout)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise RuntimeError(f"driver failed ({proc.returncode}): {proc.stderr[-2000:]}")
    results = json.loads(line[len("RESULT "):])
    for out in results.values():
        steps = [m["env_steps"] for m in out["metrics"]]
        out["gen_s_min"] = min(out["times_s"])
        out["gen_s_mean"] = sum(out["times_s"]) / len(out["times_s"])
        out["gen_s_median"] = sorted(out["times_s"])[len(out["times_s"]) // 2]
        out["useful_steps_per_s"] = sum(steps) / sum(out["times_s"])
        out["useful_steps_per_s_by_round"] = [s / t for s, t in zip(steps, out["times_s"])]
        out["utilisation"] = [m.get("utilisation") for m in out["metrics"]]
    return results


def gridworld_share(overrides: dict, k_updates: int = 20) -> dict:
    """Time K TA-LPG agent updates of S vmapped agents against the env stepping they contain."""
    import jax

    from discover.config import EnvConfig, apply_overrides
    from discover.curricula import make_task
    from discover.lifetime import make_lifetime
    from discover.meta.es import population_slots
    from discover.objectives import make_objective
    from discover.presets import get_preset
    from experiments.benchmarks.common import make_raw
    import environments

    cfg = apply_overrides(get_preset("ta-lpg-gridworld"), list(overrides.items()))
    task = make_task(cfg.env, cfg.lifetime)
    agents = population_slots(cfg, task, cfg.es.population, None) or cfg.es.population
    obj = make_objective(cfg.objective)
    lt = make_lifetime(cfg, obj, task.env, task.template, task.max_lifetime)
    a2c_cfg = dataclasses.replace(cfg, objective=dataclasses.replace(cfg.objective, name="a2c"))
    a2c = make_lifetime(a2c_cfg, make_objective(a2c_cfg.objective), task.env, task.template, task.max_lifetime)
    lc = cfg.lifetime
    _, levels, lifetimes = task.curriculum.sample(jax.random.key(0), task.curriculum.init(jax.random.key(0)), agents)
    params = jax.vmap(obj.init)(jax.random.split(jax.random.key(1), agents))
    init_keys = jax.random.split(jax.random.key(2), agents)

    def updates(life):
        def run(states, params, levels, lifetimes, key):
            def body(s, n):
                step = jax.vmap(life.update, in_axes=(0, None, 0, 0, 0, None))
                return step(s, n, params, levels, lifetimes, jax.random.fold_in(key, n))[0], None

            return jax.lax.scan(body, states, jax.numpy.arange(k_updates))[0]

        return run

    general, _ = environments.make("gridworld")
    keys = jax.random.split(jax.random.key(4), agents)
    raw = lambda env: jax.vmap(make_raw(env, None, lc.num_envs, k_updates * lc.rollout_len))
    programs = {
        "update": (updates(lt), (jax.vmap(lt.init)(init_keys, levels), params, levels, lifetimes, jax.random.key(3))),
        "update_a2c": (updates(a2c), (jax.vmap(a2c.init)(init_keys, levels), {}, levels, lifetimes, jax.random.key(3))),
        "env_tabular_only": (raw(task.env), (keys, levels)),
        "env_general": (raw(general), (keys, levels)),
    }
    out = {"agents": agents, "k_updates": k_updates, "steps": agents * k_updates * lc.num_envs * lc.rollout_len}
    for name, (fn, args) in programs.items():
        compiled = jax.jit(fn).lower(*args).compile()
        jax.block_until_ready(compiled(*args))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(*args))
            times.append(time.perf_counter() - t0)
        out[f"{name}_s"] = min(times)
    out["env_share_of_update"] = out["env_tabular_only_s"] / out["update_s"]
    out["lpg_update_over_a2c_update"] = out["update_s"] / out["update_a2c_s"]
    out["general_env_share_of_update"] = out["env_general_s"] / out["update_s"]
    out["tabular_only_env_speedup"] = out["env_general_s"] / out["env_tabular_only_s"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    parser.add_argument("--baseline-src", default="", help="directory with another commit's discover/ and environments/")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--baseline-reps", type=int, default=0,
                        help="timed calls of the baseline (0: --reps); it is ~30x slower and only its ratio to `mixed` is read")
    parser.add_argument("--population", type=int, default=0, help="override the scale's es.population (0: keep it)")
    parser.add_argument("--cpu-devices", type=int, default=0,
                        help="run every case (baseline included) with this many forced CPU devices (0: XLA's default, one)")
    parser.add_argument("--skip", default="", help="comma-separated cases not to run (e.g. mixed_unpacked)")
    parser.add_argument("--chunk-sizes", default="",
                        help="comma-separated es.chunk_size values to time as extra fixed cases (fixed_c<k>: the "
                             "population in sequential chunks of k members), e.g. 32 at --population 128 on a CPU")
    parser.add_argument("--pack-widths", default="",
                        help="comma-separated lifetime.pack_width values to time as extra mixed cases "
                             "(mixed_pw<w>, interleaved with the others), e.g. 1.5,2 on an accelerator")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    from discover.evaluate import summarise
    from experiments.benchmarks.common import machine_info, write_results

    scale = dict(SCALES[args.scale])
    if args.population:
        scale["es.population"] = str(args.population)
    res = {"benchmark": "generation", "scale": args.scale, "overrides": scale, "reps": args.reps,
           "machine": machine_info(), "programs": {}}
    t_all = time.perf_counter()
    cases = {
        "mixed": {**scale, "env.distribution": "all_vrandlife"},
        "mixed_unpacked": {**scale, "env.distribution": "all_vrandlife", "lifetime.packing": "false"},
        "fixed": {**scale, "env.distribution": "all_shortlife"},
    }
    for k in filter(None, args.chunk_sizes.split(",")):
        cases[f"fixed_c{int(k)}"] = {**cases["fixed"], "es.chunk_size": str(int(k))}
    for w in filter(None, args.pack_widths.split(",")):
        cases[f"mixed_pw{float(w):g}"] = {**cases["mixed"], "lifetime.pack_width": str(float(w))}
    skip = set(filter(None, args.skip.split(",")))
    cases = {name: overrides for name, overrides in cases.items() if name not in skip}
    log(f"{', '.join(cases)} (interleaved): {scale}")
    res["cpu_devices"] = args.cpu_devices or None
    res["programs"].update(run_driver(ROOT, cases, args.reps, cpu_devices=args.cpu_devices))
    for name in cases:
        log(f"  {name}: {res['programs'][name]['gen_s_min']:.3f} s/gen, {res['programs'][name]['useful_steps_per_s']:.3g} useful steps/s")
    if args.baseline_src:
        src = Path(args.baseline_src).resolve()
        log(f"baseline code from {src}")
        res["programs"]["baseline"] = run_driver(src, {"baseline": cases["mixed"]}, args.baseline_reps or args.reps,
                                                 cpu_devices=args.cpu_devices)["baseline"]
        res["baseline_src"] = str(src)
        res["baseline_reps"] = args.baseline_reps or args.reps
        log(f"  {res['programs']['baseline']['gen_s_min']:.3f} s/gen")
    p = res["programs"]
    res["mixed_over_fixed_useful_steps_per_s"] = p["mixed"]["useful_steps_per_s"] / p["fixed"]["useful_steps_per_s"]
    # The same ratio in each round (mixed and fixed timed back to back): its spread shows the noise.
    res["mixed_over_fixed_by_round"] = [m / f for m, f in zip(p["mixed"]["useful_steps_per_s_by_round"],
                                                              p["fixed"]["useful_steps_per_s_by_round"])]
    # A shared machine's slow spells move single rounds by 20-30%, more than the gap to the
    # target, so the per-round ratio is also summarised: mean and IQM with bootstrap 95% CIs.
    res["mixed_over_fixed_by_round_summary"] = summarise(res["mixed_over_fixed_by_round"])
    # Wider packing (more slots, a shorter loop) trades utilisation for width.
    res["pack_width_over_fixed_useful_steps_per_s"] = {
        name: p[name]["useful_steps_per_s"] / p["fixed"]["useful_steps_per_s"] for name in p if name.startswith("mixed_pw")}
    # Chunked fixed generations: the same members in sequential vmapped groups (narrower programs).
    res["chunked_fixed_over_fixed_useful_steps_per_s"] = {
        name: p[name]["useful_steps_per_s"] / p["fixed"]["useful_steps_per_s"] for name in p if name.startswith("fixed_c")}
    res["mixed_over_chunked_fixed_useful_steps_per_s"] = {
        name: p["mixed"]["useful_steps_per_s"] / p[name]["useful_steps_per_s"] for name in p if name.startswith("fixed_c")}
    res["mixed_over_chunked_fixed_by_round_summary"] = {
        name: summarise([m / c for m, c in zip(p["mixed"]["useful_steps_per_s_by_round"], p[name]["useful_steps_per_s_by_round"])])
        for name in p if name.startswith("fixed_c")}
    if "mixed_unpacked" in p:
        res["unpacked_over_fixed_useful_steps_per_s"] = p["mixed_unpacked"]["useful_steps_per_s"] / p["fixed"]["useful_steps_per_s"]
    if "baseline" in p:
        res["baseline_over_mixed_gen_time"] = p["baseline"]["gen_s_min"] / p["mixed"]["gen_s_min"]
        # Both start from the same seed, so their first calls train the same generations: the
        # like-for-like comparison when the baseline is timed fewer times (--baseline-reps).
        k = min(len(p["baseline"]["times_s"]), len(p["mixed"]["times_s"]))
        res["baseline_over_mixed_same_generations"] = sum(p["baseline"]["times_s"][:k]) / sum(p["mixed"]["times_s"][:k])
    log("gridworld share of an LPG update")
    res["gridworld"] = gridworld_share(scale)
    res["total_s"] = time.perf_counter() - t_all
    out = write_results(res, "generation", quick=False, out=args.out)
    log(json.dumps({k: v for k, v in res.items() if k not in ("programs", "machine")}, indent=1))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
