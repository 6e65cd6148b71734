"""Wall time of `discover sweep`: S seeds as one vmapped program against S separate runs.

    python -m experiments.benchmarks.sweep [--quick] [--seeds 8] [--updates 64] [--out FILE]

PPO on CartPole-v1 at the reference sizes (4 envs x 128 steps per update, Adam 2.5e-4) for
`--updates` updates per agent. Measured, each from a cold start (jax.clear_caches()):
  one_program:   discover.sweep.run_sweep with S seeds (one compile, one vmapped run);
  separate_runs: S runs of one seed each, each compiling its own program, as S separate
                 `discover train-agent` / `discover baseline` processes would;
and, with the programs already compiled, the run time alone of each (second calls).
Also one program for 2 learning rates x S seeds (traced hyperparameters). Writes
results/sweep_<platform>[_quick].json and a figure next to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax

from discover.evaluate import clear_program_cache
from discover.presets import get_preset
from discover.sweep import run_sweep
from experiments.benchmarks.common import machine_info, write_results


def _cold():
    """As a fresh process: no compiled program of JAX's or of discover's kept."""
    jax.clear_caches()
    clear_program_cache()


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(cfg, seeds: int) -> dict:
    quiet = lambda *a: None  # noqa: E731
    res = {}
    _cold()
    res["one_program_s"], one = _timed(lambda: run_sweep(cfg, {}, seeds, log=quiet))
    res["one_program_run_only_s"], _ = _timed(lambda: run_sweep(cfg, {}, seeds, log=quiet))
    sep, sep_run = [], []
    for s in range(seeds):
        _cold()  # a separate process compiles its own program
        sep.append(_timed(lambda: run_sweep(cfg, {}, 1, seed=s, log=quiet))[0])
        sep_run.append(_timed(lambda: run_sweep(cfg, {}, 1, seed=s, log=quiet))[0])
    res.update(separate_runs_s=sum(sep), separate_runs_each_s=sep, separate_runs_run_only_s=sum(sep_run))
    _cold()
    res["two_lrs_one_program_s"], two = _timed(lambda: run_sweep(cfg, {"agent.lr": ["2.5e-4", "1e-3"]}, seeds, log=quiet))
    res["speedup"] = res["separate_runs_s"] / res["one_program_s"]
    res["speedup_run_only"] = res["separate_runs_run_only_s"] / res["one_program_run_only_s"]
    res["final_return_mean"] = one["rows"][0]["mean"]
    res["two_lrs_final_return_mean"] = {str(r["values"]["agent.lr"]): r["mean"] for r in two["rows"]}
    return res


def plot(res: dict, path) -> None:
    from discover.plots.style import color, plt, save

    pyplot = plt()
    m = res["measurements"]
    s = res["seeds"]
    labels = [f"{s} seeds,\none program", f"{s} separate\nruns", f"2 lrs x {s} seeds,\none program"]
    total = [m["one_program_s"], m["separate_runs_s"], m["two_lrs_one_program_s"]]
    run = [m["one_program_run_only_s"], m["separate_runs_run_only_s"], float("nan")]
    fig, ax = pyplot.subplots(figsize=(6.4, 3.8))
    ax.bar(range(3), total, color=[color(0), color(3), color(2)], label="wall time from a cold start")
    ax.bar(range(2), run[:2], color="k", alpha=0.35, width=0.5, label="of which running (compiled)")
    for i, t in enumerate(total):
        ax.text(i, t, f"{t:.0f} s", ha="center", va="bottom")
    ax.set_xticks(range(3), labels)
    ax.set_ylabel("seconds")
    ax.set_title(f"discover sweep, PPO CartPole, {res['updates']} updates/agent ({res['machine']['device_kind']})",
                 fontsize=10)
    ax.set_ylim(0, 1.3 * max(total))
    ax.legend(loc="upper left")
    save(fig, path)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 seeds, 4 updates (a smoke run)")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--updates", type=int, default=64)
    p.add_argument("--out", default=None)
    p.add_argument("--replot", default=None, metavar="JSON", help="only redraw the figure of a results file")
    args = p.parse_args(argv)
    if args.replot:
        plot(json.loads(Path(args.replot).read_text()), Path(args.replot).with_suffix(".png"))
        return {}
    seeds, updates = (2, 4) if args.quick else (args.seeds, args.updates)
    base = get_preset("baseline-cartpole")
    cfg = dataclasses.replace(base, lifetime=dataclasses.replace(base.lifetime, lifetime=updates))
    res = dict(benchmark="sweep", seeds=seeds, updates=updates,
               env_steps_per_agent=updates * cfg.lifetime.num_envs * cfg.lifetime.rollout_len,
               machine=machine_info(), measurements=measure(cfg, seeds))
    out = write_results(res, "sweep", args.quick, args.out)
    plot(res, out.with_suffix(".png"))
    print(out)
    m = res["measurements"]
    print(f"{seeds} seeds: one program {m['one_program_s']:.1f}s, {seeds} separate runs {m['separate_runs_s']:.1f}s "
          f"(x{m['speedup']:.1f}); compiled run only: {m['one_program_run_only_s']:.2f}s vs "
          f"{m['separate_runs_run_only_s']:.2f}s (x{m['speedup_run_only']:.1f})")
    return res


if __name__ == "__main__":
    main()
