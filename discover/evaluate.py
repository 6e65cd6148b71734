"""Held-out evaluation of (learned or hand-designed) objectives (SPEC section 8).

Fresh agents are trained with a FIXED objective (its parameters are not updated) on a given
environment and lifetime N, and scored by the final evaluation return of LifetimeMetrics.
- Horizon generalisation: train at multiples (0.25x .. 4x) of the meta-training lifetime and
  compare with the hand-designed baseline (A2C for LPG-family, PPO for LPO-family) at the same N.
- Environment generalisation: train on held-out environments and report returns normalised by
  the baseline trained with the same budget on the same environment.
Statistics are over seeds: mean, interquartile mean (IQM) and percentile-bootstrap CIs.

Normalised score (used everywhere in this module):
    score = (ret - random_ret) / (baseline_ret - random_ret)
random_ret is the return of the uniform random policy under the same evaluation protocol on the
same environment, so 0 = random, 1 = as good as the baseline. Where the baseline does not beat
random by more than `min_gap` the score is undefined and is NaN (never a huge fraction).
"""

from __future__ import annotations

import dataclasses
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import environments
from discover.lifetime import make_lifetime
from discover.objectives import make_objective

MULTIPLES = (0.25, 0.5, 1.0, 2.0, 4.0)


# ---------------------------------------------------------------------------------- statistics


def iqm(x) -> float:
    """Interquartile mean of x [S] (flattened): mean of the middle 50% of sorted values.

    Fractional trimming as in rliable (scipy.stats.trim_mean(x, 0.25)): with S values, the
    lowest and highest floor(S/4) are dropped, e.g. iqm([1..8]) = mean(3,4,5,6) = 4.5.
    """
    x = np.sort(np.asarray(x, dtype=float).ravel())
    if x.size == 0:
        return float("nan")
    k = int(np.floor(0.25 * x.size))
    return float(x[k : x.size - k].mean())


def bootstrap_ci(x, stat=np.mean, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0):
    """Percentile bootstrap (1 - alpha) confidence interval of stat(x) over x [S].

    Resamples S values with replacement n_boot times; returns (lo, hi) floats. A single value
    (or a constant array) gives lo == hi == that value.
    """
    x = np.asarray(x, dtype=float).ravel()
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    stats = np.array([stat(x[i]) for i in idx])
    return float(np.quantile(stats, alpha / 2)), float(np.quantile(stats, 1 - alpha / 2))


def normalised_score(ret, baseline_ret, random_ret=0.0, min_gap: float = 1e-6):
    """(ret - random_ret) / (baseline_ret - random_ret), elementwise (numpy broadcasting).

    ret: [...] returns to score; baseline_ret: the baseline's return on the same env and budget
    (use its mean over seeds so baseline noise does not enter per seed); random_ret: uniform
    random policy's return on the same env (default 0: then score = ret / baseline_ret).
    NaN where baseline_ret - random_ret <= min_gap (the baseline did not beat random, so the
    ratio would be meaningless or sign-flipped).
    """
    ret = np.asarray(ret, dtype=float)
    gap = np.asarray(baseline_ret, dtype=float) - np.asarray(random_ret, dtype=float)
    safe = np.where(gap > min_gap, gap, 1.0)
    return np.where(gap > min_gap, (ret - random_ret) / safe, np.nan)


