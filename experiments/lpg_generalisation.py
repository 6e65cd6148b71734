"""Does a gridworld-discovered LPG / TA-LPG generalise to other horizons and environments? (CPU)

    python -m experiments.lpg_generalisation [--quick] [--out DIR]

(a) meta-trains LPG (preset lpg-es-gridworld-cpu, all_shortlife) and TA-LPG (ta-lpg-gridworld-cpu,
    all_vrandlife) with ES, shrunk to fit a 2-core CPU;
(b) horizon grid: fresh agents trained with each discovered objective and with A2C at
    0.25x .. 4x the meta-training lifetime on the "dense" gridworld level;
(c) environment grid: each objective and A2C at one budget per held-out environment (the
    tabular level "sparse" at 4x, the delayed chain at 1x; in the full run also MinAtar Breakout, 100 updates, MLP agent
    (AgentConfig(torso="conv") also works but is ~3x slower on CPU)), scored
    as (ret - random) / (A2C - random) with A2C trained with the same budget on the same env.
Writes results.json, results.md and generalisation.png into --out (default
runs/lpg_generalisation) and prints the tables. All numbers are reported as measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import discover  # noqa: F401  (sets the XLA:CPU flag before any computation)
from discover import evaluate as ev
from discover.config import AgentConfig, LifetimeConfig, to_dict
from discover.meta.run import load_discovered, train
from experiments.presets import get_preset

# Scale of each mode. The presets' lifetimes are all_shortlife's 250 updates (LPG) and
# all_vrandlife's [10, 250] (TA-LPG), times lifetime_scale; ref_lifetime = 250 * lifetime_scale.
MODES = {
    "full": dict(generations=30, population=16, lifetime_scale=0.2, seeds=8,
                 multiples=(0.25, 0.5, 1.0, 2.0, 4.0), minatar="mlp", minatar_lifetime=100, quick=False),
    "quick": dict(generations=2, population=4, lifetime_scale=0.08, seeds=2,
                  multiples=(0.25, 4.0), minatar="", minatar_lifetime=0, quick=True),
}


def meta_config(preset: str, mode: dict):
    cfg = get_preset(preset)
    return dataclasses.replace(
        cfg,
        generations=mode["generations"],
        checkpoint_every=max(mode["generations"], 1),
        lifetime=dataclasses.replace(cfg.lifetime, lifetime_scale=mode["lifetime_scale"]),
        es=dataclasses.replace(cfg.es, population=mode["population"]),
    )


def held_out_envs(ref: int, mode: dict, lifetime_cfg) -> dict:
    """Held-out environments, each with its budget (agent updates N) and agent. Budgets are chosen
    so that A2C clearly beats the random policy (else the normalised score is undefined)."""
    envs = {
        # a named tabular level outside the training distribution (11x11, sparse terminal rewards)
        "gridworld sparse": dict(env="gridworld", level="sparse", lifetime=4 * ref, lifetime_cfg=lifetime_cfg),
        # delayed chain, length 10: the choice's reward is revealed 10 steps later
        "chain (L=10)": dict(env="chain", level=None, lifetime=ref, lifetime_cfg=lifetime_cfg),
    }
    if mode["quick"]:
        envs.pop("gridworld sparse")
    if mode["minatar"]:
        envs["Breakout-MinAtar"] = dict(
            env="Breakout-MinAtar", level=None, lifetime=mode["minatar_lifetime"],
            agent=AgentConfig(torso=mode["minatar"], hidden=(64,), activation="relu", lr=1e-3, anneal_lr=False),
            lifetime_cfg=LifetimeConfig(num_envs=8, rollout_len=20, lifetime=mode["minatar_lifetime"],
                                        eval_envs=16, eval_steps=300),
        )
    return envs


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a < 3 minute smoke run")
    p.add_argument("--out", default="runs/lpg_generalisation")
    args = p.parse_args(argv)
    mode = MODES["quick" if args.quick else "full"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    timings = {}

    # (a) meta-training
    learned, meta = {}, {}
    for label, preset in (("lpg", "lpg-es-gridworld-cpu"), ("ta-lpg", "ta-lpg-gridworld-cpu")):
        cfg = meta_config(preset, mode)
        run_dir = out / label
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, never appended to an old one
        t = time.time()
        meta[label] = train(cfg, run_dir, progress=False)
        timings[f"meta_{label}_s"] = time.time() - t
        learned[label] = load_discovered(run_dir, cfg)
        print(f"[{time.time() - t0:6.0f}s] meta-trained {label}: {json.dumps(meta[label])}", flush=True)
    eval_cfg = cfg  # agent / lifetime / objective sections are the same in both presets
    ref = int(round(250 * mode["lifetime_scale"]))
    # Larger evaluation than ES fitness used (8 episodes are too noisy to compare objectives).
    eval_lifetime = dataclasses.replace(eval_cfg.lifetime, eval_envs=32)

    # (b) horizon generalisation on the dense gridworld level
    t = time.time()
    horizon = ev.horizon_grid(eval_cfg, learned, "gridworld", "dense", ref, mode["seeds"],
                              multiples=mode["multiples"], lifetime_cfg=eval_lifetime)
    timings["horizon_s"] = time.time() - t
    print(f"[{time.time() - t0:6.0f}s] horizon grid done", flush=True)

    # (c) held-out environments, normalised by A2C with the same budget
    t = time.time()
    envs = held_out_envs(ref, mode, eval_lifetime)
    env_grid = ev.environment_grid(eval_cfg, learned, envs, mode["seeds"])
    timings["environments_s"] = time.time() - t
    timings["total_s"] = time.time() - t0

    scale = dict(mode=("quick" if args.quick else "full"), generations=mode["generations"],
                 population=mode["population"], ref_lifetime=ref, horizon_lifetimes=horizon["lifetimes"],
                 seeds=mode["seeds"], agent=to_dict(eval_cfg)["agent"], lifetime=to_dict(eval_cfg)["lifetime"],
                 env_budgets={k: v["lifetime"] for k, v in envs.items()})
    md = report(scale, meta, horizon, env_grid, timings)
    results = dict(scale=scale, meta=meta, horizon=horizon, environments=env_grid, timings=timings)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "results.md").write_text(md)
    try:
        from discover.plots import plot_generalisation

        plot_generalisation(horizon, env_grid, out / "generalisation.png")
    except Exception as e:  # the numbers matter more than the picture
        print(f"warning: plotting failed: {e}", file=sys.stderr)
    print(md)
    return results


def report(scale, meta, horizon, env_grid, timings) -> str:
    """The markdown report: scale, meta-training summaries, horizon and environment tables."""
    lines = [
        "# LPG / TA-LPG generalisation (CPU)",
        "",
        f"Scale: {scale['mode']} mode; ES {scale['generations']} generations x population {scale['population']} "
        f"per objective; meta-training lifetime {scale['ref_lifetime']} updates (TA-LPG: lifetimes up to that); "
        f"{scale['lifetime']['num_envs']} envs x {scale['lifetime']['rollout_len']} steps per update; "
        f"{scale['seeds']} seeds per cell; wall time {timings['total_s']:.0f} s "
        f"(meta {timings['meta_lpg_s']:.0f} + {timings['meta_ta-lpg_s']:.0f} s, horizon {timings['horizon_s']:.0f} s, "
        f"environments {timings['environments_s']:.0f} s).",
        "Cells: mean over seeds [95% bootstrap CI of the mean]. Normalised score = (ret - random) / (A2C - random), "
        "A2C's mean return with the same budget on the same env; NaN where A2C does not beat random.",
        "",
        "## Meta-training",
        "",
        "| objective | first fitness | last fitness | eval: init | eval: discovered | eval: A2C |",
        "|---|---|---|---|---|---|",
    ]
    for k, s in meta.items():
        lines.append(f"| {k} | {s['first_fitness_mean']:.3f} | {s['last_fitness_mean']:.3f} | {s['eval_return_init']:.3f} "
                     f"| {s['eval_return_discovered']:.3f} | {s['eval_return_a2c']:.3f} |")
    lines += ["", f"## Horizon generalisation: gridworld 'dense', N = {horizon['lifetimes']} updates",
              f"(random policy return {horizon['random_return']:.3f})", "", "Final return:", "",
              ev.table(horizon["rows"]), "", "Normalised by A2C at the same N:", "",
              ev.table(horizon["rows"], value="norm_mean"), "", "IQM of the normalised score [bootstrap CI of the IQM]:",
              "", ev.table(horizon["rows"], value="norm_iqm"), "", "## Held-out environments (1 budget each)", "",
              "| env | N | random | objective | return | normalised mean | normalised IQM |", "|---|---|---|---|---|---|---|"]
    for e, g in env_grid.items():
        for r in g["rows"]:
            lines.append(f"| {e} | {g['lifetime']} | {g['random_return']:.3f} | {r['objective']} | {r['mean']:.3f} "
                         f"[{r['ci_lo']:.3f}, {r['ci_hi']:.3f}] | {r['norm_mean']:.3f} [{r['norm_ci_lo']:.3f}, "
                         f"{r['norm_ci_hi']:.3f}] | {r['norm_iqm']:.3f} [{r['norm_iqm_lo']:.3f}, {r['norm_iqm_hi']:.3f}] |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
