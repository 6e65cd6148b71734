"""The curriculum of a run with prioritised level replay, from its metrics.jsonl."""

from __future__ import annotations

import numpy as np

from discover.plots.style import color, plt, save


def _series(records, key):
    return np.array([np.nan if r.get(key) is None else r[key] for r in records], dtype=float)


def has_curriculum(records: list[dict]) -> bool:
    return any("buffer_size" in r for r in records)


def plot_curriculum(records: list[dict], path) -> None:
    """Four panels over generations: the buffer's score distribution (median, 10-90% band) and
    size; the replay fraction (running mean) and antagonist lifetimes run (cumulative); the
    features of the levels drawn (grid side, objects); their lifetimes N."""
    pyplot = plt()
    g = np.array([r["generation"] for r in records], dtype=float) + 1
    fig, axes = pyplot.subplots(2, 2, figsize=(11.5, 6.4), sharex=True, gridspec_kw=dict(wspace=0.55))
    ax = axes[0, 0]
    ax.fill_between(g, _series(records, "buffer_score_p10"), _series(records, "buffer_score_p90"), color=color(0),
                    alpha=0.25, lw=0, label="buffer scores 10-90%")
    ax.plot(g, _series(records, "buffer_score_p50"), color=color(0), label="median")
    ax.plot(g, _series(records, "score_mean"), ".", color=color(1), ms=3, label="levels drawn (mean)")
    ax.set_ylabel("level score")
    twin = ax.twinx()
    twin.plot(g, _series(records, "buffer_size"), color="0.5", lw=1, ls="--")
    twin.set_ylabel("levels in buffer", color="0.4")
    ax.legend(loc="best", fontsize=8)
    ax = axes[0, 1]
    replay = np.nan_to_num(_series(records, "replay"))
    ax.plot(g, np.cumsum(replay) / np.arange(1, len(g) + 1), color=color(2), label="replay fraction (running)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("replay fraction")
    twin = ax.twinx()
    twin.plot(g, np.cumsum(np.nan_to_num(_series(records, "antagonist_lifetimes"))), color=color(3), lw=1.5)
    twin.set_ylabel("antagonist lifetimes run (total)", color=color(3))
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[1, 0]
    ax.plot(g, _series(records, "level_size"), color=color(4), label="grid side")
    ax.plot(g, _series(records, "level_objects"), color=color(5), label="objects")
    ax.set_ylabel("levels drawn (mean)")
    ax.set_xlabel("generation")
    ax.legend(loc="best", fontsize=8)
    ax = axes[1, 1]
    ax.plot(g, _series(records, "level_lifetime"), color=color(6))
    ax.set_ylabel("lifetime N of levels drawn (mean)")
    ax.set_xlabel("generation")
    save(fig, path)
