"""What a (temporally-aware) discovered objective does at different points of a lifetime: the
data behind the TA paper's reading of TA-LPO as dynamic clipping and of TA-LPG as annealing.

- TA-LPO / LPO: the drift D(r, A) at several n/N and its changes between them, and the
  *effective trust region*: for a sample with advantage A the surrogate r A - D(r, A) is largest
  at some ratio r*(A), the furthest the update wants to move that sample's probability (PPO:
  r*(+1) = 1 + eps, r*(-1) = 1 - eps at every n/N; a TA drift may widen or narrow it over time).
- TA-LPG / LPG: at several n/N of lifetimes of several lengths N, how pi_hat follows the
  advantage of a separately trained critic (least-squares slope and Pearson correlation, from
  discover.interpret.lpg_lifetime_analysis), how large pi_hat is, and the entropy of y(s).

Everything is returned as numpy arrays, so figures can be redrawn from saved data.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from discover.objectives.drift import make_learned_drift
from discover.objectives.temporal import lifetime_features

PROGRESS = (0.0, 0.5, 1.0)


def drift_schedule(ocfg, params, progress=PROGRESS, lifetime: float = 100.0, n: int = 101,
                   advantages=(-1.0, 1.0)) -> dict:
    """The learned drift of an LPO-family ObjectiveConfig at each n/N in `progress` (K values).

    Returns r [n] (ratios in [0.25, 2]), adv [n] (advantages in [-2, 2]), progress [K],
    drift [K, n, n] indexed [k, A, r], change [K - 1, n, n] = drift[k + 1] - drift[k],
    r_star [K, len(advantages)]: best_ratio of the surrogate r A - D(r, A) for each listed A.
    lifetime: the N fed to the drift's log N block (only used with objective.log_lifetime).
    """
    from discover.plots.run import drift_grid  # the grid the drift figures use (no plotting here)

    drift = make_learned_drift(ocfg)[1]
    maps = []
    for p in progress:
        r, a, d = drift_grid(drift, params, float(p), lifetime, n)
        maps.append(d)
    maps = np.stack(maps)
    r_star = np.zeros((len(progress), len(advantages)), np.float32)
    for k, p in enumerate(progress):
        feats = lifetime_features(float(p) * lifetime, lifetime)
        for j, adv in enumerate(advantages):
            d = np.asarray(drift(params, jnp.asarray(r), jnp.full_like(jnp.asarray(r), adv), feats))
            r_star[k, j] = best_ratio(r, r * adv - d)
    return dict(r=r, adv=a, progress=np.asarray(progress, np.float32), drift=maps,
                change=np.diff(maps, axis=0), r_star=r_star, r_star_adv=np.asarray(advantages, np.float32))


def best_ratio(r, surrogate, tol: float = 1e-3) -> float:
    """The ratio at which a surrogate [n] over the grid r [n] is largest; among near-ties (within
    tol) the one closest to r = 1, so a surrogate that is flat past a clip edge (PPO) reports
    the edge: the furthest the update moves, not an arbitrary point of the flat part."""
    surrogate = np.asarray(surrogate, float)
    near = surrogate >= surrogate.max() - tol
    return float(r[near][np.argmin(np.abs(r[near] - 1.0))])


def regression_slope(x, y) -> float:
    """Least-squares slope of y on x (both flattened): cov(x, y) / var(x); NaN if x is constant."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    var = np.var(x)
    return float(np.mean((x - x.mean()) * (y - y.mean())) / var) if var > 0 else float("nan")


def pearson(x, y) -> float:
    """Pearson correlation of x and y (flattened); NaN if either is constant."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    sx, sy = np.std(x), np.std(y)
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy)) if sx > 0 and sy > 0 else float("nan")


def lpg_schedule(cfg, objective, params, lifetimes, progress=(0.0, 0.25, 0.5, 0.75, 1.0), seeds: int = 4,
                 seed: int = 0) -> dict:
    """TA-LPG / LPG behaviour at each n/N in `progress` (K) for each lifetime N in `lifetimes` (L).

    cfg: the run's RunConfig (its env, agent and lifetime sections; lifetime.lifetime and
    lifetime_min are replaced by each N); `seeds` agents per N on the run's own levels.
    Returns progress [K], lifetimes [L] and, per [L, K]: slope (of pi_hat on the critic's
    advantage), corr (Pearson), pi_hat_abs (mean |pi_hat|), y_entropy (mean entropy of y(s) at
    that update); plus, per N, the raw analysis `raw_<N>` (see lpg_lifetime_analysis) so the
    scatter figures can be redrawn.
    """
    from discover.interpret import lpg_lifetime_analysis

    shape = (len(lifetimes), len(progress))
    out = {k: np.zeros(shape, np.float32) for k in ("slope", "corr", "pi_hat_abs", "y_entropy")}
    raw = {}
    for i, n_life in enumerate(lifetimes):
        lcfg = dataclasses.replace(cfg.lifetime, lifetime=int(n_life), lifetime_min=0)
        data = lpg_lifetime_analysis(dataclasses.replace(cfg, lifetime=lcfg), objective, params, seeds=seeds,
                                     points=tuple(progress), seed=seed)
        for k, p in enumerate(progress):
            pi_hat, adv = data["pi_hat"][:, k], data["advantage"][:, k]
            out["slope"][i, k] = regression_slope(adv, pi_hat)
            out["corr"][i, k] = pearson(adv, pi_hat)
            out["pi_hat_abs"][i, k] = np.abs(pi_hat).mean()
            n = int(round(p * (int(n_life) - 1)))
            out["y_entropy"][i, k] = data["y_entropy"][:, n].mean()
        raw[int(n_life)] = data
    out.update(progress=np.asarray(progress, np.float32), lifetimes=np.asarray(lifetimes, np.int32))
    for n_life, data in raw.items():
        out.update({f"raw_{n_life}_{k}": v for k, v in data.items()})
    return out


def raw_analysis(schedule: dict, lifetime: int) -> dict:
    """The lpg_lifetime_analysis dict of one N back out of an lpg_schedule result (or its npz)."""
    prefix = f"raw_{int(lifetime)}_"
    return {k[len(prefix):]: np.asarray(v) for k, v in schedule.items() if k.startswith(prefix)}
