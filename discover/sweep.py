"""Sweeps over seeds and inner-loop hyperparameters (`discover sweep`).

A sweep trains agents with a FIXED objective (hand-designed, or a pretrained / discovered one:
nothing is meta-trained). One *run* is one agent lifetime (N updates, then the final
evaluation) at one hyperparameter combination and one seed; a sweep of C combinations x S
seeds is C x S runs.

Numeric fields in TRACED enter the compiled program as traced numbers, so every combination
of them and every seed is one vmapped batch: one compilation, one program. Any other field
(network widths, numbers of envs, epochs, the environment, ...) changes shapes or Python
control flow, so each distinct value of those fields is its own program, run one after
another. `lifetime.lifetime` is traced too: N is a traced argument and the update loop scans
to the largest N and freezes agents past their own (discover.lifetime).
"""

from __future__ import annotations

import copy
import itertools
import time
import types

import jax
import jax.numpy as jnp
import numpy as np

from discover.config import ConfigError, apply_overrides

# Fields read only as numbers inside the traced program (no shapes, no Python branches on them).
TRACED = (
    "agent.lr", "agent.aux_lr", "agent.max_grad_norm", "objective.gamma", "objective.gae_lambda", "objective.clip_eps",
    "objective.vf_coef", "objective.ent_coef", "objective.dpo_alpha", "objective.dpo_beta",
    "objective.lpg_alpha_y", "lifetime.lifetime",
)


def parse_vary(texts) -> dict:
    """['agent.lr=1e-3,3e-3', ...] -> {'agent.lr': ['1e-3', '3e-3'], ...} (values checked later)."""
    vary = {}
    for text in texts:
        path, eq, values = text.partition("=")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not eq or not path or not vals:
            raise ConfigError(f"--vary expects FIELD=V1,V2,... (e.g. agent.lr=1e-3,3e-3), got {text!r}")
        if path in vary:
            raise ConfigError(f"--vary {path} is given twice")
        vary[path] = vals
    return vary


def _with_numbers(section, values: dict):
    """A copy of a frozen config section with some fields replaced by (traced) numbers.

    Frozen dataclasses validate in __post_init__, which cannot compare tracers; the values were
    validated as plain numbers when the combinations were built, so the copy skips it."""
    out = copy.copy(section)
    for name, value in values.items():
        object.__setattr__(out, name, value)
    return out


def make_sweep_program(cfg, env, template, traced: tuple[str, ...], max_lifetime: int):
    """jit(vmap(one run)) over a batch B: run(params, hp {path: [B]}, lifetimes [B], levels [B],
    keys [B]) -> (final [B], curve [B, max_lifetime]). The objective and the agent are rebuilt
    inside the trace from the config with the traced fields substituted."""
    from discover.lifetime import make_lifetime
    from discover.objectives import make_objective

    def one(params, hp, n, level, key):
        sections = {}
        for sec in ("agent", "objective"):
            vals = {p.split(".", 1)[1]: hp[p] for p in traced if p.startswith(sec + ".")}
            sections[sec] = _with_numbers(getattr(cfg, sec), vals)
        lt_cfg = types.SimpleNamespace(agent=sections["agent"], objective=sections["objective"], lifetime=cfg.lifetime)
        # Rebuilt here so its coefficients (clip_eps, ent_coef, ...) can be the traced ones;
        # a learned objective's network shapes are static fields and do not change.
        obj = make_objective(sections["objective"])
        lt = make_lifetime(lt_cfg, obj, env, template, max_lifetime=max_lifetime)
        _, m = lt.train(params, level, n, key)
        return m.final_return, jnp.where(m.episodes > 0, m.return_sum / jnp.maximum(m.episodes, 1.0), jnp.nan)

    return jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0, 0)))


def combinations(cfg, vary: dict) -> list[tuple[dict, object]]:
    """[(values {path: text}, validated config)] for the cross product of the varied values."""
    paths = list(vary)
    out = []
    for vals in itertools.product(*(vary[p] for p in paths)):
        values = dict(zip(paths, vals))
        out.append((values, apply_overrides(cfg, list(values.items()))))
    return out


def _static_key(c, traced):
    """A combination's config with the traced fields blanked: equal keys share a program."""
    from discover.config import to_dict

    d = to_dict(c)
    for p in traced:
        sec, name = p.split(".")
        d[sec][name] = None
    return repr(d)


