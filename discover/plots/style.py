"""One figure style for every plot: readable fonts, colour-blind-safe colours, tight saving.

matplotlib is imported lazily (headless backend) so the library never needs a display.
"""

from __future__ import annotations

from pathlib import Path

# Okabe-Ito: distinguishable with the common colour-vision deficiencies and in greyscale print.
COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

RC = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "figure.dpi": 100,
    "savefig.dpi": 160,
    "savefig.bbox": "tight",
}


def plt():
    """pyplot on the Agg backend with this module's style applied."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    pyplot.rcParams.update(RC)
    return pyplot


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def method_colors(labels) -> dict:
    """A stable colour per method label (baselines keep theirs across figures)."""
    fixed = {"ppo": COLORS[7], "a2c": COLORS[7], "dpo": COLORS[4], "initial": COLORS[5]}
    out, i = {}, 0
    for label in labels:
        if label in fixed:
            out[label] = fixed[label]
        else:
            out[label] = color(i)
            i += 1
    return out


def save(fig, path) -> Path:
    """Save and close; the suffix of path picks the format (png, pdf, svg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt().close(fig)
    return path


def steps_axis(ax, label: str = "environment steps", ticks=None) -> None:
    """Label an x-axis of environment steps in engineering notation (1e5 -> 100k); `ticks`
    puts ticks exactly there (e.g. the budgets of a log-scale horizon plot) and no others."""
    from matplotlib.ticker import EngFormatter, NullLocator

    if ticks is not None:
        ax.set_xticks(list(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlabel(label)
