"""Tables and figures of the temporal-awareness experiments, drawn from their saved data only
(results.json, schedule.npz), so `--plot-only DIR` redraws everything without training."""

from __future__ import annotations

import numpy as np

from discover.plots.style import method_colors, plt, save


def _fmt(stats: dict, key: str) -> str:
    v, lo, hi = stats[key], stats[f"{key}_lo"], stats[f"{key}_hi"]
    return "n/a" if not np.isfinite(v) else f"{v:.2f} [{lo:.2f}, {hi:.2f}]"


def env_tables(env: dict, labels, train_range, value: str = "norm") -> list[str]:
    """Markdown lines for one environment: IQM and mean (95% CI) of `value` per method x N, then
    the TA minus non-TA differences of the mean normalised score."""
    lifetimes = env["lifetimes"]
    inside = lambda n: train_range is not None and train_range[0] <= n <= train_range[1]
    head = "| method | " + " | ".join(f"N={n}{'*' if inside(n) else ''}" for n in lifetimes) + " |"
    rule = "|---|" + "---|" * len(lifetimes)
    lines = []
    for stat in ("iqm", "mean"):
        lines += ["", f"{stat.upper() if stat == 'iqm' else 'Mean'} of the {'normalised score' if value == 'norm' else 'return'} "
                  "[95% hierarchical bootstrap CI]:", "", head, rule]
        for label in labels:
            cells = [_fmt(cell[value], stat) for cell in env["stats"][label]]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if value == "norm" and env["diffs"]:
        lines += ["", "Difference of mean normalised scores [95% CI]:", "", head, rule]
        for name, cells in env["diffs"].items():
            row = ["n/a" if not np.isfinite(c["diff"]) else f"{c['diff']:+.2f} [{c['lo']:+.2f}, {c['hi']:+.2f}]" for c in cells]
            lines.append(f"| {name} | " + " | ".join(row) + " |")
    return lines


def report(results: dict, title: str, reading: str = "") -> str:
    """The experiment's markdown report from its results dict (see the experiment scripts)."""
    scale, timings = results["scale"], results["timings"]
    labels = list(results["labels"]) + [results["baseline"]]
    train_range = results.get("train_range")
    lines = [f"# {title}", "", scale["text"], "",
             f"Wall time: {timings['total_s']:.0f} s in all (meta-training {timings['meta_s']:.0f} s, "
             f"evaluation {timings['eval_s']:.0f} s, interpretation {timings['interpret_s']:.0f} s) on {results['machine']}.",
             "", "Normalised score = (return - random) / (baseline mean return at the same N - random): 0 is the "
             f"uniform random policy, 1 is {results['baseline'].upper()}. `n/a` where the baseline does not beat random. "
             + ("N marked * lies inside the meta-training range of lifetimes." if train_range else ""), ""]
    if reading:
        lines += ["## Reading", "", reading, ""]
    lines += ["## Meta-training", "", "| objective | seed | first 10 gens fitness | last 10 gens fitness | wall (s) |",
              "|---|---|---|---|---|"]
    for label, meta in results["meta"].items():
        for seed, fit, wall in zip(results["meta_seeds"], meta["fitness"], meta["wall_s"]):
            lines.append(f"| {label} | {seed} | {np.mean(fit[:10]):.3f} | {np.mean(fit[-10:]):.3f} | {wall:.0f} |")
    for name, env in results["envs"].items():
        kind = "held out" if env["held_out"] else "meta-training levels"
        lines += ["", f"## {name} ({kind})", "", f"Random policy return {env['random_return']:.3f}; "
                  f"{results['baseline'].upper()} mean return per N: "
                  + ", ".join(f"{c['ret']['mean']:.3f}" for c in env["stats"][results["baseline"]]) + "."]
        lines += env_tables(env, labels, train_range)
        lines += env_tables(dict(env, diffs={}), labels, train_range, value="ret")
    return "\n".join(lines) + "\n"


