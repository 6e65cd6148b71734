"""Figures of `discover evaluate` (from RUN_DIR/eval/results.json and curves.npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from discover.plots.style import method_colors, plt, save, steps_axis


def _rows(results, env, method):
    return sorted((r for r in results["rows"] if r["env"] == env and r["method"] == method),
                  key=lambda r: r["multiple"])


def _methods(results):
    return list(dict.fromkeys(r["method"] for r in results["rows"]))


def _grid(n: int, width: float = 4.2, height: float = 3.4):
    pyplot = plt()
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = pyplot.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                                constrained_layout=True)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def plot_horizons(results: dict, path) -> None:
    """Final return against the training budget (environment steps, log scale), one panel per
    environment, one line per method with its 95% bootstrap CI band; the meta-training
    lifetime (1x) is marked."""
    envs, methods = list(results["envs"]), _methods(results)
    colors = method_colors(methods)
    fig, axes = _grid(len(envs))
    for ax, env in zip(axes, envs):
        for m in methods:
            rows = _rows(results, env, m)
            x = [r["env_steps"] for r in rows]
            ax.plot(x, [r["mean"] for r in rows], "o-", color=colors[m], label=m, ms=4)
            ax.fill_between(x, [r["ci_lo"] for r in rows], [r["ci_hi"] for r in rows], color=colors[m], alpha=0.2, lw=0)
        one = [r["env_steps"] for r in _rows(results, env, methods[0]) if r["multiple"] == 1.0]
        if one:
            ax.axvline(one[0], color="k", lw=0.6, ls=":", label="meta-training lifetime")
        ax.set_xscale("log")
        steps_axis(ax, "training budget (environment steps)", ticks=results["envs"][env]["env_steps"])
        ax.set_ylabel("final return")
        ax.set_title(env)
    axes[0].legend(loc="best")
    save(fig, path)


def plot_env_bars(results: dict, path) -> None:
    """Baseline-normalised score per environment (bars: mean over seeds, whiskers: 95% bootstrap
    CI), one group per environment, at the meta-training lifetime (or the horizon closest to it).
    1 = the baseline, 0 = the uniform random policy."""
    pyplot = plt()
    envs, methods = list(results["envs"]), _methods(results)
    mults = results["multiples"]
    mult = min(mults, key=lambda m: abs(np.log(m)))
    colors = method_colors(methods)
    fig, ax = pyplot.subplots(figsize=(max(5.0, 1.6 * len(envs) * max(1, len(methods) / 2)), 3.8))
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        rows = [next(r for r in _rows(results, e, m) if r["multiple"] == mult) for e in envs]
        mean = np.array([r["norm_mean"] for r in rows], dtype=float)
        err = np.array([[r["norm_mean"] - r["norm_ci_lo"], r["norm_ci_hi"] - r["norm_mean"]] for r in rows], dtype=float).T
        ax.bar(np.arange(len(envs)) + j * width, mean, width, yerr=np.nan_to_num(err), capsize=3, color=colors[m], label=m)
    ax.axhline(1.0, color="k", lw=0.6, ls="--")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(np.arange(len(envs)) + width * (len(methods) - 1) / 2, envs, rotation=15 if len(envs) > 3 else 0)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("(return - random) / (baseline - random)")
    ax.set_title(f"normalised score at {mult:g}x the meta-training lifetime")
    ax.legend(loc="best")
    save(fig, path)


def plot_eval_curves(results: dict, curves: dict, path) -> None:
    """Learning curves (mean episode return during training, 95% bootstrap band over seeds)
    against environment steps: one panel per environment and horizon, one line per method."""
    from discover.evaluate import bootstrap_band

    envs, methods = list(results["envs"]), _methods(results)
    colors = method_colors(methods)
    mults = results["multiples"]
    panels = [(e, i, m) for e in envs for i, m in enumerate(mults)]
    fig, axes = _grid(len(panels), 3.6, 3.0)
    for ax, (env, i, mult) in zip(axes, panels):
        info = results["envs"][env]
        n = info["lifetimes"][i]
        x = (np.arange(n) + 1) * info["steps_per_update"]
        for m in methods:
            c = curves.get((env, m))
            if c is None:
                continue
            mean, lo, hi = bootstrap_band(c[i, :, :n])
            ax.fill_between(x, lo, hi, color=colors[m], alpha=0.2, lw=0)
            ax.plot(x, mean, color=colors[m], label=m, lw=1.2)
        steps_axis(ax)
        ax.set_ylabel("episode return")
        ax.set_title(f"{env}, {mult:g}x (N = {n})", fontsize=10)
    axes[0].legend(loc="best")
    save(fig, path)


def plot_evaluation(results: dict, curves: dict, out_dir, fmt: str = "png") -> list[Path]:
    """Every evaluation figure into out_dir: horizons, env_bars and learning_curves."""
    out = Path(out_dir)
    paths = [out / f"horizons.{fmt}", out / f"env_bars.{fmt}", out / f"learning_curves.{fmt}"]
    plot_horizons(results, paths[0])
    plot_env_bars(results, paths[1])
    plot_eval_curves(results, curves, paths[2])
    return paths
