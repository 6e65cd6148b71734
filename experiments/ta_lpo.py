"""Is a discovered TA-LPO temporally aware? TA-LPO against LPO across training horizons (CPU).

    python -m experiments.ta_lpo [--quick] [--out DIR] [--reuse] [--plot-only DIR]

The TA paper's protocol at CPU scale:
(a) Meta-training: LPO and TA-LPO by ES on ONE environment at ONE horizon (the quickstart
    setting: CartPole-v1, 4 workers x 32 steps per update, N = 24 updates, a drift that starts
    as a random network), the same seeds, population and generations for both.
(b) Evaluation: fresh agents trained by each discovered drift (every meta seed) and by PPO at
    0.25x-4x the meta-training horizon, on CartPole and on two held-out environments (Acrobot-v1,
    Catch-bsuite), 32 evaluation seeds per cell; scores normalised by PPO at the same N.
(c) Interpretation: the drift D(r, A) at several n/N and its changes, and the effective trust
    region r*(A) over the lifetime (discover.schedules.drift_schedule), for every meta seed.
Writes results.json, schedule.npz, report.md and the figures into --out (default runs/ta_lpo);
--plot-only DIR redraws the report and figures from DIR's saved data (a reading.md there is
included in the report).
"""

from __future__ import annotations

import dataclasses

from discover import profiles
from discover.presets import get_preset
from discover.schedules import drift_schedule
from experiments import ta_report as rep
from experiments.ta_common import EvalEnv
from experiments.ta_runner import Experiment, main

# lifetime: the meta-training horizon N; lifetimes: the evaluation grid, 0.25x-4x of it.
MODES = {
    "full": dict(generations=300, population=32, meta_seeds=(0, 1, 2, 3), eval_seeds=32, lifetime=24,
                 lifetimes=(6, 12, 24, 48, 96), held_out=("Acrobot-v1", "Catch-bsuite"),
                 progress=(0.0, 0.25, 0.5, 0.75, 1.0)),
    "quick": dict(generations=2, population=4, meta_seeds=(0,), eval_seeds=2, lifetime=8, lifetimes=(2, 8),
                  held_out=(), progress=(0.0, 1.0)),
}
TRAIN_ENV = "CartPole-v1"


def base_config(mode: dict):
    cfg = get_preset("quickstart")
    return dataclasses.replace(cfg, generations=mode["generations"], checkpoint_every=mode["generations"],
                               lifetime=dataclasses.replace(cfg.lifetime, lifetime=mode["lifetime"]),
                               es=dataclasses.replace(cfg.es, population=mode["population"]))


def eval_envs(cfg, mode: dict) -> list:
    """The meta-training environment, then the held-out ones; each gets the run's agent on its
    observations (discover.profiles.agent_for) and evaluation episodes to its own limit."""
    import environments

    specs = []
    for name in (TRAIN_ENV,) + tuple(mode["held_out"]):
        _, params = environments.make(name)
        lifetime = dataclasses.replace(profiles.lifetime_for(params, cfg.lifetime), eval_envs=16)
        specs.append(EvalEnv(name, name, None, held_out=name != TRAIN_ENV,
                             agent=profiles.agent_for(name, cfg.agent), lifetime=lifetime))
    return specs


def scale_text(cfg, mode: dict) -> str:
    lcfg, es, ocfg = cfg.lifetime, cfg.es, cfg.objective
    return (f"preset quickstart ({TRAIN_ENV}, {lcfg.num_envs} workers x {lcfg.rollout_len} steps per update, "
            f"{ocfg.epochs} epochs x {ocfg.minibatches} minibatches, MLP {list(cfg.agent.hidden)} Adam lr {cfg.agent.lr} "
            f"annealed; drift MLP of {ocfg.lpo_hidden} units started at random weights x {ocfg.lpo_init_scale}), "
            f"meta-trained at N = {lcfg.lifetime} updates; ES {cfg.generations} generations x population "
            f"{es.population} (sigma {es.sigma}, lr {es.lr}, {es.shaping} fitness) per objective and meta seed; meta "
            f"seeds {list(mode['meta_seeds'])}; {mode['eval_seeds']} evaluation seeds per cell and meta seed; PPO "
            f"with the preset's settings is the baseline.")


def interpret(cfg, meta: dict, mode: dict) -> dict:
    """drift_schedule of every meta seed, stacked: drift [M, K, n, n], r_star [M, K, 2]."""
    import numpy as np

    out = {}
    for label, m in meta.items():
        ocfg = dataclasses.replace(cfg.objective, name=m["objective"].name)
        per_seed = [drift_schedule(ocfg, params, mode["progress"]) for params in m["params"]]
        out[label] = dict(per_seed[0], drift=np.stack([s["drift"] for s in per_seed]),
                          change=np.stack([s["change"] for s in per_seed]),
                          r_star=np.stack([s["r_star"] for s in per_seed]))
    return out


def draw_interpretation(out, schedules: dict) -> None:
    rep.plot_drift_schedule(schedules, out / "drift_schedule.png")


EXPERIMENT = Experiment(
    title="TA-LPO vs LPO across training horizons (CPU)",
    family="lpo",
    baseline="ppo",
    modes=MODES,
    base_config=base_config,
    eval_envs=eval_envs,
    train_range=lambda mode: [mode["lifetime"], mode["lifetime"]],
    scale_text=scale_text,
    interpret=interpret,
    draw_interpretation=draw_interpretation,
)

if __name__ == "__main__":
    main(EXPERIMENT, __doc__, "runs/ta_lpo")
