"""The `discover` command line.

  discover --help                       the commands
  discover train --preset NAME [--out DIR] [--section.field VALUE ...]
  discover train --resume RUN_DIR [--generations G]
  discover baseline [--preset NAME] [--seeds S] [--out DIR] [--env.name CartPole-v1 ...]
  discover presets

Every config field can be set as --section.field VALUE (e.g. --es.population 32), so sweep
tools can drive runs. Bad input is one "error:" line on stderr and exit code 2, found before
anything is written or compiled; never a traceback. Exit codes: 0 done, 2 bad input or an
unusable run directory or checkpoint, 3 watchdog (no progress), 130/143 stopped by SIGINT/SIGTERM
(after writing a checkpoint), 1 an internal error (DISCOVER_TRACEBACK=1 shows its traceback).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from discover.cli_args import (
    HelpShown,
    UsageError,
    add_config_options,
    command_parser,
    enable_compilation_cache,
    parse,
    summary,
    TRAIN_ONLY,
)
from discover.cpu_cores import use_cpu_cores

__all__ = ["COMMANDS", "UsageError", "main", "entry"]


def _preset_config(name, overrides):
    from discover.config import apply_overrides
    from discover.presets import get_preset

    return apply_overrides(get_preset(name), overrides)


def _default_out(cfg, kind) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{kind}-{cfg.objective.name}-{cfg.env.name}-{stamp}"


def _train_parser():
    p = command_parser("train", cmd_train.__doc__, "discover train --preset NAME [--out DIR] [--section.field VALUE ...]\n"
                       "       discover train --resume RUN_DIR [--generations G]")
    p.add_argument("--preset", metavar="NAME", help="named configuration to start from (see discover presets)")
    p.add_argument("--out", metavar="DIR", help="new run directory (default: runs/train-OBJECTIVE-ENV-TIME)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its newest intact checkpoint; "
                   "with --generations G, extend it to G generations")  # fmt: skip
    add_config_options(p)
    return p


def _wants_distributed(ns, overrides) -> bool:
    """Whether this run is distributed, found without starting JAX (jax.distributed must be
    initialised before any JAX computation, and building a config may start it)."""
    for path, text in overrides:
        if path == "distributed":
            return text.strip().lower() in ("1", "true", "yes", "on")
    if ns.resume:
        try:
            return json.loads((Path(ns.resume) / "config.json").read_text()).get("distributed") is True
        except (OSError, ValueError, AttributeError):
            return False
    return False


def cmd_train(argv):
    """Meta-train a learned objective (or resume / extend a run)."""
    from discover import distributed

    ns, overrides = parse(_train_parser(), argv)
    if _wants_distributed(ns, overrides):
        distributed.initialize()
    from discover.meta.run import load_config, train
    from discover.validate import validate

    if ns.resume is not None:
        extra = [f"--{p}" for p, _ in overrides if p != "generations"] + [f"--{k}" for k in ("preset", "out") if getattr(ns, k)]
        if extra:
            raise UsageError(f"--resume takes only the run directory and --generations; {extra[0]} would change "
                             "the run (its config.json defines it)")  # fmt: skip
        if not ns.resume.strip():
            raise UsageError("--resume needs a run directory, got ''")
        run_dir = Path(ns.resume)
        from discover import rundir

        rundir.check_resume(run_dir)
        cfg = load_config(run_dir)
        if overrides:
            from discover.config import apply_overrides

            cfg = apply_overrides(cfg, overrides)
        cfg = validate(cfg, "train")
        print(f"resuming {run_dir}")
        result = train(cfg, run_dir, resume=True)
    else:
        if ns.preset is None:
            raise UsageError("discover train needs --preset NAME (see discover presets) or --resume RUN_DIR")
        cfg = validate(_preset_config(ns.preset, overrides), "train")
        from discover import rundir

        if distributed.is_writer():
            run_dir = rundir.check_out(ns.out) if ns.out is not None else _default_out(cfg, "train")
            print(f"run directory: {run_dir}")
        else:
            # Only the process that writes checks the new --out: another process of a
            # multi-process run could find the directory process 0 has just created and refuse
            # it as an existing run, leaving process 0 waiting for it at the first collective.
            run_dir = Path(ns.out) if ns.out is not None else _default_out(cfg, "train")
        result = train(cfg, run_dir)
    if result and distributed.is_writer():
        _print_summary(result, run_dir)


cmd_train.parser = _train_parser


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


def _baseline_parser():
    p = command_parser("baseline", cmd_baseline.__doc__, "discover baseline [--preset NAME] [--seeds S] [--out DIR] "
                       "[--section.field VALUE ...]")
    p.add_argument("--preset", metavar="NAME", default="baseline-cartpole", help="named configuration (default: baseline-cartpole)")
    p.add_argument("--seeds", metavar="S", default="1", help="agents trained side by side (vmapped), default 1")
    p.add_argument("--out", metavar="DIR", help="new run directory (default: runs/baseline-OBJECTIVE-ENV-TIME)")
    add_config_options(p, exclude=TRAIN_ONLY)
    return p


def cmd_baseline(argv):
    """Train a hand-designed objective (PPO, A2C or DPO) on one environment."""
    from discover.baseline import run_baseline
    from discover.config import ConfigError
    from discover.validate import validate

    ns, overrides = parse(_baseline_parser(), argv)
    try:
        seeds = int(ns.seeds)
    except ValueError:
        raise ConfigError(f"--seeds expects a positive integer, got {ns.seeds!r}") from None
    if not 1 <= seeds <= 100_000:
        raise ConfigError(f"--seeds must be in [1, 100000], got {seeds}")
    cfg = validate(_preset_config(ns.preset, overrides), "baseline")
    from discover import rundir

    run_dir = rundir.check_out(ns.out) if ns.out is not None else _default_out(cfg, "baseline")
    print(f"run directory: {run_dir}")
    s = run_baseline(cfg, run_dir, seeds=seeds)
    print(f"{s['objective']} on {s['env']}: final return {s['final_return_mean']:.2f} (mean of {seeds} seeds), "
          f"{s['env_steps_per_seed']} steps/seed, {s['steps_per_second']:.0f} steps/s")


cmd_baseline.parser = _baseline_parser


def _presets_parser():
    return command_parser("presets", cmd_presets.__doc__)


def cmd_presets(argv):
    """List the named configurations."""
    from discover.presets import PRESETS

    parse(_presets_parser(), argv)
    for name, (_, doc) in sorted(PRESETS.items()):
        print(f"{name:<22} {doc}")


cmd_presets.parser = _presets_parser

from discover.commands import COMMANDS as WORKFLOW_COMMANDS  # noqa: E402  evaluate, plot, sweep, pretrained, train-agent

COMMANDS = {"train": cmd_train, "baseline": cmd_baseline, "presets": cmd_presets, **WORKFLOW_COMMANDS}


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["usage: discover COMMAND [options]   (discover COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {n:<{width}}  {summary(fn)}" for n, fn in COMMANDS.items()]
    return "\n".join(lines)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def main(argv=None) -> int:
    """Run one command; every failure is one line on stderr and a non-zero exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)} (discover --help)", file=sys.stderr)
        return 2
    from discover import signals
    from discover.checkpoint import CheckpointError
    from discover.config import ConfigError

    try:
        enable_compilation_cache()
        COMMANDS[argv[0]](argv[1:])
    except HelpShown:
        return 0
    except (ConfigError, CheckpointError) as e:  # usage, config, run directory, checkpoint, run errors
        return _fail(_first_line(e))
    except signals.Interrupted as e:
        print(f"error: {e}", file=sys.stderr)
        return signals.exit_code(e.signum)
    except OSError as e:  # a full disk, a read-only or forbidden path, ...
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{where}{e.strerror or _first_line(e)}")
    except MemoryError:
        return _fail("out of memory; lower es.population or lifetime.num_envs, or set es.chunk_size")
    except KeyboardInterrupt:  # only without signals.install() (e.g. main() called from Python)
        print("error: interrupted", file=sys.stderr)
        return 130
    except ValueError as e:  # environments and presets raise ValueError for unknown names
        return _fail(_first_line(e))
    except Exception as e:  # never a traceback: one line, and the traceback on request
        if os.environ.get("DISCOVER_TRACEBACK"):
            raise
        if "RESOURCE_EXHAUSTED" in str(e):
            return _fail(f"out of device memory ({_first_line(e)[:200]}); lower es.population or lifetime.num_envs, or set es.chunk_size")
        return _fail(f"internal error: {type(e).__name__}: {_first_line(e)[:300]} (DISCOVER_TRACEBACK=1 shows where)", 1)
    return 0


def _fail(line: str, code: int = 2) -> int:
    sys.stdout.flush()
    print(f"error: {line}", file=sys.stderr)
    return code


def entry() -> None:
    """The console script: signals handled from the very start, then main()."""
    from discover import signals

    signals.install()
    try:
        # Before JAX starts a backend; here and not in main(), which may run inside a Python
        # whose JAX is already up (and whose environment its child processes inherit).
        use_cpu_cores()
    except ValueError as e:
        sys.exit(_fail(str(e)))
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


if __name__ == "__main__":
    entry()
