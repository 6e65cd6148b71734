"""The registry of evosax strategies selectable by name (es.strategy)."""

from evosax.algorithms import distribution_based_algorithms

# Distribution-based strategies have a mean we can read out as "the discovered objective".
STRATEGIES = dict(distribution_based_algorithms)
