"""Objectives: one interface for hand-designed (A2C, PPO, DPO) and learned (LPO, TA-LPO, LPG, TA-LPG) rules."""

from discover.objectives.a2c import make_a2c
from discover.objectives.base import Objective
from discover.objectives.lpg import make_lpg
from discover.objectives.ppo_family import make_dpo, make_lpo, make_ppo
from discover.objectives.temporal import LifetimeFeatures, lifetime_features

OBJECTIVES = {
    "a2c": make_a2c,
    "ppo": make_ppo,
    "dpo": make_dpo,
    "lpo": make_lpo,
    "ta-lpo": make_lpo,
    "lpg": make_lpg,
    "ta-lpg": make_lpg,
}


def make_objective(cfg) -> Objective:
    """Build the objective named by an ObjectiveConfig."""
    return OBJECTIVES[cfg.name](cfg)


__all__ = ["OBJECTIVES", "LifetimeFeatures", "Objective", "lifetime_features", "make_objective"]