def run_sweep(cfg, vary: dict, seeds: int, pretrained=None, seed: int = 0, log=print) -> dict:
    """Train every (combination, seed) and return the sweep's results (JSON-serialisable).

    cfg: the base RunConfig (already holding the objective section to use); vary: {path: [text]};
    pretrained: a Pretrained whose params drive a learned objective (None for hand-designed).
    """
    from discover import evaluate as ev
    from discover.objectives import make_objective
    from discover.run_eval import prepare_env, run_env

    combos = combinations(cfg, vary)
    traced = tuple(p for p in vary if p in TRACED)
    groups: dict[str, list[int]] = {}
    for i, (_, c) in enumerate(combos):
        groups.setdefault(_static_key(c, traced), []).append(i)
    rows, programs, t_all = [], [], time.time()
    for members in groups.values():
        base = combos[members[0]][1]
        lifetimes = [combos[i][1].lifetime.lifetime for i in members]
        n_max = max(lifetimes)
        cell = prepare_env(run_env(base), base, (), (n_max,), seeds, seed)
        objective = make_objective(cell.cfg.objective)
        if objective.learned and pretrained is None:
            raise ConfigError(f"objective {objective.name!r} is learned: give --objective NAME (a pretrained name or "
                              "run directory) for its parameters, or sweep a hand-designed objective")
        params = pretrained.params if objective.learned else {}
        b = len(members) * seeds
        hp = {p: jnp.repeat(jnp.asarray([float(_field(combos[i][1], p)) for i in members], jnp.float32), seeds)
              for p in traced if p != "lifetime.lifetime"}
        n = jnp.repeat(jnp.asarray(lifetimes, jnp.int32), seeds)
        # Seed s has the same key and level in every combination (common random numbers).
        keys = jnp.concatenate([jax.random.split(jax.random.key(seed), seeds)] * len(members))
        levels = jax.tree.map(lambda x: jnp.concatenate([x] * len(members)), cell.levels)
        t0 = time.time()
        hp_paths = tuple(p for p in traced if p != "lifetime.lifetime")
        run = ev.cached_program(("sweep", _static_key(cell.cfg, traced), hp_paths, n_max), cell.env, levels,
                         lambda: make_sweep_program(cell.cfg, cell.env, jax.tree.map(lambda x: x[0], cell.levels),
                                                    hp_paths, n_max))
        final, curve = jax.block_until_ready(run(params, hp, n, levels, keys))
        wall = time.time() - t0
        programs.append(dict(combinations=len(members), runs=b, wall_time_s=wall,
                             fixed={p: combos[members[0]][0][p] for p in vary if p not in traced}))
        log(f"  program {len(programs)}/{len(groups)}: {len(members)} combinations x {seeds} seeds in {wall:.1f}s")
        final, curve = np.asarray(final, np.float64), np.asarray(curve, np.float32)
        lcfg = cell.cfg.lifetime
        for j, i in enumerate(members):
            values, c = combos[i]
            ret = final[j * seeds:(j + 1) * seeds]
            rows.append(dict(values={p: float(v) if _numeric(v) else v for p, v in values.items()},
                             lifetime=c.lifetime.lifetime, env_steps=c.lifetime.lifetime * lcfg.num_envs * lcfg.rollout_len,
                             program=len(programs) - 1, returns=ret.tolist(), **ev.summarise(ret, seed=seed),
                             curve_mean=_nanmean(curve[j * seeds:(j + 1) * seeds]).tolist()))
    return dict(objective=cfg.objective.name, env=run_env(cfg).label, vary=vary, traced=list(traced), seeds=seeds,
                seed=seed, runs=len(combos) * seeds, programs=programs, rows=rows, wall_time_s=time.time() - t_all,
                backend=jax.default_backend(), steps_per_update=cfg.lifetime.num_envs * cfg.lifetime.rollout_len)


def _nanmean(curves):
    """Mean over seeds [T] of curves [S, T]; NaN (quietly) where no seed finished an episode."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(curves, axis=0)


def _field(cfg, path):
    sec, name = path.split(".")
    return getattr(getattr(cfg, sec), name)


def _numeric(text) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
