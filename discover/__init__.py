"""discover: reinforcement-learning algorithms discovered by meta-learning, in JAX."""

import os as _os


def _xla_cpu_workaround() -> None:
    """Turn off XLA:CPU's concurrency-optimised scheduler unless the user chose otherwise.

    With it on (jaxlib 0.10), some of our generation programs deadlock on CPU: the jitted
    call never returns and uses no CPU (reproduced with the TA-LPO quickstart at specific layer
    widths). XLA reads XLA_FLAGS when the backend starts, so this must run before the first
    computation; it is a scheduling choice only and does not change results.
    """
    name = "xla_cpu_enable_concurrency_optimized_scheduler"
    flags = _os.environ.get("XLA_FLAGS", "")
    if name not in flags:
        _os.environ["XLA_FLAGS"] = f"{flags} --{name}=false".strip()


_xla_cpu_workaround()

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
    "make_lifetime",
    "make_objective",
]
