"""The LPG interpretation figure (data from discover.interpret.lpg_lifetime_analysis)."""

from __future__ import annotations

import numpy as np

from discover.plots.style import color, plt, save


def _binned_mean(x, y, bins: int = 15):
    """Centres and mean y of x-quantile bins (robust to the long tails of advantages)."""
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    centres = np.array([x[which == i].mean() for i in range(len(edges) - 1) if np.any(which == i)])
    means = np.array([y[which == i].mean() for i in range(len(edges) - 1) if np.any(which == i)])
    return centres, means


def plot_lpg_interpretation(data: dict, path, title: str = "discovered LPG") -> None:
    """Top row: pi_hat against the side critic's advantage at each snapshot n/N (all seeds'
    samples, binned mean in black, Pearson r in the title; shared axes). Bottom row: the
    entropy of y(s) and the pi_hat-advantage correlation over the lifetime (mean over seeds,
    95% bootstrap band), snapshots marked."""
    from discover.evaluate import bootstrap_band

    pyplot = plt()
    k = len(data["progress"])
    fig = pyplot.figure(figsize=(3.4 * max(k, 2), 6.4), constrained_layout=True)
    grid = fig.add_gridspec(2, 2 * k)  # top: k panels of 2 columns; bottom: 2 panels of k
    adv_all, pi_all = data["advantage"], data["pi_hat"]
    lim_a = np.nanpercentile(np.abs(adv_all), 99.5) or 1.0
    lim_p = np.nanpercentile(np.abs(pi_all), 99.5) or 1.0
    first = None
    for i, p in enumerate(data["progress"]):
        ax = fig.add_subplot(grid[0, 2 * i:2 * i + 2], sharex=first, sharey=first)
        first = first or ax
        a, h = adv_all[:, i].ravel(), pi_all[:, i].ravel()
        ax.scatter(a, h, s=3, alpha=0.15, color=color(0), rasterized=True)
        cx, cy = _binned_mean(a, h)
        ax.plot(cx, cy, color="k", lw=1.5, label="binned mean")
        r = np.corrcoef(a, h)[0, 1] if a.std() > 0 and h.std() > 0 else np.nan
        ax.set_title(f"n/N = {p:g}   (r = {r:.2f})", fontsize=10)
        ax.set_xlim(-lim_a, lim_a)
        ax.set_ylim(-lim_p, lim_p)
        ax.axhline(0, color="k", lw=0.4)
        ax.axvline(0, color="k", lw=0.4)
        ax.set_xlabel("advantage (separate critic)")
        if i == 0:
            ax.set_ylabel("pi_hat")
            ax.legend(loc="upper left")
    n = int(data["lifetime"])
    x = np.arange(n) / max(n - 1, 1)
    for j, (key, label) in enumerate((("y_entropy", "entropy of y(s)"), ("correlation", "corr(pi_hat, advantage)"))):
        ax = fig.add_subplot(grid[1, j * k:(j + 1) * k])
        mean, lo, hi = bootstrap_band(data[key])
        ax.fill_between(x, lo, hi, color=color(j + 1), alpha=0.25, lw=0)
        ax.plot(x, mean, color=color(j + 1))
        for p in data["progress"]:
            ax.axvline(p, color="k", lw=0.5, ls=":")
        ax.set_xlabel(f"n/N (N = {n} updates, {int(data['steps_per_update'])} env steps each)")
        ax.set_ylabel(label)
    fig.suptitle(title)
    save(fig, path)
