"""`discover sweep`: seeds x inner-loop hyperparameters, vmapped in one program where shapes allow."""

from __future__ import annotations

import csv
import json
import time
from argparse import RawDescriptionHelpFormatter
from pathlib import Path

from discover.commands._args import Parser, parse, positive_int

SECTIONS = ("env", "agent", "objective", "lifetime")


def make_parser() -> Parser:
    from discover import sweep

    p = Parser(prog="discover sweep", description=sweep.__doc__, formatter_class=RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None, help="the base configuration (default: the objective's own, "
                   "or baseline-cartpole)")
    p.add_argument("--objective", default=None,
                   help="a pretrained name or run directory whose discovered objective trains the agents "
                        "(needed when the preset's objective is learned)")
    p.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2",
                   help="a config field and its values; repeat for a grid (e.g. --vary agent.lr=1e-3,3e-3)")
    p.add_argument("--seeds", type=positive_int, default=8, help="seeds per combination (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output directory (default runs/sweep-PRESET-TIME)")
    return p


def base_config(preset, objective):
    """(RunConfig, Pretrained or None): the preset's config, with the objective section of the
    pretrained objective when one is given."""
    import dataclasses

    from discover.presets import get_preset
    from discover.agent_training import resolve_objective

    pre = resolve_objective(objective) if objective else None
    if preset is None:
        return (pre.config if pre else get_preset("baseline-cartpole")), pre
    cfg = get_preset(preset)
    if pre is not None:
        cfg = dataclasses.replace(cfg, objective=pre.config.objective)
    return cfg, pre


def write(results: dict, out: Path) -> None:
    """sweep.json (everything), sweep.csv (one row per run: tidy) and summary.csv (per combination)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(results, indent=1) + "\n")
    fields = list(results["vary"])
    with (out / "sweep.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields + ["seed", "lifetime", "env_steps", "final_return"])
        for r in results["rows"]:
            for s, ret in enumerate(r["returns"]):
                w.writerow([r["values"][p] for p in fields] + [s, r["lifetime"], r["env_steps"], ret])
    with (out / "summary.csv").open("w", newline="") as f:
        w = csv.writer(f)
        stats = ("mean", "ci_lo", "ci_hi", "iqm", "iqm_lo", "iqm_hi")
        w.writerow(fields + ["seeds", "program"] + list(stats))
        for r in results["rows"]:
            w.writerow([r["values"][p] for p in fields] + [len(r["returns"]), r["program"]] + [r[k] for k in stats])


def main(argv) -> int:
    """Train agents over seeds and inner-loop hyperparameters, vmapped in one program where shapes allow."""
    from discover.config import apply_overrides
    from discover.plots.sweep import plot_sweep
    from discover.sweep import parse_vary, run_sweep

    args, overrides = parse(make_parser(), argv, sections=SECTIONS)
    vary = parse_vary(args.vary)
    cfg, pre = base_config(args.preset, args.objective)
    cfg = apply_overrides(cfg, overrides)
    label = args.preset or (Path(args.objective).name if args.objective else "baseline-cartpole")
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "sweep.json").exists():
        from discover.cli import UsageError

        raise UsageError(f"{out} already holds a sweep; choose another --out")
    n = 1
    for vals in vary.values():
        n *= len(vals)
    print(f"sweep of {n} combinations x {args.seeds} seeds = {n * args.seeds} runs -> {out}")
    results = run_sweep(cfg, vary, args.seeds, pre, args.seed)
    results["preset"], results["objective_source"] = args.preset, args.objective
    write(results, out)
    plot_sweep(results, out / "sweep.png")
    for r in results["rows"]:
        vals = ", ".join(f"{p}={v:g}" if isinstance(v, float) else f"{p}={v}" for p, v in r["values"].items())
        print(f"  {vals or 'base config':<40} final return {r['mean']:9.4g} [{r['ci_lo']:.4g}, {r['ci_hi']:.4g}]")
    print(f"{results['runs']} runs in {len(results['programs'])} compiled program(s), {results['wall_time_s']:.0f}s; "
          f"tables and figure in {out}")
    return 0
