"""Figures of a meta-training run: the meta-training curve, learning curves and drift maps."""

from __future__ import annotations

import numpy as np

from discover.plots.style import color, plt, save, steps_axis


def _series(records, key):
    return np.array([np.nan if r.get(key) is None else r[key] for r in records], dtype=float)


def plot_meta_curve(records: list[dict], path) -> None:
    """Population fitness per generation (mean, min-max band) against cumulative environment
    steps, and the ES mean's held-back return (`heldout_return`) where metrics.jsonl has it:
    the population's fitness alone can rise while the objective the run returns does not."""
    pyplot = plt()
    gens = np.array([r["generation"] for r in records], dtype=float)
    steps = np.nancumsum(_series(records, "env_steps"))
    use_steps = bool(np.nansum(steps) > 0)
    x = steps if use_steps else gens + 1
    fig, ax = pyplot.subplots(figsize=(6.4, 4))
    ax.fill_between(x, _series(records, "fitness_min"), _series(records, "fitness_max"), color=color(0),
                    alpha=0.2, lw=0, label="population min-max")
    ax.plot(x, _series(records, "fitness_mean"), color=color(0), label="population mean")
    held = _series(records, "heldout_return")
    if np.isfinite(held).any():
        ok = np.isfinite(held)
        ax.plot(x[ok], held[ok], "o-", color=color(3), ms=4, label="ES mean, held-back tasks")
    if use_steps:
        steps_axis(ax, "environment steps (meta-training)")
        if len(gens) > 1:  # one point: the step -> generation map is constant, the axis singular
            top = ax.secondary_xaxis("top", functions=(lambda s: np.interp(s, steps, gens + 1),
                                                       lambda g: np.interp(g, gens + 1, steps)))
            top.set_xlabel("generation")
    else:
        ax.set_xlabel("generation")
    ax.set_ylabel("fitness (final return)")
    ax.legend(loc="best")
    save(fig, path)


def plot_learning_curve(returns, path, title: str = "training", steps_per_update: int = 1) -> None:
    """returns: [S, N] mean episode return per update for S seeds (NaN where no episode ended):
    the mean over seeds with a 95% bootstrap band, x in environment steps."""
    from discover.evaluate import bootstrap_band

    pyplot = plt()
    returns = np.atleast_2d(np.asarray(returns, dtype=float))
    x = (np.arange(returns.shape[1]) + 1) * steps_per_update
    mean, lo, hi = bootstrap_band(returns)
    fig, ax = pyplot.subplots(figsize=(6.4, 4))
    ax.fill_between(x, lo, hi, color=color(0), alpha=0.25, lw=0, label="95% CI")
    ax.plot(x, mean, color=color(0), label=f"mean of {returns.shape[0]} seeds")
    steps_axis(ax) if steps_per_update > 1 else ax.set_xlabel("update")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend(loc="best")
    save(fig, path)


def drift_grid(drift, params, progress: float, lifetime: float = 100.0, n: int = 101):
    """D(r, A) on r in [0.25, 2], A in [-2, 2]: returns (r [n], A [n], D [n, n] indexed [A, r])."""
    import jax.numpy as jnp

    from discover.objectives.temporal import lifetime_features

    r = np.linspace(0.25, 2.0, n, dtype=np.float32)
    a = np.linspace(-2.0, 2.0, n, dtype=np.float32)
    rr, aa = np.meshgrid(r, a)
    feats = lifetime_features(progress * lifetime, lifetime)
    d = drift(params, jnp.asarray(rr.ravel()), jnp.asarray(aa.ravel()), feats)
    return r, a, np.asarray(d).reshape(n, n)


