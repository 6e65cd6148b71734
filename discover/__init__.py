"""discover: reinforcement-learning algorithms discovered by meta-learning, in JAX."""

import os as _os


def _xla_cpu_workaround() -> None:
    """Turn off two XLA:CPU features unless the user set them: the concurrency-optimised
    scheduler and XNNPACK.

    With them on (jaxlib 0.10.2), some of our programs deadlock on CPU: the jitted call never
    returns and uses no CPU. Reproduced with the TA-LPO quickstart at particular layer widths
    (fixed by the scheduler flag alone) and with 8 vmapped PPO seeds under scan (fixed by the
    XNNPACK flag). XLA reads XLA_FLAGS when the backend starts, so this must run before the
    first computation. These are CPU-only choices; GPU and TPU programs are unaffected.
    """
    flags = _os.environ.get("XLA_FLAGS", "")
    for name in ("xla_cpu_enable_concurrency_optimized_scheduler", "xla_cpu_use_xnnpack"):
        if name not in flags:
            flags = f"{flags} --{name}=false".strip()
    _os.environ["XLA_FLAGS"] = flags


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
from discover.meta.run import build, load_discovered, train
from discover.objectives import make_objective
from discover.pretrained import Pretrained, load
from discover.train_agent import train_agent

__all__ = [
    "AgentConfig",
    "ConfigError",
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
