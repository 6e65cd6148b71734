"""One resolver for what a config names: (env.name, env.distribution) -> environment and levels.

Used by the curricula (tasks), the CLI's validation and the evaluation alike, so an environment
name, a named gridworld level, a level distribution and a '+' mixture of named levels mean the
same thing everywhere, and a bad name gives the same one-line error everywhere.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from environments.chain import CHAIN_DISTRIBUTIONS
from environments.levels import DISTRIBUTION_NAMES, LEVEL_NAMES, get_distribution, is_tabular
from environments.registry import _REGISTRY, make


class Resolved(NamedTuple):
    """env: the wrapped environment; template: one level (EnvParams, unbatched) for shapes;
    levels: None (the env's own default level) or a level set with `sample(key) -> (EnvParams,
    lifetime)`, `max_lifetime`, `lifetime_quantiles(n)` and `tabular_only` (environments.levels)."""

    env: object
    template: object
    levels: object | None


def check_names(name: str, distribution: str = "") -> None:
    """Raise a one-line ValueError unless `name` is a registered environment and `distribution`
    names a level set of it (cheap: nothing is built)."""
    if name not in _REGISTRY:
        raise ValueError(f"env.name={name!r} is not a registered environment; choose from: {', '.join(_REGISTRY)}")
    if not distribution:
        return
    if name == "chain":
        if distribution not in CHAIN_DISTRIBUTIONS:
            raise ValueError(
                f"env.distribution={distribution!r} is not a chain distribution; choose from: "
                f"{', '.join(CHAIN_DISTRIBUTIONS)}"
            )
        return
    if "+" not in distribution and distribution not in DISTRIBUTION_NAMES + LEVEL_NAMES:
        raise ValueError(
            f"env.distribution={distribution!r} is unknown; choose from: "
            f"{', '.join(DISTRIBUTION_NAMES + LEVEL_NAMES)} (or named levels joined by '+')"
        )
    if name != "gridworld":
        raise ValueError(
            f"env.distribution={distribution!r} is a gridworld level set; it needs env.name=gridworld, not {name!r}"
        )
    if "+" in distribution:
        try:
            get_distribution(distribution)
        except ValueError as e:
            raise ValueError(f"env.distribution: {e}") from None


def resolve(name: str, distribution: str = "") -> Resolved:
    """The environment `name` (any of list_envs()) with the level set `distribution`.

    distribution: "" (the env's default level), a gridworld level distribution (e.g.
    "all_vrandlife"), a named level (e.g. "sparse") or named levels joined by '+' ("sparse+dense");
    for name "chain", a chain distribution of CHAIN_DISTRIBUTIONS (e.g. "delayed_chain").
    A gridworld whose levels are all tabular with a fixed start gets the cheaper tabular-only env.
    Raises ValueError with a one-line message naming the valid choices.
    """
    check_names(name, distribution)
    if not distribution:
        if name == "gridworld" or name.startswith("gridworld-"):
            level = name.partition("-")[2] or "dense"
            env, params = make("gridworld", level=level)
            return resolve("gridworld", level) if is_tabular(params) else Resolved(env, params, None)
        env, params = make(name)
        return Resolved(env, params, None)
    if name == "chain":
        levels = CHAIN_DISTRIBUTIONS[distribution]
        env, _ = make("chain")
        return Resolved(env, jax.jit(levels.sample)(jax.random.key(0))[0], levels)
    levels = get_distribution(distribution)
    template = jax.jit(levels.sample)(jax.random.key(0))[0]  # jitted: eager sampling is slow
    env, _ = make("gridworld", params=template, tabular_only=levels.tabular_only)
    return Resolved(env, template, levels)


