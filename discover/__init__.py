"""discover: reinforcement-learning algorithms discovered by meta-learning, in JAX."""

from discover.config import (
    AgentConfig,
    ConfigError,
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

__all__ = [
    "AgentConfig",
    "ConfigError",
    "ESConfig",
    "EnvConfig",
    "LifetimeConfig",
    "MetaGradConfig",
    "ObjectiveConfig",
    "RunConfig",
    "build",
    "load_discovered",
    "make_lifetime",
    "make_objective",
    "train",
]