def summarise(x, n_boot: int = 1000, seed: int = 0) -> dict:
    """{mean, iqm, ci_lo, ci_hi (bootstrap CI of the mean), iqm_lo, iqm_hi} of x [S], NaNs dropped."""
    x = np.asarray(x, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return dict(mean=float("nan"), iqm=float("nan"), ci_lo=float("nan"), ci_hi=float("nan"),
                    iqm_lo=float("nan"), iqm_hi=float("nan"))
    lo, hi = bootstrap_ci(x, np.mean, n_boot, seed=seed)
    ilo, ihi = bootstrap_ci(x, iqm, n_boot, seed=seed)
    return dict(mean=float(x.mean()), iqm=iqm(x), ci_lo=lo, ci_hi=hi, iqm_lo=ilo, iqm_hi=ihi)


def bootstrap_band(curves, n_boot: int = 500, alpha: float = 0.05, seed: int = 0):
    """(mean [T], lo [T], hi [T]): the mean over seeds of curves [S, T] and its percentile
    bootstrap (1 - alpha) CI at every point, resampling whole seeds; NaNs (no episode ended)
    are ignored per point, and a point without any finite value stays NaN."""
    x = np.asarray(curves, dtype=float)
    x = x.reshape((x.shape[0], -1)) if x.ndim > 1 else x[:, None]
    idx = np.random.default_rng(seed).integers(0, x.shape[0], size=(n_boot, x.shape[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points stay NaN
        boots = np.nanmean(x[idx], axis=1)  # [n_boot, T]
        lo, hi = np.nanquantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
        return np.nanmean(x, axis=0), lo, hi


def verdict(a: dict, b: dict) -> str:
    """'better', 'worse' or 'ties': a against b, two summarise() dicts, by their 95% bootstrap
    CIs of the mean. Overlapping intervals are a tie: the seeds do not support a difference."""
    if not all(np.isfinite([a["ci_lo"], a["ci_hi"], b["ci_lo"], b["ci_hi"]])):
        return "ties"
    if a["ci_lo"] > b["ci_hi"]:
        return "better"
    if a["ci_hi"] < b["ci_lo"]:
        return "worse"
    return "ties"


# ------------------------------------------------------------------------------------ training


def _env(env_name: str, level):
    """(wrapped env, EnvParams): level None = default, str = a named gridworld level (through the
    one resolver, environments.resolve), else the EnvParams given."""
    if isinstance(level, str):
        env, params, _ = environments.resolve(env_name, level)
        return env, params
    env, params = environments.make(env_name)
    return env, params if level is None else level


def _setup(cfg, objective, agent_cfg, lifetime_cfg):
    """A make_lifetime cfg (agent, objective, lifetime) and the Objective; objective may be a name."""
    ocfg = cfg.objective
    if isinstance(objective, str):
        ocfg = dataclasses.replace(ocfg, name=objective)
        objective = make_objective(ocfg)
    lt_cfg = types.SimpleNamespace(
        agent=agent_cfg or cfg.agent, objective=ocfg, lifetime=lifetime_cfg or cfg.lifetime
    )
    return lt_cfg, objective


def _first(levels):
    return jax.tree.map(lambda x: x[0], levels)


def make_grid_program(lt_cfg, objective, env, template, max_lifetime: int):
    """One jitted program that trains a [L, S] grid of fresh agents with a fixed objective.

    Returns run(objective_params, lifetimes [L] int, levels [S, ...] EnvParams, keys [S]) ->
    (final [L, S] evaluation returns, curve [L, S, max_lifetime] mean return of the episodes
    that ended during each update, NaN where none did or past the agent's own N).
    Every horizon runs in the same program: the update loop scans to max_lifetime and freezes
    agents past their own N (discover.lifetime), so one compilation serves the whole grid;
    seeds s use the same level and key at every horizon (common random numbers).
    """
    lt = make_lifetime(lt_cfg, objective, env, template, max_lifetime=max_lifetime)

    def one(params, n, level, key):
        _, m = lt.train(params, level, n, key)
        curve = jnp.where(m.episodes > 0, m.return_sum / jnp.maximum(m.episodes, 1.0), jnp.nan)
        return m.final_return, curve

    per_seed = jax.vmap(one, in_axes=(None, None, 0, 0))
    return jax.jit(jax.vmap(per_seed, in_axes=(None, 0, None, None)))


# (what, configs, id(env), level shapes) -> (env, jitted program); the env is held so its id
# stays unique while the entry lives.
_PROGRAMS: dict = {}


def clear_program_cache() -> None:
    """Forget the reused programs (benchmarks measuring cold starts call this)."""
    _PROGRAMS.clear()


def cached_program(key: tuple, env, levels, build):
    """A compiled program reused within a process (a notebook, a test, several checkpoints):
    the key holds everything that shapes the program; params, lifetimes, levels and keys are
    its inputs. Configs are frozen dataclasses, so they compare by value."""
    key = key + (id(env), jax.tree.structure(levels), tuple(np.shape(x) for x in jax.tree.leaves(levels)))
    try:
        hash(key)
    except TypeError:  # a config given as a plain namespace: no reuse
        return build()
    if key not in _PROGRAMS:
        _PROGRAMS[key] = (env, build())
    return _PROGRAMS[key][1]


def train_grid(cfg, objective, objective_params, env, levels, lifetimes, keys, agent_cfg=None,
               lifetime_cfg=None):
    """(final [L, S], curve [L, S, max(lifetimes)]) numpy arrays; see make_grid_program.

    cfg: RunConfig-like (agent, objective, lifetime); objective: an Objective or a name built from
    cfg.objective; env: a wrapped environment; levels: EnvParams batched over the S seeds.
    """
    lt_cfg, objective = _setup(cfg, objective, agent_cfg, lifetime_cfg)
    n_max = int(max(lifetimes))
    # Programs are reused within a process (a notebook, a test, several checkpoints): the key
    # holds everything that shapes the program; params, lifetimes, levels and keys are inputs.
    run = cached_program(("grid", lt_cfg.agent, lt_cfg.objective, lt_cfg.lifetime, objective.name, n_max), env, levels,
                  lambda: make_grid_program(lt_cfg, objective, env, _first(levels), n_max))
    final, curve = run(objective_params, jnp.asarray(lifetimes, jnp.int32), levels, keys)
    return np.asarray(final, dtype=np.float64), np.asarray(curve, dtype=np.float32)


def _tile(level, seeds: int):
    return jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (seeds,) + jnp.shape(x)), level)


def train_returns(cfg, objective, objective_params, env_name, level_or_none, lifetimes, seeds: int,
                  agent_cfg=None, lifetime_cfg=None, seed: int = 0) -> np.ndarray:
    """Final evaluation returns [len(lifetimes), seeds] of fresh agents trained with a fixed objective.

    cfg: RunConfig-like (agent, objective, lifetime sections); objective: an Objective or a name
    ("a2c", "ppo", ...) built from cfg.objective with that name; objective_params: its params
    ({} for hand-designed ones). env_name: an environments.make name; level_or_none: see _env.
    lifetimes: agent updates N, all in one compiled program (scan to the largest N).
    agent_cfg / lifetime_cfg: override cfg.agent / cfg.lifetime (e.g. a conv torso on MinAtar).
    Seeds use keys split from PRNGKey(seed), identical for every objective (common random numbers).
    """
    env, params = _env(env_name, level_or_none)
    keys = jax.random.split(jax.random.key(seed), seeds)
    final, _ = train_grid(cfg, objective, objective_params, env, _tile(params, seeds), lifetimes, keys,
                          agent_cfg, lifetime_cfg)
    return final


def random_policy_returns(cfg, env, levels, keys, agent_cfg=None, lifetime_cfg=None) -> np.ndarray:
    """[S] returns of the uniform random policy under the same evaluation protocol, one per level.

    An actor whose parameters are all zero outputs zero logits, i.e. the uniform policy.
    """
    lt_cfg, objective = _setup(cfg, "a2c", agent_cfg, lifetime_cfg)

    def build():
        lt = make_lifetime(lt_cfg, objective, env, _first(levels), max_lifetime=1)

        def one(level, key):
            k_init, k_eval = jax.random.split(key)
            actor = jax.tree.map(jnp.zeros_like, lt.init(k_init, level).params["actor"])
            return lt.evaluate(actor, level, k_eval)

        return jax.jit(jax.vmap(one))

    run = cached_program(("random", lt_cfg.agent, lt_cfg.lifetime), env, levels, build)
    return np.asarray(run(levels, keys), dtype=np.float64)


def random_returns(cfg, env_name, level_or_none, seeds: int, agent_cfg=None, lifetime_cfg=None,
                   seed: int = 0) -> np.ndarray:
    """[seeds] returns of the uniform random policy on one level (see random_policy_returns)."""
    env, params = _env(env_name, level_or_none)
    keys = jax.random.split(jax.random.key(seed + 1), seeds)
    return random_policy_returns(cfg, env, _tile(params, seeds), keys, agent_cfg, lifetime_cfg)


def baseline_for(objective) -> str:
    """The hand-designed baseline of an objective: A2C for LPG-family (predictor head), else PPO."""
    name = objective if isinstance(objective, str) else objective.name
    return "a2c" if name in ("lpg", "ta-lpg", "a2c") else "ppo"


# -------------------------------------------------------------------------------------- grids


def horizon_grid(cfg, learned: dict, env_name, level_or_none, ref_lifetime: int, seeds: int,
                 multiples=MULTIPLES, agent_cfg=None, lifetime_cfg=None, seed: int = 0,
                 random_samples: int = 32) -> dict:
    """Horizon generalisation: every objective trained at N = round(m * ref_lifetime) for m in multiples.

    learned: {label: (Objective, params)}; their baselines (baseline_for) are added with {} params.
    random_samples: evaluations of the uniform random policy averaged into random_return.
    Returns {"lifetimes": [M], "multiples": [M], "random_return": float, "rows": [...]}, one row per
    (objective, multiple): objective, multiple, lifetime, returns [S], mean / iqm / CIs of the
    return, and norm_* = the same statistics of normalised_score against the baseline's mean
    return at the same N.
    """
    lifetimes = [max(1, int(round(m * ref_lifetime))) for m in multiples]
    runs = dict(learned)
    for label, (obj, _) in learned.items():
        runs.setdefault(baseline_for(obj), (baseline_for(obj), {}))
    kw = dict(agent_cfg=agent_cfg, lifetime_cfg=lifetime_cfg, seed=seed)
    rets = {label: train_returns(cfg, obj, p, env_name, level_or_none, lifetimes, seeds, **kw)
            for label, (obj, p) in runs.items()}
    # The random policy is cheap to evaluate, so average more episodes than seeds.
    rand = float(random_returns(cfg, env_name, level_or_none, max(seeds, random_samples), **kw).mean())
    rows = []
    for label, (obj, _) in runs.items():
        base = rets[baseline_for(obj)]
        for i, (m, n) in enumerate(zip(multiples, lifetimes)):
            norm = normalised_score(rets[label][i], base[i].mean(), rand)
            rows.append(dict(objective=label, multiple=m, lifetime=n, returns=rets[label][i].tolist(),
                             **summarise(rets[label][i], seed=seed),
                             **{f"norm_{k}": v for k, v in summarise(norm, seed=seed).items()}))
    return dict(lifetimes=lifetimes, multiples=list(multiples), random_return=rand, rows=rows)


def environment_grid(cfg, learned: dict, envs: dict, seeds: int, seed: int = 0) -> dict:
    """Environment generalisation: normalised scores vs the baseline with the same budget and env.

    learned: {label: (Objective, params)}. envs: {env_label: dict(env=name, level=None|str|EnvParams,
    lifetime=N, agent=AgentConfig|None, lifetime_cfg=LifetimeConfig|None)}.
    Returns {env_label: {"lifetime", "random_return", "baseline_return", "rows": [...]}} with one
    row per objective (learned ones and their baselines): returns [S], return stats, and norm_*
    stats of normalised_score(returns, mean baseline return, random return).
    """
    out = {}
    for env_label, spec in envs.items():
        kw = dict(agent_cfg=spec.get("agent"), lifetime_cfg=spec.get("lifetime_cfg"), seed=seed)
        grid = horizon_grid(cfg, learned, spec["env"], spec.get("level"), spec["lifetime"], seeds,
                            multiples=(1.0,), **kw)
        base = {r["objective"]: r["mean"] for r in grid["rows"]}
        out[env_label] = dict(
            lifetime=spec["lifetime"], random_return=grid["random_return"],
            baseline_return={b: base[b] for b in {baseline_for(o) for o, _ in learned.values()}},
            rows=grid["rows"],
        )
    return out


def table(rows, key: str = "multiple", value: str = "mean", fmt: str = "{:.3f}") -> str:
    """Markdown table of row dicts: one line per objective, one column per distinct `key`, cells
    `value [ci_lo, ci_hi]` (the CI of the same prefix, e.g. norm_mean -> norm_ci_lo/hi)."""
    prefix = value[: -len("mean")] if value.endswith("mean") else value[: -len("iqm")]
    lo, hi = (f"{prefix}ci_lo", f"{prefix}ci_hi") if value.endswith("mean") else (f"{prefix}iqm_lo", f"{prefix}iqm_hi")
    cols = list(dict.fromkeys(r[key] for r in rows))
    objs = list(dict.fromkeys(r["objective"] for r in rows))
    lines = ["| objective | " + " | ".join(f"{key}={c}" for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for o in objs:
        cells = []
        for c in cols:
            r = next((r for r in rows if r["objective"] == o and r[key] == c), None)
            cells.append("-" if r is None else f"{fmt.format(r[value])} [{fmt.format(r[lo])}, {fmt.format(r[hi])}]")
        lines.append(f"| {o} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
