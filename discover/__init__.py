"""discover: reinforcement-learning algorithms discovered by meta-learning, in JAX."""

from discover.config import (
    AgentConfig,
    ConfigError,
    CurriculumConfig,
    EnvConfig,
    ESConfig,
    LifetimeConfig,
    MetaGradConfig,
    ObjectiveConfig,
    RunConfig,
)
from discover.lifetime import make_lifetime
from discover.meta.run import build, load_discovered, train
from discover.objectives import make_objective
from discover.pretrained import Pretrained, load
from discover.train_agent import train_agent

__all__ = [
    "AgentConfig",
    "ConfigError",
    "CurriculumConfig",
    "ESConfig",
    "EnvConfig",
    "LifetimeConfig",
    "MetaGradConfig",
    "ObjectiveConfig",
    "Pretrained",
    "RunConfig",
    "build",
    "load",
    "load_discovered",
    "make_lifetime",
    "make_objective",
    "train",
    "train_agent",
]
