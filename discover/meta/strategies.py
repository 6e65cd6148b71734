"""The registry of evosax strategies selectable by name (es.strategy), and how to build one."""

from __future__ import annotations

import inspect
import json

import optax
from evosax.algorithms import distribution_based_algorithms
from evosax.core.fitness_shaping import identity_fitness_shaping_fn

# Strategies that need pretrained meta-parameters or several populations do not fit the
# one-population "mean is the discovered objective" loop, so they are not offered.
_EXCLUDED = {"LES", "EvoTF_ES", "CMAAnchoredLES", "SV_CMA_ES", "SV_Open_ES"}
STRATEGIES = {k: v for k, v in distribution_based_algorithms.items() if k not in _EXCLUDED}

# Strategies whose population is [mean + sigma z_1..z_h, mean - sigma z_1..z_h]: member i and
# i + P/2 are antithetic twins, which antithetic task sampling and win/loss fitness rely on.
ANTITHETIC = ("Open_ES", "PGPE", "ARS")
# Strategies whose perturbation scale follows a schedule we give (es.sigma_decay / sigma_min);
# the others adapt sigma themselves.
SIGMA_SCHEDULED = tuple(
    sorted(k for k, v in STRATEGIES.items() if "std_schedule" in inspect.signature(v.__init__).parameters)
)


def lr_schedule(es_cfg):
    """ES learning rate per generation: lr * lr_decay^g, floored at lr_min (constant if no decay)."""
    if es_cfg.lr_decay >= 1.0:
        # optax treats end_value as an upper bound when the rate is >= 1, so never pass it then.
        return optax.constant_schedule(es_cfg.lr)
    return optax.exponential_decay(es_cfg.lr, 1, es_cfg.lr_decay, end_value=es_cfg.lr_min)


def sigma_schedule(es_cfg):
    """Perturbation scale after g ES updates: sigma * sigma_decay^g, floored at sigma_min.

    evosax evaluates it with its update counter after each tell, so the scale used by
    generation g is schedule(max(g - 1, 0)).
    """
    if es_cfg.sigma_decay >= 1.0:
        return optax.constant_schedule(es_cfg.sigma)
    return optax.exponential_decay(es_cfg.sigma, 1, es_cfg.sigma_decay, end_value=es_cfg.sigma_min)


def make_strategy(es_cfg, template):
    """Instantiate the evosax strategy for an ESConfig over a parameter pytree `template`.

    Returns (strategy, params): evosax minimises, and fitness shaping is done by discover
    (discover.meta.fitness), so evosax's own shaping is the identity.
    """
    cls = STRATEGIES[es_cfg.strategy]
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = dict(population_size=es_cfg.population, solution=template)
    if "fitness_shaping_fn" in accepted:
        kwargs["fitness_shaping_fn"] = identity_fitness_shaping_fn
    if "optimizer" in accepted:
        kwargs["optimizer"] = optax.adam(lr_schedule(es_cfg))
    if "std_schedule" in accepted:
        kwargs["std_schedule"] = sigma_schedule(es_cfg)
    if "use_antithetic_sampling" in accepted:
        kwargs["use_antithetic_sampling"] = es_cfg.antithetic
    kwargs.update(json.loads(es_cfg.strategy_kwargs))
    strategy = cls(**kwargs)
    params = strategy.default_params
    if hasattr(params, "std_init"):
        params = params.replace(std_init=es_cfg.sigma)
    return strategy, params
