"""Does a gridworld-discovered LPG / TA-LPG generalise to other horizons and environments? (CPU)

    python -m experiments.lpg_generalisation [--setting tabular|mlp] [--quick] [--out DIR]

(a) meta-trains LPG and TA-LPG with ES, shrunk to fit a 2-core CPU. Two settings:
    tabular (default): preset lpg-es-tabular-cpu, tabular SGD agents on the level mixture
      sparse+dense, N=50 updates (TA-LPG: the same, so only n/N varies during meta-training);
    mlp: presets lpg-es-gridworld-cpu (all_shortlife) and ta-lpg-gridworld-cpu (all_vrandlife)
      with MLP-32 Adam agents (this setting did not learn at CPU scale; see the README);
(b) horizon grid: fresh agents trained with each discovered objective and with A2C at
    0.25x .. 4x the meta-training lifetime on a training level ("sparse" in the tabular setting,
    where A2C beats random, "dense" in the mlp setting);
(c) environment grid: each objective and A2C at one budget per held-out environment (a named
    gridworld level never trained on, the delayed chain, and in the full run MinAtar Breakout
    with an MLP agent (AgentConfig(torso="conv") also works but is ~3x slower on CPU)), scored
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
from discover.presets import get_preset

# Scale of each mode. For the mlp setting the presets' lifetimes are all_shortlife's 250 updates
# (LPG) and all_vrandlife's [10, 250] (TA-LPG), times lifetime_scale; for the tabular setting
# every task lives `tabular_lifetime` updates.
MODES = {
    "full": dict(generations=30, population=16, lifetime_scale=0.2, tabular_lifetime=50, seeds=8,
                 multiples=(0.25, 0.5, 1.0, 2.0, 4.0), minatar="mlp", minatar_lifetime=100, quick=False),
    "quick": dict(generations=2, population=4, lifetime_scale=0.08, tabular_lifetime=10, seeds=2,
                  multiples=(0.25, 4.0), minatar="", minatar_lifetime=0, quick=True),
}
# setting -> (label, preset) per objective, the levels for the horizon and held-out grids, and
# whether the full run keeps the preset's generations and population (else the mode's).
SETTINGS = {
    "tabular": dict(objectives=(("lpg", "lpg-es-tabular-cpu"), ("ta-lpg", "lpg-es-tabular-cpu")),
                    held_out_level="long", horizon_level="sparse", preset_scale=True),
    "mlp": dict(objectives=(("lpg", "lpg-es-gridworld-cpu"), ("ta-lpg", "ta-lpg-gridworld-cpu")),
                held_out_level="sparse", horizon_level="dense", preset_scale=False),
}


def meta_config(preset: str, label: str, setting: str, mode: dict):
    cfg = get_preset(preset)
    if setting == "tabular":
        lifetime = dataclasses.replace(cfg.lifetime, lifetime=mode["tabular_lifetime"])
    else:
        lifetime = dataclasses.replace(cfg.lifetime, lifetime_scale=mode["lifetime_scale"])
    if not (SETTINGS[setting]["preset_scale"] and not mode["quick"]):
        cfg = dataclasses.replace(cfg, generations=mode["generations"],
                                  es=dataclasses.replace(cfg.es, population=mode["population"]))
    return dataclasses.replace(
        cfg,
        checkpoint_every=cfg.generations,
        lifetime=lifetime,
        objective=dataclasses.replace(cfg.objective, name=label),
    )


def reference_lifetime(cfg, setting: str, mode: dict) -> int:
    """The meta-training lifetime that horizon multiples refer to."""
    if setting == "tabular":
        return cfg.lifetime.lifetime
    return int(round(250 * mode["lifetime_scale"]))


def held_out_envs(ref: int, mode: dict, lifetime_cfg, level: str) -> dict:
    """Held-out environments, each with its budget (agent updates N) and agent. Budgets are chosen
    so that A2C clearly beats the random policy (else the normalised score is undefined)."""
    envs = {
        # a named tabular level outside the training distribution
        f"gridworld {level}": dict(env="gridworld", level=level, lifetime=4 * ref, lifetime_cfg=lifetime_cfg),
        # delayed chain, length 10: the choice's reward is revealed 10 steps later
        "chain (L=10)": dict(env="chain", level=None, lifetime=ref, lifetime_cfg=lifetime_cfg),
    }
    if mode["quick"]:
        envs.pop(f"gridworld {level}")
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
    p.add_argument("--setting", choices=sorted(SETTINGS), default="tabular",
                   help="tabular: tabular SGD agents on sparse+dense (default); mlp: MLP agents on all_shortlife")
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
    setting = SETTINGS[args.setting]
    for label, preset in setting["objectives"]:
        cfg = meta_config(preset, label, args.setting, mode)
        run_dir = out / label
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, never appended to an old one
        t = time.time()
        meta[label] = train(cfg, run_dir, progress=False)
        timings[f"meta_{label}_s"] = time.time() - t
        learned[label] = load_discovered(run_dir, cfg)
        print(f"[{time.time() - t0:6.0f}s] meta-trained {label}: {json.dumps(meta[label])}", flush=True)
    eval_cfg = cfg  # agent / lifetime / objective sections are the same in both presets
    ref = reference_lifetime(eval_cfg, args.setting, mode)
    # Larger evaluation than ES fitness used (8 episodes are too noisy to compare objectives).
    eval_lifetime = dataclasses.replace(eval_cfg.lifetime, eval_envs=32)

    # (b) horizon generalisation on one training level
    t = time.time()
    horizon = ev.horizon_grid(eval_cfg, learned, "gridworld", setting["horizon_level"], ref, mode["seeds"],
                              multiples=mode["multiples"], lifetime_cfg=eval_lifetime)
    timings["horizon_s"] = time.time() - t
    print(f"[{time.time() - t0:6.0f}s] horizon grid done", flush=True)

    # (c) held-out environments, normalised by A2C with the same budget
    t = time.time()
    envs = held_out_envs(ref, mode, eval_lifetime, setting["held_out_level"])
    env_grid = ev.environment_grid(eval_cfg, learned, envs, mode["seeds"])
    timings["environments_s"] = time.time() - t
    timings["total_s"] = time.time() - t0

    scale = dict(mode=("quick" if args.quick else "full"), setting=args.setting, horizon_level=setting["horizon_level"],
                 meta_train_on=", ".join(f"{k} on {v['distribution']}" for k, v in meta.items()),
                 generations=eval_cfg.generations,
                 population=eval_cfg.es.population, ref_lifetime=ref, horizon_lifetimes=horizon["lifetimes"],
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
        f"Scale: {scale['setting']} setting, {scale['mode']} mode; meta-trained {scale['meta_train_on']}; "
        f"ES {scale['generations']} generations x population {scale['population']} "
        f"per objective; meta-training lifetime {scale['ref_lifetime']} updates"
        f"{' (TA-LPG on all_vrandlife: up to that)' if scale['setting'] == 'mlp' else ''}; "
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
    lines += ["", f"## Horizon generalisation: gridworld '{scale['horizon_level']}', N = {horizon['lifetimes']} updates",
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
