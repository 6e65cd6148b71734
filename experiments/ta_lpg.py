"""Is a discovered TA-LPG temporally aware? TA-LPG against LPG across agent lifetimes (CPU).

    python -m experiments.ta_lpg [--quick] [--out DIR] [--reuse] [--plot-only DIR]

(a) Meta-training: LPG and TA-LPG by ES in the CPU setting where LPG is discovered (preset
    lpg-es-tabular-cpu: tabular SGD agents on the level mixture sparse+dense, 16 workers x 20
    steps per update), every task drawing its lifetime N log-uniformly from a range
    (lifetime.lifetime_min), so log N and n/N vary while meta-training; the same seeds,
    population and generations for both.
(b) Evaluation: fresh agents trained by each discovered objective (every meta seed) and by A2C
    at lifetimes inside the training range and outside it on both sides, on each training level
    and on held-out ones (gridworld levels never trained on, the delayed chain), 32 evaluation
    seeds per cell; scores normalised by A2C at the same N.
(c) Interpretation: pi_hat against the advantage of a separately trained critic, and the entropy
    of y(s), at several n/N of lifetimes of several lengths (discover.schedules.lpg_schedule).
Writes results.json, schedule.npz, report.md and the figures into --out (default runs/ta_lpg);
--plot-only DIR redraws the report and figures from DIR's saved data (a reading.md there is
included in the report).
"""

from __future__ import annotations

import dataclasses

from discover import profiles
from discover.presets import get_preset
from discover.schedules import lpg_schedule, raw_analysis
from experiments import ta_report as rep
from experiments.ta_common import EvalEnv
from experiments.ta_runner import Experiment, main

MODES = {
    "full": dict(generations=400, population=32, lifetime_range=(10, 100), meta_seeds=(0, 1, 2, 3), eval_seeds=32,
                 lifetimes=(5, 10, 20, 50, 100, 200, 400), train_levels=("sparse", "dense"),
                 held_out=("long", "long_dense", "chain"),
                 interpret_lifetimes=(10, 30, 100), interpret_agents=4),
    "quick": dict(generations=2, population=4, lifetime_range=(2, 6), meta_seeds=(0,), eval_seeds=2,
                  lifetimes=(2, 8), train_levels=("sparse",), held_out=(), interpret_lifetimes=(4,),
                  interpret_agents=1),
}


def base_config(mode: dict):
    cfg = get_preset("lpg-es-tabular-cpu")
    lo, hi = mode["lifetime_range"]
    return dataclasses.replace(
        cfg, generations=mode["generations"], checkpoint_every=mode["generations"],
        lifetime=dataclasses.replace(cfg.lifetime, lifetime=hi, lifetime_min=lo),
        es=dataclasses.replace(cfg.es, population=mode["population"]),
    )


def eval_envs(cfg, mode: dict) -> list:
    """The training levels one by one, then the held-out environments; evaluation episodes run
    to each environment's own limit (discover.profiles.lifetime_for)."""
    import environments

    levels = mode["train_levels"] + tuple(x for x in mode["held_out"] if x != "chain")
    specs = [EvalEnv(level, "gridworld", level, held_out=level not in mode["train_levels"],
                     lifetime=profiles.lifetime_for(environments.get_level(level)[0], cfg.lifetime))
             for level in levels]
    if "chain" in mode["held_out"]:
        # The LPG paper's delayed chain, length 10: the first choice is paid 10 steps later.
        specs.append(EvalEnv("chain (L=10)", "chain", None, held_out=True))
    return specs


def scale_text(cfg, mode: dict) -> str:
    lo, hi = mode["lifetime_range"]
    lcfg, es = cfg.lifetime, cfg.es
    return (f"preset lpg-es-tabular-cpu (tabular SGD agents, lr 40 / 4; levels sparse+dense; {lcfg.num_envs} workers x "
            f"{lcfg.rollout_len} steps per update; LPG core {cfg.objective.lpg_hidden} units, KL "
            f"{cfg.objective.lpg_kl_direction}), lifetimes N log-uniform in [{lo}, {hi}] updates for every task; ES "
            f"{cfg.generations} generations x population {es.population} (sigma {es.sigma}, lr {es.lr}, {es.shaping} "
            f"fitness) per objective and meta seed; meta seeds {list(mode['meta_seeds'])}; {mode['eval_seeds']} "
            f"evaluation seeds per cell and meta seed; interpretation: meta seed {mode['meta_seeds'][0]}, "
            f"{mode['interpret_agents']} agents per N.")


def interpret(cfg, meta: dict, mode: dict) -> dict:
    return {label: lpg_schedule(cfg, m["objective"], m["params"][0], mode["interpret_lifetimes"],
                                seeds=mode["interpret_agents"])
            for label, m in meta.items()}


def draw_interpretation(out, schedules: dict) -> None:
    from discover.plots.interpret import plot_lpg_interpretation

    rep.plot_lpg_schedule(schedules, out / "lpg_schedule.png")
    for label, sched in schedules.items():
        for n in sched["lifetimes"]:
            plot_lpg_interpretation(raw_analysis(sched, int(n)), out / f"interpretation_{label}_N{int(n)}.png",
                                    title=f"{label.upper()}, N = {int(n)}")


EXPERIMENT = Experiment(
    title="TA-LPG vs LPG across agent lifetimes (CPU)",
    family="lpg",
    baseline="a2c",
    modes=MODES,
    base_config=base_config,
    eval_envs=eval_envs,
    train_range=lambda mode: list(mode["lifetime_range"]),
    scale_text=scale_text,
    interpret=interpret,
    draw_interpretation=draw_interpretation,
)

if __name__ == "__main__":
    main(EXPERIMENT, __doc__, "runs/ta_lpg")
