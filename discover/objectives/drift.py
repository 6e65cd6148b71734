"""Drift functions D(r, A) of the PPO family: PPO (clipping), DPO (closed form), LPO, TA-LPO.

The actor loss of every member is L = -mean[r A - D(r, A)]; Mirror Learning needs D >= 0 and
D = dD/dr = 0 at r = 1. PPO's clipped surrogate is the special case
D_ppo = relu((r - clip(r, 1-eps, 1+eps)) A), since r A - D_ppo = min(r A, clip(r) A).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from discover.objectives.temporal import LifetimeFeatures

# Below this the learned drift is exactly zero, so D and dD/dr vanish near r = 1.
DRIFT_OFFSET = 1e-4


def ppo_drift(ratio, adv, eps):
    """D_ppo [B] = relu((r - clip(r, 1 - eps, 1 + eps)) * A)."""
    return jax.nn.relu((ratio - jnp.clip(ratio, 1.0 - eps, 1.0 + eps)) * adv)


def dpo_drift(ratio, adv, alpha, beta):
    """DPO (Lu et al. 2022) [B]: relu((r-1)A - a tanh((r-1)A/a)) if A >= 0, else
    relu(log(r) A - b tanh(log(r) A / b))."""
    pos = (ratio - 1.0) * adv
    neg = jnp.log(ratio) * adv
    return jnp.where(
        adv >= 0,
        jax.nn.relu(pos - alpha * jnp.tanh(pos / alpha)),
        jax.nn.relu(neg - beta * jnp.tanh(neg / beta)),
    )


def drift_inputs(ratio, adv, feats: LifetimeFeatures | None, log_lifetime_scale: float | None):
    """LPO network inputs [B, 8] (LPO), [B, 16] (TA-LPO) or [B, 24] (TA-LPO with log N).

    x = [r-1, (r-1)^2, log r, (log r)^2] is exactly zero at r = 1; x_rA = [x, A x];
    TA-LPO appends (n/N) * x_rA and optionally (log N / scale) * x_rA, which keeps every input
    zero at r = 1 and so preserves the drift constraints by construction.
    """
    logr = jnp.log(ratio)
    x = jnp.stack([ratio - 1.0, (ratio - 1.0) ** 2, logr, logr**2], axis=-1)
    x = jnp.concatenate([x, adv[..., None] * x], axis=-1)
    if feats is None:
        return x
    blocks = [x, feats.progress * x]
    if log_lifetime_scale is not None:
        blocks.append((feats.log_lifetime / log_lifetime_scale) * x)
    return jnp.concatenate(blocks, axis=-1)


class DriftMLP(nn.Module):
    """Bias-free MLP (one tanh hidden layer, linear scalar output): zero input gives zero output."""

    hidden: int = 128
    zero_output: bool = False

    @nn.compact
    def __call__(self, x):
        h = jnp.tanh(nn.Dense(self.hidden, use_bias=False)(x))
        init = nn.initializers.zeros if self.zero_output else nn.initializers.lecun_normal()
        return nn.Dense(1, use_bias=False, kernel_init=init)(h)[..., 0]


def make_learned_drift(cfg):
    """LPO / TA-LPO drift from an ObjectiveConfig.

    Returns (init(key) -> params, drift(params, ratio[B], adv[B], feats) -> D[B]).
    D = relu(MLP(inputs) [+ D_ppo if init_at_ppo] - 1e-4). With init_at_ppo the output layer
    starts at zero, so meta-training starts exactly from (offset) PPO.
    """
    temporal = cfg.temporal
    scale = cfg.max_log_lifetime if (temporal and cfg.log_lifetime) else None
    n_in = 8 * (1 + int(temporal) + int(scale is not None))
    mlp = DriftMLP(cfg.lpo_hidden, zero_output=cfg.init_at_ppo)

    def init(key):
        params = mlp.init(key, jnp.zeros((1, n_in)))
        return jax.tree.map(lambda p: p * cfg.lpo_init_scale, params)

    def drift(params, ratio, adv, feats):
        x = drift_inputs(ratio, adv, feats if temporal else None, scale)
        out = mlp.apply(params, x)
        if cfg.init_at_ppo:
            out = out + ppo_drift(ratio, adv, cfg.clip_eps)
        return jax.nn.relu(out - DRIFT_OFFSET)

    return init, drift
