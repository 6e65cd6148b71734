"""`discover evaluate RUN_DIR`: the run's objective against the hand-designed baseline on a grid
of environments x horizons, written to RUN_DIR/eval/ (tables, JSON, learning curves, figures)."""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter
from pathlib import Path

from discover.commands._args import Parser, floats, names, parse, positive_int

DESCRIPTION = """\
Trains fresh agents with the run's discovered objective (or the ES mean of a checkpoint) and with
the hand-designed baseline (A2C for LPG-family objectives, PPO otherwise) at the same budget, at
multiples of the run's meta-training lifetime and on any environments. Writes RUN_DIR/eval/
(RUN_DIR/eval/gen_N with --checkpoint N): summary.csv (one row per cell: mean, IQM and 95%
bootstrap CIs of the return and of the baseline-normalised score), returns.csv (one row per
seed), results.json, curves.npz and figures, and prints a summary table.

The agent network is chosen per environment (a conv torso on MinAtar); override any agent or
lifetime field for every environment with --agent.FIELD VALUE / --lifetime.FIELD VALUE.
"""


def make_parser() -> Parser:
    p = Parser(prog="discover evaluate", description=DESCRIPTION,
               formatter_class=RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a directory written by `discover train`")
    p.add_argument("--envs", type=names, default=(),
                   help="comma-separated environments: NAME or gridworld:LEVELS (a named level, a '+' "
                        "mixture or a distribution), e.g. CartPole-v1,Breakout-MinAtar,gridworld:long "
                        "(default: the run's own)")
    p.add_argument("--horizons", type=floats, default=(0.25, 0.5, 1.0, 2.0, 4.0),
                   help="lifetime multiples of the run's meta-training lifetime (default 0.25,0.5,1,2,4)")
    p.add_argument("--seeds", type=positive_int, default=16, help="agents per cell (default 16)")
    p.add_argument("--checkpoint", type=int, default=None, metavar="N",
                   help="evaluate the ES mean of checkpoint gen_N instead of discovered.msgpack")
    p.add_argument("--baselines", type=names, default=(),
                   help="more hand-designed objectives to compare (e.g. dpo); the natural one is always in")
    p.add_argument("--initial", action="store_true", help="also evaluate the initial objective (initial.msgpack)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    p.add_argument("--out", default=None, help="output directory (default RUN_DIR/eval or RUN_DIR/eval/gen_N)")
    p.add_argument("--per-horizon", action="store_true",
                   help="one compiled program per horizon instead of one for all: no compute spent on agents "
                        "frozen past their own N (all horizons in one program cost L x the longest); worth it "
                        "for long lifetimes on an accelerator, where compilation is cheap by comparison")
    p.add_argument("--no-plots", action="store_true", help="write tables only")
    return p


def main(argv) -> int:
    """Evaluate a run's objective on environments x horizons against the hand-designed baseline."""
    from discover import run_eval

    args, overrides = parse(make_parser(), argv, sections=("agent", "lifetime"))
    print(f"evaluating {args.run_dir}")
    results, curves = run_eval.evaluate_run(
        args.run_dir, args.envs, args.horizons, args.seeds, args.checkpoint, overrides,
        args.initial, args.baselines, args.seed, per_horizon=args.per_horizon)
    default = Path(args.run_dir) / "eval"
    out = Path(args.out) if args.out else (default if args.checkpoint is None else default / f"gen_{args.checkpoint}")
    run_eval.write_results(results, curves, out)
    if not args.no_plots:
        from discover import plots

        plots.plot_evaluation(results, curves, out)
    print(run_eval.format_summary(results))
    print(f"tables, curves and figures in {out} ({results['wall_time_s']:.0f}s)")
    return 0
