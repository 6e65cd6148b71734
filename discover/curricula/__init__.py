"""Curricula: where each population member's level (EnvParams) and lifetime N come from.

A curriculum is pure and jittable:
  init(key) -> state
  sample(key, state, n) -> (state, levels [n, ...], lifetimes [n])
  update(state, levels, scores [n]) -> state
Domain randomisation ignores scores; GROOVE's prioritised level replay will use them.
"""

from discover.curricula.domain_randomisation import Curriculum, make_domain_randomisation, make_task

__all__ = ["Curriculum", "make_domain_randomisation", "make_task"]
