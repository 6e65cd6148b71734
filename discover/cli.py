"""The `discover` command line.

  discover train --preset NAME [--out DIR] [--section.field VALUE ...]
  discover train --resume RUN_DIR
  discover baseline [--preset NAME] [--seeds S] [--out DIR] [--env.name CartPole-v1 ...]
  discover presets

Every config field can be set as --section.field VALUE (e.g. --es.population 32), so sweep
tools can drive runs. Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

USAGE = (
    "usage: discover train --preset NAME [--out DIR] [--section.field VALUE ...] | "
    "discover train --resume RUN_DIR | discover baseline [--preset NAME] [--seeds S] [--out DIR] [...] | discover presets"
)


class UsageError(Exception):
    pass


def _parse(argv):
    """Split argv into known flags and dotted overrides [(path, text)]."""
    known, overrides = {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise UsageError(f"unexpected argument {arg!r}; {USAGE}")
        key, eq, val = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(argv):
                raise UsageError(f"--{key} needs a value")
            val = argv[i + 1]
            i += 1
        i += 1
        if key in ("preset", "out", "resume", "seeds"):
            known[key] = val
        else:
            overrides.append((key, val))
    return known, overrides


def _resolve(known, overrides, default_preset):
    from discover.config import apply_overrides
    from discover.presets import get_preset

    cfg = get_preset(known.get("preset", default_preset))
    return apply_overrides(cfg, overrides)


def _validate_names(cfg):
    """Names that live in registries are checked here, before anything compiles."""
    import environments

    from discover.config import ConfigError

    if cfg.env.name not in environments.list_envs():
        raise ConfigError(f"env.name={cfg.env.name!r} is not a registered environment; choose from: {', '.join(environments.list_envs())}")
    dist = cfg.env.distribution
    names = tuple(environments.LEVEL_NAMES) + tuple(environments.DISTRIBUTION_NAMES)
    if dist and "+" in dist:
        try:
            environments.get_distribution(dist)
        except ValueError as e:
            raise ConfigError(f"env.distribution: {e}") from None
    elif dist and dist not in names:
        raise ConfigError(f"env.distribution={dist!r} is unknown; choose from: {', '.join(names)} (or named levels joined by '+')")
    if dist and cfg.env.name != "gridworld":
        raise ConfigError(f"env.distribution={dist!r} is a gridworld level set; it needs env.name=gridworld, not {cfg.env.name!r}")


def _run_dir(known, cfg, kind):
    if "out" in known:
        return Path(known["out"])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{kind}-{cfg.objective.name}-{cfg.env.name}-{stamp}"


def cmd_train(argv):
    from discover.meta.run import load_config, train

    known, overrides = _parse(argv)
    if "resume" in known:
        if overrides or "preset" in known:
            raise UsageError("--resume takes only the run directory; its config.json defines the run")
        run_dir = Path(known["resume"])
        cfg = load_config(run_dir)
        _validate_names(cfg)
        print(f"resuming {run_dir}")
        summary = train(cfg, run_dir, resume=True)
    else:
        if "preset" not in known:
            raise UsageError("discover train needs --preset NAME (see `discover presets`) or --resume RUN_DIR")
        cfg = _resolve(known, overrides, None)
        _validate_names(cfg)
        run_dir = _run_dir(known, cfg, "train")
        if (run_dir / "config.json").exists():
            raise UsageError(f"{run_dir} already holds a run; resume it with --resume {run_dir} or choose another --out")
        print(f"run directory: {run_dir}")
        summary = train(cfg, run_dir)
    _print_summary(summary, run_dir)


def _print_summary(summary, run_dir):
    print(f"meta-training finished: {summary['generations']} generations in {summary['wall_time_s']:.0f}s")
    print(f"  population fitness, first -> last generation: {summary['first_fitness_mean']:.3f} -> {summary['last_fitness_mean']:.3f}")
    base = [k for k in summary if k.startswith("eval_return_") and k not in ("eval_return_init", "eval_return_discovered")]
    print(f"  fresh agents on {summary['eval_tasks']} held-back tasks (mean final return):")
    print(f"    initial objective     {summary['eval_return_init']:.3f}")
    print(f"    discovered objective  {summary['eval_return_discovered']:.3f}")
    for k in base:
        print(f"    {k[len('eval_return_'):]:<21} {summary[k]:.3f}")
    print(f"  results, plots and checkpoints in {run_dir}")


def cmd_baseline(argv):
    from discover.baseline import run_baseline
    from discover.config import ConfigError

    known, overrides = _parse(argv)
    cfg = _resolve(known, overrides, "baseline-cartpole")
    _validate_names(cfg)
    try:
        seeds = int(known.get("seeds", "1"))
    except ValueError:
        raise ConfigError(f"--seeds expects a positive integer, got {known['seeds']!r}")
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    run_dir = _run_dir(known, cfg, "baseline")
    print(f"run directory: {run_dir}")
    s = run_baseline(cfg, run_dir, seeds=seeds)
    print(f"{s['objective']} on {s['env']}: final return {s['final_return_mean']:.2f} (mean of {seeds} seeds), "
          f"{s['env_steps_per_seed']} steps/seed, {s['steps_per_second']:.0f} steps/s")


def cmd_presets(argv):
    from discover.presets import PRESETS

    for name, (_, doc) in sorted(PRESETS.items()):
        print(f"{name:<22} {doc}")


from discover.commands import COMMANDS as WORKFLOW_COMMANDS  # noqa: E402  evaluate, plot, sweep, pretrained, train-agent

COMMANDS = {"train": cmd_train, "baseline": cmd_baseline, "presets": cmd_presets, **WORKFLOW_COMMANDS}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from discover.checkpoint import CheckpointError
    from discover.config import ConfigError

    if not argv or argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; {USAGE}" if argv else USAGE, file=sys.stderr)
        return 2
    try:
        COMMANDS[argv[0]](argv[1:])
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        _hard_exit[0] = True
        return 2
    except (UsageError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # environments and presets raise ValueError for unknown names
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with discover train --resume RUN_DIR", file=sys.stderr)
        return 130
    return 0


_hard_exit = [False]


def entry() -> None:
    """The console script: main(), then exit. After a failed checkpoint restore we leave at
    once, since orbax's worker threads would print teardown tracebacks at interpreter exit,
    after our one-line error."""
    code = main()
    if _hard_exit[0]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
