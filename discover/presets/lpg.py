"""LPG / TA-LPG presets on gridworld distributions (SPEC sections 1, 2, 5, 6)."""

import dataclasses

from discover.config import (
    AgentConfig, CurriculumConfig, EnvConfig, ESConfig, LifetimeConfig, MetaGradConfig, ObjectiveConfig, RunConfig,
)


# The agents of the LPG paper per kind of level (SPEC section 1): tabular levels (one-hot
# observations) get a tabular actor and predictor, i.e. linear heads, trained by SGD with lr 40
# (actor) and 4 (predictor) and gradient clip 0.5; random levels get an MLP (32 hidden) with
# Adam 1e-3. The delayed chain observes a one-hot position, so it gets the tabular agent (ours).
TABULAR_AGENT = AgentConfig(torso="linear", optimizer="sgd", lr=40.0, aux_lr=4.0, anneal_lr=False, max_grad_norm=0.5)
MLP_AGENT = AgentConfig(hidden=(32,), activation="relu", lr=1e-3, anneal_lr=False, max_grad_norm=0.5)
AGENT_FOR = {"all_shortlife": TABULAR_AGENT, "all_vrandlife": TABULAR_AGENT, "rand_all": MLP_AGENT,
             "delayed_chain": TABULAR_AGENT}


def _lpg(name: str, distribution: str, meta: str, env: str = "gridworld") -> RunConfig:
    """Reference scale: the paper's agent for the distribution, m = 8, 64 workers x 20 steps."""
    return RunConfig(
        generations=2500 if meta == "es" else 5000,
        meta_optimizer=meta,
        checkpoint_every=25,
        env=EnvConfig(env, distribution),
        agent=AGENT_FOR[distribution],
        objective=ObjectiveConfig(name=name, lpg_m=8, lpg_hidden=256, gamma=0.99),
        lifetime=LifetimeConfig(num_envs=64, rollout_len=20, lifetime=250, eval_envs=32, eval_steps=500),
        es=ESConfig(population=1024, sigma=0.1, lr=1e-2, lr_decay=0.999, lr_min=1e-5, shaping="winloss"),
        metagrad=MetaGradConfig(),
    )


def _cpu(cfg: RunConfig) -> RunConfig:
    """Minutes on a 2-core CPU: a small LPG network, few workers, short lifetimes, and an MLP-32
    Adam agent whatever the levels (the agent the CPU benchmarks and the mlp setting of
    experiments/lpg_generalisation were measured with; lpg-es-tabular-cpu is the tabular one)."""
    return dataclasses.replace(
        cfg,
        agent=MLP_AGENT,
        generations=30,
        checkpoint_every=10,
        objective=dataclasses.replace(cfg.objective, lpg_hidden=16),
        lifetime=dataclasses.replace(cfg.lifetime, num_envs=8, rollout_len=20, eval_envs=8, eval_steps=200, lifetime_scale=0.2),
        es=dataclasses.replace(cfg.es, population=16),
        metagrad=dataclasses.replace(cfg.metagrad, batch=4),
    )


def lpg_es_tabular_cpu(distribution: str = "sparse+dense") -> RunConfig:
    """LPG by ES for tabular agents on a mixture of named levels (or one level): learns on a 2-core
    CPU in about 2 minutes. The pi_hat output layer starts at zero, so the untrained LPG leaves
    the (uniform) policy alone and ES perturbations alone decide the first updates (with random
    initial outputs, our CPU-scale ES runs found no signal)."""
    return RunConfig(
        generations=40,
        checkpoint_every=10,
        env=EnvConfig("gridworld", distribution),
        agent=TABULAR_AGENT,
        objective=ObjectiveConfig(name="lpg", lpg_m=8, lpg_hidden=16, lpg_pi_hat_init_scale=0.0),
        lifetime=LifetimeConfig(num_envs=16, rollout_len=20, lifetime=50, eval_envs=32, eval_steps=200),
        es=ESConfig(population=16, sigma=0.1, lr=3e-2, shaping="winloss"),
    )


def groove(cfg: RunConfig, **curriculum) -> RunConfig:
    """cfg with GROOVE's curriculum: prioritised level replay scored by algorithmic regret (SPEC 7:
    buffer 4000, replay probability 0.5, rank prioritisation at temperature 1)."""
    return dataclasses.replace(cfg, curriculum=CurriculumConfig(name="plr", score="alg_regret", **curriculum))


def groove_tabular_cpu() -> RunConfig:
    """GROOVE on CPU in the tabular setting where LPG is discovered (lpg-es-tabular-cpu's agents,
    LPG and ES), over random tabular levels of the `small` distribution (4-6 cells a side, 1-3
    objects) with lifetimes x 0.2 = 50 updates; a 256-level buffer."""
    base = lpg_es_tabular_cpu("small")
    base = dataclasses.replace(base, lifetime=dataclasses.replace(base.lifetime, lifetime_scale=0.2))
    return groove(base, buffer_size=256)


LPG_PRESETS = {
    "lpg-gridworld": (lambda: _lpg("lpg", "all_shortlife", "metagrad"), "LPG by meta-gradients on all_shortlife (LPG reference; GPU)"),
    "lpg-es-gridworld": (lambda: _lpg("lpg", "all_shortlife", "es"), "LPG by ES on all_shortlife (GPU)"),
    "ta-lpg-gridworld": (lambda: _lpg("ta-lpg", "all_vrandlife", "es"), "TA-LPG by ES on all_vrandlife (GPU)"),
    "lpg-es-tabular-cpu": (lpg_es_tabular_cpu, "LPG by ES, tabular agents, levels sparse+dense; learns on CPU in ~2 min"),
    "groove-gridworld": (
        lambda: groove(_lpg("lpg", "all_shortlife", "es")),
        "GROOVE: LPG by ES on all_shortlife with PLR over algorithmic regret, buffer 4000 (GPU)",
    ),
    "groove-tabular-cpu": (groove_tabular_cpu, "GROOVE on CPU: tabular agents, small random tabular levels, PLR + regret"),
    "lpg-es-rand-gridworld": (lambda: _lpg("lpg", "rand_all", "es"), "LPG by ES on rand_all, MLP Adam agents (GPU)"),
    "lpg-es-chain": (lambda: _lpg("lpg", "delayed_chain", "es", env="chain"), "LPG by ES on the LPG paper's delayed chains (GPU)"),
    "lpg-gridworld-cpu": (lambda: _cpu(_lpg("lpg", "all_shortlife", "metagrad")), "CPU-small lpg-gridworld"),
    "lpg-es-gridworld-cpu": (lambda: _cpu(_lpg("lpg", "all_shortlife", "es")), "CPU-small lpg-es-gridworld"),
    "ta-lpg-gridworld-cpu": (lambda: _cpu(_lpg("ta-lpg", "all_vrandlife", "es")), "CPU-small ta-lpg-gridworld"),
}
