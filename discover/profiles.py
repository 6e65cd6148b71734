"""Which agent network and lifetime settings to use on an environment other than the one a
run was trained on (used by `discover evaluate`, `discover train-agent` and `discover sweep`).

A learned objective is evaluated on many environments, and the agent it trains must fit each
of them: MinAtar observations are 10x10 images (a conv torso, as in PureJaxRL's MinAtar agent),
a tabular run's one-hot SGD learner (lr 40) would diverge on continuous observations, and a
conv torso cannot read CartPole's 4 numbers. `agent_for` applies the first rule of `RULES`
whose test matches the environment name; every choice can be overridden field by field.
"""

from __future__ import annotations

import dataclasses

from discover.config import AgentConfig, LifetimeConfig

# A fresh deep-RL agent for observations that the run's own agent cannot read (Adam; the
# hidden width of the MLP agents the LPG/GROOVE papers evaluate on MinAtar).
DEEP_AGENT = AgentConfig(torso="mlp", hidden=(64,), activation="relu", optimizer="adam", lr=1e-3,
                         anneal_lr=False)


def _is_tabular(agent: AgentConfig) -> bool:
    """A linear (tabular) torso: its optimiser settings are tuned for one-hot inputs."""
    return agent.torso == "linear"


def _minatar(agent: AgentConfig) -> AgentConfig:
    base = DEEP_AGENT if _is_tabular(agent) else agent
    return dataclasses.replace(base, torso="conv")


def _own_family(agent: AgentConfig) -> AgentConfig:
    return agent


def _flat(agent: AgentConfig) -> AgentConfig:
    if _is_tabular(agent):
        return DEEP_AGENT
    return dataclasses.replace(agent, torso="mlp") if agent.torso == "conv" else agent


# (test on the environment name, rule, what the rule does) -- first match wins.
RULES = (
    (lambda name: name.endswith("-MinAtar"), _minatar, "conv torso (image observations)"),
    (lambda name: name == "chain" or name.startswith("gridworld"), _own_family, "the run's agent"),
    (lambda name: True, _flat, "MLP torso (flat observations)"),
)


def agent_for(env_name: str, run_agent: AgentConfig) -> AgentConfig:
    """The agent to train on env_name, derived from the agent a run was meta-trained with."""
    for test, rule, _ in RULES:
        if test(env_name):
            return rule(run_agent)
    raise AssertionError("the last rule matches every name")


def episode_limit(env_params) -> int | None:
    """The environment's own episode length limit, if its params say (gymnax max_steps_in_episode)."""
    limit = getattr(env_params, "max_steps_in_episode", None)
    try:
        return int(limit) if limit is not None else None
    except TypeError:  # a batched level set: the largest limit
        import numpy as np

        return int(np.max(np.asarray(limit)))


def lifetime_for(env_params, run_lifetime: LifetimeConfig) -> LifetimeConfig:
    """The run's lifetime settings, with evaluation episodes as long as the environment's own
    limit: a shorter evaluation caps every return (CartPole evaluated for 200 steps cannot
    tell a 200-step policy from a 500-step one)."""
    limit = episode_limit(env_params)
    if limit is None or limit <= run_lifetime.eval_steps:
        return run_lifetime
    return dataclasses.replace(run_lifetime, eval_steps=limit)