def plot_horizons(results: dict, path) -> None:
    """Normalised score (IQM, 95% band) against N per method, one panel per environment; the
    meta-training range of lifetimes shaded, baseline at 1 and random at 0 dashed."""
    pyplot = plt()
    envs = results["envs"]
    labels = list(results["labels"]) + [results["baseline"]]
    colors = method_colors(labels)
    fig, axes = pyplot.subplots(1, len(envs), figsize=(4.2 * len(envs), 3.6), squeeze=False, constrained_layout=True)
    for ax, (name, env) in zip(axes[0], envs.items()):
        n = np.asarray(env["lifetimes"], float)
        for label in labels:
            cells = [c["norm"] for c in env["stats"][label]]
            y = np.array([c["iqm"] for c in cells])
            lo, hi = np.array([c["iqm_lo"] for c in cells]), np.array([c["iqm_hi"] for c in cells])
            ax.plot(n, y, "o-", color=colors[label], label=label.upper(), ms=3)
            ax.fill_between(n, lo, hi, color=colors[label], alpha=0.15, lw=0)
        lo, hi = results.get("train_range") or (None, None)
        if lo is not None and lo < hi:
            ax.axvspan(lo, hi, color="0.85", alpha=0.5, lw=0, label="meta-training N")
        elif lo is not None:
            ax.axvline(lo, color="0.6", lw=4, alpha=0.4, label="meta-training N")
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
        ax.axhline(0.0, color="0.4", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xticks(n)
        ax.set_xticklabels([str(int(v)) for v in n])
        ax.minorticks_off()
        ax.set_xlabel("agent lifetime N (updates)")
        ax.set_title(f"{name}{' (held out)' if env['held_out'] else ''}", fontsize=10)
    axes[0][0].set_ylabel(f"normalised score (IQM; {results['baseline'].upper()} = 1)")
    axes[0][-1].legend(loc="best")
    save(fig, path)


def plot_meta_training(results: dict, path) -> None:
    """Population fitness per generation: mean over meta-training seeds, min-max band."""
    pyplot = plt()
    labels = list(results["meta"])
    colors = method_colors(labels)
    fig, ax = pyplot.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    for label in labels:
        fit = np.asarray(results["meta"][label]["fitness"], float)  # [M, G]
        g = np.arange(1, fit.shape[1] + 1)
        ax.plot(g, fit.mean(0), color=colors[label], label=f"{label.upper()} ({fit.shape[0]} seeds)")
        ax.fill_between(g, fit.min(0), fit.max(0), color=colors[label], alpha=0.15, lw=0)
    ax.set_xlabel("generation")
    ax.set_ylabel("population fitness")
    ax.legend(loc="best")
    save(fig, path)


def plot_lpg_schedule(schedules: dict, path) -> None:
    """TA-LPG vs LPG over the lifetime: slope and correlation of pi_hat on the side critic's
    advantage, mean |pi_hat| and the entropy of y(s), against n/N, one line style per N."""
    pyplot = plt()
    keys = (("slope", "slope of pi_hat on advantage"), ("corr", "corr(pi_hat, advantage)"),
            ("pi_hat_abs", "mean |pi_hat|"), ("y_entropy", "entropy of y(s)"))
    colors = method_colors(list(schedules))
    styles = ("-", "--", ":", "-.")
    fig, axes = pyplot.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.4), constrained_layout=True)
    for label, sched in schedules.items():
        for i, n in enumerate(sched["lifetimes"]):
            for ax, (key, _) in zip(axes, keys):
                ax.plot(sched["progress"], sched[key][i], styles[i % len(styles)], color=colors[label], marker="o", ms=3,
                        label=f"{label.upper()}, N={int(n)}")
    for ax, (_, title) in zip(axes, keys):
        ax.set_xlabel("n / N")
        ax.set_title(title, fontsize=10)
    axes[0].legend(loc="best", fontsize=7)
    save(fig, path)


def plot_drift_schedule(schedules: dict, path, seed_index: int = 0) -> None:
    """Top: the TA-LPO drift D(r, A) of one meta seed at each n/N (one colour scale) and its
    changes between them (diverging scale). Bottom: the effective trust region r*(A = +1) and
    r*(A = -1) against n/N for every meta seed of each objective."""
    pyplot = plt()
    ta = next(label for label in schedules if label.startswith("ta-"))
    s = schedules[ta]
    k = len(s["progress"])
    shown = [i for i, p in enumerate(s["progress"]) if p in (0.0, 0.5, 1.0)] or list(range(k))
    drift = s["drift"][seed_index]
    fig = pyplot.figure(figsize=(3.2 * (len(shown) + 2), 6.6), constrained_layout=True)
    grid = fig.add_gridspec(2, len(shown) + 2)
    extent = (s["r"][0], s["r"][-1], s["adv"][0], s["adv"][-1])
    vmax = float(np.nanpercentile(drift[shown], 99)) or 1.0
    for j, i in enumerate(shown):
        ax = fig.add_subplot(grid[0, j])
        im = ax.imshow(drift[i], origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"{ta.upper()} D(r, A), n/N = {s['progress'][i]:g}", fontsize=9)
        ax.set_xlabel("ratio r")
        ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.8)
    changes = [(shown[j], shown[j + 1]) for j in range(len(shown) - 1)]
    cmax = max(float(np.nanpercentile(np.abs(drift[b] - drift[a]), 99)) for a, b in changes) or 1.0
    for j, (a, b) in enumerate(changes[:2]):
        ax = fig.add_subplot(grid[0, len(shown) + j])
        im = ax.imshow(drift[b] - drift[a], origin="lower", aspect="auto", extent=extent, cmap="RdBu_r",
                       vmin=-cmax, vmax=cmax)
        ax.set_title(f"change {s['progress'][a]:g} -> {s['progress'][b]:g}", fontsize=9)
        ax.set_xlabel("ratio r")
        ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.8)
    colors = method_colors(list(schedules))
    for j, adv in enumerate(s["r_star_adv"]):
        ax = fig.add_subplot(grid[1, 2 * j:2 * j + 2])
        for label, sched in schedules.items():
            for m in range(sched["r_star"].shape[0]):
                ax.plot(sched["progress"], sched["r_star"][m, :, j], "-o" if label == ta else "--", ms=3,
                        color=colors[label], alpha=0.8, label=label.upper() if m == 0 else None)
        ax.axhline(1.0 + (0.2 if adv > 0 else -0.2), color="0.4", lw=0.8, ls=":", label="PPO (eps 0.2)")
        ax.set_xlabel("n / N")
        ax.set_ylabel(f"r* for A = {adv:+g}")
        ax.legend(loc="best", fontsize=8)
    save(fig, path)
