"""Agent networks: torsos (MLP, MinAtar conv, linear/tabular) with actor and auxiliary heads.

An agent is two independent networks, as in PureJaxRL: an actor producing action logits
and an auxiliary network producing either a scalar value (critic, for A2C/PPO/LPO) or the
logits of a prediction vector y(s) of size m (predictor, for LPG). Keeping them separate
lets each have its own learning rate (LPG's tabular agent uses lr 40 / 4).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import numpy as np
from flax.linen.initializers import constant

# LAPACK-free and numerically equal to flax's orthogonal, whose batched QR deadlocks XLA:CPU.
from discover.agents.init import orthogonal

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}


class Torso(nn.Module):
    """Feature extractor. obs: [..., D] flat -> features [..., F].

    kind: "mlp" (hidden layers), "conv" (MinAtar: one 3x3 conv with 16 channels, then the
    hidden layers), or "linear" (identity: the head is a linear map of the observation, i.e.
    tabular when observations are one-hot).
    """

    kind: str
    hidden: Sequence[int]
    activation: str
    image_shape: tuple | None = None

    @nn.compact
    def __call__(self, x):
        act = _ACTIVATIONS[self.activation]
        if self.kind == "linear":
            return x
        if self.kind == "conv":
            # Flat observations are reshaped back to the image they came from.
            x = x.reshape(x.shape[:-1] + tuple(self.image_shape))
            x = nn.Conv(16, (3, 3), padding="VALID", kernel_init=orthogonal(np.sqrt(2)))(x)
            x = nn.relu(x)
            x = x.reshape(x.shape[:-3] + (-1,))
        for width in self.hidden:
            x = act(nn.Dense(width, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
        return x


class Head(nn.Module):
    """Torso followed by a linear output of `size` units (size 0 means a scalar)."""

    size: int
    torso: Torso
    scale: float

    @nn.compact
    def __call__(self, x):
        h = self.torso(x)
        out = nn.Dense(max(self.size, 1), kernel_init=orthogonal(self.scale), bias_init=constant(0.0))(h)
        return out[..., 0] if self.size == 0 else out


class AgentNetworks(NamedTuple):
    """Pure functions of one agent.

    init(key, obs[D]) -> params {"actor": ..., "aux": ...}
    actor(params["actor"], obs[..., D]) -> logits [..., A]
    aux(params["aux"], obs[..., D]) -> value [...] (critic) or y-logits [..., m] (predictor)
    """

    init: Callable
    actor: Callable
    aux: Callable
    head: str
    aux_size: int


def make_networks(agent_cfg, num_actions: int, head: str, aux_size: int, image_shape=None) -> AgentNetworks:
    """Build the actor and auxiliary networks from an AgentConfig.

    head: "critic" (aux is a scalar value) or "predictor" (aux is y-logits of size aux_size).
    """
    if agent_cfg.torso == "conv" and image_shape is None:
        raise ValueError("a conv torso needs an image-shaped observation (e.g. a MinAtar game)")
    torso = lambda: Torso(agent_cfg.torso, tuple(agent_cfg.hidden), agent_cfg.activation, image_shape)
    actor = Head(num_actions, torso(), 0.01)
    size = 0 if head == "critic" else aux_size
    aux = Head(size, torso(), 1.0)

    def init(key, obs):
        k1, k2 = jax.random.split(key)
        return {"actor": actor.init(k1, obs), "aux": aux.init(k2, obs)}

    return AgentNetworks(init, actor.apply, aux.apply, head, aux_size)
