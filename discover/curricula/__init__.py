"""Curricula: where each population member's level (EnvParams) and lifetime N come from.

A level generator (domain randomisation over a level distribution, `make_task`) is pure:
  init(key) -> state
  sample(key, state, n) -> (state, levels [n, ...], lifetimes [n])
Prioritised level replay (`replay.make_replay`) keeps a buffer of scored levels (`buffer`)
drawn by replay weights (`plr`) and scored by the registry in `scores` (`optimal` computes
exact optimal returns of tabular levels). discover.meta.levels connects them to the
meta-optimisers, which run the agents the scores need.
"""

from discover.curricula.domain_randomisation import Curriculum, make_domain_randomisation, make_task

__all__ = ["Curriculum", "make_domain_randomisation", "make_task"]
