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

# Everything else is imported on first use: importing gymnax (through the environments) starts
# JAX's backend, and `jax.distributed.initialize()` must run before that, so `import discover`
# (and the `discover` command's start-up) must stay free of it.
_EXPORTS = {
    "AgentConfig": "discover.config",
    "ConfigError": "discover.config",
    "ESConfig": "discover.config",
    "EnvConfig": "discover.config",
    "LifetimeConfig": "discover.config",
    "MetaGradConfig": "discover.config",
    "ObjectiveConfig": "discover.config",
    "RunConfig": "discover.config",
    "make_lifetime": "discover.lifetime",
    "build": "discover.meta.run",
    "load_discovered": "discover.meta.run",
    "load_initial": "discover.meta.run",
    "train": "discover.meta.run",
    "make_objective": "discover.objectives",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'discover' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
