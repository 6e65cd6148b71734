"""The one objective interface shared by hand-designed and learned update rules.

An Objective says which auxiliary head the agent needs (a critic, or LPG's prediction
vector), how a rollout is split into gradient steps (epochs x minibatches, shuffled samples or
whole worker trajectories), and gives a loss. Hand-designed objectives (A2C, PPO, DPO) have
empty params, so lifetime, ES and evaluation code never branch on which kind they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Objective:
    """A (possibly learned) RL objective.

    init(key) -> params: the objective's parameters (an empty dict for fixed objectives).
    loss(params, nets, agent_params, batch, feats) -> (scalar, metrics dict): the agent's loss on
      one minibatch; its gradient w.r.t. agent_params is the agent update.
      batch is a dict of arrays: [B, ...] when sequence=False, [T, B, ...] when sequence=True.
    head: "critic" or "predictor"; aux_size: m for the predictor.
    sequence: minibatches are whole worker trajectories (recurrent objectives such as LPG).
    uses_gae: the batch carries GAE advantages and value targets (critic head only).
    """

    name: str
    init: Callable
    loss: Callable
    head: str = "critic"
    aux_size: int = 0
    sequence: bool = False
    uses_gae: bool = True
    epochs: int = 1
    minibatches: int = 1
    learned: bool = False
    outputs: Callable | None = None  # LPG: raw (pi_hat, y_hat) for meta-gradients and analysis


def empty_params(key):
    del key
    return {}


def log_prob_entropy(logits, action):
    """log pi(a|s) [B] and entropy [B] of a categorical policy from logits [B, A]."""
    logp_all = jax.nn.log_softmax(logits)
    logp = jnp.take_along_axis(logp_all, action[..., None].astype(jnp.int32), axis=-1)[..., 0]
    entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1)
    return logp, entropy


def normalise(x, enabled: bool = True):
    """(x - mean) / (std + 1e-8) over the whole minibatch, as PureJaxRL does per minibatch."""
    return (x - x.mean()) / (x.std() + 1e-8) if enabled else x
