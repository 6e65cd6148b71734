"""GROOVE on CPU: LPG meta-trained by ES under five curricula, evaluated on held-out levels and
a held-out environment family, normalised by A2C.

    python -m experiments.groove_experiment [--seeds 4] [--generations 40] [--eval-seeds 32]
                                            [--out runs/groove_experiment] [--quick]

Curricula (everything else is the `groove-tabular-cpu` preset: tabular SGD agents, LPG with a
16-unit core, ES 16 members, levels of the `small` tabular distribution, N = 50 updates):
  dr              domain randomisation
  plr_pvl         PLR + positive value loss (a side critic beside each LPG agent)
  plr_maxmc       PLR + maximum Monte-Carlo
  groove          PLR + algorithmic regret (A2C antagonist), GROOVE
  optimal_regret  PLR + optimal regret (value iteration on each tabular level)
Every (curriculum, seed) is one run directory (skipped if it already finished, so the script
resumes). Each discovered LPG then trains fresh tabular agents for N = 50 updates, `eval-seeds`
seeds per environment, on:
  small    fresh levels of the training distribution (none of them was trained on)
  medium   levels of the `medium` tabular distribution (grids 6-8, 2-4 objects): held out
  sparse, long  the named 11x11 tabular levels: held out
  chain    the delayed chain MDP: a held-out environment family
Score = (return - R) / (A - R) with A and R the mean returns of A2C (same agent and budget, same
levels and seeds) and of the uniform random policy on that environment (levels vary a lot, and
per-level ratios explode where A2C barely beats random on a level). Reported per curriculum: mean and IQM over all meta-seeds x
evaluation seeds, with percentile-bootstrap 95% CIs, and each meta-seed's mean. Writes
results.json, results.md and a figure into --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

CURRICULA = {
    "dr": dict(name="dr"),
    "plr_pvl": dict(name="plr", score="pvl"),
    "plr_maxmc": dict(name="plr", score="maxmc"),
    "groove": dict(name="plr", score="alg_regret"),
    "optimal_regret": dict(name="plr", score="optimal_regret"),
}
EVAL_ENVS = {
    "small": ("gridworld", "small"),
    "medium": ("gridworld", "medium"),
    "sparse": ("gridworld", "sparse"),
    "long": ("gridworld", "long"),
    "chain": ("chain", ""),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_config(curriculum: str, seed: int, generations: int, population: int):
    from discover.presets import get_preset

    cfg = get_preset("groove-tabular-cpu")
    return dataclasses.replace(
        cfg, seed=seed, generations=generations, heldout_every=0,
        es=dataclasses.replace(cfg.es, population=population),
        curriculum=dataclasses.replace(cfg.curriculum, **CURRICULA[curriculum]),
    )


def meta_train(out: Path, curricula, seeds, generations, population) -> dict:
    """{(curriculum, seed): discovered params}; finished runs are loaded, not retrained."""
    import discover

    found, objectives = {}, set()
    for c in curricula:
        for s in seeds:
            run_dir = out / f"{c}_s{s}"
            if not (run_dir / "summary.json").exists():
                if run_dir.exists():
                    import shutil

                    shutil.rmtree(run_dir)  # an unfinished run of this script: start it again
                t0 = time.time()
                discover.train(run_config(c, s, generations, population), run_dir, progress=False)
                log(f"  {c} seed {s}: {time.time() - t0:.0f}s")
            cfg = discover.load_config(run_dir)
            found[(c, s)] = discover.load_discovered(run_dir, cfg)[1]
            objectives.add(json.dumps([dataclasses.asdict(cfg.objective), dataclasses.asdict(cfg.agent)]))
    # One evaluation config serves every run only if they share objective and agent settings.
    if len(objectives) != 1:
        raise ValueError(f"runs under {out} differ in objective or agent settings; use a fresh --out")
    return found


def evaluate(found: dict, run_cfg, eval_seeds: int, lifetime: int) -> dict:
    """Normalised scores {env: {curriculum: [meta-seeds, eval_seeds]}} and raw returns.

    run_cfg: a stored run's config; its objective and agent sections (shared by every run)
    decide how the discovered parameters train fresh agents."""
    import jax
    import numpy as np

    import environments
    from discover import evaluate as ev
    from discover.curricula import make_task
    from discover.config import EnvConfig

    cfg = run_cfg
    cfg = dataclasses.replace(cfg, lifetime=dataclasses.replace(cfg.lifetime, eval_steps=200))
    curricula = sorted({c for c, _ in found}, key=list(CURRICULA).index)
    seeds = sorted({s for _, s in found})
    keys = jax.random.split(jax.random.key(12345), eval_seeds)
    out = {"scores": {}, "returns": {}, "a2c": {}, "random": {}}
    for env_label, (name, dist) in EVAL_ENVS.items():
        t0 = time.time()
        task = make_task(EnvConfig(name, dist), dataclasses.replace(cfg.lifetime, lifetime=lifetime, lifetime_scale=1.0))
        _, levels, _ = task.curriculum.sample(jax.random.key(777), task.curriculum.init(jax.random.key(0)), eval_seeds)
        env = task.env
        grid = lambda objective, params: ev.train_grid(cfg, objective, params, env, levels, [lifetime], keys)[0][0]
        a2c = grid("a2c", {})
        rand = ev.random_policy_returns(cfg, env, levels, keys)
        out["a2c"][env_label], out["random"][env_label] = a2c.tolist(), rand.tolist()
        out["scores"][env_label], out["returns"][env_label] = {}, {}
        for c in curricula:
            rets = np.stack([grid("lpg", found[(c, s)]) for s in seeds])  # [meta-seeds, eval seeds]
            norm = ev.normalised_score(rets, a2c.mean(), rand.mean())
            out["scores"][env_label][c] = norm.tolist()
            out["returns"][env_label][c] = rets.tolist()
        log(f"  evaluated {env_label} in {time.time() - t0:.0f}s")
    return out


def hierarchical_ci(x, stat, n_boot: int = 2000, seed: int = 0):
    """95% percentile-bootstrap CI of stat over x [meta-seeds, eval seeds], resampling meta-seeds
    and then evaluation seeds within each (a meta-training seed, not an evaluation seed, is the
    unit a new run would redraw, so its variation must enter the interval)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    m, s = x.shape
    stats = []
    for _ in range(n_boot):
        rows = x[rng.integers(0, m, m)]
        cols = rng.integers(0, s, (m, s))
        stats.append(stat(np.take_along_axis(rows, cols, 1).ravel()))
    return float(np.quantile(stats, 0.025)), float(np.quantile(stats, 0.975))


