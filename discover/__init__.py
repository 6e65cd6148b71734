"""discover: reinforcement-learning algorithms discovered by meta-learning, in JAX."""

# Everything is imported on first use: importing gymnax (through the environments) starts
# JAX's backend, and `jax.distributed.initialize()` must run before that, so `import discover`
# (and the `discover` command's start-up) must stay free of it.
_EXPORTS = {
    "AgentConfig": "discover.config",
    "ConfigError": "discover.config",
    "CurriculumConfig": "discover.config",
    "ESConfig": "discover.config",
    "EnvConfig": "discover.config",
    "LifetimeConfig": "discover.config",
    "MetaGradConfig": "discover.config",
    "ObjectiveConfig": "discover.config",
    "RunConfig": "discover.config",
    "make_lifetime": "discover.lifetime",
    "build": "discover.meta.run",
    "load_config": "discover.meta.run",
    "load_discovered": "discover.meta.run",
    "load_initial": "discover.meta.run",
    "train": "discover.meta.run",
    "make_objective": "discover.objectives",
    "Pretrained": "discover.pretrained",
    "load": "discover.pretrained",
    "train_agent": "discover.agent_training",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    import importlib

    if name not in _EXPORTS:
        try:  # a submodule, e.g. discover.pretrained
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'discover' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
