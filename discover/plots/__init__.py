"""Figures of runs, evaluations and sweeps, all regenerable from saved data (`discover plot`).

Every figure uses one style (discover.plots.style): shared colour scales across panels, 95%
bootstrap bands on curves, environment steps on the x-axis where there is a budget.
"""

from __future__ import annotations

from pathlib import Path

from discover.plots.curriculum import has_curriculum, plot_curriculum
from discover.plots.evaluation import plot_env_bars, plot_eval_curves, plot_evaluation, plot_horizons
from discover.plots.interpret import plot_lpg_interpretation
from discover.plots.run import drift_grid, plot_drifts, plot_generalisation, plot_learning_curve, plot_meta_curve

__all__ = [
    "has_curriculum", "drift_grid", "plot_curriculum", "plot_directory", "plot_drifts", "plot_env_bars", "plot_eval_curves", "plot_evaluation",
    "plot_generalisation", "plot_horizons", "plot_learning_curve", "plot_lpg_interpretation", "plot_meta_curve",
    "plot_run",
]


def plot_run(run_dir, cfg, built, params) -> None:
    """The figures a meta-training run writes when it finishes: the meta-training curve and, for
    LPO-style objectives, the discovered drift (the LPG figure needs agents trained: `discover plot`)."""
    from discover.logging import MetricsLog

    run_dir = Path(run_dir)
    records = MetricsLog(run_dir).read()
    if records:
        plot_meta_curve(records, run_dir / "meta_training.png")
        if has_curriculum(records):
            plot_curriculum(records, run_dir / "curriculum.png")
    if cfg.objective.name in ("lpo", "ta-lpo"):
        plot_drifts(cfg.objective, params, run_dir / "drift.png", _initial(run_dir, built.objective))


def _initial(run_dir, objective):
    """The initial objective's params (initial.msgpack), or None where the run did not save it."""
    path = Path(run_dir) / "initial.msgpack"
    if not path.exists():
        return None
    import jax
    from flax import serialization

    return serialization.from_bytes(objective.init(jax.random.key(0)), path.read_bytes())