def drift_panels(ocfg, params, initial_params=None, progresses=(0.0, 0.5, 1.0)):
    """[(title, r, A, D)]: the learned drift at each n/N (and the initial one at n/N = 0 when
    given), then PPO's and DPO's drifts for reference."""
    from discover.objectives.drift import dpo_drift, make_learned_drift, ppo_drift

    _, learned = make_learned_drift(ocfg)
    panels = [(f"discovered, n/N = {p:g}", *drift_grid(learned, params, p)) for p in progresses]
    if initial_params is not None:
        panels.insert(0, ("initial, n/N = 0", *drift_grid(learned, initial_params, 0.0)))
    panels.append(("PPO", *drift_grid(lambda _, r, a, f: ppo_drift(r, a, ocfg.clip_eps), None, 0.0)))
    panels.append(("DPO", *drift_grid(lambda _, r, a, f: dpo_drift(r, a, ocfg.dpo_alpha, ocfg.dpo_beta), None, 0.0)))
    return panels


def plot_drifts(ocfg, params, path, initial_params=None) -> None:
    """Drift maps D(r, A) with one colour scale shared by every panel (so panels compare by
    colour), the r = 1 line where every valid drift is zero, and one colour bar."""
    pyplot = plt()
    panels = drift_panels(ocfg, params, initial_params)
    # The 99th percentile keeps one extreme corner from washing out every other panel.
    vmax = float(np.nanpercentile(np.concatenate([p[3].ravel() for p in panels]), 99)) or 1.0
    fig, axes = pyplot.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.2), sharey=True,
                                constrained_layout=True)
    for ax, (title, r, a, d) in zip(axes, panels):
        im = ax.imshow(d, origin="lower", aspect="auto", extent=(r[0], r[-1], a[0], a[-1]), cmap="magma",
                       vmin=0.0, vmax=vmax)
        ax.axvline(1.0, color="w", lw=0.6, ls="--")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("ratio r")
        ax.grid(False)
    axes[0].set_ylabel("advantage A")
    fig.colorbar(im, ax=list(axes), shrink=0.9, label="drift D(r, A)", extend="max")
    save(fig, path)


def plot_generalisation(horizon: dict, envs: dict, path) -> None:
    """Held-out evaluation (discover.evaluate grids): left, final return vs lifetime multiple
    (mean and bootstrap CI over seeds) per objective; right, normalised score per env (mean, CI)."""
    pyplot = plt()
    fig, (ax1, ax2) = pyplot.subplots(1, 2, figsize=(11, 4))
    objs = list(dict.fromkeys(r["objective"] for r in horizon["rows"]))
    for i, o in enumerate(objs):
        rows = [r for r in horizon["rows"] if r["objective"] == o]
        m = np.array([r["multiple"] for r in rows])
        ax1.plot(m, [r["mean"] for r in rows], marker="o", color=color(i), label=o)
        ax1.fill_between(m, [r["ci_lo"] for r in rows], [r["ci_hi"] for r in rows], color=color(i), alpha=0.2, lw=0)
    ax1.set_xscale("log", base=2)
    ax1.set_xlabel("lifetime / meta-training lifetime")
    ax1.set_ylabel("final return")
    ax1.set_title("horizon generalisation")
    ax1.legend()
    names = list(envs)
    width = 0.8 / max(len(objs), 1)
    for j, o in enumerate(objs):
        rows = [next((r for r in envs[e]["rows"] if r["objective"] == o), None) for e in names]
        mean = np.array([np.nan if r is None else r["norm_mean"] for r in rows])
        err = np.array([[0.0, 0.0] if r is None else [r["norm_mean"] - r["norm_ci_lo"], r["norm_ci_hi"] - r["norm_mean"]]
                        for r in rows]).T
        ax2.bar(np.arange(len(names)) + j * width, mean, width, yerr=np.nan_to_num(err), label=o, capsize=3,
                color=color(j))
    ax2.axhline(1.0, color="k", lw=0.5, ls="--")
    ax2.axhline(0.0, color="k", lw=0.5)
    ax2.set_xticks(np.arange(len(names)) + width * (len(objs) - 1) / 2, names, rotation=15)
    ax2.set_ylabel("(ret - random) / (baseline - random)")
    ax2.set_title("held-out environments")
    ax2.legend()
    save(fig, path)
