"""`discover plot DIR`: every figure a directory's saved data supports, without retraining.

What is plotted depends on what DIR holds:
  metrics.jsonl of a meta-training run  -> meta_training.(fmt) (and curriculum.(fmt) with level replay)
  an LPO / TA-LPO run's discovered.msgpack -> drift.(fmt) (with the initial drift if saved)
  an LPG / TA-LPG run's discovered.msgpack -> lpg_interpretation.(fmt); its data is computed
    once by training a few agents with the saved LPG (no meta-training) and cached in
    interpretation.npz
  eval/ (and eval/gen_N/) of `discover evaluate` -> horizons, env_bars, learning_curves
  sweep.json of `discover sweep`           -> sweep.(fmt)
  a `discover baseline` run's metrics.jsonl -> learning_curve.(fmt)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _eval_dirs(run_dir: Path) -> list[Path]:
    return sorted(p.parent for p in (run_dir / "eval").glob("**/results.json"))


def lpg_interpretation_data(run_dir: Path, cfg, recompute: bool = False, seeds: int = 4) -> dict:
    """interpretation.npz of the run, computed from discovered.msgpack if missing (or recompute)."""
    from discover.interpret import lpg_lifetime_analysis
    from discover.meta.run import load_discovered

    path = run_dir / "interpretation.npz"
    if path.exists() and not recompute:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    objective, params = load_discovered(run_dir, cfg)
    data = lpg_lifetime_analysis(cfg, objective, params, seeds=seeds)
    np.savez_compressed(path, **data)
    return data


def plot_directory(path, fmt: str = "png", recompute: bool = False, log=print) -> list[Path]:
    """Write every figure `path`'s data supports; returns the files written. Raises
    ConfigError (one line) when the directory holds nothing this command knows."""
    from discover import plots
    from discover.config import ConfigError
    from discover.logging import MetricsLog

    run_dir = Path(path)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a directory; give a run, evaluation or sweep directory")
    written = []
    records = MetricsLog(run_dir).read()
    cfg = None
    if (run_dir / "config.json").is_file():
        from discover.meta.run import load_config

        cfg = load_config(run_dir)
    if records and "fitness_mean" in records[0]:
        written.append(run_dir / f"meta_training.{fmt}")
        plots.plot_meta_curve(records, written[-1])
        if plots.has_curriculum(records):
            written.append(run_dir / f"curriculum.{fmt}")
            plots.plot_curriculum(records, written[-1])
    elif records and "return_mean" in records[0]:
        curve = np.array([[np.nan if r["return_mean"] is None else r["return_mean"] for r in records]])
        steps = cfg.lifetime.num_envs * cfg.lifetime.rollout_len if cfg else 1
        written.append(run_dir / f"learning_curve.{fmt}")
        plots.plot_learning_curve(curve, written[-1], f"{cfg.objective.name} on {cfg.env.name}" if cfg else "", steps)
    if cfg is not None and (run_dir / "discovered.msgpack").exists():
        from discover.meta.run import load_discovered

        objective, params = load_discovered(run_dir, cfg)
        if cfg.objective.name in ("lpo", "ta-lpo"):
            written.append(run_dir / f"drift.{fmt}")
            plots.plot_drifts(cfg.objective, params, written[-1], plots._initial(run_dir, objective))
        elif cfg.objective.name in ("lpg", "ta-lpg"):
            log("LPG interpretation: training agents with the discovered LPG (cached in interpretation.npz)")
            data = lpg_interpretation_data(run_dir, cfg, recompute)
            written.append(run_dir / f"lpg_interpretation.{fmt}")
            plots.plot_lpg_interpretation(data, written[-1], f"discovered {cfg.objective.name} ({run_dir.name})")
    for eval_dir in _eval_dirs(run_dir) + ([run_dir] if (run_dir / "results.json").is_file() else []):
        from discover.run_eval import load_results

        results, curves = load_results(eval_dir)
        written += plots.plot_evaluation(results, curves, eval_dir, fmt)
    if (run_dir / "sweep.json").is_file():
        from discover.plots.sweep import plot_sweep

        written.append(run_dir / f"sweep.{fmt}")
        plot_sweep(json.loads((run_dir / "sweep.json").read_text()), written[-1])
    if not written:
        raise ConfigError(f"{run_dir} holds no run, evaluation or sweep data (metrics.jsonl, eval/, sweep.json)")
    return written
