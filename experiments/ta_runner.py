"""The command line and the run -> save -> draw sequence shared by the temporal-awareness
experiments; each experiment module supplies an Experiment (what to train, where to evaluate,
how to read its discovered objectives)."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from experiments import ta_common as common
from experiments import ta_report as rep


class Experiment(NamedTuple):
    """title: report heading; family: "lpg" or "lpo" (compared with "ta-" + family); baseline:
    the hand-designed objective's name; modes: {"full": dict, "quick": dict}, each with
    meta_seeds, eval_seeds and lifetimes; base_config(mode) -> RunConfig; eval_envs(cfg, mode)
    -> [EvalEnv]; train_range(mode) -> [lo, hi]; scale_text(cfg, mode) -> str;
    interpret(cfg, meta, mode) -> {label: {name: array}}; draw_interpretation(out, schedules)
    draws the interpretation figures."""

    title: str
    family: str
    baseline: str
    modes: dict
    base_config: Callable
    eval_envs: Callable
    train_range: Callable
    scale_text: Callable
    interpret: Callable
    draw_interpretation: Callable

    @property
    def labels(self) -> dict:
        """{label: objective name}: the non-TA objective and its TA twin."""
        return {self.family: self.family, f"ta-{self.family}": f"ta-{self.family}"}

    @property
    def pairs(self) -> list:
        return [(f"ta-{self.family}", self.family)]


def run(exp: Experiment, args) -> dict:
    mode_name = "quick" if args.quick else "full"
    mode = exp.modes[mode_name]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    cfg = exp.base_config(mode)
    meta = common.meta_train_all(cfg, exp.labels, mode["meta_seeds"], out, reuse=args.reuse)
    t_meta = time.time() - t0

    methods = {label: (m["objective"], m["params"]) for label, m in meta.items()}
    envs = {}
    for spec in exp.eval_envs(cfg, mode):
        result = common.evaluate_env(cfg, methods, exp.baseline, spec, mode["lifetimes"], mode["eval_seeds"])
        summary = common.summarise_env(result, exp.pairs)
        envs[spec.label] = dict(lifetimes=result["lifetimes"], random_return=result["random_return"],
                                returns=result["returns"], wall_s=result["wall_s"], held_out=spec.held_out, **summary)
        print(f"[{time.time() - t0:6.0f}s] evaluated {spec.label} in {result['wall_s']:.0f} s", flush=True)
    t_eval = time.time() - t0 - t_meta

    schedules = exp.interpret(cfg, meta, mode)
    np.savez_compressed(out / "schedule.npz",
                        **{f"{label}/{k}": np.asarray(v) for label, s in schedules.items() for k, v in s.items()})
    t_interp = time.time() - t0 - t_meta - t_eval

    results = dict(
        labels=list(exp.labels), baseline=exp.baseline, train_range=exp.train_range(mode),
        meta_seeds=list(mode["meta_seeds"]), machine=f"{platform.machine()} CPU, {platform.node()}",
        scale=dict(mode=mode_name, text=f"Scale ({mode_name} mode): " + exp.scale_text(cfg, mode)),
        meta={label: dict(fitness=m["fitness"], wall_s=m["wall_s"], summaries=m["summaries"]) for label, m in meta.items()},
        envs=envs, timings=dict(total_s=time.time() - t0, meta_s=t_meta, eval_s=t_eval, interpret_s=t_interp),
    )
    (out / "results.json").write_text(common.json_dumps(results))
    draw(exp, out)
    return results


def load_schedules(out: Path) -> dict:
    """{label: {name: array}} from schedule.npz (keys 'label/name')."""
    data = np.load(out / "schedule.npz")
    schedules = {}
    for key in data.files:
        label, name = key.split("/", 1)
        schedules.setdefault(label, {})[name] = data[key]
    return schedules


def draw(exp: Experiment, out: Path) -> None:
    """report.md and every figure from results.json and schedule.npz alone."""
    results = common.json_loads((out / "results.json").read_text())
    reading = (out / "reading.md").read_text() if (out / "reading.md").exists() else ""
    (out / "report.md").write_text(rep.report(results, exp.title, reading))
    rep.plot_horizons(results, out / "horizons.png")
    rep.plot_meta_training(results, out / "meta_training.png")
    exp.draw_interpretation(out, load_schedules(out))
    print((out / "report.md").read_text())


def main(exp: Experiment, doc: str, default_out: str, argv=None):
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run (a minute or two on a 2-core CPU)")
    p.add_argument("--out", default=default_out)
    p.add_argument("--reuse", action="store_true", help="keep finished meta-training runs with the same config")
    p.add_argument("--plot-only", metavar="DIR", help="redraw report.md and the figures from DIR's saved data")
    args = p.parse_args(argv)
    if args.plot_only:
        out = Path(args.plot_only)
        missing = [f for f in ("results.json", "schedule.npz") if not (out / f).exists()]
        if missing:
            print(f"error: {out} has no {' or '.join(missing)} (not a finished experiment directory)", file=sys.stderr)
            sys.exit(2)
        draw(exp, out)
        return None
    return run(exp, args)
