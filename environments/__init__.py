"""Environments for discover: LPG gridworlds, delayed chain MDPs and every gymnax env.

A level is an ``EnvParams`` pytree, so one compiled environment runs a vmapped batch of levels.
This package imports nothing from ``discover``.
"""

from environments.chain import (
    CHAIN_DISTRIBUTIONS,
    MAX_CHAIN_LENGTH,
    ChainParams,
    DelayedChain,
    make_chain_params,
    sample_chain_params,
)
from environments.gridworld import (
    MAX_OBJECTS,
    MAX_SIZE,
    NUM_TYPES,
    GridParams,
    GridState,
    GridWorld,
    make_grid_params,
)
from environments.levels import (
    DISTRIBUTION_NAMES as GRID_DISTRIBUTION_NAMES,
    LEVEL_NAMES,
    RANDOM_LEVELS,
    TABULAR_LEVELS,
    FixedLevel,
    GridDistribution,
    LevelMixture,
    get_distribution,
    get_level,
)
from environments.registry import FloatObservationWrapper, list_envs, make, wrap
from environments.resolve import Resolved, check_names, resolve

# Every level distribution that samples its own lifetimes: the gridworld ones and the chain's.
DISTRIBUTION_NAMES = GRID_DISTRIBUTION_NAMES + tuple(CHAIN_DISTRIBUTIONS)

__all__ = [
    "CHAIN_DISTRIBUTIONS", "GRID_DISTRIBUTION_NAMES", "MAX_CHAIN_LENGTH", "ChainParams", "DelayedChain", "make_chain_params", "sample_chain_params",
    "MAX_OBJECTS", "MAX_SIZE", "NUM_TYPES", "GridParams", "GridState", "GridWorld",
    "make_grid_params", "DISTRIBUTION_NAMES", "LEVEL_NAMES", "RANDOM_LEVELS", "TABULAR_LEVELS",
    "FixedLevel", "GridDistribution", "LevelMixture", "get_distribution", "get_level",
    "FloatObservationWrapper", "list_envs", "make", "wrap", "Resolved", "check_names", "resolve",
]
