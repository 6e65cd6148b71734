"""PPO-style objectives: an actor-critic loss whose actor term is -mean[r A - D(r, A)].

One loss serves PPO, DPO, LPO and TA-LPO; only the drift D differs. The critic and entropy
terms are PureJaxRL's (clipped value loss, coefficient vf_coef; entropy bonus ent_coef).
"""

from __future__ import annotations

import jax.numpy as jnp

from discover.objectives.base import Objective, empty_params, log_prob_entropy, normalise
from discover.objectives.drift import dpo_drift, make_learned_drift, ppo_drift


def drift_objective_loss(drift, cfg):
    """Build loss(params, nets, agent_params, batch, feats) for a drift function."""

    def loss(params, nets, agent_params, batch, feats):
        logits = nets.actor(agent_params["actor"], batch["obs"])
        value = nets.aux(agent_params["aux"], batch["obs"])
        logp, entropy = log_prob_entropy(logits, batch["action"])
        ratio = jnp.exp(logp - batch["log_prob"])
        adv = normalise(batch["advantages"], cfg.normalize_adv)
        d = drift(params, ratio, adv, feats)
        actor_loss = -jnp.mean(ratio * adv - d)

        v_old, targets = batch["value"], batch["targets"]
        v_clipped = v_old + jnp.clip(value - v_old, -cfg.clip_eps, cfg.clip_eps)
        value_loss = 0.5 * jnp.mean(jnp.maximum((value - targets) ** 2, (v_clipped - targets) ** 2))
        ent = entropy.mean()
        total = actor_loss + cfg.vf_coef * value_loss - cfg.ent_coef * ent
        return total, {"actor_loss": actor_loss, "value_loss": value_loss, "entropy": ent, "drift": d.mean()}

    return loss


def make_ppo(cfg) -> Objective:
    drift = lambda params, r, a, feats: ppo_drift(r, a, cfg.clip_eps)
    return Objective("ppo", empty_params, drift_objective_loss(drift, cfg), epochs=cfg.epochs, minibatches=cfg.minibatches)


def make_dpo(cfg) -> Objective:
    drift = lambda params, r, a, feats: dpo_drift(r, a, cfg.dpo_alpha, cfg.dpo_beta)
    return Objective("dpo", empty_params, drift_objective_loss(drift, cfg), epochs=cfg.epochs, minibatches=cfg.minibatches)


def make_lpo(cfg) -> Objective:
    """LPO, or TA-LPO when cfg.name == 'ta-lpo' (inputs also scaled by n/N, optionally log N)."""
    init, drift = make_learned_drift(cfg)
    return Objective(
        cfg.name, init, drift_objective_loss(drift, cfg), epochs=cfg.epochs, minibatches=cfg.minibatches, learned=True
    )