def summarise(results: dict) -> dict:
    import numpy as np

    from discover import evaluate as ev

    table = {}
    for env_label, per in results["scores"].items():
        table[env_label] = {}
        for c, scores in per.items():
            x = np.asarray(scores, dtype=float)
            if not np.isfinite(x).all():  # A2C did not beat random on this environment
                table[env_label][c] = {k: float("nan") for k in ("mean", "iqm", "ci_lo", "ci_hi", "iqm_lo", "iqm_hi")}
                continue
            lo, hi = hierarchical_ci(x, np.mean)
            ilo, ihi = hierarchical_ci(x, ev.iqm)
            table[env_label][c] = dict(mean=float(x.mean()), iqm=ev.iqm(x), ci_lo=lo, ci_hi=hi, iqm_lo=ilo, iqm_hi=ihi,
                                       per_seed_mean=x.mean(1).tolist(), n=int(x.size))
    return table


def write(out: Path, results: dict, table: dict, meta: dict) -> None:
    import numpy as np

    (out / "results.json").write_text(json.dumps({"meta": meta, "summary": table, **results}, indent=1))
    curricula = list(next(iter(table.values())))
    walls = meta["meta_train_s"]
    lines = [f"# GROOVE on CPU ({meta['machine']})", "",
             f"{meta['seeds']} meta-training seeds x {meta['generations']} generations x {meta['population']} members "
             f"per curriculum (preset groove-tabular-cpu); {meta['eval_seeds']} evaluation seeds per environment at "
             f"N = {meta['lifetime']} updates. Normalised score: (return - random) / (A2C - random), with A2C's and the "
             "random policy's mean returns on that environment. Intervals: 95% bootstrap over meta-training seeds, "
             "then evaluation seeds within each.", "",
             "Meta-training wall time per run, median over seeds (s): "
             + ", ".join(f"{c} {np.median(w):.0f}" for c, w in walls.items())
             + f"; evaluation {meta['eval_s'] / 60:.0f} min.", ""]
    for stat, lo, hi in (("iqm", "iqm_lo", "iqm_hi"), ("mean", "ci_lo", "ci_hi")):
        lines += [f"**{stat.upper()} [95% bootstrap CI]**", "", "| curriculum | " + " | ".join(table) + " |",
                  "|---|" + "---|" * len(table)]
        for c in curricula:
            cells = [f"{table[e][c][stat]:.2f} [{table[e][c][lo]:.2f}, {table[e][c][hi]:.2f}]" for e in table]
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Mean raw returns (A2C / random policy): " + ", ".join(
        f"{e}: {np.mean(results['a2c'][e]):.2f} / {np.mean(results['random'][e]):.2f}" for e in table), ""]
    (out / "results.md").write_text("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2.2 * len(table) + 2, 3.6))
    width = 0.8 / len(curricula)
    for i, c in enumerate(curricula):
        xs = np.arange(len(table)) + i * width
        iqm = [table[e][c]["iqm"] for e in table]
        err = [[table[e][c]["iqm"] - table[e][c]["iqm_lo"] for e in table], [table[e][c]["iqm_hi"] - table[e][c]["iqm"] for e in table]]
        ax.bar(xs, iqm, width, yerr=err, capsize=3, label=c)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(table)) + 0.4 - width / 2, list(table))
    ax.set_ylabel("IQM normalised score (A2C = 1)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "groove_experiment.png", dpi=140)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--generations", type=int, default=40)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--eval-seeds", type=int, default=32)
    parser.add_argument("--out", default="runs/groove_experiment")
    parser.add_argument("--quick", action="store_true", help="2 curricula, 1 seed, 2 generations, 4 evaluation seeds")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.generations, args.population, args.eval_seeds = 1, 2, 4, 4
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path.home() / ".cache" / "discover" / "jax"))
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    import discover
    from experiments.benchmarks.common import machine_info

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curricula = ["dr", "groove"] if args.quick else list(CURRICULA)
    t0 = time.time()
    log(f"meta-training {len(curricula)} curricula x {args.seeds} seeds x {args.generations} generations")
    found = meta_train(out, curricula, range(args.seeds), args.generations, args.population)
    log("evaluating")
    t_eval = time.time()
    results = evaluate(found, discover.load_config(out / f"{curricula[0]}_s0"), args.eval_seeds, lifetime=50)
    eval_s = time.time() - t_eval
    # Each run's own meta-training wall time (its summary), so a resumed invocation reports all of it.
    meta_train_s = {c: [json.loads((out / f"{c}_s{s}" / "summary.json").read_text())["wall_time_s"]
                        for s in range(args.seeds)] for c in curricula}
    table = summarise(results)
    info = machine_info()
    meta = dict(seeds=args.seeds, generations=args.generations, population=args.population,
                eval_seeds=args.eval_seeds, lifetime=50, wall_s=time.time() - t0, eval_s=eval_s,
                meta_train_s=meta_train_s,
                machine=f"{info.get('cpu_count')}-core {info.get('cpu_model', info['platform'])}")
    write(out, results, table, meta)
    log((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
