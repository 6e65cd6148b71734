"""Plots a run writes into its directory (matplotlib, imported lazily, headless backend)."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_meta_curve(records: list[dict], path) -> None:
    """Fitness mean (line) and min-max band (shaded) per generation."""
    plt = _plt()
    g = np.array([r["generation"] for r in records])
    get = lambda k: np.array([np.nan if r.get(k) is None else r[k] for r in records], dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(g, get("fitness_min"), get("fitness_max"), alpha=0.25, label="population min-max")
    ax.plot(g, get("fitness_mean"), label="population mean")
    held = [(r["generation"], r["heldout_return"]) for r in records if r.get("heldout_return") is not None]
    if held:  # the objective the run returns (its ES mean), on the held-back tasks
        ax.plot(*zip(*held), "o-", label="ES mean, held-back tasks")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (return)")
    ax.set_title("meta-training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_learning_curve(returns, path, title: str = "training") -> None:
    """returns: [S, N] mean episode return per update for S seeds (NaN where no episode ended)."""
    plt = _plt()
    returns = np.atleast_2d(np.asarray(returns, dtype=float))
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in returns:
        ax.plot(r, alpha=0.3)
    ax.plot(np.nanmean(returns, axis=0), color="k", label="mean over seeds")
    ax.set_xlabel("update")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def drift_grid(drift, params, progress: float, lifetime: float = 100.0, n: int = 101):
    """D(r, A) on r in [0.25, 2], A in [-2, 2]: returns (r [n], A [n], D [n, n] indexed [A, r])."""
    from discover.objectives.temporal import lifetime_features

    r = np.linspace(0.25, 2.0, n, dtype=np.float32)
    a = np.linspace(-2.0, 2.0, n, dtype=np.float32)
    rr, aa = np.meshgrid(r, a)
    feats = lifetime_features(progress * lifetime, lifetime)
    d = drift(params, jnp.asarray(rr.ravel()), jnp.asarray(aa.ravel()), feats)
    return r, a, np.asarray(d).reshape(n, n)


def plot_drifts(ocfg, params, path) -> None:
    """The discovered drift at n/N = 0, 0.5, 1 next to PPO's and DPO's."""
    from discover.objectives.drift import dpo_drift, make_learned_drift, ppo_drift

    _, learned = make_learned_drift(ocfg)
    panels = [(f"learned, n/N={p:g}", learned, params, p) for p in (0.0, 0.5, 1.0)]
    panels.append(("PPO", lambda _, r, a, f: ppo_drift(r, a, ocfg.clip_eps), None, 0.0))
    panels.append(("DPO", lambda _, r, a, f: dpo_drift(r, a, ocfg.dpo_alpha, ocfg.dpo_beta), None, 0.0))
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    for ax, (title, fn, p, prog) in zip(axes, panels):
        r, a, d = drift_grid(fn, p, prog)
        im = ax.imshow(d, origin="lower", aspect="auto", extent=(r[0], r[-1], a[0], a[-1]), cmap="viridis")
        ax.axvline(1.0, color="w", lw=0.5)
        ax.set_title(title)
        ax.set_xlabel("ratio r")
        fig.colorbar(im, ax=ax)
    axes[0].set_ylabel("advantage A")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_run(run_dir, cfg, built, params) -> None:
    """Everything a finished meta-training run shows: the meta curve and, for LPO-style
    objectives, the discovered drift."""
    from discover.logging import MetricsLog

    run_dir = Path(run_dir)
    records = MetricsLog(run_dir).read()
    if records:
        plot_meta_curve(records, run_dir / "meta_training.png")
    if cfg.objective.name in ("lpo", "ta-lpo"):
        plot_drifts(cfg.objective, params, run_dir / "drift.png")


def plot_generalisation(horizon: dict, envs: dict, path) -> None:
    """Held-out evaluation (discover.evaluate): left, final return vs lifetime multiple (mean and
    bootstrap CI over seeds) per objective; right, normalised score per held-out env (mean, CI)."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    objs = list(dict.fromkeys(r["objective"] for r in horizon["rows"]))
    for o in objs:
        rows = [r for r in horizon["rows"] if r["objective"] == o]
        m = np.array([r["multiple"] for r in rows])
        ax1.plot(m, [r["mean"] for r in rows], marker="o", label=o)
        ax1.fill_between(m, [r["ci_lo"] for r in rows], [r["ci_hi"] for r in rows], alpha=0.2)
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
        err = np.array([[0.0, 0.0] if r is None else [r["norm_mean"] - r["norm_ci_lo"], r["norm_ci_hi"] - r["norm_mean"]] for r in rows]).T
        ax2.bar(np.arange(len(names)) + j * width, mean, width, yerr=np.nan_to_num(err), label=o, capsize=3)
    ax2.axhline(1.0, color="k", lw=0.5, ls="--")
    ax2.axhline(0.0, color="k", lw=0.5)
    ax2.set_xticks(np.arange(len(names)) + width * (len(objs) - 1) / 2, names, rotation=15)
    ax2.set_ylabel("(ret - random) / (baseline - random)")
    ax2.set_title("held-out environments")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
