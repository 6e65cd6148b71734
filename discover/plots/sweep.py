"""The figure of `discover sweep` (from sweep.json)."""

from __future__ import annotations

import numpy as np

from discover.plots.style import color, plt, save


def plot_sweep(results: dict, path) -> None:
    """Final return (mean over seeds, 95% bootstrap CI) against the first varied field (log
    scale when its values span more than 10x), one line per value of the other varied fields;
    with nothing varied, one bar for the seeds of the base configuration."""
    pyplot = plt()
    rows = results["rows"]
    fields = list(results["vary"])
    fig, ax = pyplot.subplots(figsize=(6.4, 4))
    if not fields:
        r = rows[0]
        ax.bar([0], [r["mean"]], yerr=[[r["mean"] - r["ci_lo"]], [r["ci_hi"] - r["mean"]]], capsize=4, color=color(0))
        ax.scatter(np.zeros(len(r["returns"])), r["returns"], s=10, color="k", zorder=3, label="seeds")
        ax.set_xticks([0], ["base config"])
        ax.legend()
    else:
        x_field, rest = fields[0], fields[1:]
        lines = {}
        for r in rows:
            lines.setdefault(tuple(r["values"][p] for p in rest), []).append(r)
        for i, (key, group) in enumerate(lines.items()):
            group = sorted(group, key=lambda r: r["values"][x_field])
            x = [r["values"][x_field] for r in group]
            label = ", ".join(f"{p}={v:g}" if isinstance(v, float) else f"{p}={v}" for p, v in zip(rest, key)) or None
            ax.plot(x, [r["mean"] for r in group], "o-", color=color(i), label=label)
            ax.fill_between(x, [r["ci_lo"] for r in group], [r["ci_hi"] for r in group], color=color(i), alpha=0.2, lw=0)
        xs = np.array([r["values"][x_field] for r in rows], dtype=float)
        if xs.min() > 0 and xs.max() / xs.min() > 10:
            ax.set_xscale("log")
        ax.set_xlabel(x_field)
        if rest:
            ax.legend(loc="best")
    ax.set_ylabel("final return")
    ax.set_title(f"{results['objective']} on {results['env']}: {results['seeds']} seeds per point")
    save(fig, path)
